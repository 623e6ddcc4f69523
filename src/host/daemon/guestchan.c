// SPDX-License-Identifier: MIT
/* guestchan.c: the host side of the guest channel: the mux session with sbx-guest,
 * its HELLO handshake, the configuration and control messages, and the guest's
 * streams handed to exec relays (odd ids, host-opened) or egress (even ids). */
#include "guestchan.h"

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "ca.h"
#include "sbxd.h"
#include "egress_streams.h"
#include "frame.h"
#include "mux.h"
#include "proto.h"
#include "exec_relay.h"
#include "ports.h"
#include "secrets.h"
#include "services.h"
#include "settings.h"
#include "sock.h"
#include "tlv.h"
#include "util.h"
#include "wsync_host.h"

/* Guest-opened streams (even ids) are egress; host-opened (odd) are exec relays. */
static bool is_egress(uint32_t id)
{
	return (id & 1u) == 0;
}

/* A host-opened stream owned by a published port's connection, or NULL (an exec relay). */
static struct port_conn *port_of(struct sandbox *sb, uint32_t id)
{
	enum chan_owner *o = is_egress(id) ? NULL : mux_get_user(sb->chan.mux, id);

	return o && *o == CHAN_OWNER_PORT ? (struct port_conn *)o : NULL;
}

static void chan_send_hello(struct sandbox *sb)
{
	uint8_t hb[64];
	struct tlv_writer w;

	tlv_writer_init(&w, hb, sizeof(hb));
	tlv_put_u32(&w, HELLO_VERSION, SBX_PROTO_VERSION);
	(void)mux_send_hello(sb->chan.mux, hb, w.len);
}

/* A new session on a running sandbox: it is starting again until the guest is ready,
 * under a fresh boot deadline (quietly: waiting clients are not told). */
static void chan_restart_session(struct sandbox *sb)
{
	sb->state = SB_STARTING;
	sb->started_ms = now_ms();
	sb->deadline_ms = now_ms() + sb->d->boot_timeout_ms;
}

/* Every exec relay with a guest stream fails: the session that carried it is gone. */
/* Every session opened in the guest ends with the channel session; those still
 * waiting for the guest (gid 0) stay and open in the next one. Every relay is looked
 * at, wherever it stands in the list. */
static void chan_fail_relays(struct sandbox *sb, const char *why)
{
	struct relay *r = sb->relays, *next;

	for (; r; r = next) {
		next = r->next;
		if (r->gid)
			relay_fail(r, why);
	}
}

#define HOST_CA_DIR "/usr/local/share/ca-certificates"
#define HOST_CA_MAX 8
#define HOST_CA_PEM_MAX (16 * 1024)

/* The CAs the host's administrator added (corporate or egress-inspecting proxies):
 * the guest trusts what its host trusts, so TLS through such networks verifies. */
static size_t put_host_cas(struct tlv_writer *w)
{
	DIR *dir = opendir(HOST_CA_DIR);
	struct dirent *de;
	size_t n = 0;

	if (!dir)
		return 0;
	while ((de = readdir(dir)) && n < HOST_CA_MAX) {
		_cleanup_free_ char *path = NULL;
		_cleanup_free_ char *pem = NULL;
		size_t len = strlen(de->d_name), plen;

		if (len < 5 || strcmp(de->d_name + len - 4, ".crt"))
			continue;
		path = xasprintf("%s/%s", HOST_CA_DIR, de->d_name);
		if (file_read_all(path, HOST_CA_PEM_MAX, &pem, &plen) < 0 ||
		    strncmp(pem, "-----BEGIN CERTIFICATE-----", 27) != 0)
			continue;
		if (w->len + plen + TLV_HDR_LEN + 4096 > w->cap)
			break;   /* keep room for the rest of the configuration */
		tlv_put(w, CFG_CA_PEM, pem, (uint32_t)plen);
		n++;
	}
	closedir(dir);
	return n;
}

/* Agents that insist on a key find the sentinel: the real value stays on the host and
 * the proxy puts it into requests to the service's hosts. */
static void put_sentinels(struct sandbox *sb, struct tlv_writer *w)
{
	size_t n;
	const struct service *svc = service_list(&n);

	if (!sb->d->ca)
		return;   /* no interception, no injection */
	for (size_t i = 0; i < n; i++) {
		_cleanup_secret_ char *value = NULL;
		if (secrets_resolve(sb->d->p, sb->spec.name, svc[i].name, sb->cred_env, &value, NULL) < 0)
			continue;
		for (const char *const *e = svc[i].env; *e; e++) {
			_cleanup_free_ char *kv = xasprintf("%s=%s", *e, SERVICE_SENTINEL);
			tlv_put_str(w, CFG_ENV, kv);
		}
	}
}

