// SPDX-License-Identifier: MIT
/* egress_nl.c: the egress plumbing over netlink from sbx-guest itself: sbx0, its addresses and routes (rtnetlink), the capture rules (nf_tables). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "egress.h"
#include "util.h"

/*
 * Why by hand: under TCG the `ip` and `nft` processes cost 300-500 ms of every boot
 * (their binaries and libraries read from the root disk and translated cold), and
 * sbx-guest is static: Debian ships libnftnl and libmnl, which nft builds on, only
 * as shared libraries for libmnl. The messages are few and fixed; what they make is
 * exactly what `ip -batch` and `nft -f` made from the texts in egress_net.c (the
 * integration test compares `nft list ruleset` and the routes), and egress_net.c
 * falls back to those tools when this fails.
 */

#define NL_BUF_MAX 8192u
#define NL_ACK_TIMEOUT_S 5

struct nlb {
	uint8_t buf[NL_BUF_MAX];
	size_t len;
	bool overflow;
	uint32_t seq, nmsg; /* messages that ask for an ack */
};

static void *nlb_put(struct nlb *b, size_t n)
{
	size_t al = NLMSG_ALIGN(n);
	void *p;

	if (b->overflow || b->len + al > sizeof(b->buf)) {
		b->overflow = true;
		return NULL;
	}
	p = b->buf + b->len;
	memset(p, 0, al);
	b->len += al;
	return p;
}

/* A message header and its family header (hdrlen bytes, zeroed), at b's end. */
static struct nlmsghdr *nlb_msg(struct nlb *b, uint16_t type, uint16_t flags, const void *hdr, size_t hdrlen)
{
	struct nlmsghdr *h = nlb_put(b, NLMSG_HDRLEN);
	void *fh;

	if (!h)
		return NULL;
	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST | flags;
	h->nlmsg_seq = ++b->seq;
	if (flags & NLM_F_ACK)
		b->nmsg++;
	fh = nlb_put(b, hdrlen);
	if (fh)
		memcpy(fh, hdr, hdrlen);
	return h;
}

static void nlb_end(struct nlb *b, struct nlmsghdr *h)
{
	if (h && !b->overflow)
		h->nlmsg_len = (uint32_t)(b->buf + b->len - (uint8_t *)h);
}

static struct nlattr *attr_put(struct nlb *b, uint16_t type, const void *data, size_t len)
{
	struct nlattr *a = nlb_put(b, NLA_HDRLEN + len);

	if (!a)
		return NULL;
	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	if (len)
		memcpy((uint8_t *)a + NLA_HDRLEN, data, len);
	return a;
}

static void attr_str(struct nlb *b, uint16_t type, const char *s)
{
	attr_put(b, type, s, strlen(s) + 1);
}

static void attr_be32(struct nlb *b, uint16_t type, uint32_t v)
{
	v = htonl(v);
	attr_put(b, type, &v, sizeof(v));
}

static struct nlattr *nest_start(struct nlb *b, uint16_t type)
{
	return attr_put(b, type | NLA_F_NESTED, NULL, 0);
}

static void nest_end(struct nlb *b, struct nlattr *a)
{
	if (a && !b->overflow)
		a->nla_len = (uint16_t)(b->buf + b->len - (uint8_t *)a);
}

/* Send b and read every ack: 0, or the first error the kernel reported. */
static int nl_talk(int proto, const struct nlb *b)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = NL_ACK_TIMEOUT_S };
	uint8_t rbuf[NL_BUF_MAX];
	uint32_t acks = 0;
	int fd, r = 0;

	if (b->overflow)
		return -ENOBUFS;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, proto);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(fd, b->buf, b->len, 0, (struct sockaddr *)&sa, sizeof(sa)) != (ssize_t)b->len) {
		r = -errno;
		goto out;
	}
	while (acks < b->nmsg && r == 0) {
		ssize_t n = recv(fd, rbuf, sizeof(rbuf), 0);
		int left;

		if (n < 0) {
			r = errno == EAGAIN ? -ETIMEDOUT : -errno;
			break;
		}
		left = (int)n;
		for (struct nlmsghdr *h = (struct nlmsghdr *)rbuf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e))) {
				r = -EBADMSG;
				break;
			}
			acks++;
			if (e->error) {
				r = e->error;
				log_debug("egress: netlink message %u refused: %s", h->nlmsg_seq, strerror(-r));
				break;
			}
		}
	}
