// SPDX-License-Identifier: MIT
/* chan.c: the virtio-serial channel to the host: port discovery, connection state, mux callbacks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "chan.h"
#include "console.h"
#include "ctl.h"
#include "egress.h"
#include "exec.h"
#include "frame.h"
#include "guest.h"
#include "loop.h"
#include "mux.h"
#include "proto.h"
#include "tlv.h"
#include "util.h"

#define PORTS_DIR "/sys/class/virtio-ports"
#define CHAN_POLL_MS 15          /* connection poll while no host is connected */
#define CHAN_SCAN_FAST_MS 20     /* port rescan while the driver may still be probing */
#define CHAN_SCAN_SLOW_MS 1000
#define CHAN_SCAN_FAST_FOR_MS 10000
#define CHAN_MAX_READS 1024      /* 4 MiB of 4 KiB port buffers per event, then others run */
#define CHAN_WRITE_CHUNK (1024u * 1024u)

static int read_small(const char *path, char *buf, size_t cap)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* Find the port named SBX_CHANNEL_PORT; create its /dev node if devtmpfs has none. */
static int chan_find_port(char **ret_path)
{
	DIR *d = opendir(PORTS_DIR);
	struct dirent *de;
	int r = -ENOENT;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char name[256], dev[64];
		_cleanup_free_ char *p = NULL, *node = NULL;
		unsigned maj, min;
		struct stat st;

		if (de->d_name[0] == '.' || strlen(de->d_name) > 64)
			continue;
		p = xasprintf(PORTS_DIR "/%s/name", de->d_name);
		if (read_small(p, name, sizeof(name)) < 0 || strcmp(name, SBX_CHANNEL_PORT) != 0)
			continue;
		node = xasprintf("/dev/%s", de->d_name);
		if (stat(node, &st) < 0) {
			free(p);
			p = xasprintf(PORTS_DIR "/%s/dev", de->d_name);
			if (read_small(p, dev, sizeof(dev)) < 0 || sscanf(dev, "%u:%u", &maj, &min) != 2)
				continue;
			if (mknod(node, S_IFCHR | 0600, makedev(maj, min)) < 0 && errno != EEXIST) {
				r = -errno;
				continue;
			}
		}
		*ret_path = TAKE_PTR(node);
		r = 0;
		break;
	}
	closedir(d);
	return r;
}

static void chan_send_hello(struct guest *g)
{
	uint8_t buf[512];
	struct tlv_writer w;
	struct utsname u;

	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_u32(&w, HELLO_VERSION, SBX_PROTO_VERSION);
	if (uname(&u) == 0)
		tlv_put_str(&w, HELLO_KERNEL, u.release);
	tlv_put_u32(&w, HELLO_UPTIME_MS, (uint32_t)uptime_ms());
	if (w.err == 0)
		(void)mux_send_hello(g->mux, buf, w.len);
}

/* ---- mux callbacks ---- */

/* The kind of a host OPEN: "tcp" (a published port) goes to egress, the rest to exec. */
static int cb_open(void *ctx, uint32_t id, const uint8_t *args, size_t len)
{
	struct tlv_reader rd;
	const uint8_t *val;
	uint32_t vlen;
	uint16_t tag;

	tlv_reader_init(&rd, args, len);
	while (tlv_next(&rd, &tag, &val, &vlen) > 0)
		if (tag == OPEN_KIND)
			return vlen == 3 && !memcmp(val, "tcp", 3) ? egress_port_open(ctx, id, args, len)
								   : exec_open(ctx, id, args, len);
	return exec_open(ctx, id, args, len);
}

/* Odd ids are the host's: exec sessions, or published ports (egress); even ids ours (egress). */
static bool chan_host_stream_exec(struct guest *g, uint32_t id)
{
	return (id & 1) && !egress_owns(g, id);
}

static void cb_data(void *ctx, uint32_t id, uint16_t flags, const uint8_t *data, size_t len)
{
	if (chan_host_stream_exec(ctx, id))
		exec_on_data(ctx, id, data, len);
	else
		egress_on_data(ctx, id, data, len);
}

static void cb_ctrl(void *ctx, uint32_t id, const uint8_t *data, size_t len)
{
	if (id == 0)
		ctl_on_ctrl(ctx, data, len);
	else if (chan_host_stream_exec(ctx, id))
		exec_on_ctrl(ctx, id, data, len);
	else
		egress_on_ctrl(ctx, id, data, len);
}

static void cb_window(void *ctx, uint32_t id, uint32_t credit)
{
	if (chan_host_stream_exec(ctx, id))
		exec_on_window(ctx, id);
	else
		egress_on_window(ctx, id);
}

static void cb_close(void *ctx, uint32_t id)
{
	if (chan_host_stream_exec(ctx, id))
		exec_on_close(ctx, id);
	else
		egress_on_close(ctx, id);
}

static void cb_reset(void *ctx, uint32_t id)
{
	if (chan_host_stream_exec(ctx, id))
		exec_on_reset(ctx, id);
	else
		egress_on_reset(ctx, id);
}

static void cb_hello(void *ctx, const uint8_t *data, size_t len)
{
	struct guest *g = ctx;
	struct tlv_reader r;
	const uint8_t *val;
	uint32_t vlen, ver = 0;
	uint16_t tag;

	tlv_reader_init(&r, data, len);
	while (tlv_next(&r, &tag, &val, &vlen) > 0)
		if (tag == HELLO_VERSION)
			(void)tlv_u32(val, vlen, &ver);
	log_info("host connected (protocol %u)", ver);
	chan_send_hello(g);
	egress_session_start(g);
}

