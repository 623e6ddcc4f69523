// SPDX-License-Identifier: MIT
/* cmd_sync.c: `sbx sync status|flush NAME`: a sync-mode workspace's state, and the wait
 * until every guest change reached the host (docs/workspace-sync.md); and that wait for
 * exec, stop and rm (cmd_sync_barrier). */
#include "cmd.h"
#include "cmd_doc.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sbxd_conn.h"
#include "textesc.h"
#include "util.h"

#define SYNC_TIMEOUT_S_DEFAULT 60
#define BARRIER_TIMEOUT_S 300   /* exec, cp, run, stop, rm: a large tree's first copy takes a while */

static int64_t jint(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

/* 0: done (or nothing to do: share mode, not running); -1 after printing why. */
static int sync_request(struct sbxd_conn *c, const char *cmd, const char *name, bool flush, long timeout_s,
			struct json_object **ret_resp)
{
	struct json_object *req = cmd_request("sync", name), *resp = NULL, *ok, *err;
	int r;

	json_object_object_add(req, "flush", json_object_new_boolean(flush));
	json_object_object_add(req, "timeout_ms", json_object_new_int64((int64_t)timeout_s * 1000));
	r = sbxd_request(c, req, &resp);
	if (r < 0) {
		fprintf(stderr, "sbx %s: lost the connection to sbxd: %s\n", cmd, strerror(-r));
		return -1;
	}
	if (!json_object_object_get_ex(resp, "ok", &ok) || !json_object_get_boolean(ok)) {
		const char *e = json_object_object_get_ex(resp, "error", &err) ? json_object_get_string(err) : "failed";
		_cleanup_free_ char *esc = text_escape(e, strlen(e), 0);
		fprintf(stderr, "sbx %s: %s\n", cmd, esc);
		json_object_put(resp);
		return -1;
	}
	if (ret_resp)
		*ret_resp = resp;
	else
		json_object_put(resp);
	return 0;
}

int cmd_sync_barrier(struct sbxd_conn *c, const char *cmd, const char *name)
{
	return sync_request(c, cmd, name, true, BARRIER_TIMEOUT_S, NULL);
}

static void status_print(const char *name, struct json_object *resp)
{
	struct json_object *s, *recent;
	const char *mode = cmd_json_str(resp, "mode");
	struct json_object *run;
	bool running = json_object_object_get_ex(resp, "running", &run) && json_object_get_boolean(run);

	printf("sandbox:    %s\nmode:       %s\n", name, mode);
	if (strcmp(mode, "sync") || !running || !json_object_object_get_ex(resp, "sync", &s)) {
		printf("engine:     %s\n", strcmp(mode, "sync") ? "none (the workspace is the share itself)" : "not running");
		return;
	}
	printf("pending:    %lld\nconflicts:  %lld\nnot synced: %lld\n", (long long)jint(s, "pending"),
	       (long long)jint(s, "conflicts"), (long long)jint(s, "errors"));
	{
		time_t t = (time_t)jint(s, "last_sync");
		char when[32] = "never";
		struct tm tm;
		if (t && gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		printf("last sync:  %s\n", when);
	}
	if (json_object_object_get_ex(s, "recent", &recent) && json_object_array_length(recent)) {
		printf("recent:\n");
		for (size_t i = 0; i < json_object_array_length(recent); i++) {
			const char *t = json_object_get_string(json_object_array_get_idx(recent, i));
			_cleanup_free_ char *esc = text_escape(t, strlen(t), 0);
			printf("  %s\n", esc);
		}
	}
}

int cmd_sync(struct sbx_paths *p, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char *const with_value[] = { "--timeout", NULL };
	bool json = false;
	long timeout = SYNC_TIMEOUT_S_DEFAULT;
	struct sbxd_conn *c;
	struct json_object *resp = NULL;
	const char *sub, *name;
	int opt, rc;

	cmd_sub_first(argc, argv, with_value);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 't': {
			char *end;
			timeout = strtol(optarg, &end, 10);
			if (*end || timeout < 1 || timeout > 86400)
				return cmd_usage_error("sync", "--timeout wants seconds from 1 to 86400"), 2;
			break;
		}
		case 'h': return cmd_help_print(stdout, "sync"), 0;
		default: return 2;
		}
	}
	if (argc - optind != 2)
		return cmd_usage_error("sync", "want status|flush NAME"), 2;
	sub = argv[optind];
	name = argv[optind + 1];
	if (strcmp(sub, "status") && strcmp(sub, "flush"))
		return cmd_usage_error("sync", "unknown subcommand (want status or flush)"), 2;
	c = cmd_connect(p);
	if (!c)
		return 1;
	rc = sync_request(c, "sync", name, !strcmp(sub, "flush"), timeout, &resp) < 0 ? 1 : 0;
	if (rc == 0 && json)
		printf("%s\n", json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PRETTY));
	else if (rc == 0)
		status_print(name, resp);
	json_object_put(resp);
	sbxd_conn_free(c);
	return rc;
}
