// SPDX-License-Identifier: MIT
/* cmd_proxy_bench.c: `sbx proxy-bench`: the egress engine over plain TCP clients on a
 * loopback port, for the proxy tests and benchmarks. Guests can never reach it. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include "ca.h"
#include "cmd.h"
#include "policy.h"
#include "proxy.h"
#include "secrets.h"
#include "util.h"

#define BENCH_WINDOW (256u * 1024u)   /* client credit, like a mux stream window */
#define PROXY_HDR_MAX 108u            /* PROXY protocol v1 line, CRLF included */

static const char usage[] =
	"Usage: sbx proxy-bench --sandbox NAME [--listen ADDR:PORT] [--transparent]\n"
	"                       [--orig-dst IP:PORT] [--dns-listen ADDR:PORT] [--caller-env]\n"
	"\n"
	"Run sbx's egress engine on loopback TCP ports, as sandbox NAME, for tests and\n"
	"benchmarks. --listen serves forward-proxy clients (HTTP CONNECT and absolute-form\n"
	"requests), or with --transparent redirected connections whose original destination\n"
	"is --orig-dst, or else a PROXY protocol v1 line the client sends first.\n"
	"--dns-listen serves DNS over TCP (one query per connection). Only loopback\n"
	"addresses are accepted. Port 0 picks a free port; each listener prints\n"
	"'listening KIND ADDR:PORT' on stdout.\n"
	"Interception uses sbx's CA (created in the config directory when absent) and the\n"
	"secret store; --caller-env also offers this process's service variables\n"
	"(ANTHROPIC_API_KEY, ...) as the caller environment `sbx run` hands the daemon.\n";

enum bkind { BK_FORWARD, BK_TRANSPARENT, BK_DNS };

struct blisten {
	struct ev_listen l;
	enum bkind kind;
	struct blisten *next;
};

struct bclient {
	struct evsrc ev;
	struct bench *b;
	struct bclient *next;
	struct pconn *c;
	enum bkind kind;
	size_t credit;
	bool in_eof, out_closed, want_out, dead, broken;
	char hdr[PROXY_HDR_MAX + 1];   /* PROXY line being read */
	size_t hdr_len;
	bool need_hdr;
};

struct bench {
	int epfd;
	struct proxy *px;
	const char *sandbox;
	struct sockaddr_storage orig;
	bool have_orig;
	struct bclient *clients;
	struct blisten *listeners;
	char **env;   /* --caller-env: service variables of our environment */
};

static const char *const *bench_env(void *ctx, const char *sandbox)
{
	struct bench *b = ctx;

	return (const char *const *)b->env;
}

static size_t b_write(void *down, const uint8_t *data, size_t len)
{
	struct bclient *bc = down;
	ssize_t n;

	if (bc->broken)
		return len;
	n = send(bc->ev.fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			bc->want_out = true;
			return 0;
		}
		bc->broken = true;   /* the client vanished: aborted after this event */
		return len;
	}
	if ((size_t)n < len)
		bc->want_out = true;
	return (size_t)n;
}

static void b_consumed(void *down, size_t n)
{
	struct bclient *bc = down;

	bc->credit += n;
}

static void b_close(void *down)
{
	struct bclient *bc = down;

	bc->out_closed = true;
	shutdown(bc->ev.fd, SHUT_WR);
}

static void b_reset(void *down)
{
	struct bclient *bc = down;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(bc->ev.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));   /* RST, like a reset stream */
	bc->c = NULL;
	bc->dead = true;
}

static const struct proxy_down_ops bench_ops = {
	.write = b_write,
	.consumed = b_consumed,
	.close = b_close,
	.reset = b_reset,
};

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	_cleanup_free_ char *host = NULL;
	const char *colon = strrchr(s, ':');
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	char *end;
	long port;

	if (!colon)
		return -EINVAL;
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 0 || port > 65535)
		return -EINVAL;
	host = strndup(s, (size_t)(colon - s));
	if (!host)
		return -ENOMEM;
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 0;
	}
	return -EINVAL;
}

static int bench_listen(struct bench *b, const char *spec, enum bkind kind)
{
	static const char *const names[] = { "forward", "transparent", "dns" };
	struct sockaddr_storage ss;
	socklen_t len;
	struct blisten *l;
	char txt[INET6_ADDRSTRLEN];
	int fd, one = 1;

	if (parse_addr(spec, &ss, &len) < 0)
		die("proxy-bench: bad address '%s' (want IP:PORT)", spec);
	/* never reachable from guests (or anyone else): loopback only */
	if (addr_classify((struct sockaddr *)&ss) != ADDR_LOOPBACK)
		die("proxy-bench: %s is not a loopback address", spec);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("proxy-bench: socket: %m");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 512) < 0)
		die("proxy-bench: cannot listen on %s: %m", spec);
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, txt, sizeof(txt));
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, txt, sizeof(txt));
	printf("listening %s %s%s%s:%u\n", names[kind], ss.ss_family == AF_INET6 ? "[" : "", txt,
	       ss.ss_family == AF_INET6 ? "]" : "",
	       ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					     : ((struct sockaddr_in6 *)&ss)->sin6_port));
	fflush(stdout);
	l = xcalloc(1, sizeof(*l));
	l->kind = kind;
	l->l = (struct ev_listen){ .ev = { .kind = EV_LISTEN, .fd = fd, .obj = l }, .what = "proxy-bench listener" };
	l->next = b->listeners;
	b->listeners = l;
	if (ev_set(b->epfd, &l->l.ev, EPOLLIN) < 0)
		die("proxy-bench: epoll: %m");
	return 0;
}

