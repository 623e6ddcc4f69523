// SPDX-License-Identifier: MIT
/* test_sshagent.c: the SSH agent filter: message framing and classification, the relay
 * against a scripted fake agent, and against a real ssh-agent holding a test key. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "audit.h"
#include "ev.h"
#include "paths.h"
#include "sshagent.h"
#include "sshagent_msg.h"
#include "testlib.h"
#include "util.h"

static char tmpdir[] = "/tmp/sbx-sshagent-test-XXXXXX";
static int epfd = -1;
static struct audit *au;
static struct sbx_paths paths;
static pid_t agent_pid = -1; /* the real ssh-agent, killed by pid at the end */

/* ---- message building ---- */

struct msg {
	uint8_t b[300 * 1024];
	size_t len;
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void m_begin(struct msg *m, uint8_t type)
{
	m->len = 5;
	m->b[4] = type;
}

static void m_raw(struct msg *m, const void *d, size_t n)
{
	memcpy(m->b + m->len, d, n);
	m->len += n;
}

static void m_u32(struct msg *m, uint32_t v)
{
	put32(m->b + m->len, v);
	m->len += 4;
}

static void m_str(struct msg *m, const void *d, size_t n)
{
	m_u32(m, (uint32_t)n);
	m_raw(m, d, n);
}

static void m_end(struct msg *m)
{
	put32(m->b, (uint32_t)(m->len - 4));
}

static void m_simple(struct msg *m, uint8_t type)
{
	m_begin(m, type);
	m_end(m);
}

static void m_sign(struct msg *m, const uint8_t *key, size_t klen, const char *data, uint32_t flags)
{
	m_begin(m, SSH_AGENTC_SIGN_REQUEST);
	m_str(m, key, klen);
	m_str(m, data, strlen(data));
	m_u32(m, flags);
	m_end(m);
}

static const uint8_t fake_key[] = { 0, 0, 0, 11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5', '1', '9',
				    0, 0, 0, 4,  1,   2,   3,   4 };

/* ---- pure part ---- */

static void test_frame(void)
{
	uint8_t b[8] = { 0 };
	size_t total = 99;

	CHECK_EQ(sshagent_msg_frame(b, 0, SSHAGENT_MSG_MAX, &total), 0);
	CHECK_EQ(total, 0);
	CHECK_EQ(sshagent_msg_frame(b, 3, SSHAGENT_MSG_MAX, &total), 0);
	CHECK_EQ(sshagent_msg_frame(b, 4, SSHAGENT_MSG_MAX, &total), -EBADMSG); /* length 0 */
	put32(b, SSHAGENT_MSG_MAX + 1);
	CHECK_EQ(sshagent_msg_frame(b, 4, SSHAGENT_MSG_MAX, &total), -EBADMSG);
	put32(b, 0xffffffffu);
	CHECK_EQ(sshagent_msg_frame(b, 4, SSHAGENT_MSG_MAX, &total), -EBADMSG);
	put32(b, SSHAGENT_MSG_MAX);
	CHECK_EQ(sshagent_msg_frame(b, 8, SSHAGENT_MSG_MAX, &total), 0);
	CHECK_EQ(total, SSHAGENT_MSG_MAX + 4);
	put32(b, 2);
	CHECK_EQ(sshagent_msg_frame(b, 5, SSHAGENT_MSG_MAX, &total), 0);
	CHECK_EQ(sshagent_msg_frame(b, 6, SSHAGENT_MSG_MAX, &total), 1);
	CHECK_EQ(total, 6);
	CHECK_EQ(sshagent_msg_frame(b, 8, SSHAGENT_MSG_MAX, &total), 1);
	CHECK_EQ(total, 6);
}

static void test_filter(void)
{
	static const uint8_t refused[] = { 0, 1, 5, 6, 12, 14, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 99, 255 };
	static struct msg m;
	struct sshagent_req q;

	m_simple(&m, SSH_AGENTC_REQUEST_IDENTITIES);
	sshagent_msg_filter(m.b + 4, m.len - 4, &q);
	CHECK(q.forward);
	CHECK_EQ(q.type, 11);

	m_begin(&m, SSH_AGENTC_REQUEST_IDENTITIES);
	m_u32(&m, 0);
	m_end(&m);
	sshagent_msg_filter(m.b + 4, m.len - 4, &q);
	CHECK(!q.forward);

	m_sign(&m, fake_key, sizeof(fake_key), "data", 0);
	sshagent_msg_filter(m.b + 4, m.len - 4, &q);
	CHECK(q.forward);
	CHECK_EQ(q.key_len, sizeof(fake_key));
	CHECK(q.key == m.b + 9);
	CHECK(!memcmp(q.key, fake_key, sizeof(fake_key)));

	/* malformed sign requests are refused */
	m_sign(&m, fake_key, sizeof(fake_key), "data", 0);
	sshagent_msg_filter(m.b + 4, m.len - 4 - 1, &q); /* flags cut short */
	CHECK(!q.forward);
	m_sign(&m, fake_key, sizeof(fake_key), "data", 0);
	m.b[m.len++] = 0; /* trailing byte */
	sshagent_msg_filter(m.b + 4, m.len - 4, &q);
	CHECK(!q.forward);
	m_sign(&m, fake_key, 0, "data", 0); /* empty key */
	sshagent_msg_filter(m.b + 4, m.len - 4, &q);
	CHECK(!q.forward);
	m_begin(&m, SSH_AGENTC_SIGN_REQUEST);
	m_u32(&m, 0xfffffff0u); /* key length past the end */
	m_raw(&m, "abcdefgh", 8);
	m_end(&m);
	sshagent_msg_filter(m.b + 4, m.len - 4, &q);
	CHECK(!q.forward);
	m_simple(&m, SSH_AGENTC_SIGN_REQUEST);
	sshagent_msg_filter(m.b + 4, m.len - 4, &q);
	CHECK(!q.forward);

	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		m_begin(&m, refused[i]);
		m_str(&m, "x", 1);
		m_end(&m);
		sshagent_msg_filter(m.b + 4, m.len - 4, &q);
		CHECK(!q.forward);
		CHECK_EQ(q.type, refused[i]);
		CHECK(q.why && q.why[0]);
	}
	/* session-bind is an extension: refused too */
	m_begin(&m, SSH_AGENTC_EXTENSION);
	m_str(&m, "session-bind@openssh.com", 24);
	m_end(&m);
	sshagent_msg_filter(m.b + 4, m.len - 4, &q);
	CHECK(!q.forward);
	CHECK_STR(q.why, "extension");
	CHECK_STR(sshagent_type_name(SSH_AGENTC_REMOVE_ALL_IDENTITIES), "remove-all-identities");
	CHECK_STR(sshagent_type_name(SSH_AGENTC_LOCK), "lock");
	CHECK_STR(sshagent_type_name(200), "unknown");
}

