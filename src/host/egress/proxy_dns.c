// SPDX-License-Identifier: MIT
/* proxy_dns.c: the DNS path of the egress engine: policy-checked answers with
 * per-sandbox synthetic addresses, the messages (ldns) and the address table. */
#include "proxy_dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_int.h"
#include "util.h"

/*
 * Why synthetic addresses: the guest never learns a real address, so it has nothing
 * to dial but names we answered for; a transparent connection to one of these
 * addresses maps back to exactly one name, which the host resolves and dials itself
 * (the guest cannot pick the destination address); and names the policy denies are
 * answered NXDOMAIN here, never asked upstream, so DNS cannot carry data out.
 * AAAA questions get an empty NOERROR answer: the guest's redirect plumbing is IPv4
 * and clients fall back to the A record; other types get an empty answer as well.
 * A name-level check uses port 0: an allow rule limited to a port still lets the name
 * resolve (the connection is checked with its port later), a deny rule limited to a
 * port does not hide the name (policy.h).
 */

/* ---- messages ---- */

static bool label_byte_ok(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int dns_query_parse(const uint8_t *msg, size_t len, struct dns_query *ret)
{
	ldns_pkt *pkt = NULL;
	ldns_rr_list *ql;
	ldns_rr *q;
	ldns_rdf *owner;
	const uint8_t *d;
	size_t dn, i, o = 0;
	int r = 0;

	if (len < 12 || len > DNS_MSG_MAX)
		return -EBADMSG;
	memset(ret, 0, sizeof(*ret));
	ret->id = (uint16_t)(msg[0] << 8 | msg[1]);
	if (msg[2] & 0x80)
		return -EBADMSG;                    /* a response: never answer those */
	if (((msg[2] >> 3) & 0x0f) != 0)
		return -EOPNOTSUPP;                 /* opcode other than QUERY */
	if (ldns_wire2pkt(&pkt, msg, len) != LDNS_STATUS_OK)
		return -EPROTO;
	if (ldns_pkt_qdcount(pkt) != 1 || ldns_pkt_ancount(pkt) || ldns_pkt_nscount(pkt)) {
		r = ldns_pkt_qdcount(pkt) > 1 ? -EOPNOTSUPP : -EPROTO;
		goto out;
	}
	ql = ldns_pkt_question(pkt);
	q = ql ? ldns_rr_list_rr(ql, 0) : NULL;
	if (!q || (owner = ldns_rr_owner(q)) == NULL || ldns_rdf_get_type(owner) != LDNS_RDF_TYPE_DNAME) {
		r = -EPROTO;
		goto out;
	}
	if (ldns_rr_get_class(q) != LDNS_RR_CLASS_IN) {
		r = -EOPNOTSUPP;
		goto out;
	}
	ret->qtype = (uint16_t)ldns_rr_get_type(q);
	d = ldns_rdf_data(owner);
	dn = ldns_rdf_size(owner);
	/* uncompressed wire labels (ldns has expanded pointers) -> dotted text */
	for (i = 0; i < dn && d[i];) {
		uint8_t l = d[i++];
		if (l > 63 || i + l > dn || o + l + 2 > sizeof(ret->name)) {
			r = -EPROTO;
			goto out;
		}
		for (uint8_t k = 0; k < l; k++) {
			if (!label_byte_ok(d[i + k])) {
				r = -EPROTO;
				goto out;
			}
			ret->name[o++] = (char)d[i + k];
		}
		ret->name[o++] = '.';
		i += l;
	}
	if (o)
		o--;                                /* drop the final dot */
	ret->name[o] = '\0';
out:
	ldns_pkt_free(pkt);
	return r;
}

int dns_answer_build(const uint8_t *msg, size_t len, int rcode, const uint32_t *a4, uint32_t ttl, uint8_t **ret,
		     size_t *ret_len)
{
	ldns_pkt *q = NULL, *a = NULL;
	uint8_t *wire = NULL;
	size_t wlen = 0;
	int r = -ENOMEM;

	if (len < 2)
		return -EINVAL;
	if (ldns_wire2pkt(&q, msg, len) != LDNS_STATUS_OK || ldns_pkt_qdcount(q) != 1) {
		/* bare header: id, QR, opcode copied, RD copied, rcode */
		uint8_t *h = xcalloc(1, 12);
		h[0] = msg[0];
		h[1] = msg[1];
		h[2] = 0x80 | (len > 2 ? (msg[2] & 0x79) : 0);
		h[3] = 0x80 | (rcode & 0x0f);
		ldns_pkt_free(q);
		*ret = h;
		*ret_len = 12;
		return 0;
	}
	a = ldns_pkt_new();
	if (!a)
		goto out;
	ldns_pkt_set_id(a, ldns_pkt_id(q));
	ldns_pkt_set_qr(a, true);
	ldns_pkt_set_opcode(a, LDNS_PACKET_QUERY);
	ldns_pkt_set_rd(a, ldns_pkt_rd(q));
	ldns_pkt_set_ra(a, true);
	ldns_pkt_set_rcode(a, (uint8_t)rcode);
	{
		ldns_rr *qr = ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q), 0));
		if (!qr || !ldns_pkt_push_rr(a, LDNS_SECTION_QUESTION, qr)) {
			ldns_rr_free(qr);
			goto out;
		}
		if (rcode == DNS_NOERROR && a4) {
			ldns_rr *rr = ldns_rr_new();
			uint32_t be = htonl(*a4);
			ldns_rdf *rd = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, &be);

			if (!rr || !rd) {
				ldns_rr_free(rr);
				ldns_rdf_deep_free(rd);
				goto out;
			}
			ldns_rr_set_owner(rr, ldns_rdf_clone(ldns_rr_owner(qr)));
			ldns_rr_set_type(rr, LDNS_RR_TYPE_A);
			ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
			ldns_rr_set_ttl(rr, ttl);
			ldns_rr_push_rdf(rr, rd);
			if (!ldns_pkt_push_rr(a, LDNS_SECTION_ANSWER, rr)) {
				ldns_rr_free(rr);
				goto out;
			}
		}
	}
	if (ldns_pkt2wire(&wire, a, &wlen) != LDNS_STATUS_OK || !wire)
		goto out;
	*ret = xmalloc(wlen);
	memcpy(*ret, wire, wlen);
	*ret_len = wlen;
	r = 0;
