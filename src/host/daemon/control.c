// SPDX-License-Identifier: MIT
/* control.c: sbxd's control socket: its clients' connections, their JSON requests
 * (create, start, stop, rm, ls, status, shutdown), the credential message that
 * precedes a create, and exec streams handed to the sandbox (sandbox_exec). */
#include "control.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json_get.h"
#include "mux.h"
#include "names.h"
#include "proto.h"
#include "exec_relay.h"
#include "ports.h"
#include "pool.h"
#include "sandbox.h"
#include "secrets.h"
#include "tlv.h"
#include "util.h"
#include "wsync_host.h"
#include "version.h"

#define CLIENTS_MAX 256

static void client_reply(struct client *cl, struct json_object *resp)   /* takes resp */
{
	const char *txt = json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN);

	if (cl->c.mux && mux_send_ctrl(cl->c.mux, 0, txt, strlen(txt)) < 0)
		cl->dead = true;
	json_object_put(resp);
	cl->wait = WAIT_NONE;
	cl->wait_sb = NULL;
}

static void __attribute__((format(printf, 2, 3))) client_reply_error(struct client *cl, const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	client_reply(cl, o);
}

static struct json_object *ok_obj(void)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	return o;
}

static bool req_bool(struct json_object *req, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(req, key, &v) && json_object_is_type(v, json_type_boolean) &&
	       json_object_get_boolean(v);
}

/* A sandbox's published ports: canonical texts, or (full) objects with their state. */
static struct json_object *ports_json(struct sandbox *sb, bool full)
{
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; i < sb->spec.n_ports; i++) {
		const struct portspec *ps = &sb->spec.ports[i];
		char t[PORTSPEC_TEXT_MAX], h[PORTSPEC_TEXT_MAX];
		const char *why = NULL;
		struct json_object *o;
		bool on;

		portspec_format(ps, t, sizeof(t));
		if (!full) {
			json_object_array_add(arr, json_object_new_string(t));
			continue;
		}
		portspec_format_host(ps, h, sizeof(h));
		on = ports_listening(sb, ps, &why);
		o = json_object_new_object();
		json_object_object_add(o, "spec", json_object_new_string(t));
		json_object_object_add(o, "host", json_object_new_string(h));
		json_object_object_add(o, "host_port", json_object_new_int(ps->host_port));
		json_object_object_add(o, "guest_port", json_object_new_int(ps->guest_port));
		json_object_object_add(o, "listening", json_object_new_boolean(on));
		if (!on)
			json_object_object_add(o, "reason", json_object_new_string(why));
		json_object_array_add(arr, o);
	}
	return arr;
}

/* The same --local directories, in any order. */
static bool local_same(char **a, char **b)
{
	size_t na = 0, nb = 0;

	for (char **x = a; x && *x; x++, na++) {
		bool found = false;
		for (char **y = b; y && *y && !found; y++)
			found = !strcmp(*x, *y);
		if (!found)
			return false;
	}
	for (char **y = b; y && *y; y++)
		nb++;
	return na == nb;
}