static void client_start(struct bclient *bc, const struct sockaddr *orig)
{
	struct bench *b = bc->b;
	enum proxy_path path = bc->kind == BK_FORWARD ? PROXY_FORWARD :
			       bc->kind == BK_TRANSPARENT ? PROXY_TRANSPARENT : PROXY_DNS;

	bc->c = proxy_conn_new(b->px, path, b->sandbox, orig, true, &bench_ops, bc);
	if (!bc->c)
		bc->dead = true;
}

static void bench_accept(struct bench *b, struct blisten *l)
{
	for (int i = 0; i < EV_LISTEN_BATCH; i++) {
		int fd, one = 1, r = ev_listen_accept(b->epfd, &l->l, &fd);
		struct bclient *bc;

		if (r == -EAGAIN)
			return;
		if (r < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		bc = xcalloc(1, sizeof(*bc));
		bc->b = b;
		bc->kind = l->kind;
		bc->credit = BENCH_WINDOW;
		bc->ev = (struct evsrc){ .kind = EV_CLIENT, .fd = fd, .obj = bc };
		bc->next = b->clients;
		b->clients = bc;
		if (l->kind == BK_TRANSPARENT && !b->have_orig)
			bc->need_hdr = true;
		else
			client_start(bc, l->kind == BK_TRANSPARENT ? (struct sockaddr *)&b->orig : NULL);
	}
}

/* "PROXY TCP4 SRC DST SPORT DPORT\r\n": the destination is the original one. */
static int proxy_hdr_parse(const char *line, struct sockaddr_storage *ss)
{
	char proto[8], src[64], dst[64];
	unsigned sport, dport;
	_cleanup_free_ char *spec = NULL;
	socklen_t len;

	if (sscanf(line, "PROXY %7s %63s %63s %u %u", proto, src, dst, &sport, &dport) != 5 || dport > 65535)
		return -EINVAL;
	spec = strcmp(proto, "TCP6") ? xasprintf("%s:%u", dst, dport) : xasprintf("[%s]:%u", dst, dport);
	return parse_addr(spec, ss, &len);
}

static void client_read(struct bclient *bc)
{
	uint8_t buf[65536];
	ssize_t n;

	if (bc->need_hdr) {
		/* byte by byte up to the CRLF: nothing after it may be swallowed */
		while (bc->hdr_len < PROXY_HDR_MAX) {
			n = recv(bc->ev.fd, bc->hdr + bc->hdr_len, 1, 0);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			if (n <= 0) {
				bc->dead = true;
				return;
			}
			bc->hdr_len++;
			if (bc->hdr_len >= 2 && !memcmp(bc->hdr + bc->hdr_len - 2, "\r\n", 2)) {
				struct sockaddr_storage ss;
				bc->hdr[bc->hdr_len] = '\0';
				if (proxy_hdr_parse(bc->hdr, &ss) < 0) {
					bc->dead = true;
					return;
				}
				bc->need_hdr = false;
				client_start(bc, (struct sockaddr *)&ss);
				return;
			}
		}
		bc->dead = true;
		return;
	}
	if (!bc->c || !bc->credit)
		return;
	n = recv(bc->ev.fd, buf, MIN(sizeof(buf), bc->credit), 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		bc->broken = true;
		return;
	}
	if (n == 0) {
		bc->in_eof = true;
		proxy_conn_input_eof(bc->c);
		return;
	}
	bc->credit -= (size_t)n;
	proxy_conn_input(bc->c, buf, (size_t)n);
}

/* After each batch: end finished clients, update what each waits for. */
static void bench_sweep(struct bench *b)
{
	for (struct bclient **pp = &b->clients; *pp;) {
		struct bclient *bc = *pp;
		uint32_t ev = 0;

		if (!bc->dead && (bc->broken || (bc->in_eof && bc->out_closed))) {
			if (bc->c)
				proxy_conn_abort(bc->c);
			bc->c = NULL;
			bc->dead = true;
		}
		if (bc->dead) {
			if (bc->c)
				proxy_conn_abort(bc->c);
			ev_set(b->epfd, &bc->ev, 0);
			close(bc->ev.fd);
			*pp = bc->next;
			free(bc);
			continue;
		}
		if (!bc->in_eof && (bc->need_hdr || bc->credit))
			ev |= EPOLLIN | EPOLLRDHUP;
		if (bc->want_out)
			ev |= EPOLLOUT;
		if (ev_set(b->epfd, &bc->ev, ev) < 0)
			bc->dead = true;
		pp = &bc->next;
	}
}

/* What the command line asks for; the strings point into argv. */
struct bench_args {
	const char *listen_spec, *dns_spec;
	bool transparent, caller_env, help;
};

/* The options into *a and b's sandbox and original destination; 0 (with a->help when
 * asked), or 2 after printing the usage. */
static int bench_parse(int argc, char **argv, struct bench *b, struct bench_args *a)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "sandbox", required_argument, NULL, 's' },
		{ "transparent", no_argument, NULL, 't' },
		{ "orig-dst", required_argument, NULL, 'o' },
		{ "dns-listen", required_argument, NULL, 'd' },
		{ "caller-env", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *orig = NULL;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': a->listen_spec = optarg; break;
		case 's': b->sandbox = optarg; break;
		case 't': a->transparent = true; break;
		case 'o': orig = optarg; break;
		case 'd': a->dns_spec = optarg; break;
		case 'e': a->caller_env = true; break;
		case 'h': a->help = true; return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!b->sandbox || (!a->listen_spec && !a->dns_spec) || optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	if (orig) {
		socklen_t l;
		if (parse_addr(orig, &b->orig, &l) < 0)
			die("proxy-bench: bad --orig-dst '%s'", orig);
		b->have_orig = true;
	}
	return 0;
}