static const struct mux_ops chan_ops = {
	.on_open = cb_open,
	.on_data = cb_data,
	.on_ctrl = cb_ctrl,
	.on_window = cb_window,
	.on_close = cb_close,
	.on_reset = cb_reset,
	.on_hello = cb_hello,
};

/* ---- connection state ---- */

int chan_init(struct guest *g)
{
	g->mux = mux_new(false, &chan_ops, g);
	if (!g->mux)
		return -ENOMEM;
	mux_set_hunting(g->mux, true);
	g->port = (struct watch){ .fd = -1, .kind = WATCH_PORT };
	g->port_state = PORT_NONE;
	g->port_since_ms = g->port_next_ms = now_ms();
	return 0;
}

/* End the session: every exec dies, every egress connection closes, the mux waits for a new HELLO. */
static void chan_session_end(struct guest *g)
{
	mux_session_reset(g->mux, true);
	exec_kill_all(g);
	egress_session_end(g);
}

static void chan_disconnected(struct guest *g)
{
	const uint8_t *p;

	log_info("host disconnected");
	chan_session_end(g);
	/* The reset keeps the tail of a frame we had started writing; that belonged to the
	 * old connection, and a new host must see our HELLO first. */
	mux_tx_advance(g->mux, mux_tx_peek(g->mux, &p));
	(void)watch_set(g, &g->port, 0);
	g->port_state = PORT_WAIT;
	g->port_next_ms = now_ms() + CHAN_POLL_MS;
}

static void chan_read(struct guest *g)
{
	/* A paused mux: answers to the host's input wait unsent; read again once drained. */
	for (int i = 0; i < CHAN_MAX_READS && g->port_state == PORT_UP && !mux_rx_paused(g->mux); i++) {
		size_t avail;
		uint8_t *buf = mux_rx_buf(g->mux, &avail);
		ssize_t n = read(g->port.fd, buf, avail);

		if (n > 0) {
			if (mux_rx_done(g->mux, (size_t)n) < 0) {
				log_warn("protocol violation from the host: session reset");
				chan_session_end(g);
				/* Ask for a new session: a running host answers with its HELLO. */
				chan_send_hello(g);
			}
			continue;
		}
		if (n == 0) {
			chan_disconnected(g);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return;
		log_warn("read %s: %m", g->port_path);
		chan_disconnected(g);
		return;
	}
}

void chan_flush(struct guest *g)
{
	const uint8_t *p;
	size_t len;

	if (g->port_state != PORT_UP)
		return;
	while ((len = mux_tx_peek(g->mux, &p)) > 0) {
		ssize_t n = write(g->port.fd, p, MIN(len, (size_t)CHAN_WRITE_CHUNK));

		if (n > 0) {
			mux_tx_advance(g->mux, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			log_warn("write %s: %m", g->port_path);
			chan_disconnected(g);
			return;
		}
		break;
	}
	(void)watch_set(g, &g->port, (mux_rx_paused(g->mux) ? 0 : EPOLLIN) | (len > 0 ? EPOLLOUT : 0));
}

void chan_on_event(struct guest *g, uint32_t events)
{
	if (g->port_state != PORT_UP)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		chan_read(g);
	if ((events & EPOLLOUT) && g->port_state == PORT_UP)
		chan_flush(g);
}

/* The port says POLLHUP while no host client is connected. */
static bool chan_host_connected(struct guest *g)
{
	struct pollfd p = { .fd = g->port.fd, .events = POLLIN };

	if (poll(&p, 1, 0) < 0)
		return false;
	return !(p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

void chan_tick(struct guest *g, uint64_t now)
{
	if (g->port_state == PORT_UP || now < g->port_next_ms)
		return;
	if (g->port_state == PORT_NONE) {
		_cleanup_free_ char *path = NULL;
		int fd;

		if (chan_find_port(&path) < 0 ||
		    (fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) < 0) {
			bool fast = now - g->port_since_ms < CHAN_SCAN_FAST_FOR_MS;

			if (!fast && !g->port_warned) {
				log_err("no virtio-serial port named %s yet; still looking", SBX_CHANNEL_PORT);
				g->port_warned = true;
			}
			g->port_next_ms = now + (fast ? CHAN_SCAN_FAST_MS : CHAN_SCAN_SLOW_MS);
			return;
		}
		g->port.fd = fd;
		free(g->port_path);
		g->port_path = TAKE_PTR(path);
		g->port_state = PORT_WAIT;
		console_line("SBX-GUEST-READY uptime=%llu port=%s", (unsigned long long)uptime_ms(),
			     g->port_path);
	}
	if (!chan_host_connected(g)) {
		g->port_next_ms = now + CHAN_POLL_MS;
		return;
	}
	g->port_state = PORT_UP;
	log_debug("host side of %s is open", g->port_path);
	mux_set_hunting(g->mux, true);
	if (watch_set(g, &g->port, EPOLLIN) < 0) {
		g->port_state = PORT_WAIT;
		g->port_next_ms = now + CHAN_POLL_MS;
		return;
	}
	chan_read(g);
}

int chan_timeout(struct guest *g, uint64_t now)
{
	if (g->port_state == PORT_UP)
		return -1;
	return g->port_next_ms <= now ? 0 : (int)MIN(g->port_next_ms - now, (uint64_t)CHAN_SCAN_SLOW_MS);
}