out:
	free(wire);
	ldns_pkt_free(q);
	ldns_pkt_free(a);
	return r;
}

/* ---- synthetic address table ---- */

#define NBUCKETS 8192u
#define NIL (-1)

struct dns_ent {
	char *name;        /* NULL: free */
	uint32_t addr;
	int lru_prev, lru_next;
	int next_name, next_addr;
};

/* ent grows on demand (most sandboxes resolve a few dozen names); entries are
 * referenced by index, never by pointer across a growth. */
struct dns_table {
	struct dns_ent *ent;      /* [0, ent_cap), ent_cap <= DNS_TABLE_MAX */
	int ent_cap;
	int by_name[NBUCKETS], by_addr[NBUCKETS];
	int lru_head, lru_tail;   /* head: most recent */
	int free_next;            /* entries never used yet: [free_next, MAX) */
	size_t count;
};

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static uint32_t addr_bucket(uint32_t a)
{
	return (a * 2654435761u) >> 19;   /* 13 bits */
}

struct dns_table *dns_table_new(void)
{
	struct dns_table *t = xcalloc(1, sizeof(*t));

	for (size_t i = 0; i < NBUCKETS; i++)
		t->by_name[i] = t->by_addr[i] = NIL;
	t->lru_head = t->lru_tail = NIL;
	return t;
}

void dns_table_free(struct dns_table *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->free_next; i++)
		free(t->ent[i].name);
	free(t->ent);
	free(t);
}

size_t dns_table_count(const struct dns_table *t)
{
	return t->count;
}

static void lru_unlink(struct dns_table *t, int i)
{
	struct dns_ent *e = &t->ent[i];

	if (e->lru_prev != NIL)
		t->ent[e->lru_prev].lru_next = e->lru_next;
	else
		t->lru_head = e->lru_next;
	if (e->lru_next != NIL)
		t->ent[e->lru_next].lru_prev = e->lru_prev;
	else
		t->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NIL;
}

static void lru_push(struct dns_table *t, int i)
{
	struct dns_ent *e = &t->ent[i];

	e->lru_prev = NIL;
	e->lru_next = t->lru_head;
	if (t->lru_head != NIL)
		t->ent[t->lru_head].lru_prev = i;
	t->lru_head = i;
	if (t->lru_tail == NIL)
		t->lru_tail = i;
}

static int find_name(const struct dns_table *t, const char *name)
{
	for (int i = t->by_name[fnv1a(name) % NBUCKETS]; i != NIL; i = t->ent[i].next_name)
		if (!strcmp(t->ent[i].name, name))
			return i;
	return NIL;
}

static int find_addr(const struct dns_table *t, uint32_t a)
{
	for (int i = t->by_addr[addr_bucket(a)]; i != NIL; i = t->ent[i].next_addr)
		if (t->ent[i].addr == a)
			return i;
	return NIL;
}