static void test_fingerprint_vector(void)
{
	char fp[SSHAGENT_FP_MAX];

	/* sha256("") = e3b0c442...: base64 "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" */
	CHECK_EQ(sshagent_fingerprint((const uint8_t *)"", 0, fp, sizeof(fp)), 0);
	CHECK_STR(fp, "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
	CHECK_EQ(sshagent_fingerprint((const uint8_t *)"", 0, fp, 10), -ENOBUFS);
}

/* ---- fake downstream ---- */

struct fdown {
	uint8_t out[600 * 1024];
	size_t out_len;
	size_t consumed;
	size_t write_max;     /* bytes taken per write call; 0 = unlimited */
	bool stalled;         /* take nothing */
	int closed, reset;
	struct sshagent_conn *c;
};

static size_t fd_write(void *down, const uint8_t *data, size_t len)
{
	struct fdown *f = down;
	size_t n = len;

	if (f->stalled)
		return 0;
	if (f->write_max && n > f->write_max)
		n = f->write_max;
	if (n > sizeof(f->out) - f->out_len)
		n = sizeof(f->out) - f->out_len;
	memcpy(f->out + f->out_len, data, n);
	f->out_len += n;
	return n;
}

static void fd_consumed(void *down, size_t n)
{
	((struct fdown *)down)->consumed += n;
}

static void fd_close(void *down)
{
	((struct fdown *)down)->closed++;
}

static void fd_reset(void *down)
{
	((struct fdown *)down)->reset++;
}

static const struct proxy_down_ops fops = {
	.write = fd_write, .consumed = fd_consumed, .close = fd_close, .reset = fd_reset,
};

/* Run the loop for up to ms, or until pred holds. */
static void loop_run(int ms, bool (*pred)(void *), void *arg)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	while (!(pred && pred(arg))) {
		struct epoll_event evs[8];
		uint64_t now = now_ms();
		int n;

		if (now >= end)
			break;
		n = epoll_wait(epfd, evs, 8, (int)MIN(end - now, (uint64_t)50));
		for (int i = 0; i < n; i++) {
			struct evsrc *ev = evs[i].data.ptr;

			if (ev->kind == EV_AGENT)
				sshagent_on_event(ev, evs[i].events);
		}
	}
}

struct wait_out {
	struct fdown *f;
	size_t len;
};

static bool have_out(void *arg)
{
	struct wait_out *w = arg;

	return w->f->out_len >= w->len;
}

static void wait_out(struct fdown *f, size_t len)
{
	struct wait_out w = { f, len };

	loop_run(5000, have_out, &w);
}

/* Count whole FAILURE messages at the start of out[from..]. */
static size_t failures_at(const struct fdown *f, size_t from)
{
	size_t n = 0;

	while (from + 5 <= f->out_len && !memcmp(f->out + from, sshagent_failure_msg, 5)) {
		n++;
		from += 5;
	}
	return n;
}

static char *audit_text(void)
{
	_cleanup_free_ char *p = xasprintf("%s/audit.log", paths.state);
	char *txt = NULL;

	if (file_read_all(p, 16u << 20, &txt, NULL) < 0)
		return xstrdup("");
	return txt;
}