/* full: everything; else what a warm pool VM may have before it is anyone's (the
 * agent's ids, the CAs, the clock): no name, workspace, environment or agent. */
static void chan_send_config(struct sandbox *sb, bool full)
{
	uint8_t *buf = xmalloc(FRAME_MAX_CTRL);
	struct tlv_writer w;
	struct timespec ts;
	uint8_t t8[8];
	uint64_t ns;
	size_t n_cas;

	clock_gettime(CLOCK_REALTIME, &ts);
	ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	for (int i = 0; i < 8; i++)
		t8[i] = (uint8_t)(ns >> (8 * i));
	tlv_writer_init(&w, buf, FRAME_MAX_CTRL);
	tlv_put_u32(&w, CTRL_OP, OP_CONFIG);
	if (full) {
		tlv_put_str(&w, CFG_HOSTNAME, sb->spec.name);
		tlv_put_str(&w, CFG_WORKSPACE, sb->spec.workspace);
	}
	for (char **l = sb->spec.local; full && l && *l; l++)
		tlv_put_str(&w, CFG_LOCAL_DIR, *l);
	if (full && (sb->spec.git_dir || sb->staged)) {
		/* --branch, or a claimed pool VM: the share is a stage that holds the
		 * workspace (and the git directory) at their paths */
		tlv_put_str(&w, CFG_SHARE_PATH, sb->spec.workspace);
		if (sb->spec.git_dir)
			tlv_put_str(&w, CFG_SHARE_PATH, sb->spec.git_dir);
	}
	if (full && sb->spec.ws_sync)
		tlv_put_u32(&w, CFG_WS_SYNC, 1);
	if (full && sb->spec.ws_sync && !getenv("SBX_WSYNC_NO_WRITER"))
		tlv_put_u32(&w, CFG_WS_WRITER, 1);   /* wsync_writer.c, started at READY */
	tlv_put_u32(&w, CFG_UID, sb->spec.uid);
	tlv_put_u32(&w, CFG_GID, sb->spec.gid);
	tlv_put(&w, CFG_TIME_NS, t8, 8);
	{
		uint8_t seed[32];
		if (getrandom(seed, sizeof(seed), 0) == (ssize_t)sizeof(seed))
			tlv_put(&w, CFG_SEED, seed, sizeof(seed));
		explicit_bzero(seed, sizeof(seed));
	}
	n_cas = put_host_cas(&w);
	if (sb->d->ca) {
		const char *pem = ca_cert_pem(sb->d->ca);
		tlv_put(&w, CFG_CA_PEM, pem, (uint32_t)strlen(pem));
		n_cas++;
	}
	if (n_cas > 0) {
		tlv_put_str(&w, CFG_ENV, "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/sbx-extra.pem");
		tlv_put_str(&w, CFG_ENV, "REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt");
	}
	if (!full)
		goto send;
	put_sentinels(sb, &w);
	{
		/* SSH agent forwarding: when enabled and the caller had an agent. */
		struct settings *st = NULL;
		bool on = settings_load(sb->d->p, &st) == 0 && settings_agent_forwarding(st); /* fail closed */
		settings_free(st);
		sb->agent_enabled = on && sb->agent_sock;
		if (sb->agent_enabled)
			tlv_put_u32(&w, CFG_SSH_AGENT, 1);
	}
	if (sb->spec.env)
		for (char **e = sb->spec.env; *e; e++)
			tlv_put_str(&w, CFG_ENV, *e);
send:
	if (w.err == 0)
		(void)mux_send_ctrl(sb->chan.mux, 0, buf, w.len);
	else
		log_err("%s: configuration too large for one frame", sb->spec.name);
	free(buf);
}

void guestchan_configure(struct sandbox *sb)
{
	chan_send_config(sb, !sb->pooled);
}

void guestchan_drop(struct sandbox *sb)
{
	free(TAKE_PTR(sb->chan_failed));   /* that session's: no longer anyone's to hand on */
	wsync_host_stop(sb);
	if (sb->chan.mux)
		mux_session_reset(sb->chan.mux, false);
	conn_close(sb->d->epfd, &sb->chan);
}

/* A failed start tears the VM down, the channel and its mux with it, so it must not
 * run inside a mux callback (the parser goes on reading the freed mux): the reader,
 * guestchan_on_event(), hands it on once mux_rx_done() has returned. */
static void chan_fail_later(struct sandbox *sb, char *why /* taken */)
{
	if (sb->chan_failed)
		free(why);   /* the first reason stands */
	else
		sb->chan_failed = why;
}

static bool chan_fail_now(struct sandbox *sb)
{
	char *why = TAKE_PTR(sb->chan_failed);

	if (!why)
		return false;
	sb->chan_events->failed(sb, why);
	return true;
}