static struct json_object *sandbox_json(struct sandbox *sb)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(sb->spec.name));
	json_object_object_add(o, "agent", json_object_new_string(sb->spec.agent));
	json_object_object_add(o, "status", json_object_new_string(sandbox_state_name(sb->state)));
	json_object_object_add(o, "workspace", json_object_new_string(sb->spec.workspace));
	json_object_object_add(o, "workspace_mode", json_object_new_string(spec_ws_mode_name(&sb->spec)));
	if (sb->spec.branch) {
		json_object_object_add(o, "branch", json_object_new_string(sb->spec.branch));
		json_object_object_add(o, "repo", json_object_new_string(sb->spec.repo));
	}
	if (sb->spec.local && *sb->spec.local)
		json_object_object_add(o, "local", spec_local_json(&sb->spec));
	json_object_object_add(o, "template", json_object_new_string(sb->spec.template_name));
	json_object_object_add(o, "cpus", json_object_new_int(sb->spec.cpus));
	json_object_object_add(o, "memory_mib", json_object_new_int(sb->spec.memory_mib));
	json_object_object_add(o, "created", json_object_new_int64(sb->spec.created));
	if (sb->spec.stopped)
		json_object_object_add(o, "stopped", json_object_new_int64(sb->spec.stopped));
	if (sb->state == SB_RUNNING || sb->state == SB_STARTING)
		json_object_object_add(o, "pid", json_object_new_int(sb->procs.qemu_pid));
	if (sb->state == SB_RUNNING || sb->state == SB_STARTING) {
		struct cg_stat st;
		struct json_object *cg = NULL;

		/* what its VMMs use, and may use (cgroup.h); null: it runs without a cgroup */
		if (cgroup_stat(&sb->cg, sb->procs.qemu_pid, &st) == 0) {
			cg = json_object_new_object();
			json_object_object_add(cg, "version", json_object_new_int(sb->cg.version));
			json_object_object_add(cg, "memory_bytes", json_object_new_int64((int64_t)st.memory_bytes));
			json_object_object_add(cg, "memory_max", json_object_new_int64((int64_t)sb->cg.memory_max));
			json_object_object_add(cg, "cpu_usec", json_object_new_int64((int64_t)st.cpu_usec));
			json_object_object_add(cg, "oom_kills", json_object_new_int64((int64_t)st.oom_kills));
		}
		json_object_object_add(o, "cgroup", cg);
	}
	if (sb->error)
		json_object_object_add(o, "last_error", json_object_new_string(sb->error));
	json_object_object_add(o, "ports", ports_json(sb, false));
	return o;
}

static struct sandbox *named_sandbox(struct client *cl, struct json_object *req)
{
	const char *name = json_get_str(req, "name");
	struct sandbox *sb;

	if (!name || !name_valid(name)) {
		client_reply_error(cl, "invalid sandbox name");
		return NULL;
	}
	sb = sandbox_find(cl->d, name);
	if (!sb && sandbox_broken(cl->d, name))
		client_reply_error(cl, "%s", sandbox_broken(cl->d, name));
	else if (!sb)
		client_reply_error(cl, "no sandbox named '%s' (see 'sbx ls')", name);
	return sb;
}

static void take_cred_env(struct client *cl, struct sandbox *sb, struct json_object *req)
{
	sandbox_take_cred_env(sb, req, cl->have_cred_env, &cl->cred_env);
	cl->have_cred_env = false;
}