static void chain_remove(struct dns_table *t, int *head, int i, bool by_name)
{
	for (int *pp = head; *pp != NIL; pp = by_name ? &t->ent[*pp].next_name : &t->ent[*pp].next_addr)
		if (*pp == i) {
			*pp = by_name ? t->ent[i].next_name : t->ent[i].next_addr;
			return;
		}
}

static int evict(struct dns_table *t)
{
	int i = t->lru_tail;
	struct dns_ent *e = &t->ent[i];

	lru_unlink(t, i);
	chain_remove(t, &t->by_name[fnv1a(e->name) % NBUCKETS], i, true);
	chain_remove(t, &t->by_addr[addr_bucket(e->addr)], i, false);
	free(e->name);
	e->name = NULL;
	t->count--;
	return i;
}

uint32_t dns_table_addr(struct dns_table *t, const char *name)
{
	int i = find_name(t, name);
	uint32_t h, a;
	struct dns_ent *e;

	if (i != NIL) {
		lru_unlink(t, i);
		lru_push(t, i);
		return t->ent[i].addr;
	}
	if (t->free_next == t->ent_cap && t->ent_cap < (int)DNS_TABLE_MAX) {
		int cap = t->ent_cap ? MIN(2 * t->ent_cap, (int)DNS_TABLE_MAX) : 64;
		struct dns_ent *v = xcalloc((size_t)cap, sizeof(*v));

		if (t->ent_cap)
			memcpy(v, t->ent, (size_t)t->ent_cap * sizeof(*v));
		free(t->ent);
		t->ent = v;
		t->ent_cap = cap;
	}
	i = t->free_next < (int)DNS_TABLE_MAX ? t->free_next++ : evict(t);
	/* hash into the /15, skipping .0 and .255 host bytes and taken addresses; the
	 * table holds at most 4096 of 131072 addresses, so probing ends quickly */
	h = fnv1a(name);
	for (uint32_t k = 0;; k++) {
		a = DNS_SYNTH_NET | ((h + k) & ~DNS_SYNTH_MASK);
		if ((a & 0xff) == 0 || (a & 0xff) == 0xff)
			continue;
		if (find_addr(t, a) == NIL)
			break;
	}
	e = &t->ent[i];
	e->name = xstrdup(name);
	e->addr = a;
	e->next_name = t->by_name[fnv1a(name) % NBUCKETS];
	t->by_name[fnv1a(name) % NBUCKETS] = i;
	e->next_addr = t->by_addr[addr_bucket(a)];
	t->by_addr[addr_bucket(a)] = i;
	lru_push(t, i);
	t->count++;
	return a;
}

const char *dns_table_name(struct dns_table *t, uint32_t addr)
{
	int i = find_addr(t, addr);

	if (i == NIL)
		return NULL;
	lru_unlink(t, i);
	lru_push(t, i);
	return t->ent[i].name;
}

/* ---- the DNS path ---- */

static void dns_reply(struct pconn *c, int rcode, const uint32_t *a4)
{
	_cleanup_free_ uint8_t *ans = NULL, *msg = NULL;
	size_t alen = 0;

	if (dns_answer_build(c->dns_q, c->dns_qlen, rcode, a4, PROXY_DNS_TTL, &ans, &alen) < 0 || alen > DNS_MSG_MAX) {
		pconn_reset(c);
		return;
	}
	/* length prefix and message in one piece */
	msg = xmalloc(alen + 2);
	msg[0] = (uint8_t)(alen >> 8);
	msg[1] = (uint8_t)alen;
	memcpy(msg + 2, ans, alen);
	pconn_out(c, msg, alen + 2);
	if (c->dead)
		return;
	c->st = PS_CLOSING;
	pconn_finish(c);
}

/* The name passed every check: answer from the synthetic table. */
static void dns_answer_allowed(struct pconn *c, const char *real_addr)
{
	struct dns_table *t = proxy_sandbox_table(c->px, c->sandbox, true);
	uint32_t a = dns_table_addr(t, c->rt.host);
	char txt[INET_ADDRSTRLEN], reason[96];
	uint32_t be = htonl(a);

	inet_ntop(AF_INET, &be, txt, sizeof(txt));
	snprintf(reason, sizeof(reason), "answered %s", c->dns_qtype == DNS_TYPE_A ? txt : "no records (not A)");
	if (real_addr && *real_addr)
		snprintf(c->rt.addr, sizeof(c->rt.addr), "%s", real_addr);
	proxy_audit(c, c->rt.host, 0, true, c->rt.rule, reason, 0);
	dns_reply(c, DNS_NOERROR, c->dns_qtype == DNS_TYPE_A ? &a : NULL);
}

