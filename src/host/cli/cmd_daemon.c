// SPDX-License-Identifier: MIT
/* cmd_daemon.c: `sbx daemon start|stop|status`, and `sbx daemon run`, which is sbxd. */
#include "cmd.h"
#include "cmd_doc.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"
#include "sbxd_conn.h"
#include "daemon.h"
#include "util.h"

#define DAEMON_STOP_WAIT_MS 30000

/* The pid in sbxd's pid file; 0 when there is none or it is not a pid. */
static pid_t daemon_pid(const char *pidfile)
{
	_cleanup_free_ char *text = NULL;
	char *end = NULL;
	long v;

	if (file_read_all(pidfile, 32, &text, NULL) < 0)
		return 0;
	v = strtol(text, &end, 10);
	return v > 0 && v < INT32_MAX && end != text && (*end == '\n' || !*end) ? (pid_t)v : 0;
}

int cmd_daemon_status(struct sbx_paths *p, bool quiet)
{
	struct sbxd_conn *c;
	struct json_object *req, *resp, *v;

	if (sbxd_connect(p, false, &c) < 0) {
		if (!quiet)
			printf("sbxd is not running\n");
		return 3;
	}
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("status"));
	if (sbxd_call(c, req, &resp) < 0) {
		sbxd_conn_free(c);
		return 1;
	}
	if (!quiet) {
		printf("sbxd is running");
		if (json_object_object_get_ex(resp, "pid", &v))
			printf(" (pid %d", json_object_get_int(v));
		if (json_object_object_get_ex(resp, "accel", &v))
			printf(", %s)", json_object_get_string(v));
		if (json_object_object_get_ex(resp, "stale", &v) && json_object_get_boolean(v))
			printf(" from an older sbx build: 'sbx daemon stop' restarts it");
		printf("\n");
	}
	json_object_put(resp);
	sbxd_conn_free(c);
	return 0;
}

int cmd_daemon(struct sbx_paths *p, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			sub = "--help";

	if (!strcmp(sub, "run"))
		return daemon_main(p, true);
	if (!strcmp(sub, "start")) {
		struct sbxd_conn *c;
		int r = sbxd_connect(p, true, &c);
		if (r < 0) {
			fprintf(stderr, "sbx: cannot start the daemon: %s (see %s/sbxd.log)\n", strerror(-r), p->state);
			return 1;
		}
		sbxd_conn_free(c);
		return cmd_daemon_status(p, false);
	}
	if (!strcmp(sub, "stop")) {
		struct sbxd_conn *c;
		struct json_object *req;
		_cleanup_free_ char *pidfile = xasprintf("%s/sbxd.pid", p->run);
		uint64_t deadline;
		pid_t pid;
		uint64_t start;

		if (sbxd_connect(p, false, &c) < 0) {
			printf("sbxd is not running\n");
			return 0;
		}
		pid = daemon_pid(pidfile);
		start = pid > 0 ? proc_start_time(pid) : 0;
		req = json_object_new_object();
		json_object_object_add(req, "op", json_object_new_string("shutdown"));
		if (sbxd_call(c, req, NULL) < 0) {
			sbxd_conn_free(c);
			return 1;
		}
		sbxd_conn_free(c);
		/* Wait until it is gone (its lock with it), so a following command gets a
		 * fresh daemon rather than the one that is going. */
		deadline = now_ms() + DAEMON_STOP_WAIT_MS;
		while ((access(pidfile, F_OK) == 0 || (start && proc_alive(pid, start))) && now_ms() < deadline)
			usleep(10000);
		if (access(pidfile, F_OK) == 0 || (start && proc_alive(pid, start))) {
			fprintf(stderr, "sbx: sbxd (pid %d) is still stopping after %d s (see %s/sbxd.log)\n", (int)pid,
				DAEMON_STOP_WAIT_MS / 1000, p->state);
			return 1;
		}
		printf("sbxd stopped (running sandboxes keep running)\n");
		return 0;
	}
	if (!strcmp(sub, "status"))
		return cmd_daemon_status(p, false);
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !*sub) {
		cmd_help_print(*sub ? stdout : stderr, "daemon");
		return *sub ? 0 : 2;
	}
	fprintf(stderr, "sbx daemon: unknown subcommand '%s'\n", sub);
	return 2;
}
