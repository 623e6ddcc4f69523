// SPDX-License-Identifier: MIT
/* exec_relay.c: exec sessions: a client's stream relayed 1:1 to a guest stream, with the
 * client's JSON request turned into the guest's OPEN arguments. Credit is mirrored
 * (a WINDOW from one side becomes a grant to the other), so sbxd never holds more
 * than one window of a session. */
#include "exec_relay.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>

#include "frame.h"
#include "idle.h"
#include "mux.h"
#include "names.h"
#include "proto.h"
#include "tlv.h"
#include "util.h"

#define EXEC_ARGV_MAX 4096

static bool json_str_list(struct json_object *req, const char *key, size_t min, size_t max, struct json_object **ret)
{
	struct json_object *a;
	size_t n;

	if (!json_object_object_get_ex(req, key, &a))
		return min == 0 ? (*ret = NULL, true) : false;
	if (!json_object_is_type(a, json_type_array))
		return false;
	n = json_object_array_length(a);
	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!json_object_is_type(json_object_array_get_idx(a, i), json_type_string))
			return false;
	*ret = a;
	return true;
}

/* Turn a client's exec request (JSON) into the guest's OPEN arguments (TLV). */
static int exec_args_build(struct json_object *req, uint8_t *buf, size_t cap, size_t *ret_len, char **ret_err)
{
	struct json_object *argv, *env, *v;
	struct tlv_writer w;

	tlv_writer_init(&w, buf, cap);
	tlv_put_str(&w, OPEN_KIND, "exec");
	if (!json_str_list(req, "argv", 1, EXEC_ARGV_MAX, &argv))
		return *ret_err = xstrdup("exec needs a command (1 to 4096 arguments)"), -EINVAL;
	for (size_t i = 0; i < json_object_array_length(argv); i++)
		tlv_put_str(&w, OPEN_ARG, json_object_get_string(json_object_array_get_idx(argv, i)));
	if (!json_str_list(req, "env", 0, 1024, &env))
		return *ret_err = xstrdup("bad environment list"), -EINVAL;
	for (size_t i = 0; env && i < json_object_array_length(env); i++) {
		const char *e = json_object_get_string(json_object_array_get_idx(env, i));
		if (!env_assignment_valid(e))
			return *ret_err = xasprintf("bad environment assignment '%.64s' (want KEY=VALUE)", e), -EINVAL;
		tlv_put_str(&w, OPEN_ENV, e);
	}
	if (json_object_object_get_ex(req, "cwd", &v) && json_object_is_type(v, json_type_string)) {
		const char *cwd = json_object_get_string(v);
		if (cwd[0] != '/' || strlen(cwd) > 4096)
			return *ret_err = xstrdup("the working directory must be an absolute path"), -EINVAL;
		tlv_put_str(&w, OPEN_CWD, cwd);
	}
	if (json_object_object_get_ex(req, "user", &v) && json_object_is_type(v, json_type_string)) {
		const char *u = json_object_get_string(v);
		if (!*u || strlen(u) > 64 || strpbrk(u, ":/\n"))
			return *ret_err = xstrdup("bad user name"), -EINVAL;
		tlv_put_str(&w, OPEN_USER, u);
	}
	if (json_object_object_get_ex(req, "tty", &v) && json_object_is_type(v, json_type_object)) {
		struct json_object *rows, *cols;
		int32_t rr = 24, cc = 80;
		if (json_object_object_get_ex(v, "rows", &rows))
			rr = json_object_get_int(rows);
		if (json_object_object_get_ex(v, "cols", &cols))
			cc = json_object_get_int(cols);
		if (rr < 1 || rr > 4096 || cc < 1 || cc > 4096)
			return *ret_err = xstrdup("bad terminal size"), -EINVAL;
		tlv_put_u32(&w, OPEN_TTY, (uint32_t)rr << 16 | (uint32_t)cc);
	}
	if (w.err)
		return *ret_err = xstrdup("the command and environment are too large (64 KiB at most)"), -E2BIG;
	*ret_len = w.len;
	return 0;
}

void relay_open_guest(struct relay *r)
{
	struct sandbox *sb = r->sb;
	uint8_t *buf = xmalloc(FRAME_MAX_CTRL);
	_cleanup_free_ char *err = NULL;
	uint8_t ready[32];
	struct tlv_writer w;
	size_t len;
	int q;

	q = exec_args_build(r->req, buf, FRAME_MAX_CTRL, &len, &err);
	if (q == 0)
		q = mux_open(sb->chan.mux, buf, len, &r->gid);
	free(buf);
	if (q < 0) {
		r->gid = 0;
		relay_fail(r, err ? err : "cannot open a guest session (too many?)");
		return;
	}
	mux_set_user(sb->chan.mux, r->gid, r);
	json_object_put(r->req);
	r->req = NULL;
	if (r->cli_closed)
		(void)mux_close(sb->chan.mux, r->gid);
	tlv_writer_init(&w, ready, sizeof(ready));
	tlv_put_u32(&w, CTRL_OP, OP_READY);
	if (!sb->spec.ws_sync)
		tlv_put_u32(&w, CTRL_WS_SHARE, 1);
	if (r->cl && r->cl->c.mux)
		(void)mux_send_ctrl(r->cl->c.mux, r->cid, ready, w.len);
}