static void req_create(struct client *cl, struct json_object *req)
{
	struct json_object *spec_o, *resp;
	struct spec spec = { 0 };
	struct sandbox *sb;
	const char *err = NULL;

	if (!json_object_object_get_ex(req, "spec", &spec_o) || spec_from_json(spec_o, &spec, &err) < 0) {
		client_reply_error(cl, "bad create request: %s", err ? err : "no spec");
		return;
	}
	if (sandbox_broken(cl->d, spec.name)) {
		client_reply_error(cl, "%s", sandbox_broken(cl->d, spec.name));
		spec_free(&spec);
		return;
	}
	sb = sandbox_find(cl->d, spec.name);
	if (sb) {
		if (strcmp(sb->spec.workspace, spec.workspace) || strcmp(sb->spec.agent, spec.agent)) {
			client_reply_error(cl, "sandbox '%s' already exists for %s agent '%s' (remove it with 'sbx rm %s' or pick another --name)",
					   spec.name, sb->spec.workspace, sb->spec.agent, spec.name);
		} else {
			_cleanup_free_ char *perr = NULL;
			if (spec.local && *spec.local && !local_same(spec.local, sb->spec.local)) {
				client_reply_error(cl, "sandbox '%s' exists with other --local directories; they are "
						   "set when a sandbox is created (sbx rm %s, then run it again)",
						   spec.name, spec.name);
				spec_free(&spec);
				return;
			}
			/* `sbx run -p` on a sandbox that exists: publish what it adds */
			if (spec.n_ports && ports_update(sb, spec.ports, spec.n_ports, NULL, 0, &perr) < 0) {
				client_reply_error(cl, "sandbox '%s': %s", spec.name, perr);
				spec_free(&spec);
				return;
			}
			take_cred_env(cl, sb, req);
			resp = ok_obj();
			json_object_object_add(resp, "existed", json_object_new_boolean(1));
			json_object_object_add(resp, "sandbox", sandbox_json(sb));
			client_reply(cl, resp);
		}
		spec_free(&spec);
		return;
	}
	{
		_cleanup_free_ char *cerr = NULL;
		if (ports_check_free(NULL, spec.ports, spec.n_ports, &cerr) < 0) {
			client_reply_error(cl, "cannot create sandbox '%s': %s", spec.name, cerr);
			spec_free(&spec);
			return;
		}
		if (sandbox_create(cl->d, &spec, &cerr, &sb) < 0) {
			client_reply_error(cl, "cannot create sandbox '%s': %s", spec.name, cerr);
			spec_free(&spec);
			return;
		}
	}
	take_cred_env(cl, sb, req);
	sandbox_claim_configure(sb);   /* a claimed pool VM: configured with this caller's credentials */
	resp = ok_obj();
	json_object_object_add(resp, "existed", json_object_new_boolean(0));
	json_object_object_add(resp, "sandbox", sandbox_json(sb));
	client_reply(cl, resp);
}

void control_notify(struct sbxd *d, struct sandbox *sb)
{
	for (struct client *cl = d->clients; cl; cl = cl->next) {
		if (cl->wait_sb != sb || cl->dead)
			continue;
		if (cl->wait == WAIT_START && sb->state == SB_RUNNING) {
			struct json_object *resp = ok_obj();
			json_object_object_add(resp, "sandbox", sandbox_json(sb));
			client_reply(cl, resp);
		} else if (cl->wait == WAIT_START && sb->state == SB_STOPPED) {
			client_reply_error(cl, "sandbox '%s' failed to start: %s", sb->spec.name,
					   sb->error ? sb->error : "the VM stopped");
		} else if (cl->wait == WAIT_STOP && sb->state == SB_STOPPED) {
			client_reply(cl, ok_obj());
		} else if (cl->wait == WAIT_SYNC) {
			int a = wsync_host_answered(sb, cl->wait_seq);

			if (a > 0) {
				struct json_object *resp = ok_obj();
				json_object_object_add(resp, "mode", json_object_new_string("sync"));
				json_object_object_add(resp, "running", json_object_new_boolean(1));
				json_object_object_add(resp, "sync", wsync_host_json(sb));
				client_reply(cl, resp);
			} else if (a == -ETIMEDOUT) {
				client_reply_error(cl, "sandbox '%s': the workspace sync did not finish in time (see 'sbx sync status %s')",
						   sb->spec.name, sb->spec.name);
			} else if (a < 0) {
				client_reply_error(cl, "sandbox '%s' stopped before the workspace sync answered", sb->spec.name);
			}
		}
	}
}

static void req_start(struct client *cl, struct json_object *req)
{
	struct sandbox *sb = named_sandbox(cl, req);
	_cleanup_free_ char *err = NULL;

	if (!sb)
		return;
	if (sb->state == SB_RUNNING) {
		struct json_object *resp = ok_obj();
		json_object_object_add(resp, "sandbox", sandbox_json(sb));
		client_reply(cl, resp);
		return;
	}
	if (sandbox_start(sb, &err) < 0) {
		client_reply_error(cl, "cannot start sandbox '%s': %s", sb->spec.name, err ? err : "unknown error");
		return;
	}
	cl->wait = WAIT_START;
	cl->wait_sb = sb;
	control_notify(cl->d, sb);
}

