// SPDX-License-Identifier: MIT
/* proxy.c: sbxd's egress engine: its state (policy, settings, c-ares, per-sandbox DNS
 * tables), the audit record of every decision, and the timer. Connections and their
 * upstream sockets are proxy_conn.c; routing proxy_route.c; the forward and
 * transparent paths proxy_fwd.c. */
#include "proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "proxy_int.h"
#include "proxy_tls.h"
#include "util.h"

/*
 * Theory of operation. Every connection (struct pconn) has a downstream (a guest
 * stream, reached through proxy_down_ops) and at most one upstream socket. Each
 * destination is decided on the host: the name is normalised, the policy checked
 * for host:port, the name resolved once (proxy.resolve first, then c-ares), every
 * address classified, and the socket connected to exactly an address that passed.
 * The guest never chooses an address. A CONNECT that is to receive a credential is
 * intercepted after these checks (proxy_tls.c, state PS_TLS); every other TLS tunnel
 * stays end to end. Plain HTTP, on any path, is parsed and checked request by request
 * (proxy_fwd.c); other bytes are relayed raw only to a port a rule names. Buffers are
 * bounded both ways: client bytes
 * are consumed (credit returned) only once written upstream, upstream bytes are read
 * only while the client has room for them.
 *
 * Lifetime: a connection ends when the engine calls ops->reset (the engine drops the
 * downstream) or when the downstream calls proxy_conn_abort(). Either way it is only
 * marked dead and its upstream closed; the memory goes two ticks later, so an epoll
 * event already fetched for it in the same batch finds a dead object, not freed memory.
 * ops callbacks must not call back into the engine except proxy_conn_abort().
 */

static const char *const path_names[] = { "forward", "transparent", "dns" };

/* ---- engine ---- */

static void ares_sock_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct proxy *px = data;
	struct ares_slot *slot = NULL, *free_slot = NULL;
	uint32_t events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);

	for (size_t i = 0; i < px->nslots; i++) {
		if (px->slots[i]->ev.fd == fd)
			slot = px->slots[i];
		else if (px->slots[i]->ev.fd < 0 && !free_slot)
			free_slot = px->slots[i];
	}
	if (!slot) {
		if (!events)
			return;
		if (!free_slot) {
			struct ares_slot **v = realloc(px->slots, (px->nslots + 1) * sizeof(*v));
			if (!v)
				return;
			px->slots = v;
			free_slot = xcalloc(1, sizeof(*free_slot));
			px->slots[px->nslots++] = free_slot;
		}
		slot = free_slot;
		slot->ev = (struct evsrc){ .kind = EV_PROXY, .fd = fd, .obj = px };
	}
	if (ev_set(px->epfd, &slot->ev, events) < 0)
		log_debug("proxy: epoll for resolver socket %d: %m", fd);
	if (!events) {
		slot->ev.fd = -1;
		slot->ev.events = 0;
	}
}

static int ares_channel_new(struct proxy *px, ares_channel *ret);

/* Point c-ares at proxy.dnsServers (or back at the system's resolv.conf). c-ares
 * refuses to change servers while queries are pending: then retry at the next tick. */
static void dns_servers_apply(struct proxy *px)
{
	ares_channel ch;

	if (!px->dns_pending)
		return;
	if (px->dns_csv) {
		if (ares_set_servers_ports_csv(px->ares, px->dns_csv) == ARES_SUCCESS)
			px->dns_pending = false;
		return;
	}
	for (struct pconn *c = px->conns; c; c = c->next)
		if (c->lk)
			return;
	if (ares_channel_new(px, &ch) == 0) {
		ares_destroy(px->ares);
		px->ares = ch;
		px->dns_pending = false;
	}
}

static void apply_settings(struct proxy *px)
{
	char *csv = NULL;

	settings_dns_servers(px->set, &csv);
	if ((!csv && !px->dns_csv) || (csv && px->dns_csv && !strcmp(csv, px->dns_csv))) {
		free(csv);
		return;
	}
	free(px->dns_csv);
	px->dns_csv = csv;
	px->dns_pending = true;
	dns_servers_apply(px);
}

static int ares_channel_new(struct proxy *px, ares_channel *ret)
{
	struct ares_options o = {
		.sock_state_cb = ares_sock_cb,
		.sock_state_cb_data = px,
		.timeout = 2000,
		.tries = 2,
	};

	if (ares_init_options(ret, &o, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES) != ARES_SUCCESS)
		return -ENOMEM;
	return 0;
}

static void load_policy(struct proxy *px)
{
	struct policy *pol = NULL;
	const char *err = NULL;
	int r;

	r = policy_load_ex(px->paths, &pol, &err);
	policy_free(px->pol);
	px->pol = r < 0 ? NULL : pol;
	/* fail closed, and say so once */
	if (r < 0 && r != -ENOENT && !px->pol_warned)
		log_warn("proxy: policy file unusable (%s): denying everything until it is fixed",
			 err ? err : strerror(-r));
	px->pol_warned = r < 0 && r != -ENOENT;
}