out:
	close(fd);
	return r;
}

/* ---- rtnetlink: ip link add sbx0 type dummy up; its addresses; default routes ---- */

static void rt_addr(struct nlb *b, int ifindex, int family, const void *addr, size_t alen, uint8_t flags)
{
	struct ifaddrmsg ifa = { .ifa_family = (uint8_t)family, .ifa_prefixlen = (uint8_t)(alen * 8),
				 .ifa_flags = flags, .ifa_scope = RT_SCOPE_UNIVERSE, .ifa_index = (uint32_t)ifindex };
	struct nlmsghdr *h = nlb_msg(b, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK, &ifa, sizeof(ifa));

	attr_put(b, IFA_LOCAL, addr, alen);
	attr_put(b, IFA_ADDRESS, addr, alen);
	nlb_end(b, h);
}

static void rt_default(struct nlb *b, int ifindex, int family)
{
	/* as `ip route replace default dev sbx0`: link scope for IPv4 (no gateway) */
	struct rtmsg rtm = { .rtm_family = (uint8_t)family, .rtm_table = RT_TABLE_MAIN, .rtm_protocol = RTPROT_BOOT,
			     .rtm_scope = family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST };
	struct nlmsghdr *h = nlb_msg(b, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK, &rtm, sizeof(rtm));
	uint32_t oif = (uint32_t)ifindex;

	attr_put(b, RTA_OIF, &oif, sizeof(oif));
	nlb_end(b, h);
}

static int link_plumb(const char *ifname)
{
	static struct nlb b;
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP };
	struct nlmsghdr *h;
	struct nlattr *li;
	struct in_addr a4;
	struct in6_addr a6;
	int r, ifindex;

	memset(&b, 0, sizeof(b));
	h = nlb_msg(&b, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, &ifi, sizeof(ifi));
	attr_str(&b, IFLA_IFNAME, ifname);
	li = nest_start(&b, IFLA_LINKINFO);
	attr_str(&b, IFLA_INFO_KIND, "dummy");
	nest_end(&b, li);
	nlb_end(&b, h);
	r = nl_talk(NETLINK_ROUTE, &b);
	if (r < 0 && r != -EEXIST)
		return r;
	ifindex = (int)if_nametoindex(ifname);
	if (ifindex <= 0)
		return -ENODEV;

	memset(&b, 0, sizeof(b));
	if (r == -EEXIST) { /* made earlier in this boot: up it */
		struct ifinfomsg up = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex, .ifi_flags = IFF_UP, .ifi_change = IFF_UP };
		nlb_end(&b, nlb_msg(&b, RTM_NEWLINK, NLM_F_ACK, &up, sizeof(up)));
	}
	(void)inet_pton(AF_INET, EGRESS_NET_ADDR4, &a4);
	(void)inet_pton(AF_INET6, EGRESS_NET_ADDR6, &a6);
	rt_addr(&b, ifindex, AF_INET, &a4, sizeof(a4), 0);
	rt_addr(&b, ifindex, AF_INET6, &a6, sizeof(a6), IFA_F_NODAD);
	rt_default(&b, ifindex, AF_INET);
	rt_default(&b, ifindex, AF_INET6);
	return nl_talk(NETLINK_ROUTE, &b);
}

/* ---- nf_tables: table inet sbx and its four chains (egress_net.c's nft_ruleset) ---- */

#define NFT_TABLE "sbx"

static struct nlmsghdr *nft_msg(struct nlb *b, uint16_t type, uint16_t flags)
{
	struct nfgenmsg g = { .nfgen_family = NFPROTO_INET, .version = NFNETLINK_V0 };

	return nlb_msg(b, (uint16_t)((NFNL_SUBSYS_NFTABLES << 8) | type), flags | NLM_F_ACK, &g, sizeof(g));
}

