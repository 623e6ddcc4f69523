// SPDX-License-Identifier: MIT
/* proxy_route.c: the egress engine's destination decisions: name normalisation, policy,
 * proxy.resolve, c-ares lookups, internal-address refusal, connecting to exactly an
 * address that passed, and the 403/502 answers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "proxy_int.h"
#include "util.h"

/* ---- routing: name -> policy -> addresses -> connect ---- */

static void sa_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

void proxy_sa_text(const struct sockaddr_storage *ss, char *out, size_t n)
{
	const void *a = ss->ss_family == AF_INET ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
						 : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
	if (!inet_ntop(ss->ss_family, a, out, (socklen_t)n))
		snprintf(out, n, "?");
}

/* port < 0: keep the port in sa */
static void route_add_addr(struct proute *rt, const struct sockaddr *sa, socklen_t len, int port)
{
	if (rt->naddrs >= PROXY_ADDRS_MAX || len > sizeof(struct sockaddr_storage))
		return;
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return;
	memset(&rt->addrs[rt->naddrs], 0, sizeof(rt->addrs[0]));
	memcpy(&rt->addrs[rt->naddrs], sa, len);
	if (port >= 0)
		sa_set_port(&rt->addrs[rt->naddrs], (uint16_t)port);
	rt->alens[rt->naddrs] = sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	rt->naddrs++;
}

int proxy_check_addrs(struct pconn *c, uint16_t port)
{
	struct proute *rt = &c->rt;

	for (int i = 0; i < rt->naddrs; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&rt->addrs[i];
		struct policy_decision d;
		enum addr_class k;
		char txt[INET6_ADDRSTRLEN];

		proxy_sa_text(&rt->addrs[i], txt, sizeof(txt));
		policy_check_dest(c->px->pol, c->sandbox, rt->host, sa, port, &d);
		if (d.action != POLICY_ALLOW) {
			snprintf(rt->rule, sizeof(rt->rule), "%s", d.rule);
			snprintf(rt->reason, sizeof(rt->reason), "address %s denied", txt);
			snprintf(rt->addr, sizeof(rt->addr), "%s", txt);
			return -EACCES;
		}
		/* the host's own addresses are refused whatever the rules: the host is reached
		 * only as host.docker.internal through a localhost:PORT rule (trusted) */
		rt->host_addr = !rt->trusted && hostaddr_is_local(c->px->hosts, sa);
		k = addr_classify(sa);
		if (k != ADDR_PUBLIC && !rt->trusted && !d.names_address) {
			/* refuse the whole name: a mix of public and internal answers is rebinding */
			snprintf(rt->reason, sizeof(rt->reason), "internal address %s", txt);
			snprintf(rt->addr, sizeof(rt->addr), "%s", txt);
			return -EACCES;
		}
		if (rt->host_addr) {
			snprintf(rt->reason, sizeof(rt->reason), "host address %s", txt);
			snprintf(rt->addr, sizeof(rt->addr), "%s", txt);
			return -EACCES;
		}
	}
	if (rt->naddrs)
		proxy_sa_text(&rt->addrs[0], rt->addr, sizeof(rt->addr));
	return 0;
}

static void lookup_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct plookup *lk = arg;
	struct pconn *c = lk->conn;

	free(lk);
	if (c && !c->dead) {
		c->lk = NULL;
		c->rt.naddrs = 0;
		for (struct ares_addrinfo_node *n = res ? res->nodes : NULL; n; n = n->ai_next)
			route_add_addr(&c->rt, n->ai_addr, n->ai_addrlen, c->rt.port);
		if (status == ARES_SUCCESS && !c->rt.naddrs)
			status = ARES_ENODATA;
	}
	if (res)
		ares_freeaddrinfo(res);
	if (!c || c->dead)
		return;
	if (c->path != PROXY_DNS && c->st != PS_ROUTE)
		return;
	if (c->path == PROXY_DNS) {
		proxy_dns_lookup_done(c, status);
		return;
	}
	if (status != ARES_SUCCESS) {
		char reason[160];
		snprintf(reason, sizeof(reason), "cannot resolve %s: %s", c->rt.host,
			 status == ARES_ENOTFOUND ? "no such name" : ares_strerror(status));
		proxy_route_fail(c, 502, reason);
		return;
	}
	if (proxy_check_addrs(c, c->rt.port) < 0) {
		proxy_route_fail(c, 403, NULL);
		return;
	}
	proxy_route_try_connect(c);
	if (!c->dead)
		pconn_up_update(c);
}

