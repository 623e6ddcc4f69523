// SPDX-License-Identifier: MIT
/* cmd_common.c: what several commands share: usage errors, reaching sbxd, requests. */
#include "cmd.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sbxd_conn.h"
#include "progress.h"
#include "util.h"

void cmd_usage_error(const char *cmd, const char *msg)
{
	fprintf(stderr, "sbx %s: %s\nRun 'sbx %s --help' for usage.\n", cmd, msg, cmd);
}

struct sbxd_conn *cmd_connect(struct sbx_paths *p)
{
	struct sbxd_conn *c = NULL;
	int r = sbxd_connect(p, true, &c);

	if (r < 0) {
		fprintf(stderr, "sbx: cannot reach the sbx daemon (%s); see %s/sbxd.log\n", strerror(-r), p->state);
		return NULL;
	}
	/* answered while the command's own request is under way: no round trip of its own */
	(void)sbxd_ask_stale(c);
	return c;
}

static struct json_object *jstr_array(char **v, int n)
{
	struct json_object *a = json_object_new_array();
	for (int i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

struct json_object *cmd_exec_request(const char *name, char **argv, int argc, char **env, int nenv,
				     const char *cwd, const char *user, bool tty)
{
	struct json_object *req = json_object_new_object();

	json_object_object_add(req, "name", json_object_new_string(name));
	json_object_object_add(req, "argv", jstr_array(argv, argc));
	if (tty) {
		const char *term = getenv("TERM");
		struct json_object *t = json_object_new_object();
		struct json_object *e = jstr_array(env, nenv);
		json_object_object_add(t, "rows", json_object_new_int(24));
		json_object_object_add(t, "cols", json_object_new_int(80));
		json_object_object_add(req, "tty", t);
		if (term && *term && strlen(term) < 64 && !strpbrk(term, "\n=")) {
			_cleanup_free_ char *te = xasprintf("TERM=%s", term);
			json_object_array_add(e, json_object_new_string(te));
		}
		json_object_object_add(req, "env", e);
	} else if (nenv > 0) {
		json_object_object_add(req, "env", jstr_array(env, nenv));
	}
	if (cwd)
		json_object_object_add(req, "cwd", json_object_new_string(cwd));
	if (user)
		json_object_object_add(req, "user", json_object_new_string(user));
	return req;
}

struct json_object *cmd_request(const char *op, const char *name)
{
	struct json_object *req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string(op));
	if (name)
		json_object_object_add(req, "name", json_object_new_string(name));
	return req;
}

const char *cmd_json_str(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

void cmd_sub_first(int argc, char **argv, const char *const *with_value)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool takes = false;

		if (!strcmp(a, "--"))
			return;
		if (a[0] != '-' || !a[1]) {
			/* rotate it to argv[1], the options before it after it, in order */
			char *sub = argv[i];
			memmove(argv + 2, argv + 1, (size_t)(i - 1) * sizeof(char *));
			argv[1] = sub;
			return;
		}
		for (const char *const *w = with_value; w && *w; w++)
			takes |= !strcmp(a, *w);
		if (takes)
			i++;
	}
}

int cmd_global_options(int argc, char **argv)
{
	int i = 1;

	for (; i < argc; i++) {
		if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
			cmd_quiet_set();
		else
			break;
	}
	return i - 1;
}

void cmd_quiet_set(void)
{
	progress_init(true);
	if (!getenv("SBX_DEBUG"))
		log_setup("sbx", LOG_ERR, false);
}

void cmd_note(const char *fmt, ...)
{
	va_list ap;

	if (progress_quiet())
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}
