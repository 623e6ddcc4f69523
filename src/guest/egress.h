// SPDX-License-Identifier: MIT
/* egress.h: the guest side of egress: proxy and transparent listeners, DNS stub, network plumbing. */
#ifndef SBX_GUEST_EGRESS_H
#define SBX_GUEST_EGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "guest.h"

/*
 * Theory of operation.
 *
 * Nothing leaves the VM except through the channel: there is no NIC. sbx-guest
 * listens inside the VM and turns every local connection or DNS query into a stream
 * that it opens towards the host (even ids), which decides, dials and answers:
 *
 *   127.0.0.1:3128 tcp          forward proxy (HTTP_PROXY): "proxy" stream per connection
 *   0.0.0.0:3129, [::]:3129     transparent: nftables redirects every TCP connection
 *                               routed to sbx0 here; "tproxy" stream + SO_ORIGINAL_DST
 *   127.0.0.1:53 udp and tcp    DNS stub: one "dns" stream per query
 *
 * The transparent listener is bound to the wildcard address because `redirect` in
 * prerouting (connections from nested containers) rewrites the destination to the
 * incoming bridge's address, not to loopback. Connections that were not redirected
 * (original destination = our own address) are refused.
 *
 * The plumbing (kernel modules, the dummy interface sbx0 carrying the default
 * routes, the nftables ruleset, resolv.conf and the proxy variables in /etc) runs in
 * a child forked at boot, so it overlaps with the host connecting; the first
 * OP_CONFIG waits for it (bounded) before the guest answers OP_READY, so every exec
 * sees it. A failure is logged on the console and does not stop exec. Capture is a
 * convenience, not a security boundary: root in the VM can undo it, and the host
 * decides on every stream anyway.
 *
 * Relays move bytes both ways within the mux's credit: the local socket is read only
 * while the stream has credit (up to EGRESS_READ_MAX per turn, so frames are large),
 * and credit is granted back once bytes are written to the local socket. Local EOF
 * half-closes the stream; the host's CLOSE becomes shutdown(SHUT_WR); a RESET either
 * way aborts the connection (RST to the local client). A failed DNS query (RESET,
 * timeout, no host) is answered SERVFAIL so that resolvers fail fast.
 */

/* The dummy device that carries only the default routes (egress_net.c, egress_nl.c).
 * 192.0.0.8 is the IPv4 dummy address of RFC 7600; the IPv6 address is a ULA, so
 * that sockets have a source address. */
#define EGRESS_NET_IF "sbx0"
#define EGRESS_NET_ADDR4 "192.0.0.8"
#define EGRESS_NET_ADDR6 "fd73:6278::8"

#define EGRESS_PROXY_PORT 3128
#define EGRESS_TPROXY_PORT 3129
#define EGRESS_DNS_PORT 53
#define EGRESS_PROXY_URL "http://127.0.0.1:3128"
#define EGRESS_NO_PROXY "localhost,127.0.0.1,::1"

/* The mux allows MUX_MAX_STREAMS live streams per session, exec streams included:
 * egress keeps below that so that the host can always open an exec. The host allows
 * as many (EGRESS_MAX_PER_SANDBOX in src/host/daemon/egress_streams.h). */
#define EGRESS_MAX_RELAYS 768u
#define EGRESS_DNS_MAX_INFLIGHT 48u
#define EGRESS_READ_MAX (256u * 1024u)

/* ---- interface for main.c, chan.c, ctl.c ---- */

/* How the plumbing child makes sbx0 and the capture rules. */
enum egress_net {
	EGRESS_NET_NONE,    /* files only, no sbx0/nftables: sbx.noegress=1 */
	EGRESS_NET_NETLINK, /* over netlink from sbx-guest (egress_nl.c); ip and nft if that fails */
	EGRESS_NET_TOOLS,   /* with ip and nft only: sbx.egresstools=1, a test switch */
};

/* Allocate, fork the plumbing child and open the listeners. Failures are logged,
 * never fatal. */