int cmd_proxy_bench(struct sbx_paths *p, int argc, char **argv)
{
	struct bench b = { .epfd = -1 };
	struct bench_args a = { 0 };
	struct ca *ca = NULL;
	struct evsrc sig_ev, tick_ev;
	struct itimerspec its = { .it_interval = { 0, 200 * 1000 * 1000 }, .it_value = { 0, 200 * 1000 * 1000 } };
	sigset_t mask;
	int r = bench_parse(argc, argv, &b, &a);

	if (a.help)
		fputs(usage, stdout);
	if (r || a.help)
		return r;
	signal(SIGPIPE, SIG_IGN);
	b.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (b.epfd < 0)
		die("epoll_create1: %m");
	r = proxy_new(p, b.epfd, &b.px);
	if (r < 0)
		die("proxy-bench: engine: %s", strerror(-r));
	{
		_cleanup_free_ char *err = NULL;
		if (ca_load_or_create(p, &ca, &err) < 0) {
			log_warn("proxy-bench: no interception: %s", err ? err : "cannot load the CA");
			ca = NULL;
		} else {
			if (a.caller_env)
				b.env = secrets_env_collect();
			proxy_set_interception(b.px, ca, bench_env, &b);
		}
	}
	if (a.listen_spec)
		bench_listen(&b, a.listen_spec, a.transparent ? BK_TRANSPARENT : BK_FORWARD);
	if (a.dns_spec)
		bench_listen(&b, a.dns_spec, BK_DNS);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sig_ev = (struct evsrc){ .kind = EV_SIGNAL, .fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK) };
	tick_ev = (struct evsrc){ .kind = EV_TIMER, .fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK) };
	if (sig_ev.fd < 0 || tick_ev.fd < 0 || timerfd_settime(tick_ev.fd, 0, &its, NULL) < 0 ||
	    ev_set(b.epfd, &sig_ev, EPOLLIN) < 0 || ev_set(b.epfd, &tick_ev, EPOLLIN) < 0)
		die("proxy-bench: set-up: %m");
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(b.epfd, evs, ARRAY_SIZE(evs), -1);
		bool quit = false;

		if (n < 0 && errno != EINTR)
			die("epoll_wait: %m");
		for (int i = 0; i < n; i++) {
			struct evsrc *ev = evs[i].data.ptr;
			switch (ev->kind) {
			case EV_LISTEN:
				bench_accept(&b, ev->obj);
				break;
			case EV_CLIENT: {
				struct bclient *bc = ev->obj;
				if (bc->dead)
					break;
				if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
					client_read(bc);
				if (!bc->dead && bc->c && (evs[i].events & EPOLLOUT)) {
					bc->want_out = false;
					proxy_conn_writable(bc->c);
				}
				break;
			}
			case EV_PROXY:
				proxy_on_event(b.px, ev, evs[i].events);
				break;
			case EV_TIMER: {
				uint64_t ticks;
				(void)!read(ev->fd, &ticks, sizeof(ticks));
				for (struct blisten *l = b.listeners; l; l = l->next)
					ev_listen_tick(b.epfd, &l->l, now_ms());
				proxy_tick(b.px);
				break;
			}
			case EV_SIGNAL:
				quit = true;
				break;
			default:
				break;
			}
		}
		bench_sweep(&b);
		if (quit)
			break;
	}
	for (struct bclient *bc = b.clients; bc; bc = bc->next)
		bc->dead = true;
	bench_sweep(&b);
	proxy_free(b.px);
	ca_free(ca);
	secrets_env_free(b.env);
	while (b.listeners) {
		struct blisten *l = b.listeners;
		b.listeners = l->next;
		close(l->l.ev.fd);
		free(l);
	}
	close(sig_ev.fd);
	close(tick_ev.fd);
	close(b.epfd);
	return 0;
}