static void dns_deny(struct pconn *c, const char *host, const char *rule, const char *reason, int rcode)
{
	proxy_audit(c, host, 0, false, rule, reason, 0);
	dns_reply(c, rcode, NULL);
}

static void dns_handle(struct pconn *c)
{
	struct dns_query q;
	struct policy_decision d;
	char *norm = NULL;
	bool is_ip = false;
	int r;

	r = dns_query_parse(c->dns_q, c->dns_qlen, &q);
	if (r == -EBADMSG) {
		pconn_reset(c);
		return;
	}
	if (r < 0) {
		dns_reply(c, r == -EPROTO ? DNS_FORMERR : (((c->dns_q[2] >> 3) & 0x0f) ? DNS_NOTIMP : DNS_REFUSED), NULL);
		return;
	}
	c->dns_qtype = q.qtype;
	c->dns_id = q.id;
	if (!q.name[0] || host_normalize(q.name, &norm, &is_ip) < 0) {
		dns_deny(c, q.name[0] ? q.name : ".", "invalid host name", NULL, DNS_NXDOMAIN);
		return;
	}
	free(c->rt.host);
	c->rt.host = norm;
	if (is_ip) {
		dns_deny(c, norm, NULL, "address literal as a name", DNS_NXDOMAIN);
		return;
	}
	if (!c->px->pol) {
		dns_deny(c, norm, "default deny", "no policy: run sbx policy init", DNS_NXDOMAIN);
		return;
	}
	policy_check(c->px->pol, c->sandbox, norm, 0, &d);
	snprintf(c->rt.rule, sizeof(c->rt.rule), "%s", d.rule);
	if (d.action != POLICY_ALLOW) {
		dns_deny(c, norm, d.rule, NULL, DNS_NXDOMAIN);
		return;
	}
	if (policy_host_alias(norm)) {
		/* the host's loopback, only through an explicit localhost rule */
		if (!d.names_address) {
			dns_deny(c, norm, d.rule, "host.docker.internal needs a localhost:PORT allow rule", DNS_NXDOMAIN);
			return;
		}
		dns_answer_allowed(c, "127.0.0.1");
		return;
	}
	if (proxy_resolve_has_name(c->px, norm)) {
		dns_answer_allowed(c, NULL);   /* host-side override: trusted */
		return;
	}
	/* Refuse names whose real addresses are internal: resolve now (allowed names only). */
	c->st = PS_DNS_LOOKUP;
	c->deadline = now_ms() + 15000;
	if (proxy_lookup(c, norm) < 0)
		dns_deny(c, norm, d.rule, "lookup failed", DNS_SERVFAIL);
}

void proxy_dns_lookup_done(struct pconn *c, int status)
{
	const char *host = c->rt.host;

	if (status == ARES_ENOTFOUND) {
		dns_deny(c, host, c->rt.rule, "no such name", DNS_NXDOMAIN);
		return;
	}
	if (status == ARES_ENODATA) {
		proxy_audit(c, host, 0, true, c->rt.rule, "no addresses", 0);
		dns_reply(c, DNS_NOERROR, NULL);
		return;
	}
	if (status != ARES_SUCCESS || c->rt.naddrs == 0) {
		dns_deny(c, host, c->rt.rule, ares_strerror(status), DNS_SERVFAIL);
		return;
	}
	if (proxy_check_addrs(c, 0) < 0) {
		dns_deny(c, host, c->rt.rule, c->rt.reason, DNS_NXDOMAIN);
		return;
	}
	dns_answer_allowed(c, c->rt.addr);
}

void proxy_dns_input(struct pconn *c)
{
	size_t qlen;

	if (c->st != PS_DNS_READ) {
		pconn_consume(c, c->in.len);   /* one query per stream: ignore the rest */
		return;
	}
	if (c->in.len < 2)
		return;
	qlen = (size_t)c->in.data[c->in.off] << 8 | c->in.data[c->in.off + 1];
	if (qlen < 12) {
		pconn_reset(c);
		return;
	}
	if (c->in.len < 2 + qlen)
		return;
	c->dns_q = xmalloc(qlen);
	memcpy(c->dns_q, c->in.data + c->in.off + 2, qlen);
	c->dns_qlen = qlen;
	pconn_consume(c, c->in.len);
	c->deadline = 0;
	dns_handle(c);
}