static void ch_on_hello(void *ctx, const uint8_t *data, size_t len)
{
	struct sandbox *sb = ctx;
	struct tlv_reader rd;
	uint16_t tag;
	const uint8_t *v;
	uint32_t vlen, ver = 0, up = 0;

	tlv_reader_init(&rd, data, len);
	while (tlv_next(&rd, &tag, &v, &vlen) > 0) {
		if (tag == HELLO_VERSION)
			(void)tlv_u32(v, vlen, &ver);
		else if (tag == HELLO_UPTIME_MS)
			(void)tlv_u32(v, vlen, &up);
	}
	/* A new guest session: whatever streams we had are gone. */
	chan_fail_relays(sb, "the guest restarted its channel");
	if (ver != SBX_PROTO_VERSION) {
		chan_fail_later(sb, xasprintf("guest speaks protocol %u, sbx needs %u (rebuild the initramfs)", ver, SBX_PROTO_VERSION));
		return;
	}
	log_debug("%s: guest hello (uptime %u ms)", sb->spec.name, up);
	sb->relaunch_ms = 0;   /* alive: the boot watchdog is done */
	if (sb->pooled) {
		/* a warm pool VM: only what is no one's yet; named and given its workspace
		 * when claimed (its READY makes it ready for a claim) */
		chan_send_config(sb, false);
		return;
	}
	if (sb->state == SB_RUNNING) {
		/* The guest restarted the session on its own (it saw a violation): answer
		 * with our HELLO and configure it again once it answers. */
		log_warn("%s: the guest reset the channel session; re-handshaking", sb->spec.name);
		chan_send_hello(sb);
		chan_restart_session(sb);
		return;
	}
	guestchan_configure(sb);
}

static void ch_on_ctrl(void *ctx, uint32_t id, const uint8_t *data, size_t len)
{
	struct sandbox *sb = ctx;
	struct tlv_reader rd;
	uint16_t tag;
	const uint8_t *v;
	uint32_t vlen, op = 0;
	_cleanup_free_ char *msg = NULL;

	if (id != 0 && port_of(sb, id)) {
		ports_guest_ctrl(port_of(sb, id), data, len);
		return;
	}
	if (id != 0) {
		struct relay *r = is_egress(id) ? NULL : mux_get_user(sb->chan.mux, id);
		if (r && r->cl && r->cl->c.mux)
			(void)mux_send_ctrl(r->cl->c.mux, r->cid, data, len);
		return;
	}
	tlv_reader_init(&rd, data, len);
	while (tlv_next(&rd, &tag, &v, &vlen) > 0) {
		if (tag == CTRL_OP)
			(void)tlv_u32(v, vlen, &op);
		else if (tag == CTRL_MSG && !msg)
			(void)tlv_str(v, vlen, &msg);
	}
	if (op == OP_READY && sb->pooled) {
		if (!sb->pool_ready && sb->chan_events->pool_ready) {
			sb->deadline_ms = 0;
			sb->chan_events->pool_ready(sb);
		}
	} else if (op == OP_WSYNC_STATE || op == OP_WSYNC_EVENT) {
		wsync_host_on_msg(sb, data, len);
	} else if (op == OP_WSYNC_PUT) {
		wsync_host_on_put(sb, data, len);
	} else if (op == OP_READY) {
		if (sb->spec.ws_sync)
			wsync_host_start(sb);
		if (sb->state == SB_STARTING) {
			sb->chan_events->ready(sb);
			for (struct relay *r = sb->relays; r; r = r->next)
				if (!r->gid)
					relay_open_guest(r);
		}
	} else if (op == OP_ERROR) {
		if (sb->state == SB_STARTING)
			chan_fail_later(sb, xasprintf("guest: %s", msg ? msg : "unknown error"));
		else
			log_warn("%s: guest: %s", sb->spec.name, msg ? msg : "unknown error");
	}
}

/* Guest-opened streams (even ids) are egress: proxy, tproxy, dns. */
static int ch_on_open(void *ctx, uint32_t id, const uint8_t *args, size_t len)
{
	struct sandbox *sb = ctx;

	if (sb->pooled)
		return -EPERM;   /* unclaimed: no egress of any kind */
	return egress_open(ctx, id, args, len);
}

static void ch_on_data(void *ctx, uint32_t id, uint16_t flags, const uint8_t *data, size_t len)
{
	struct sandbox *sb = ctx;
	struct relay *r = mux_get_user(sb->chan.mux, id);
	struct port_conn *pc = port_of(sb, id);
	long w;

	if (pc) {
		ports_guest_data(pc, data, len);
		return;
	}
	if (is_egress(id)) {
		if (r)
			egress_data((struct egress *)r, data, len);
		return;
	}
	if (!r || !r->cl || !r->cl->c.mux) {
		(void)mux_grant(sb->chan.mux, id, (uint32_t)len);
		return;
	}
	/* Credit is mirrored (client grants become guest grants), so this always fits. */
	w = mux_write(r->cl->c.mux, r->cid, flags, data, len);
	if (w != (long)len)
		relay_fail(r, "flow control broken between client and guest");
}