static void req_stop(struct client *cl, struct json_object *req)
{
	struct sandbox *sb = named_sandbox(cl, req);

	if (!sb)
		return;
	if (sb->state == SB_STOPPED) {
		client_reply(cl, ok_obj());
		return;
	}
	sandbox_stop(sb);
	cl->wait = WAIT_STOP;
	cl->wait_sb = sb;
	control_notify(cl->d, sb);
}

/* {"op":"sync","name":N,"flush":bool,"timeout_ms":n}: the engine's state, once every
 * guest change made before reached the host when flush (docs/workspace-sync.md). */
static void req_sync(struct client *cl, struct json_object *req)
{
	struct sandbox *sb = named_sandbox(cl, req);
	struct json_object *resp, *t;
	int64_t timeout = 0;
	int seq;

	if (!sb)
		return;
	if (json_object_object_get_ex(req, "timeout_ms", &t))
		timeout = json_object_get_int64(t);
	if (!sb->spec.ws_sync || sb->state != SB_RUNNING || !sb->ws) {
		resp = ok_obj();
		json_object_object_add(resp, "mode", json_object_new_string(spec_ws_mode_name(&sb->spec)));
		json_object_object_add(resp, "running", json_object_new_boolean(sb->state == SB_RUNNING));
		client_reply(cl, resp);
		return;
	}
	seq = wsync_host_request(sb, req_bool(req, "flush"), timeout > 0 && timeout < 24 * 3600 * 1000 ? (uint32_t)timeout : 0);
	if (seq < 0) {
		client_reply_error(cl, "sandbox '%s': cannot reach the workspace sync engine: %s", sb->spec.name, strerror(-seq));
		return;
	}
	cl->wait = WAIT_SYNC;
	cl->wait_sb = sb;
	cl->wait_seq = (uint32_t)seq;
}

static void req_rm(struct client *cl, struct json_object *req)
{
	struct sandbox *sb = named_sandbox(cl, req);
	_cleanup_free_ char *err = NULL;

	if (!sb)
		return;
	if (sandbox_remove(sb, req_bool(req, "force"), &err) < 0) {
		client_reply_error(cl, "%s", err ? err : "cannot remove sandbox");
		return;
	}
	client_reply(cl, ok_obj());
}

/* A list of port texts in req[key]: at most PORTSPEC_MAX; a bare HOSTPORT when
 * bare_ok (family 0). false after replying with the error. */
static bool req_port_list(struct client *cl, struct json_object *req, const char *key, bool bare_ok,
			  struct portspec *ret, size_t *ret_n)
{
	struct json_object *a;
	size_t n;

	*ret_n = 0;
	if (!json_object_object_get_ex(req, key, &a))
		return true;
	if (!json_object_is_type(a, json_type_array) || (n = json_object_array_length(a)) > PORTSPEC_MAX) {
		client_reply_error(cl, "bad %s list", key);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		const char *t = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : "";
		const char *err = "not a string";

		if (bare_ok ? portspec_parse_unpublish(t, &ret[i], &err) < 0 : portspec_parse(t, &ret[i], &err) < 0) {
			client_reply_error(cl, "'%.80s': %s", t, err);
			return false;
		}
	}
	*ret_n = n;
	return true;
}

/* List, publish and unpublish a sandbox's ports. */
static void req_ports(struct client *cl, struct json_object *req)
{
	struct sandbox *sb = named_sandbox(cl, req);
	struct portspec add[PORTSPEC_MAX], del[PORTSPEC_MAX];
	size_t nadd, ndel;
	struct json_object *resp;

	if (!sb || !req_port_list(cl, req, "publish", false, add, &nadd) ||
	    !req_port_list(cl, req, "unpublish", true, del, &ndel))
		return;
	if (nadd || ndel) {
		_cleanup_free_ char *err = NULL;
		if (ports_update(sb, add, nadd, del, ndel, &err) < 0) {
			client_reply_error(cl, "%s", err);
			return;
		}
	}
	resp = ok_obj();
	json_object_object_add(resp, "status", json_object_new_string(sandbox_state_name(sb->state)));
	json_object_object_add(resp, "ports", ports_json(sb, true));
	client_reply(cl, resp);
}