int proxy_lookup(struct pconn *c, const char *name)
{
	struct plookup *lk = xcalloc(1, sizeof(*lk));
	struct ares_addrinfo_hints h = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };

	lk->px = c->px;
	lk->conn = c;
	c->lk = lk;
	/* may call lookup_cb before returning (hosts file, numeric) */
	ares_getaddrinfo(c->px->ares, name, NULL, &h, lookup_cb, lk);
	return 0;
}

void proxy_route_try_connect(struct pconn *c)
{
	struct proute *rt = &c->rt;

	if (rt->next == 0)
		c->deadline = now_ms() + PROXY_CONNECT_TIMEOUT_MS;
	c->st = PS_ROUTE;
	while (rt->next < rt->naddrs) {
		int i = rt->next++;
		int fd = socket(rt->addrs[i].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		proxy_sa_text(&rt->addrs[i], rt->addr, sizeof(rt->addr));
		if (fd < 0) {
			snprintf(rt->reason, sizeof(rt->reason), "socket: %s", strerror(errno));
			continue;
		}
		if (connect(fd, (struct sockaddr *)&rt->addrs[i], rt->alens[i]) < 0 && errno != EINPROGRESS) {
			snprintf(rt->reason, sizeof(rt->reason), "connect to %s: %s", rt->addr, strerror(errno));
			close(fd);
			continue;
		}
		c->uev.fd = fd;
		c->uev.events = 0;
		c->u_connected = false;
		if (ev_set(c->px->epfd, &c->uev, EPOLLOUT) < 0) {
			pconn_up_close(c);
			continue;
		}
		return;
	}
	proxy_route_fail(c, 502, rt->reason[0] ? rt->reason : "no address to connect to");
}

/* The 403 text: what was blocked, why, and the command that would allow it. */
static void sbx_body_403(struct pconn *c, char *out, size_t n)
{
	const struct proute *rt = &c->rt;
	const char *host = rt->host ? rt->host : "?", *why = rt->rule[0] ? rt->rule : "default deny";
	bool v6 = strchr(host, ':') != NULL;
	char hp[300];

	snprintf(hp, sizeof(hp), "%s%.255s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", rt->port);
	if (!strcmp(why, "invalid host name"))
		snprintf(out, n, "sbx: blocked: invalid host name\n");
	else if (rt->host_addr)
		snprintf(out, n, "sbx: blocked %s (%s, one of the host's own: the host is reached only as "
			 "host.docker.internal through a localhost:PORT rule). Allow that with: sbx policy allow network "
			 "localhost:%u\n", hp, rt->reason, rt->port);
	else if (!strncmp(rt->reason, "internal address ", 17))
		snprintf(out, n, "sbx: blocked %s (%s). Allow it with: sbx policy allow network %s\n", hp, rt->reason,
			 rt->reason + 17);
	else if (policy_host_alias(host))
		snprintf(out, n, "sbx: blocked %s (%s: the host is reached only through a localhost:PORT rule). "
			 "Allow it with: sbx policy allow network localhost:%u\n", hp, why, rt->port);
	else if (!strncmp(rt->reason, "no policy", 9))
		snprintf(out, n, "sbx: blocked %s (no policy chosen). Choose one with: sbx policy init\n", hp);
	else
		snprintf(out, n, "sbx: blocked %s (%s). Allow it with: sbx policy allow network %.255s\n", hp, why, host);
}

void proxy_send_response(struct pconn *c, int status, const char *reason_phrase, const char *body)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 status, reason_phrase, strlen(body));

	pconn_out(c, head, (size_t)n);
	if (c->dead)
		return;
	pconn_out(c, body, strlen(body));
	if (c->dead)
		return;
	c->st = PS_CLOSING;
	pconn_lookup_cancel(c);
	pconn_up_close(c);
	pconn_consume(c, c->in.len);
	c->deadline = now_ms() + PROXY_LINGER_TIMEOUT_MS;
	pconn_finish(c);
}