void egress_init(struct guest *g, enum egress_net net);
/* On OP_CONFIG: wait (bounded) until the plumbing child has finished. Idempotent. */
void egress_configure(struct guest *g);
/* "K=V" defaults for every exec, applied before the host's CFG_ENV (which wins). */
size_t egress_default_env(const char *const **ret);
/* An accepted connection to SSH_AUTH_SOCK (sshagent.c): relay it as an "ssh-agent"
 * stream, like a proxy connection. Takes fd (closed when refused). */
void egress_agent_accept(struct guest *g, int fd);
/* The reaper saw pid exit: true if it was egress's child. */
bool egress_child_exited(struct guest *g, pid_t pid, int wstatus);

/* A host session started (HELLO) or ended: new streams are opened only in between;
 * at the end every connection still relayed is closed. */
void egress_session_start(struct guest *g);
void egress_session_end(struct guest *g);

/* Published ports: the host opened stream id (kind "tcp", OPEN_DST_PORT): connect to
 * 127.0.0.1 (then ::1) at that port in the guest and relay like a proxy connection.
 * The host is trusted to name the port; a connection that fails is answered with
 * OP_ERROR (the reason) and RESET. At most EGRESS_MAX_PORT_RELAYS at once. */
#define EGRESS_MAX_PORT_RELAYS 256u
int egress_port_open(struct guest *g, uint32_t id, const uint8_t *args, size_t len);
/* Whether host-opened stream id is one of those (else it is an exec session). */
bool egress_owns(struct guest *g, uint32_t id);

/* Mux callbacks for the streams egress opened (even ids) and published ports. */
void egress_on_data(struct guest *g, uint32_t id, const uint8_t *data, size_t len);
void egress_on_ctrl(struct guest *g, uint32_t id, const uint8_t *data, size_t len);
void egress_on_window(struct guest *g, uint32_t id);
void egress_on_close(struct guest *g, uint32_t id);
void egress_on_reset(struct guest *g, uint32_t id);

void egress_on_event(struct guest *g, struct watch *w, uint32_t events);
void egress_tick(struct guest *g, uint64_t now);
int egress_timeout(struct guest *g, uint64_t now);
/* Free what was closed during this loop iteration. */
void egress_collect(struct guest *g);

/* ---- private to egress*.c ---- */

struct relay;
struct tlv_writer;
struct dns_conn;
struct dnsq;

/* First member of everything egress hangs on a stream (mux_set_user). */
enum estream_kind { ESTREAM_RELAY, ESTREAM_DNS };
struct estream {
	enum stream_owner owner;   /* STREAM_OWNER_EGRESS (guest.h) */
	enum estream_kind kind;
};

struct egress {
	struct guest *g;
	enum egress_net net;     /* how to set up sbx0 and nftables */
	pid_t net_pid;           /* plumbing child while it runs, else 0 */
	uint64_t net_start_ms;
	bool net_waited;         /* egress_configure waited for it once */
	bool session;            /* a host session is up */

	struct watch proxy, tproxy4, tproxy6, dns_udp, dns_tcp;

	struct relay *relays, *relay_grave;
	size_t relay_n;          /* guest-opened, <= EGRESS_MAX_RELAYS */
	size_t port_n;           /* host-opened (published ports), <= EGRESS_MAX_PORT_RELAYS */
	struct dns_conn *dconns, *dconn_grave;
	size_t dconn_n;
	struct dnsq *queries, *query_grave;
	size_t query_n;

	uint8_t *buf;            /* EGRESS_READ_MAX scratch */
};

union egress_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_storage ss;
};

/* What a relay carries: guest-opened proxy, tproxy and ssh-agent connections (egress.c),
 * host-opened published ports (egress_port.c). */
enum relay_kind { RELAY_PROXY, RELAY_TPROXY, RELAY_AGENT, RELAY_PORT };

/* One relayed TCP connection and its stream. */
struct relay {
	struct estream s;     /* ESTREAM_RELAY */
	struct egress *e;
	struct relay *next;
	enum relay_kind kind;
	uint32_t id;
	bool live;            /* the mux still knows id (never touch it otherwise: ids restart per session) */
	struct watch w;       /* the local connection */