static void req_ls(struct client *cl)
{
	struct json_object *resp = ok_obj();
	struct json_object *arr = json_object_new_array();

	for (struct sandbox *sb = cl->d->sandboxes; sb; sb = sb->next)
		if (!sb->dead)
			json_object_array_add(arr, sandbox_json(sb));
	for (struct broken_sandbox *b = cl->d->broken; b; b = b->next) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(b->name));
		json_object_object_add(o, "status", json_object_new_string("broken"));
		json_object_object_add(o, "error", json_object_new_string(b->error));
		json_object_array_add(arr, o);
	}
	json_object_object_add(resp, "sandboxes", arr);
	json_object_object_add(resp, "pool", pool_json(cl->d));
	client_reply(cl, resp);
}

static void req_status(struct client *cl)
{
	struct json_object *resp = ok_obj();

	json_object_object_add(resp, "pid", json_object_new_int(getpid()));
	json_object_object_add(resp, "version", json_object_new_string(SBX_VERSION));
	json_object_object_add(resp, "accel", json_object_new_string(cl->d->accel == ACCEL_KVM ? "kvm" : "tcg"));
	json_object_object_add(resp, "accel_reason", json_object_new_string(cl->d->accel_reason ? cl->d->accel_reason : ""));
	{
		/* A rebuilt or reinstalled sbx: this daemon still runs the old code. */
		struct stat st;
		bool stale = stat(cl->d->p->self_exe, &st) == 0 &&
			     (st.st_dev != cl->d->exe_dev || st.st_ino != cl->d->exe_ino);
		json_object_object_add(resp, "stale", json_object_new_boolean(stale));
	}
	client_reply(cl, resp);
}

/* OP_CRED_ENV: at most 64 "K=V" of bounded length, kept for the next "create". A
 * malformed message ends the connection. The payload is zeroed in place once copied. */
static void client_on_cred_env(struct client *cl, const uint8_t *data, size_t len)
{
	struct tlv_reader rd;
	uint16_t tag;
	const uint8_t *v;
	uint32_t vlen, op = 0;
	char **env = xcalloc(65, sizeof(char *));
	size_t n = 0;
	bool ok = true;
	int r = 0;

	tlv_reader_init(&rd, data, len);
	while (ok && (r = tlv_next(&rd, &tag, &v, &vlen)) > 0) {
		if (tag == CTRL_OP)
			ok = tlv_u32(v, vlen, &op) == 0 && op == OP_CRED_ENV;
		else if (tag == CTRL_ENV)
			ok = op == OP_CRED_ENV && n < 64 && vlen <= SECRET_VALUE_MAX + 64 && memchr(v, '=', vlen) &&
			     tlv_str(v, vlen, &env[n++]) == 0;
	}
	ok = ok && r == 0 && op == OP_CRED_ENV;
	explicit_bzero((void *)data, len);   /* our receive buffer: nothing reads it again */
	if (!ok) {
		secrets_env_free(env);
		log_warn("client: malformed credential message");
		cl->dead = true;
		return;
	}
	secrets_env_free(cl->cred_env);
	cl->cred_env = env;
	cl->have_cred_env = true;
}