static size_t count_substr(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* ---- fake agent: a listening socket the test serves by hand ---- */

struct fagent {
	char path[256];
	int lfd;
	int fd;    /* accepted connection, or -1 */
	int binds; /* valid session-binds seen (answered as bind_answer says) */
	int bad_binds;
	uint8_t bind_answer;   /* 0: SSH_AGENT_SUCCESS */
	bool bind_before_request;   /* every request so far came after a bind on its connection */
};

static void fagent_start(struct fagent *a, const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(a->path, sizeof(a->path), "%s/%s", tmpdir, name);
	CHECK(strlen(a->path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, a->path, MIN(strlen(a->path), sizeof(sa.sun_path) - 1));
	unlink(a->path);
	a->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	a->fd = -1;
	a->binds = a->bad_binds = 0;
	a->bind_answer = 0;
	a->bind_before_request = true;
	CHECK(a->lfd >= 0);
	CHECK_EQ(bind(a->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(listen(a->lfd, 8), 0);
}

/* Accept the filter's connection (waiting up to 2 s while running the loop). */
static bool fagent_accept(struct fagent *a)
{
	for (int i = 0; i < 40 && a->fd < 0; i++) {
		a->fd = accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (a->fd < 0)
			loop_run(50, NULL, NULL);
	}
	return a->fd >= 0;
}

static bool fagent_pending_conn(struct fagent *a)
{
	struct pollfd p = { .fd = a->lfd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* Is m sbx's own session-bind: forwarding, a fresh Ed25519 key, its signature over the
 * session id valid (what OpenSSH's agent checks)? */
static bool is_bind(const struct msg *m, bool *ret_valid)
{
	static const char ext[] = "session-bind@openssh.com";
	const uint8_t *p = m->b + 5, *key, *sid, *sig;
	uint32_t klen, sidlen, siglen;
	EVP_PKEY *pk;
	EVP_MD_CTX *md;

	*ret_valid = false;
	if (m->len < 9 || m->b[4] != SSH_AGENTC_EXTENSION || get32(p) != sizeof(ext) - 1 ||
	    memcmp(p + 4, ext, sizeof(ext) - 1))
		return false;
	p += 4 + sizeof(ext) - 1;
	key = p + 4, klen = get32(p), p += 4 + klen;
	sid = p + 4, sidlen = get32(p), p += 4 + sidlen;
	sig = p + 4, siglen = get32(p), p += 4 + siglen;
	if ((size_t)(p + 1 - m->b) != m->len || p[0] != 1 || klen != 51 || siglen != 83 || sidlen != 32 ||
	    get32(key) != 11 || memcmp(key + 4, "ssh-ed25519", 11) || get32(sig) != 11 ||
	    memcmp(sig + 4, "ssh-ed25519", 11) || get32(sig + 15) != 64)
		return true;
	pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key + 19, 32);
	md = EVP_MD_CTX_new();
	*ret_valid = pk && md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1 &&
		     EVP_DigestVerify(md, sig + 19, 64, sid, sidlen) == 1;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	return true;
}

static bool fagent_read_one(struct fagent *a, struct msg *m);
static void fagent_reply(struct fagent *a, const void *d, size_t n);

/* Read one request into m (blocking, while running the loop for the filter's writes).
 * sbx's session-bind, first on every connection, is checked and answered here. */
static bool fagent_read_msg(struct fagent *a, struct msg *m)
{
	for (;;) {
		bool valid;

		if (!fagent_read_one(a, m))
			return false;
		if (!is_bind(m, &valid)) {
			if (!a->binds)
				a->bind_before_request = false;
			return true;
		}
		if (valid)
			a->binds++;
		else
			a->bad_binds++;
		fagent_reply(a, (const uint8_t[]){ 0, 0, 0, 1, a->bind_answer ? a->bind_answer : SSH_AGENT_SUCCESS }, 5);
	}
}

static bool fagent_read_one(struct fagent *a, struct msg *m)
{
	size_t want = 4;

	m->len = 0;
	for (int i = 0; i < 200 && m->len < want; i++) {
		ssize_t n;

		fd_set_nonblock(a->fd, true);
		n = read(a->fd, m->b + m->len, want - m->len);
		if (n == 0)
			return false;
		if (n > 0) {
			m->len += (size_t)n;
			if (m->len == 4)
				want = 4 + get32(m->b);
			continue;
		}
		loop_run(20, NULL, NULL);
	}
	return m->len == want;
}

static void fagent_reply(struct fagent *a, const void *d, size_t n)
{
	fd_set_nonblock(a->fd, false);
	CHECK_EQ(write_all(a->fd, d, n), 0);
}

static void fagent_stop(struct fagent *a)
{
	if (a->fd >= 0)
		close(a->fd);
	close(a->lfd);
	unlink(a->path);
	a->fd = a->lfd = -1;
}

static struct sshagent_conn *conn(struct fdown *f, const char *sock)
{
	memset(f, 0, sizeof(*f));
	f->c = sshagent_conn_new(epfd, sock, "sb1", au, &fops, f);
	CHECK(f->c != NULL);
	return f->c;
}

/* ---- relay tests against the fake agent ---- */

static void test_refused_not_forwarded(void)
{
	static const uint8_t types[] = { 17, 18, 19, 20, 21, 22, 23, 25, 26, 27, 0, 99, 12, 14, 5 };
	static struct msg m;
	struct fagent a;
	struct fdown f;
	_cleanup_free_ char *before = audit_text(), *after = NULL;
	size_t total = 0;

	fagent_start(&a, "refuse.sock");
	conn(&f, a.path);
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		m_begin(&m, types[i]);
		m_str(&m, "secret-key-material", 19);
		m_end(&m);
		sshagent_conn_input(f.c, m.b, m.len);
		total += m.len;
		CHECK_EQ(f.out_len, 5 * (i + 1));
	}
	CHECK_EQ(failures_at(&f, 0), ARRAY_SIZE(types));
	CHECK_EQ(f.consumed, total);
	loop_run(100, NULL, NULL);
	CHECK(!fagent_pending_conn(&a)); /* never even connected to the host agent */
	CHECK_EQ(f.reset, 0);
	sshagent_conn_input_eof(f.c);
	CHECK_EQ(f.closed, 1);
	sshagent_conn_abort(f.c);

	after = audit_text();
	/* one deny line per refused request, capped per connection */
	CHECK_EQ(count_substr(after, "\"path\":\"ssh-agent\"") - count_substr(before, "\"path\":\"ssh-agent\""),
		 SSHAGENT_DENY_LOG_MAX);
	CHECK(strstr(after, "refused add-identity (17)") != NULL);
	CHECK(strstr(after, "refused remove-all-identities (19)") != NULL);
	CHECK(strstr(after, "\"decision\":\"deny\"") != NULL);
	CHECK(strstr(after, "secret-key-material") == NULL);
	fagent_stop(&a);
}

static void test_bad_lengths(void)
{
	static const uint8_t zero[] = { 0, 0, 0, 0, 11 };
	uint8_t big[4];
	struct fdown f;

	conn(&f, "/nonexistent/agent.sock");
	sshagent_conn_input(f.c, zero, sizeof(zero));
	CHECK_EQ(f.reset, 1);
	CHECK_EQ(f.out_len, 0);
	sshagent_conn_input(f.c, zero, sizeof(zero)); /* ignored after reset */
	CHECK_EQ(f.reset, 1);
	sshagent_conn_abort(f.c);

	/* over 256 KiB: reset as soon as the length field is in, before any body */
	conn(&f, "/nonexistent/agent.sock");
	put32(big, SSHAGENT_MSG_MAX + 1);
	sshagent_conn_input(f.c, big, 2);
	CHECK_EQ(f.reset, 0);
	sshagent_conn_input(f.c, big + 2, 2);
	CHECK_EQ(f.reset, 1);
	CHECK_EQ(f.consumed, 0);
	sshagent_conn_abort(f.c);

	/* exactly 256 KiB is a valid (refused) message */
	{
		static struct msg m;

		conn(&f, "/nonexistent/agent.sock");
		m_begin(&m, SSH_AGENTC_ADD_IDENTITY);
		memset(m.b + 5, 'k', SSHAGENT_MSG_MAX - 1);
		m.len = SSHAGENT_MSG_MAX + 4;
		m_end(&m);
		sshagent_conn_input(f.c, m.b, m.len);
		CHECK_EQ(f.reset, 0);
		CHECK_EQ(failures_at(&f, 0), 1);
		CHECK_EQ(f.consumed, m.len);
		sshagent_conn_abort(f.c);
	}
	/* a good message, then a bad length: the good one is answered first */
	{
		static struct msg m;
		uint8_t two[5 + 4];

		conn(&f, "/nonexistent/agent.sock");
		m_simple(&m, SSH_AGENTC_LOCK);
		memcpy(two, m.b, 5);
		memset(two + 5, 0, 4);
		sshagent_conn_input(f.c, two, sizeof(two));
		CHECK_EQ(failures_at(&f, 0), 1);
		CHECK_EQ(f.reset, 1);
		sshagent_conn_abort(f.c);
	}
}

static void test_split_and_forward(void)
{
	static struct msg m, got;
	static const uint8_t answer[] = { 0, 0, 0, 5, SSH_AGENT_IDENTITIES_ANSWER, 0, 0, 0, 0 };
	struct fagent a;
	struct fdown f;

	fagent_start(&a, "split.sock");
	conn(&f, a.path);
	m_simple(&m, SSH_AGENTC_REQUEST_IDENTITIES);
	for (size_t i = 0; i < m.len; i++)
		sshagent_conn_input(f.c, m.b + i, 1);
	CHECK(fagent_accept(&a));
	CHECK(fagent_read_msg(&a, &got));
	CHECK_EQ(got.len, m.len);
	CHECK(!memcmp(got.b, m.b, m.len));
	CHECK_EQ(f.consumed, m.len);
	/* the answer arrives in pieces too */
	for (size_t i = 0; i < sizeof(answer); i++) {
		fagent_reply(&a, answer + i, 1);
		loop_run(20, NULL, NULL);
		CHECK_EQ(f.out_len, i + 1 == sizeof(answer) ? sizeof(answer) : 0);
	}
	CHECK(!memcmp(f.out, answer, sizeof(answer)));

	/* a sign request split at every byte */
	m_sign(&m, fake_key, sizeof(fake_key), "to be signed", 2);
	for (size_t i = 0; i < m.len; i++)
		sshagent_conn_input(f.c, m.b + i, 1);
	CHECK(fagent_read_msg(&a, &got));
	CHECK_EQ(got.len, m.len);
	CHECK(!memcmp(got.b, m.b, m.len));
	{
		static const uint8_t sig[] = { 0, 0, 0, 3, SSH_AGENT_SIGN_RESPONSE, 'o', 'k' };

		fagent_reply(&a, sig, sizeof(sig));
		wait_out(&f, sizeof(answer) + sizeof(sig));
		CHECK_EQ(f.out_len, sizeof(answer) + sizeof(sig));
		CHECK(!memcmp(f.out + sizeof(answer), sig, sizeof(sig)));
	}
	sshagent_conn_input_eof(f.c);
	CHECK_EQ(f.closed, 1);
	sshagent_conn_abort(f.c);
	fagent_stop(&a);
}

static void test_pipelined_in_order(void)
{
	static struct msg all, m, got;
	static const uint8_t ans1[] = { 0, 0, 0, 5, SSH_AGENT_IDENTITIES_ANSWER, 0, 0, 0, 0 };
	static const uint8_t ans2[] = { 0, 0, 0, 2, SSH_AGENT_SIGN_RESPONSE, 'x' };
	struct fagent a;
	struct fdown f;
	size_t off;

	fagent_start(&a, "pipe.sock");
	conn(&f, a.path);
	all.len = 0;
	m_simple(&m, SSH_AGENTC_REQUEST_IDENTITIES);
	memcpy(all.b + all.len, m.b, m.len), all.len += m.len;
	m_simple(&m, SSH_AGENTC_REMOVE_ALL_IDENTITIES);
	memcpy(all.b + all.len, m.b, m.len), all.len += m.len;
	m_sign(&m, fake_key, sizeof(fake_key), "abc", 0);
	memcpy(all.b + all.len, m.b, m.len), all.len += m.len;
	m_simple(&m, SSH_AGENTC_LOCK);
	memcpy(all.b + all.len, m.b, m.len), all.len += m.len;
	m_simple(&m, SSH_AGENTC_REQUEST_IDENTITIES);
	memcpy(all.b + all.len, m.b, m.len), all.len += m.len;

	sshagent_conn_input(f.c, all.b, all.len);
	CHECK_EQ(f.out_len, 0); /* the refused one waits behind the first */
	CHECK_EQ(f.consumed, 5);
	CHECK(fagent_accept(&a));
	CHECK(fagent_read_msg(&a, &got));
	CHECK_EQ(got.b[4], SSH_AGENTC_REQUEST_IDENTITIES);
	fagent_reply(&a, ans1, sizeof(ans1));
	CHECK(fagent_read_msg(&a, &got)); /* the sign request comes next, remove-all never */
	CHECK_EQ(got.b[4], SSH_AGENTC_SIGN_REQUEST);
	CHECK_EQ(f.out_len, sizeof(ans1) + 5);
	fagent_reply(&a, ans2, sizeof(ans2));
	CHECK(fagent_read_msg(&a, &got));
	CHECK_EQ(got.b[4], SSH_AGENTC_REQUEST_IDENTITIES);
	fagent_reply(&a, ans1, sizeof(ans1));
	wait_out(&f, sizeof(ans1) + 5 + sizeof(ans2) + 5 + sizeof(ans1));

	off = 0;
	CHECK(!memcmp(f.out + off, ans1, sizeof(ans1)));
	off += sizeof(ans1);
	CHECK_EQ(failures_at(&f, off), 1);
	off += 5;
	CHECK(!memcmp(f.out + off, ans2, sizeof(ans2)));
	off += sizeof(ans2);
	CHECK_EQ(failures_at(&f, off), 1);
	off += 5;
	CHECK(!memcmp(f.out + off, ans1, sizeof(ans1)));
	off += sizeof(ans1);
	CHECK_EQ(f.out_len, off);
	CHECK_EQ(f.consumed, all.len);
	sshagent_conn_abort(f.c);
	fagent_stop(&a);
}

static void test_partial_writes(void)
{
	static struct msg m;
	struct fdown f;

	conn(&f, "/nonexistent/agent.sock");
	f.stalled = true;
	m_simple(&m, SSH_AGENTC_LOCK);
	sshagent_conn_input(f.c, m.b, m.len);
	sshagent_conn_input(f.c, m.b, m.len);
	CHECK_EQ(f.out_len, 0);
	CHECK_EQ(f.consumed, 5); /* the second waits until the first answer is out */
	f.stalled = false;
	f.write_max = 2;
	sshagent_conn_writable(f.c);
	CHECK_EQ(f.out_len, 10);
	CHECK_EQ(failures_at(&f, 0), 2);
	CHECK_EQ(f.consumed, 10);
	sshagent_conn_input_eof(f.c);
	CHECK_EQ(f.closed, 1);
	sshagent_conn_abort(f.c);

	/* EOF with answers still queued: close only after they went out */
	conn(&f, "/nonexistent/agent.sock");
	f.stalled = true;
	sshagent_conn_input(f.c, m.b, m.len);
	sshagent_conn_input(f.c, m.b, 3); /* truncated last message */
	sshagent_conn_input_eof(f.c);
	CHECK_EQ(f.closed, 0);
	f.stalled = false;
	sshagent_conn_writable(f.c);
	CHECK_EQ(failures_at(&f, 0), 1);
	CHECK_EQ(f.out_len, 5);
	CHECK_EQ(f.closed, 1);
	sshagent_conn_abort(f.c);
}

static void test_agent_faults(void)
{
	static struct msg m, got;
	struct fagent a;
	struct fdown f;
	_cleanup_free_ char *txt = NULL;

	/* no agent socket at all: allowed requests get FAILURE, the sign is logged as such */
	conn(&f, "/nonexistent/agent.sock");
	m_simple(&m, SSH_AGENTC_REQUEST_IDENTITIES);
	sshagent_conn_input(f.c, m.b, m.len);
	m_sign(&m, fake_key, sizeof(fake_key), "x", 0);
	sshagent_conn_input(f.c, m.b, m.len);
	CHECK_EQ(failures_at(&f, 0), 2);
	sshagent_conn_abort(f.c);
	txt = audit_text();
	CHECK(strstr(txt, "host agent unavailable") != NULL);

	/* not an absolute path, or none */
	conn(&f, "relative.sock");
	m_simple(&m, SSH_AGENTC_REQUEST_IDENTITIES);
	sshagent_conn_input(f.c, m.b, m.len);
	CHECK_EQ(failures_at(&f, 0), 1);
	sshagent_conn_abort(f.c);
	conn(&f, NULL);
	sshagent_conn_input(f.c, m.b, m.len);
	CHECK_EQ(failures_at(&f, 0), 1);
	sshagent_conn_abort(f.c);

	/* the agent dies mid-request: FAILURE, and FAILURE afterwards without reconnecting */
	fagent_start(&a, "die.sock");
	conn(&f, a.path);
	sshagent_conn_input(f.c, m.b, m.len);
	CHECK(fagent_accept(&a));
	CHECK(fagent_read_msg(&a, &got));
	fagent_reply(&a, "\0\0\0\x09\x0c", 5); /* half an answer, then gone */
	close(a.fd);
	a.fd = -1;
	wait_out(&f, 5);
	CHECK_EQ(f.out_len, 5);
	CHECK_EQ(failures_at(&f, 0), 1);
	sshagent_conn_input(f.c, m.b, m.len);
	CHECK_EQ(failures_at(&f, 0), 2);
	loop_run(50, NULL, NULL);
	CHECK(!fagent_pending_conn(&a));
	CHECK_EQ(f.reset, 0);
	sshagent_conn_abort(f.c);
	fagent_stop(&a);

	/* an answer over 256 KiB: FAILURE */
	fagent_start(&a, "big.sock");
	conn(&f, a.path);
	sshagent_conn_input(f.c, m.b, m.len);
	CHECK(fagent_accept(&a));
	CHECK(fagent_read_msg(&a, &got));
	{
		uint8_t hdr[5];

		put32(hdr, SSHAGENT_MSG_MAX + 1);
		hdr[4] = SSH_AGENT_IDENTITIES_ANSWER;
		fagent_reply(&a, hdr, sizeof(hdr));
	}
	wait_out(&f, 5);
	CHECK_EQ(failures_at(&f, 0), 1);
	CHECK_EQ(f.out_len, 5);
	sshagent_conn_abort(f.c);
	fagent_stop(&a);

	/* bytes nobody asked for: the host connection is dropped */
	fagent_start(&a, "chatty.sock");
	conn(&f, a.path);
	sshagent_conn_input(f.c, m.b, m.len);
	CHECK(fagent_accept(&a));
	CHECK(fagent_read_msg(&a, &got));
	fagent_reply(&a, "\0\0\0\x01\x06", 5);
	wait_out(&f, 5);
	fagent_reply(&a, "\0\0\0\x01\x06", 5); /* unasked */
	loop_run(100, NULL, NULL);
	sshagent_conn_input(f.c, m.b, m.len);
	CHECK_EQ(f.out_len, 10);
	CHECK_EQ(failures_at(&f, 5), 1);
	sshagent_conn_abort(f.c);
	fagent_stop(&a);

	/* abort while a request is in flight: nothing leaks, nothing is called */
	fagent_start(&a, "abort.sock");
	conn(&f, a.path);
	sshagent_conn_input(f.c, m.b, m.len);
	CHECK(fagent_accept(&a));
	sshagent_conn_abort(f.c);
	loop_run(50, NULL, NULL);
	CHECK_EQ(f.out_len, 0);
	fagent_stop(&a);
}

/* Every host connection starts with sbx's own session-bind (forwarding, a fresh key,
 * a valid signature), whose answer never reaches the guest, whatever it is. */
static void test_session_bind_first(void)
{
	static struct msg m, got;
	static const uint8_t ans[] = { 0, 0, 0, 5, SSH_AGENT_IDENTITIES_ANSWER, 0, 0, 0, 0 };
	struct fagent a;
	struct fdown f;

	for (int i = 0; i < 2; i++) {
		fagent_start(&a, "bind.sock");
		a.bind_answer = i ? SSH_AGENT_FAILURE : 0;   /* an agent without session-bind */
		conn(&f, a.path);
		m_simple(&m, SSH_AGENTC_REQUEST_IDENTITIES);
		sshagent_conn_input(f.c, m.b, m.len);
		CHECK(fagent_accept(&a));
		CHECK(fagent_read_msg(&a, &got));
		CHECK_EQ(a.binds, 1);
		CHECK_EQ(a.bad_binds, 0);
		CHECK(a.bind_before_request);
		CHECK_EQ(got.b[4], SSH_AGENTC_REQUEST_IDENTITIES);
		fagent_reply(&a, ans, sizeof(ans));
		wait_out(&f, sizeof(ans));
		CHECK_EQ(f.out_len, sizeof(ans));
		CHECK(!memcmp(f.out, ans, sizeof(ans)));
		/* the guest's own session-bind is still refused, and not forwarded */
		m_begin(&m, SSH_AGENTC_EXTENSION);
		m_str(&m, "session-bind@openssh.com", 24);
		m_end(&m);
		sshagent_conn_input(f.c, m.b, m.len);
		CHECK_EQ(failures_at(&f, sizeof(ans)), 1);
		m_simple(&m, SSH_AGENTC_REQUEST_IDENTITIES);
		sshagent_conn_input(f.c, m.b, m.len);
		CHECK(fagent_read_msg(&a, &got));
		CHECK_EQ(got.b[4], SSH_AGENTC_REQUEST_IDENTITIES);
		CHECK_EQ(a.binds, 1);   /* one per host connection */
		fagent_reply(&a, ans, sizeof(ans));
		wait_out(&f, sizeof(ans) + 5 + sizeof(ans));
		CHECK_EQ(f.out_len, sizeof(ans) + 5 + sizeof(ans));
		sshagent_conn_abort(f.c);
		fagent_stop(&a);
	}
}

static void test_long_socket_path(void)
{
	static struct msg m, got;
	static const uint8_t ans[] = { 0, 0, 0, 5, SSH_AGENT_IDENTITIES_ANSWER, 0, 0, 0, 0 };
	char dir[512], name[64];
	struct fagent a = { .fd = -1 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int dfd = -1;
	struct fdown f;

	snprintf(dir, sizeof(dir), "%s/%0120d", tmpdir, 0);
	CHECK_EQ(mkdir(dir, 0700), 0);
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/agent.sock", dfd);
	a.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	CHECK_EQ(bind(a.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(listen(a.lfd, 4), 0);
	snprintf(name, sizeof(name), "agent.sock");
	{
		_cleanup_free_ char *full = xasprintf("%s/%s", dir, name);

		CHECK(strlen(full) > sizeof(sa.sun_path));
		conn(&f, full);
		m_simple(&m, SSH_AGENTC_REQUEST_IDENTITIES);
		sshagent_conn_input(f.c, m.b, m.len);
		CHECK(fagent_accept(&a));
		CHECK(fagent_read_msg(&a, &got));
		fagent_reply(&a, ans, sizeof(ans));
		wait_out(&f, sizeof(ans));
		CHECK_EQ(f.out_len, sizeof(ans));
		sshagent_conn_abort(f.c);
		close(a.fd);
		close(a.lfd);
		unlinkat(dfd, name, 0);
		rmdir(dir);
	}
}

/* ---- a real ssh-agent ---- */

static int run_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run_sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int st;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		cmd = NULL;
	va_end(ap);
	if (!cmd)
		return -1;
	st = system(cmd);
	free(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Exchange one request with the filter; the answer (with prefix) in ans. */
static bool roundtrip(struct fdown *f, const struct msg *req, struct msg *ans)
{
	size_t start = f->out_len, total = 0;
	uint64_t end = now_ms() + 10000;

	sshagent_conn_input(f->c, req->b, req->len);
	while (now_ms() < end) {
		if (sshagent_msg_frame(f->out + start, f->out_len - start, SSHAGENT_MSG_MAX, &total) == 1)
			break;
		loop_run(50, NULL, NULL);
	}
	if (sshagent_msg_frame(f->out + start, f->out_len - start, SSHAGENT_MSG_MAX, &total) != 1)
		return false;
	memcpy(ans->b, f->out + start, total);
	ans->len = total;
	return true;
}

static void test_real_agent(void)
{
	_cleanup_free_ char *keydir = xasprintf("%s/real", tmpdir);
	_cleanup_free_ char *sock = xasprintf("%s/agent.sock", keydir);
	_cleanup_free_ char *fpline = NULL, *txt = NULL;
	static struct msg req, ans;
	const uint8_t *blob, *p;
	uint32_t nkeys, blen, slen;
	char fp[SSHAGENT_FP_MAX];
	struct fdown f;

	if (access("/usr/bin/ssh-agent", X_OK) < 0 || access("/usr/bin/ssh-keygen", X_OK) < 0) {
		printf("SKIP real ssh-agent test: openssh-client not installed\n");
		return;
	}
	CHECK_EQ(mkdir(keydir, 0700), 0);
	CHECK_EQ(run_sh("ssh-keygen -q -t ed25519 -N '' -C sbx-test -f %s/key", keydir), 0);
	CHECK_EQ(run_sh("ssh-keygen -l -E sha256 -f %s/key.pub > %s/fp", keydir, keydir), 0);
	agent_pid = fork();
	if (agent_pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		execl("/usr/bin/ssh-agent", "ssh-agent", "-D", "-a", sock, (char *)NULL);
		_exit(127);
	}
	CHECK(agent_pid > 0);
	for (int i = 0; i < 100 && access(sock, F_OK) < 0; i++)
		usleep(20000);
	CHECK_EQ(run_sh("SSH_AUTH_SOCK=%s ssh-add -q %s/key 2>/dev/null", sock, keydir), 0);
	/* a second key, usable only to authenticate to "testhost" (ssh-add -h) */
	CHECK_EQ(run_sh("ssh-keygen -q -t ed25519 -N '' -C sbx-constrained -f %s/ckey && "
			"ssh-keygen -q -t ed25519 -N '' -f %s/hostkey && "
			"echo \"testhost $(cut -d' ' -f1,2 %s/hostkey.pub)\" > %s/known_hosts && "
			"SSH_AUTH_SOCK=%s ssh-add -q -H %s/known_hosts -h testhost %s/ckey 2>/dev/null",
			keydir, keydir, keydir, keydir, sock, keydir, keydir), 0);
	CHECK_EQ(run_sh("test $(SSH_AUTH_SOCK=%s ssh-add -l | wc -l) = 2", sock), 0);

	conn(&f, sock);
	/* list identities */
	m_simple(&req, SSH_AGENTC_REQUEST_IDENTITIES);
	CHECK(roundtrip(&f, &req, &ans));
	CHECK_EQ(ans.b[4], SSH_AGENT_IDENTITIES_ANSWER);
	nkeys = get32(ans.b + 5);
	CHECK_EQ(nkeys, 1);   /* not the destination-constrained key */
	CHECK(!memmem(ans.b, ans.len, "sbx-constrained", 15));
	blen = get32(ans.b + 9);
	blob = ans.b + 13;
	CHECK(blen == 51 && 13 + blen <= ans.len); /* string "ssh-ed25519" + string pk[32] */
	{
		static uint8_t key[64];
		uint8_t pk[32];
		static struct msg sreq, sans;
		const char *data = "data signed through the sbx filter";
		EVP_PKEY *pkey;
		EVP_MD_CTX *md;

		memcpy(key, blob, blen);
		memcpy(pk, key + 4 + 11 + 4, 32);
		/* the fingerprint matches ssh-keygen's */
		CHECK_EQ(sshagent_fingerprint(key, blen, fp, sizeof(fp)), 0);
		{
			_cleanup_free_ char *fpp = xasprintf("%s/fp", keydir);

			CHECK_EQ(file_read_all(fpp, 4096, &fpline, NULL), 0);
			CHECK(fpline && strstr(fpline, fp) != NULL);
		}
		/* sign, and verify the signature with the public key */
		m_sign(&sreq, key, blen, data, 0);
		CHECK(roundtrip(&f, &sreq, &sans));
		CHECK_EQ(sans.b[4], SSH_AGENT_SIGN_RESPONSE);
		slen = get32(sans.b + 5);                 /* string signature */
		p = sans.b + 9;
		CHECK(slen == 4 + 11 + 4 + 64 && get32(p) == 11 && !memcmp(p + 4, "ssh-ed25519", 11));
		CHECK_EQ(get32(p + 15), 64);
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, 32);
		md = EVP_MD_CTX_new();
		CHECK(pkey && md);
		CHECK(EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) == 1);
		CHECK(EVP_DigestVerify(md, p + 19, 64, (const uint8_t *)data, strlen(data)) == 1);
		EVP_MD_CTX_free(md);
		EVP_PKEY_free(pkey);
	}
	/* the constrained key does not sign either, whatever the guest asks */
	{
		_cleanup_free_ char *pub = xasprintf("%s/ckey.pub", keydir), *line = NULL;
		static uint8_t cblob[256];
		static struct msg sreq, sans;
		char *b64, *end;
		int n;

		CHECK_EQ(file_read_all(pub, 4096, &line, NULL), 0);
		b64 = line ? strchr(line, ' ') : NULL;
		end = b64 ? strchr(b64 + 1, ' ') : NULL;
		CHECK(b64 && end);
		if (b64 && end) {
			n = EVP_DecodeBlock(cblob, (const uint8_t *)b64 + 1, (int)(end - b64 - 1));
			CHECK_EQ(n, 51);
			m_sign(&sreq, cblob, 51, "data for testhost?", 0);
			CHECK(roundtrip(&f, &sreq, &sans));
			CHECK_EQ(sans.len, 5);
			CHECK_EQ(sans.b[4], SSH_AGENT_FAILURE);
		}
	}
	/* remove-all and lock are refused; the host agent keeps its key and stays unlocked */
	m_simple(&req, SSH_AGENTC_REMOVE_ALL_IDENTITIES);
	CHECK(roundtrip(&f, &req, &ans));
	CHECK_EQ(ans.len, 5);
	CHECK_EQ(ans.b[4], SSH_AGENT_FAILURE);
	m_begin(&req, SSH_AGENTC_LOCK);
	m_str(&req, "pw", 2);
	m_end(&req);
	CHECK(roundtrip(&f, &req, &ans));
	CHECK_EQ(ans.b[4], SSH_AGENT_FAILURE);
	m_begin(&req, SSH_AGENTC_REMOVE_IDENTITY);
	m_str(&req, blob, blen);
	m_end(&req);
	CHECK(roundtrip(&f, &req, &ans));
	CHECK_EQ(ans.b[4], SSH_AGENT_FAILURE);
	CHECK_EQ(run_sh("SSH_AUTH_SOCK=%s ssh-add -l | grep -q sbx-test", sock), 0);
	CHECK_EQ(run_sh("SSH_AUTH_SOCK=%s ssh-add -l | grep -q sbx-constrained", sock), 0);
	/* still usable through the same connection */
	m_simple(&req, SSH_AGENTC_REQUEST_IDENTITIES);
	CHECK(roundtrip(&f, &req, &ans));
	CHECK_EQ(ans.b[4], SSH_AGENT_IDENTITIES_ANSWER);
	CHECK_EQ(get32(ans.b + 5), 1);
	sshagent_conn_input_eof(f.c);
	CHECK_EQ(f.closed, 1);
	sshagent_conn_abort(f.c);

	txt = audit_text();
	{
		_cleanup_free_ char *want = xasprintf("\"reason\":\"sign %s\"", fp);

		CHECK(strstr(txt, want) != NULL);
		CHECK(strstr(txt, "\"sandbox\":\"sb1\"") != NULL);
	}

	/* the agent is killed while a connection is open: the next request fails fast */
	conn(&f, sock);
	m_simple(&req, SSH_AGENTC_REQUEST_IDENTITIES);
	CHECK(roundtrip(&f, &req, &ans));
	kill(agent_pid, SIGTERM);
	waitpid(agent_pid, NULL, 0);
	agent_pid = -1;
	CHECK(roundtrip(&f, &req, &ans));
	CHECK_EQ(ans.len, 5);
	CHECK_EQ(ans.b[4], SSH_AGENT_FAILURE);
	sshagent_conn_abort(f.c);
}

int main(void)
{
	int r;

	signal(SIGPIPE, SIG_IGN);
	log_setup("test_sshagent", getenv("SBX_TEST_DEBUG") ? LOG_DEBUG : LOG_WARN, false);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	paths.state = tmpdir;
	r = audit_open(&paths, &au);
	CHECK_EQ(r, 0);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	CHECK(epfd >= 0);

	test_frame();
	test_filter();
	test_fingerprint_vector();
	test_refused_not_forwarded();
	test_bad_lengths();
	test_split_and_forward();
	test_pipelined_in_order();
	test_partial_writes();
	test_agent_faults();
	test_session_bind_first();
	test_long_socket_path();
	test_real_agent();

	if (agent_pid > 0) {
		kill(agent_pid, SIGTERM);
		waitpid(agent_pid, NULL, 0);
	}
	audit_close(au);
	close(epfd);
	rm_rf(tmpdir);
	TEST_DONE();
}