	/* host -> local bytes not written yet, bounded by the credit we give */
	uint8_t *q;
	size_t q_off, q_len, q_cap;

	bool rd_eof;          /* local EOF seen, our CLOSE sent */
	bool peer_closed;     /* host CLOSE received */
	bool wr_shut;         /* peer closed and everything was written: SHUT_WR done */

	/* RELAY_PORT: connecting to 127.0.0.1, then ::1, at port */
	bool connecting;
	bool tried_v6;
	uint16_t port;
};

/* egress.c */
/* Poll the relay's socket for what it can do now; a relay done both ways goes. */
void relay_update(struct relay *r);
/* Write queued host bytes to the local socket; pass the host's CLOSE on once empty. */
void relay_drain(struct relay *r);
/* A local I/O error: RESET the stream, RST the client. */
void relay_abort(struct relay *r);
/* Make close() send RST, so that the client sees a reset, not a clean end. */
void egress_set_rst(int fd);
void egress_abort_fd(int fd); /* egress_set_rst + close */
/* The OPEN arguments of a transparently redirected connection accepted on local whose
 * original destination is dst: OPEN_DST_ADDR then OPEN_DST_PORT. -EDESTADDRREQ when
 * dst is local itself (a connection made to the listener, not redirected), and
 * -EAFNOSUPPORT when the families are not both AF_INET or both AF_INET6. Pure. */
int egress_dst_put(struct tlv_writer *w, const union egress_addr *local, const union egress_addr *dst);

/* egress_port.c: the connect of a RELAY_PORT finished (EPOLLOUT) */
void egress_port_connected(struct relay *r);

/* egress_dns.c */
#define DNS_HDR_LEN 12u
#define DNS_MAX_QUERY 4096u       /* larger: dropped (UDP) or the connection is closed (TCP) */

/* Pure parts of the DNS stub (unit-tested). */
/* A SERVFAIL answer to query q (header + its one question, when it parses) into out,
 * which has room for MAX(qlen, DNS_HDR_LEN) bytes; its length, 0 when qlen is short. */
size_t dns_servfail(const uint8_t *q, size_t qlen, uint8_t *out);
/* The first query of a DNS-over-TCP byte stream (u16 length, query): its length once
 * all of it is in, 0 while more is needed, -EBADMSG when the length is below a header
 * or above DNS_MAX_QUERY. */
long dns_tcp_query_len(const uint8_t *in, size_t in_len);
/* The host's answer to one query, as it arrives in DATA frames: u16 length, message. */
struct dns_answer {
	uint8_t pfx[2];          /* the length, as it arrives */
	size_t pfx_got;
	uint8_t *msg;            /* malloc'd once the length is known; the owner frees it */
	size_t len, got;
};
/* Take the next bytes of the answer: 1 once it is complete (later bytes are ignored),
 * 0 while more is needed, -EBADMSG when its length is below a DNS header. */
int dns_answer_feed(struct dns_answer *a, const uint8_t *data, size_t len);

void dns_on_event(struct egress *e, struct watch *w, uint32_t events);
void dns_accept(struct egress *e, int fd);
void dnsq_on_data(struct egress *e, struct dnsq *q, const uint8_t *data, size_t len);
void dnsq_on_close(struct egress *e, struct dnsq *q);
void dnsq_on_reset(struct egress *e, struct dnsq *q);
void dns_tick(struct egress *e, uint64_t now);
/* Earliest query timeout or idle connection deadline, or UINT64_MAX. */
uint64_t dns_deadline(struct egress *e);
void dns_collect(struct egress *e);

/* egress_net.c: runs in the plumbing child; returns the number of failed steps. */
int egress_net_setup(enum egress_net net);
/* sbx0, its addresses and default routes, and the capture rules, made over netlink
 * by this process (egress_nl.c): 0, or -errno (the caller falls back to ip and nft). */
int egress_nl_plumb(void);

#endif