static void client_on_request(struct client *cl, const uint8_t *data, size_t len)
{
	struct json_tokener *tok;
	struct json_object *req;
	const char *op;

	if (cl->wait != WAIT_NONE) {
		/* One request at a time: a second one while waiting is a client bug. */
		cl->dead = true;
		return;
	}
	if (len && data[0] != '{') {
		client_on_cred_env(cl, data, len);
		return;
	}
	tok = json_tokener_new_ex(16);
	req = json_tokener_parse_ex(tok, (const char *)data, (int)len);
	if (!req || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(req, json_type_object) || !(op = json_get_str(req, "op"))) {
		json_tokener_free(tok);
		json_object_put(req);
		client_reply_error(cl, "malformed request");
		return;
	}
	json_tokener_free(tok);
	if (!strcmp(op, "status"))
		req_status(cl);
	else if (!strcmp(op, "ls"))
		req_ls(cl);
	else if (!strcmp(op, "create"))
		req_create(cl, req);
	else if (!strcmp(op, "start"))
		req_start(cl, req);
	else if (!strcmp(op, "stop"))
		req_stop(cl, req);
	else if (!strcmp(op, "rm"))
		req_rm(cl, req);
	else if (!strcmp(op, "ports"))
		req_ports(cl, req);
	else if (!strcmp(op, "sync"))
		req_sync(cl, req);
	else if (!strcmp(op, "shutdown")) {
		client_reply(cl, ok_obj());
		cl->d->quit = true;
	} else
		client_reply_error(cl, "unknown request '%s'", op);
	json_object_put(req);
}

/* Client mux callbacks. Client streams are exec sessions (OPEN args = JSON). */
static int cl_on_open(void *ctx, uint32_t id, const uint8_t *args, size_t len)
{
	struct client *cl = ctx;
	struct json_tokener *tok = json_tokener_new_ex(16);
	struct json_object *req = json_tokener_parse_ex(tok, (const char *)args, (int)len);
	const char *name;
	struct sandbox *sb;
	_cleanup_free_ char *err = NULL;
	int r;

	if (!req || json_tokener_get_error(tok) != json_tokener_success || !json_object_is_type(req, json_type_object)) {
		json_tokener_free(tok);
		json_object_put(req);
		return -EINVAL;
	}
	json_tokener_free(tok);
	name = json_get_str(req, "name");
	sb = name && name_valid(name) ? sandbox_find(cl->d, name) : NULL;
	if (!sb || sb->dead) {
		/* Accept, explain, then reset: a bare RESET would carry no reason. */
		const char *why = name && name_valid(name) ? sandbox_broken(cl->d, name) : NULL;
		err = why ? xstrdup(why) : xasprintf("no sandbox named '%s' (see 'sbx ls')", name ? name : "");
		r = -ENOENT;
	} else {
		r = sandbox_exec(cl, id, sb, req, &err);
		req = NULL; /* taken by sandbox_exec, even on failure */
	}
	json_object_put(req);
	if (r < 0) {
		uint8_t buf[4200];
		struct tlv_writer w;
		tlv_writer_init(&w, buf, sizeof(buf));
		tlv_put_u32(&w, CTRL_OP, OP_ERROR);
		tlv_put(&w, CTRL_MSG, err ? err : "exec failed", (uint32_t)MIN(strlen(err ? err : "exec failed"), 4000));
		mux_set_user(cl->c.mux, id, NULL);
		(void)mux_send_ctrl(cl->c.mux, id, buf, w.len);
		(void)mux_reset(cl->c.mux, id);
	}
	return 0;
}

static void cl_on_data(void *ctx, uint32_t id, uint16_t flags, const uint8_t *data, size_t len)
{
	struct client *cl = ctx;
	struct relay *r = mux_get_user(cl->c.mux, id);

	if (r)
		relay_client_data(r, flags, data, len);
}

static void cl_on_ctrl(void *ctx, uint32_t id, const uint8_t *data, size_t len)
{
	struct client *cl = ctx;
	struct relay *r;

	if (id == 0) {
		client_on_request(cl, data, len);
		return;
	}
	r = mux_get_user(cl->c.mux, id);
	if (r)
		relay_client_ctrl(r, data, len);
}