static void load_settings(struct proxy *px)
{
	struct settings *s = NULL;

	if (settings_load(px->paths, &s) < 0) {
		if (!px->set_warned)
			log_warn("proxy: settings file unusable: ignoring proxy settings until it is fixed");
		px->set_warned = true;
		s = NULL;
	} else {
		px->set_warned = false;
	}
	settings_free(px->set);
	px->set = s;
	apply_settings(px);
}

int proxy_new(const struct sbx_paths *p, int epfd, struct proxy **ret)
{
	struct proxy *px = xcalloc(1, sizeof(*px));
	int r;

	px->paths = p;
	px->epfd = epfd;
	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
		free(px);
		return -ENOMEM;
	}
	r = ares_channel_new(px, &px->ares);
	if (r < 0) {
		free(px);
		return r;
	}
	r = hostaddr_new(&px->hosts);
	if (r < 0) {
		ares_destroy(px->ares);
		free(px);
		return r;
	}
	load_policy(px);
	load_settings(px);
	r = audit_open(p, &px->audit);
	if (r < 0) {
		log_warn("proxy: cannot open the audit log: %s", strerror(-r));
		px->audit = NULL;
	}
	*ret = px;
	return 0;
}


void proxy_free(struct proxy *px)
{
	if (!px)
		return;
	while (px->conns) {
		struct pconn *c = px->conns;
		if (!c->dead) {
			c->down = NULL;
			proxy_conn_abort(c);
		}
		pconn_free(c);
	}
	ares_destroy(px->ares);   /* pending lookups' callbacks see no connection */
	hostaddr_free(px->hosts);
	for (size_t i = 0; i < px->nslots; i++)
		free(px->slots[i]);
	free(px->slots);
	while (px->sandboxes) {
		struct psandbox *s = px->sandboxes;
		px->sandboxes = s->next;
		dns_table_free(s->table);
		free(s->name);
		free(s);
	}
	proxy_tls_engine_free(px);
	policy_free(px->pol);
	settings_free(px->set);
	free(px->dns_csv);
	if (px->audit)
		audit_close(px->audit);
	free(px);
}

struct dns_table *proxy_sandbox_table(struct proxy *px, const char *sandbox, bool create)
{
	struct psandbox *s;

	for (s = px->sandboxes; s; s = s->next)
		if (!strcmp(s->name, sandbox))
			return s->table;
	if (!create)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->name = xstrdup(sandbox);
	s->table = dns_table_new();
	s->next = px->sandboxes;
	px->sandboxes = s;
	return s->table;
}

void proxy_sandbox_gone(struct proxy *px, const char *sandbox)
{
	for (struct psandbox **pp = &px->sandboxes; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, sandbox)) {
			struct psandbox *s = *pp;
			*pp = s->next;
			dns_table_free(s->table);
			free(s->name);
			free(s);
			return;
		}
}

bool proxy_resolve_has_name(struct proxy *px, const char *name)
{
	const char *v = settings_get(px->set, "proxy.resolve");
	size_t nl = strlen(name);

	/* normalised by settings_validate: "host:port=ip:port,..." */
	while (v && *v) {
		const char *end = strchr(v, ','), *eq = strchr(v, '=');
		const char *colon;

		if (!end)
			end = v + strlen(v);
		if (eq && eq < end) {
			for (colon = eq; colon > v && *colon != ':'; colon--)
				;
			if (colon > v && (size_t)(colon - v) == nl && !strncmp(v, name, nl))
				return true;
		}
		v = *end ? end + 1 : end;
	}
	return false;
}

void proxy_audit(struct pconn *c, const char *host, uint16_t port, bool allowed, const char *rule,
		 const char *reason, int status)
{
	bool http = c->path != PROXY_DNS && c->have_req && !c->is_connect;
	struct audit_entry e = {
		.sandbox = c->sandbox,
		.path = path_names[c->path],
		.host = host ? host : "",
		.port = port,
		.addr = c->rt.addr[0] ? c->rt.addr : NULL,
		.allowed = allowed,
		.rule = rule && *rule ? rule : NULL,
		.reason = reason && *reason ? reason : NULL,
		.method = http ? c->req.method : NULL,
		.url_path = http ? c->req_path : NULL,
		.status = status,
	};

	log_debug("proxy: %s %s %s:%u %s (%s%s%s)", c->sandbox, path_names[c->path], e.host, port,
		  allowed ? "allow" : "deny", e.rule ? e.rule : "", e.reason ? ": " : "", e.reason ? e.reason : "");
	if (c->px->audit)
		audit_write(c->px->audit, &e);
}

void proxy_tick(struct proxy *px)
{
	uint64_t now = now_ms();
	struct pconn *c, *next;

	if (!px->pol || policy_stale(px->paths, px->pol))
		load_policy(px);
	if (!px->set || settings_stale(px->paths, px->set))
		load_settings(px);
	dns_servers_apply(px);
	ares_process_fd(px->ares, ARES_SOCKET_BAD, ARES_SOCKET_BAD);   /* resolver timeouts */
	for (c = px->conns; c; c = next) {
		next = c->next;
		if (c->dead) {
			if (c->dead_gen + 1 < px->gen)
				pconn_free(c);
			continue;
		}
		if (c->deadline && now >= c->deadline)
			pconn_timeout(c);
	}
	px->gen++;
}