int relay_check(struct json_object *req, char **ret_err)
{
	uint8_t *buf = xmalloc(FRAME_MAX_CTRL);
	size_t len;
	int q;

	q = exec_args_build(req, buf, FRAME_MAX_CTRL, &len, ret_err);
	free(buf);
	return q;
}

void relay_new(struct client *cl, uint32_t cid, struct sandbox *sb, struct json_object *req)
{
	struct relay *r = xcalloc(1, sizeof(*r));

	r->owner = CHAN_OWNER_EXEC;
	r->sb = sb;
	r->cl = cl;
	r->cid = cid;
	r->req = req;
	r->next = sb->relays;
	sb->relays = r;
	idle_touch(sb, now_ms());
	mux_set_user(cl->c.mux, cid, r);
	if (sb->state == SB_RUNNING)
		relay_open_guest(r);
}

void relay_free(struct relay *r)
{
	struct sandbox *sb = r->sb;

	for (struct relay **pp = &sb->relays; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	if (r->cl && r->cl->c.mux)
		mux_set_user(r->cl->c.mux, r->cid, NULL);
	if (r->gid && sb->chan.mux)
		mux_set_user(sb->chan.mux, r->gid, NULL);
	json_object_put(r->req);
	free(r);
}

/* Tell the client why, end both streams, forget the relay. */
void relay_fail(struct relay *r, const char *msg)
{
	if (r->cl && r->cl->c.mux) {
		uint8_t buf[4200];
		struct tlv_writer w;
		tlv_writer_init(&w, buf, sizeof(buf));
		tlv_put_u32(&w, CTRL_OP, OP_ERROR);
		tlv_put(&w, CTRL_MSG, msg, (uint32_t)MIN(strlen(msg), 4000));
		(void)mux_send_ctrl(r->cl->c.mux, r->cid, buf, w.len);
		(void)mux_reset(r->cl->c.mux, r->cid);
	}
	if (r->gid && r->sb->chan.mux)
		(void)mux_reset(r->sb->chan.mux, r->gid);
	relay_free(r);
}

void relay_client_data(struct relay *r, uint16_t flags, const uint8_t *data, size_t len)
{
	long w;

	if (!r->gid) {
		relay_fail(r, "stdin sent before the session was ready");
		return;
	}
	w = mux_write(r->sb->chan.mux, r->gid, 0, data, len);
	if (w != (long)len)
		relay_fail(r, "flow control broken between client and guest");
}

void relay_client_ctrl(struct relay *r, const uint8_t *data, size_t len)
{
	struct tlv_reader rd;
	uint16_t tag;
	const uint8_t *v;
	uint32_t vlen, op = 0;

	/* Only resize and signal may travel from a client to the guest. */
	tlv_reader_init(&rd, data, len);
	while (tlv_next(&rd, &tag, &v, &vlen) > 0)
		if (tag == CTRL_OP)
			(void)tlv_u32(v, vlen, &op);
	if (r->gid && (op == OP_RESIZE || op == OP_SIGNAL))
		(void)mux_send_ctrl(r->sb->chan.mux, r->gid, data, len);
}

void relay_client_window(struct relay *r, uint32_t credit)
{
	if (r->gid)
		(void)mux_grant(r->sb->chan.mux, r->gid, credit);
}

void relay_client_close(struct relay *r)
{
	r->cli_closed = true;
	if (r->gid)
		(void)mux_close(r->sb->chan.mux, r->gid);
	if (r->guest_closed)
		relay_free(r);
}

void relay_client_gone(struct relay *r)
{
	if (r->gid && r->sb->chan.mux)
		(void)mux_reset(r->sb->chan.mux, r->gid);
	r->cl = NULL;
	relay_free(r);
}

void relays_detach_client(struct sbxd *d, struct client *cl)
{
	for (struct sandbox *sb = d->sandboxes; sb; sb = sb->next) {
		struct relay *r = sb->relays;
		while (r) {
			struct relay *next = r->next;
			if (r->cl == cl)
				relay_client_gone(r);
			r = next;
		}
	}
}