static void cl_on_window(void *ctx, uint32_t id, uint32_t credit)
{
	struct client *cl = ctx;
	struct relay *r = mux_get_user(cl->c.mux, id);

	if (r)
		relay_client_window(r, credit);
}

static void cl_on_close(void *ctx, uint32_t id)
{
	struct client *cl = ctx;
	struct relay *r = mux_get_user(cl->c.mux, id);

	if (r)
		relay_client_close(r);
}

static void cl_on_reset(void *ctx, uint32_t id)
{
	struct client *cl = ctx;
	struct relay *r = mux_get_user(cl->c.mux, id);

	if (r)
		relay_client_gone(r);
}

static void cl_on_hello(void *ctx, const uint8_t *data, size_t len)
{
}

static const struct mux_ops client_ops = {
	.on_open = cl_on_open,
	.on_data = cl_on_data,
	.on_ctrl = cl_on_ctrl,
	.on_window = cl_on_window,
	.on_close = cl_on_close,
	.on_reset = cl_on_reset,
	.on_hello = cl_on_hello,
};

void control_accept(struct sbxd *d)
{
	size_t n = 0;

	for (struct client *c = d->clients; c; c = c->next)
		n++;
	for (int i = 0; i < EV_LISTEN_BATCH; i++) {
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		struct client *cl;
		int fd, r = ev_listen_accept(d->epfd, &d->listen, &fd);

		if (r == -EAGAIN)
			return;
		if (r < 0)
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
			log_warn("refused a client: cannot read its credentials: %m");
			close(fd);
			continue;
		}
		if (cred.uid != getuid() || n >= CLIENTS_MAX) {
			if (cred.uid != getuid())
				log_warn("refused a client (uid %u, pid %d): sbxd serves uid %u only", (unsigned)cred.uid,
					 (int)cred.pid, (unsigned)getuid());
			else
				log_warn("refused a client: %u clients already connected", (unsigned)CLIENTS_MAX);
			close(fd);
			continue;
		}
		cl = xcalloc(1, sizeof(*cl));
		cl->d = d;
		cl->c.ev = (struct evsrc){ .kind = EV_CLIENT, .fd = fd, .obj = cl };
		cl->c.mux = mux_new(true, &client_ops, cl);
		if (!cl->c.mux || ev_set(d->epfd, &cl->c.ev, EPOLLIN) < 0) {
			conn_close(d->epfd, &cl->c);
			free(cl);
			continue;
		}
		cl->next = d->clients;
		d->clients = cl;
		n++;
	}
}

void control_read(struct client *cl, bool hup)
{
	size_t got = 0;

	while (got < CONN_READ_BUDGET && (hup || conn_want_read(&cl->c))) {
		size_t avail;
		uint8_t *buf = mux_rx_buf(cl->c.mux, &avail);
		ssize_t n = recv(cl->c.ev.fd, buf, MIN(avail, (size_t)CONN_READ_CHUNK), MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				cl->dead = true;
			return;
		}
		if (n == 0) {
			cl->dead = true;
			return;
		}
		got += (size_t)n;
		if (mux_rx_done(cl->c.mux, (size_t)n) < 0) {
			log_warn("client broke the protocol; disconnecting it");
			cl->dead = true;
			return;
		}
		if (cl->dead)
			return;
	}
}

void control_free(struct sbxd *d, struct client *cl)
{
	/* Detach relays first: their guest streams get reset. */
	relays_detach_client(d, cl);
	conn_close(d->epfd, &cl->c);
	secrets_env_free(cl->cred_env);
	free(cl);
}

void control_sandbox_removed(struct sbxd *d, struct sandbox *sb)
{
	for (struct client *cl = d->clients; cl; cl = cl->next)
		if (cl->wait_sb == sb)
			client_reply_error(cl, "sandbox was removed");
}