static void nft_batch_mark(struct nlb *b, uint16_t type)
{
	struct nfgenmsg g = { .nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0, .res_id = htons(NFNL_SUBSYS_NFTABLES) };

	nlb_end(b, nlb_msg(b, type, 0, &g, sizeof(g)));
}

static void nft_table(struct nlb *b, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *h = nft_msg(b, type, flags);

	attr_str(b, NFTA_TABLE_NAME, NFT_TABLE);
	nlb_end(b, h);
}

static void nft_chain(struct nlb *b, const char *name, const char *kind, uint32_t hook, int32_t prio)
{
	struct nlmsghdr *h = nft_msg(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
	struct nlattr *hk;

	attr_str(b, NFTA_CHAIN_TABLE, NFT_TABLE);
	attr_str(b, NFTA_CHAIN_NAME, name);
	hk = nest_start(b, NFTA_CHAIN_HOOK);
	attr_be32(b, NFTA_HOOK_HOOKNUM, hook);
	attr_be32(b, NFTA_HOOK_PRIORITY, (uint32_t)prio);
	nest_end(b, hk);
	attr_be32(b, NFTA_CHAIN_POLICY, NF_ACCEPT);
	attr_str(b, NFTA_CHAIN_TYPE, kind);
	nlb_end(b, h);
}

/* One expression of a rule: NFTA_LIST_ELEM { NFTA_EXPR_NAME, NFTA_EXPR_DATA { ... } } */
struct expr {
	struct nlattr *elem, *data;
};

static struct expr expr_start(struct nlb *b, const char *name)
{
	struct expr e;

	e.elem = nest_start(b, NFTA_LIST_ELEM);
	attr_str(b, NFTA_EXPR_NAME, name);
	e.data = nest_start(b, NFTA_EXPR_DATA);
	return e;
}

static void expr_end(struct nlb *b, struct expr e)
{
	nest_end(b, e.data);
	nest_end(b, e.elem);
}

static void x_meta(struct nlb *b, uint32_t key)
{
	struct expr e = expr_start(b, "meta");

	attr_be32(b, NFTA_META_DREG, NFT_REG_1);
	attr_be32(b, NFTA_META_KEY, key);
	expr_end(b, e);
}

static void x_cmp(struct nlb *b, uint32_t op, const void *data, size_t len)
{
	struct expr e = expr_start(b, "cmp");
	struct nlattr *d;

	attr_be32(b, NFTA_CMP_SREG, NFT_REG_1);
	attr_be32(b, NFTA_CMP_OP, op);
	d = nest_start(b, NFTA_CMP_DATA);
	attr_put(b, NFTA_DATA_VALUE, data, len);
	nest_end(b, d);
	expr_end(b, e);
}

static void x_cmp_u8(struct nlb *b, uint8_t v)
{
	x_cmp(b, NFT_CMP_EQ, &v, 1);
}

static void x_cmp_port(struct nlb *b, uint16_t port)
{
	uint16_t be = htons(port);

	x_cmp(b, NFT_CMP_EQ, &be, 2);
}

/* oifname ==/!= "sbx0": the name padded to IFNAMSIZ, as nft compares it */
static void x_oifname_is(struct nlb *b, uint32_t op)
{
	char name[IFNAMSIZ] = { 0 };

	snprintf(name, sizeof(name), "%s", EGRESS_NET_IF);
	x_cmp(b, op, name, sizeof(name));
}

static void x_payload(struct nlb *b, uint32_t base, uint32_t off, uint32_t len)
{
	struct expr e = expr_start(b, "payload");

	attr_be32(b, NFTA_PAYLOAD_DREG, NFT_REG_1);
	attr_be32(b, NFTA_PAYLOAD_BASE, base);
	attr_be32(b, NFTA_PAYLOAD_OFFSET, off);
	attr_be32(b, NFTA_PAYLOAD_LEN, len);
	expr_end(b, e);
}

static void x_redirect(struct nlb *b, uint16_t port)
{
	struct expr e = expr_start(b, "immediate");
	struct nlattr *d;
	uint16_t be = htons(port);

	attr_be32(b, NFTA_IMMEDIATE_DREG, NFT_REG_1);
	d = nest_start(b, NFTA_IMMEDIATE_DATA);
	attr_put(b, NFTA_DATA_VALUE, &be, 2);
	nest_end(b, d);
	expr_end(b, e);
	e = expr_start(b, "redir");
	attr_be32(b, NFTA_REDIR_REG_PROTO_MIN, NFT_REG_1);
	attr_be32(b, NFTA_REDIR_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
	expr_end(b, e);
}

static void x_accept(struct nlb *b)
{
	struct expr e = expr_start(b, "immediate");
	struct nlattr *d, *v;

	attr_be32(b, NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
	d = nest_start(b, NFTA_IMMEDIATE_DATA);
	v = nest_start(b, NFTA_DATA_VERDICT);
	attr_be32(b, NFTA_VERDICT_CODE, NF_ACCEPT);
	nest_end(b, v);
	nest_end(b, d);
	expr_end(b, e);
}

static void x_reject(struct nlb *b, uint32_t type, uint8_t code)
{
	struct expr e = expr_start(b, "reject");

	attr_be32(b, NFTA_REJECT_TYPE, type);
	attr_put(b, NFTA_REJECT_ICMP_CODE, &code, 1);
	expr_end(b, e);
}

static void x_fib_daddr_oifname(struct nlb *b)
{
	struct expr e = expr_start(b, "fib");

	attr_be32(b, NFTA_FIB_DREG, NFT_REG_1);
	attr_be32(b, NFTA_FIB_RESULT, NFT_FIB_RESULT_OIFNAME);
	attr_be32(b, NFTA_FIB_FLAGS, NFTA_FIB_F_DADDR);
	expr_end(b, e);
}

struct rule {
	struct nlmsghdr *h;
	struct nlattr *exprs;
};

static struct rule rule_start(struct nlb *b, const char *chain)
{
	struct rule r;

	r.h = nft_msg(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
	attr_str(b, NFTA_RULE_TABLE, NFT_TABLE);
	attr_str(b, NFTA_RULE_CHAIN, chain);
	r.exprs = nest_start(b, NFTA_RULE_EXPRESSIONS);
	return r;
}

static void rule_end(struct nlb *b, struct rule r)
{
	nest_end(b, r.exprs);
	nlb_end(b, r.h);
}

/* meta l4proto tcp reject with tcp reset; reject with icmpx admin-prohibited */
static void rules_reject(struct nlb *b, const char *chain)
{
	struct rule r = rule_start(b, chain);

	x_meta(b, NFT_META_L4PROTO);
	x_cmp_u8(b, IPPROTO_TCP);
	x_reject(b, NFT_REJECT_TCP_RST, 0);
	rule_end(b, r);
	r = rule_start(b, chain);
	x_reject(b, NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_ADMIN_PROHIBITED);
	rule_end(b, r);
}

/* oifname != "sbx0" accept */
static void rule_other_if_accept(struct nlb *b, const char *chain)
{
	struct rule r = rule_start(b, chain);

	x_meta(b, NFT_META_OIFNAME);
	x_oifname_is(b, NFT_CMP_NEQ);
	x_accept(b);
	rule_end(b, r);
}

/* ip daddr 127.0.0.1 / ip6 daddr ::1 tcp dport TPORT accept */
static void rule_loopback_tproxy_accept(struct nlb *b, const char *chain, bool v6)
{
	struct rule r = rule_start(b, chain);
	struct in6_addr lo6 = IN6ADDR_LOOPBACK_INIT;
	uint32_t lo4 = htonl(INADDR_LOOPBACK);

	x_meta(b, NFT_META_NFPROTO);
	x_cmp_u8(b, v6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
	if (v6) {
		x_payload(b, NFT_PAYLOAD_NETWORK_HEADER, 24, 16);
		x_cmp(b, NFT_CMP_EQ, &lo6, sizeof(lo6));
	} else {
		x_payload(b, NFT_PAYLOAD_NETWORK_HEADER, 16, 4);
		x_cmp(b, NFT_CMP_EQ, &lo4, sizeof(lo4));
	}
	x_meta(b, NFT_META_L4PROTO);
	x_cmp_u8(b, IPPROTO_TCP);
	x_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
	x_cmp_port(b, EGRESS_TPROXY_PORT);
	x_accept(b);
	rule_end(b, r);
}

static int rules_plumb(void)
{
	static struct nlb b;
	struct rule r;

	memset(&b, 0, sizeof(b));
	nft_batch_mark(&b, NFNL_MSG_BATCH_BEGIN);
	/* table inet sbx; delete table inet sbx; table inet sbx { ... } */
	nft_table(&b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	nft_table(&b, NFT_MSG_DELTABLE, 0);
	nft_table(&b, NFT_MSG_NEWTABLE, NLM_F_CREATE);

	nft_chain(&b, "nat_output", "nat", NF_INET_LOCAL_OUT, -100);
	r = rule_start(&b, "nat_output"); /* oifname "sbx0" meta l4proto tcp redirect to :TPORT */
	x_meta(&b, NFT_META_OIFNAME);
	x_oifname_is(&b, NFT_CMP_EQ);
	x_meta(&b, NFT_META_L4PROTO);
	x_cmp_u8(&b, IPPROTO_TCP);
	x_redirect(&b, EGRESS_TPROXY_PORT);
	rule_end(&b, r);

	nft_chain(&b, "nat_prerouting", "nat", NF_INET_PRE_ROUTING, -100);
	for (int i = 0; i < 2; i++) { /* meta nfproto ipv4 meta l4proto tcp|udp th dport 53 redirect to :53 */
		r = rule_start(&b, "nat_prerouting");
		x_meta(&b, NFT_META_NFPROTO);
		x_cmp_u8(&b, NFPROTO_IPV4);
		x_meta(&b, NFT_META_L4PROTO);
		x_cmp_u8(&b, i ? IPPROTO_UDP : IPPROTO_TCP);
		x_payload(&b, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
		x_cmp_port(&b, EGRESS_DNS_PORT);
		x_redirect(&b, EGRESS_DNS_PORT);
		rule_end(&b, r);
	}
	r = rule_start(&b, "nat_prerouting"); /* fib daddr oifname "sbx0" meta l4proto tcp redirect */
	x_fib_daddr_oifname(&b);
	x_oifname_is(&b, NFT_CMP_EQ);
	x_meta(&b, NFT_META_L4PROTO);
	x_cmp_u8(&b, IPPROTO_TCP);
	x_redirect(&b, EGRESS_TPROXY_PORT);
	rule_end(&b, r);

	nft_chain(&b, "filter_output", "filter", NF_INET_LOCAL_OUT, 0);
	rule_other_if_accept(&b, "filter_output");
	rule_loopback_tproxy_accept(&b, "filter_output", false);
	rule_loopback_tproxy_accept(&b, "filter_output", true);
	rules_reject(&b, "filter_output");

	nft_chain(&b, "filter_forward", "filter", NF_INET_FORWARD, 0);
	rule_other_if_accept(&b, "filter_forward");
	rules_reject(&b, "filter_forward");
	nft_batch_mark(&b, NFNL_MSG_BATCH_END);
	return nl_talk(NETLINK_NETFILTER, &b);
}

int egress_nl_plumb(void)
{
	uint64_t t0 = now_ms(), t1;
	int r = link_plumb(EGRESS_NET_IF);

	if (r < 0) {
		log_debug("egress: netlink: %s: %s", EGRESS_NET_IF, strerror(-r));
		return r;
	}
	t1 = now_ms();
	r = rules_plumb();
	if (r < 0)
		log_debug("egress: netlink: nf_tables: %s", strerror(-r));
	else
		log_debug("egress: netlink: %s in %llu ms, the rules in %llu ms", EGRESS_NET_IF,
			  (unsigned long long)(t1 - t0), (unsigned long long)(now_ms() - t1));
	return r;
}