static const char *status_text(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 408: return "Request Timeout";
	case 421: return "Misdirected Request";
	case 502: return "Bad Gateway";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

void proxy_send_error(struct pconn *c, int status, const char *text)
{
	char body[512];

	snprintf(body, sizeof(body), "sbx: %s\n", text);
	proxy_send_response(c, status, status_text(status), body);
}

/* Plain HTTP via the forward path or the transparent path's first request: answer. */
static bool conn_speaks_http(const struct pconn *c)
{
	return c->path == PROXY_FORWARD || (c->path == PROXY_TRANSPARENT && c->have_req);
}

/* Denied (403) or failed (502/504): audit, answer, close. reason NULL: c->rt.reason. */
void proxy_route_fail(struct pconn *c, int status, const char *reason)
{
	bool denied = status == 403;
	char body[1200];

	if (reason)
		snprintf(c->rt.reason, sizeof(c->rt.reason), "%s", reason);
	proxy_audit(c, c->rt.host ? c->rt.host : "", c->rt.port, !denied, c->rt.rule, c->rt.reason,
		    conn_speaks_http(c) ? status : 0);
	if (!conn_speaks_http(c)) {
		pconn_reset(c);   /* blocked tunnels fail fast */
		return;
	}
	if (denied)
		sbx_body_403(c, body, sizeof(body));
	else
		snprintf(body, sizeof(body), "sbx: cannot reach %s:%u: %s\n", c->rt.host ? c->rt.host : "?", c->rt.port,
			 c->rt.reason);
	proxy_send_response(c, status, status_text(status), body);
}

/* Decide for host:port; continues in proxy_route_connected() or proxy_route_fail(). */
void proxy_route_start(struct pconn *c, const char *raw_host, uint16_t port)
{
	struct proute *rt = &c->rt;
	struct policy_decision d;
	struct sockaddr_storage ss;
	socklen_t sl;
	char *norm = NULL;
	bool is_ip = false;
	_cleanup_free_ char *key = NULL;

	proxy_route_clear(rt);
	rt->port = port;
	if (host_normalize(raw_host, &norm, &is_ip) < 0) {
		rt->host = strndup(raw_host, 255);
		snprintf(rt->rule, sizeof(rt->rule), "invalid host name");
		proxy_route_fail(c, 403, NULL);
		return;
	}
	rt->host = norm;
	rt->is_ip = is_ip;
	if (!c->px->pol) {
		snprintf(rt->rule, sizeof(rt->rule), "default deny");
		proxy_route_fail(c, 403, "no policy: run sbx policy init");
		return;
	}
	policy_check(c->px->pol, c->sandbox, norm, port, &d);
	snprintf(rt->rule, sizeof(rt->rule), "%s", d.rule);
	if (d.action != POLICY_ALLOW) {
		proxy_route_fail(c, 403, NULL);
		return;
	}
	rt->names_port = d.names_port;
	if (c->raw && !d.names_port) {
		char reason[96];
		snprintf(reason, sizeof(reason), "neither TLS nor HTTP: needs a rule naming port %u", port);
		proxy_route_fail(c, 403, reason);
		return;
	}
	/* keep-alive: the same destination reuses the checked upstream while it is fresh */
	key = xasprintf("%s:%u", norm, port);
	if (!c->is_connect && c->ukey && c->u_connected && !c->u_eof && !strcmp(c->ukey, key) && !c->uin.len &&
	    now_ms() - c->u_idle_since < PROXY_REUSE_IDLE_MS) {
		/* the address passed when we connected; check it against today's rules */
		rt->addrs[0] = c->uss;
		rt->alens[0] = c->ulen;
		rt->naddrs = 1;
		rt->trusted = c->utrusted;
		if (proxy_check_addrs(c, port) < 0) {
			proxy_route_fail(c, 403, NULL);
			return;
		}
		proxy_route_connected(c);
		return;
	}
	pconn_up_close(c);
	c->ukey = TAKE_PTR(key);
	if (policy_host_alias(norm)) {
		struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		if (!d.names_address) {
			proxy_route_fail(c, 403, "the host is reached only through a localhost:PORT allow rule");
			return;
		}
		rt->trusted = true;
		route_add_addr(rt, (struct sockaddr *)&lo, sizeof(lo), port);
		proxy_route_try_connect(c);
		return;
	}
	if (settings_resolve_lookup(c->px->set, norm, port, &ss, &sl) == 0) {
		rt->trusted = true;   /* proxy.resolve: the host's own configuration */
		route_add_addr(rt, (struct sockaddr *)&ss, sl, -1);
		proxy_route_try_connect(c);
		return;
	}
	if (is_ip) {
		struct sockaddr_in s4 = { .sin_family = AF_INET };
		struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
		if (inet_pton(AF_INET, norm, &s4.sin_addr) == 1)
			route_add_addr(rt, (struct sockaddr *)&s4, sizeof(s4), port);
		else if (inet_pton(AF_INET6, norm, &s6.sin6_addr) == 1)
			route_add_addr(rt, (struct sockaddr *)&s6, sizeof(s6), port);
		if (proxy_check_addrs(c, port) < 0) {
			proxy_route_fail(c, 403, NULL);
			return;
		}
		proxy_route_try_connect(c);
		return;
	}
	c->st = PS_ROUTE;
	c->deadline = now_ms() + PROXY_CONNECT_TIMEOUT_MS + 10000;   /* resolver has its own timeouts */
	proxy_lookup(c, norm);
}