static void ch_on_window(void *ctx, uint32_t id, uint32_t credit)
{
	struct sandbox *sb = ctx;
	struct relay *r = mux_get_user(sb->chan.mux, id);

	if (port_of(sb, id)) {
		ports_guest_window(port_of(sb, id));
		return;
	}
	if (is_egress(id)) {
		if (r)
			egress_window((struct egress *)r);
		return;
	}
	if (r && r->cl && r->cl->c.mux)
		(void)mux_grant(r->cl->c.mux, r->cid, credit);
}

static void ch_on_close(void *ctx, uint32_t id)
{
	struct sandbox *sb = ctx;
	struct relay *r = mux_get_user(sb->chan.mux, id);

	if (!r)
		return;
	if (port_of(sb, id)) {
		ports_guest_close(port_of(sb, id));
		return;
	}
	if (is_egress(id)) {
		egress_close((struct egress *)r);
		return;
	}
	r->guest_closed = true;
	if (r->cl && r->cl->c.mux)
		(void)mux_close(r->cl->c.mux, r->cid);
	if (r->cli_closed || !r->cl)
		relay_free(r);
}

static void ch_on_reset(void *ctx, uint32_t id)
{
	struct sandbox *sb = ctx;
	struct relay *r = mux_get_user(sb->chan.mux, id);

	if (r && is_egress(id)) {
		egress_reset((struct egress *)r);
		return;
	}
	if (port_of(sb, id)) {
		ports_guest_reset(port_of(sb, id));
		return;
	}
	if (r) {
		r->gid = 0;   /* the guest stream is already gone */
		relay_fail(r, "the guest ended the session");
	}
}

static const struct mux_ops chan_ops = {
	.on_open = ch_on_open,
	.on_data = ch_on_data,
	.on_ctrl = ch_on_ctrl,
	.on_window = ch_on_window,
	.on_close = ch_on_close,
	.on_reset = ch_on_reset,
	.on_hello = ch_on_hello,
};

int guestchan_connect(struct sandbox *sb, const struct guestchan_events *events)
{
	int fd, r;

	r = sock_connect_at(sb->run_dir, "ctl.sock", &fd);
	if (r < 0)
		return r;
	fd_set_nonblock(fd, true);
	sb->chan.ev.fd = fd;
	sb->chan_events = events;
	sb->chan.mux = mux_new(true, &chan_ops, sb);
	mux_set_hunting(sb->chan.mux, true);
	chan_send_hello(sb);
	r = ev_set(sb->d->epfd, &sb->chan.ev, EPOLLIN | EPOLLOUT);
	if (r < 0) {
		conn_close(sb->d->epfd, &sb->chan);
		return r;
	}
	return 0;
}

void guestchan_on_event(struct sandbox *sb, uint32_t events)
{
	size_t got = 0;
	int r;

	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		size_t avail;
		uint8_t *buf;
		ssize_t n;

		if (sb->chan.ev.fd < 0 || !sb->chan.mux)
			return;
		/* A budget per wake-up, a paused mux, a guest over its OPEN rate (egress_streams.c):
		 * the rest waits, and the others get their turn. A hang-up is read on, to
		 * see its end (a level-triggered EPOLLHUP would wake the loop forever). */
		if (got >= CONN_READ_BUDGET || (!conn_want_read(&sb->chan) && !(events & (EPOLLHUP | EPOLLERR))))
			return;
		buf = mux_rx_buf(sb->chan.mux, &avail);
		n = recv(sb->chan.ev.fd, buf, MIN(avail, (size_t)CONN_READ_CHUNK), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* QEMU closed the chardev: it is exiting; the pidfd tells when. */
			log_debug("%s: channel closed", sb->spec.name);
			chan_fail_relays(sb, "the sandbox channel closed");
			guestchan_drop(sb);
			return;
		}
		got += (size_t)n;
		r = mux_rx_done(sb->chan.mux, (size_t)n);
		if (chan_fail_now(sb))
			return;
		if (r < 0) {
			log_warn("%s: guest broke the channel protocol; resetting the session", sb->spec.name);
			mux_session_reset(sb->chan.mux, true);
			chan_fail_relays(sb, "the guest broke the channel protocol");
			chan_send_hello(sb);
			if (sb->state == SB_RUNNING)
				chan_restart_session(sb);
			return;
		}
	}
}

void guestchan_poweroff(struct sandbox *sb)
{
	uint8_t buf[16];
	struct tlv_writer w;

	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_u32(&w, CTRL_OP, OP_POWEROFF);
	(void)mux_send_ctrl(sb->chan.mux, 0, buf, w.len);
}
