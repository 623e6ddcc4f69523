// SPDX-License-Identifier: MIT
/* cmd_prune.c: `sbx prune`: remove the sandboxes that have been stopped for a while. */
#include "cmd.h"
#include "cmd_doc.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "names.h"
#include "sbxd_conn.h"
#include "util.h"

#define PRUNE_DEFAULT_AGE "7d"

struct prune_opts {
	uint64_t older_than_s;
	bool force, dry_run, help;
};

struct prune_victim {
	const char *name, *workspace; /* owned by the ls answer */
	int64_t since;                /* when it stopped (or was created, if it never ran) */
	bool never_ran;
};

static int prune_parse(struct prune_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "older-than", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *age = PRUNE_DEFAULT_AGE, *err = NULL;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "fnh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': age = optarg; break;
		case 'f': o->force = true; break;
		case 'n': o->dry_run = true; break;
		case 'h': o->help = true; return 0;
		default: return cmd_usage_error("prune", "unknown option"), 2;
		}
	}
	if (optind < argc)
		return cmd_usage_error("prune", "prune takes no arguments (see --older-than)"), 2;
	if (duration_parse(age, 0, &o->older_than_s, &err) < 0) {
		fprintf(stderr, "sbx prune: --older-than '%s': %s\n", age, err);
		return 2;
	}
	return 0;
}

static int64_t json_int(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
		return 0;
	return json_object_get_int64(v);
}

/* The stopped sandboxes idle for at least the age, from sbxd's list. A broken one is
 * never touched (see struct broken_sandbox), nor one whose age is unknown. */
static size_t prune_pick(struct json_object *arr, uint64_t older_than_s, int64_t now, struct prune_victim *out)
{
	size_t n = 0;

	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *s = json_object_array_get_idx(arr, i);
		int64_t stopped = json_int(s, "stopped"), created = json_int(s, "created");
		int64_t since = stopped ? stopped : created;
		const char *name = cmd_json_str(s, "name");

		if (strcmp(cmd_json_str(s, "status"), "stopped") || !name_valid(name) || since <= 0)
			continue;
		if (now < since || (uint64_t)(now - since) < older_than_s)
			continue;
		out[n++] = (struct prune_victim){ .name = name, .workspace = cmd_json_str(s, "workspace"),
						  .since = since, .never_ran = !stopped };
	}
	return n;
}

static void prune_print(const struct prune_victim *v, size_t n, int64_t now)
{
	int w = (int)strlen("SANDBOX");

	for (size_t i = 0; i < n; i++)
		w = MAX(w, (int)strlen(v[i].name));
	printf("%-*s  %-16s  %s\n", w, "SANDBOX", "IDLE", "WORKSPACE");
	for (size_t i = 0; i < n; i++) {
		char age[DURATION_TEXT_MAX], idle[48];
		uint64_t secs = (uint64_t)(now - v[i].since);

		/* rounded down to the unit people read: days, else hours, else minutes */
		secs = secs >= 86400 ? secs / 86400 * 86400 : secs >= 3600 ? secs / 3600 * 3600 : secs / 60 * 60;
		duration_format(secs, age, sizeof(age));
		snprintf(idle, sizeof(idle), "%s%s", age, v[i].never_ran ? " (never ran)" : "");
		printf("%-*s  %-16s  %s\n", w, v[i].name, idle, v[i].workspace);
	}
}

/* y or yes on the terminal */
static bool prune_confirm(size_t n)
{
	char line[32];

	printf("Remove %s? [y/N] ", n == 1 ? "this sandbox" : "these sandboxes");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	line[strcspn(line, "\n")] = 0;
	return !strcasecmp(line, "y") || !strcasecmp(line, "yes");
}

int cmd_prune(struct sbx_paths *p, int argc, char **argv)
{
	struct prune_opts o = { 0 };
	_cleanup_free_ struct prune_victim *v = NULL;
	struct json_object *resp = NULL, *arr;
	struct sbxd_conn *c;
	char agetxt[DURATION_TEXT_MAX];
	int64_t now = (int64_t)time(NULL);
	size_t n;
	int rc = prune_parse(&o, argc, argv);

	if (o.help)
		return cmd_help_print(stdout, "prune"), 0;
	if (rc)
		return rc;
	if (!o.force && !o.dry_run && !isatty(STDIN_FILENO)) {
		fprintf(stderr, "sbx prune: asking needs a terminal; 'sbx prune -f' removes without asking "
				"('sbx prune -n' lists what it would remove)\n");
		return 2;
	}
	c = cmd_connect(p);
	if (!c)
		return 1;
	if (sbxd_call(c, cmd_request("ls", NULL), &resp) < 0 || !json_object_object_get_ex(resp, "sandboxes", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		if (resp)
			fprintf(stderr, "sbx prune: malformed answer from sbxd\n");
		json_object_put(resp);
		sbxd_conn_free(c);
		return 1;
	}
	v = xcalloc(json_object_array_length(arr) + 1, sizeof(*v));
	n = prune_pick(arr, o.older_than_s, now, v);
	duration_format(o.older_than_s, agetxt, sizeof(agetxt));
	if (!n) {
		printf("No sandbox has been stopped for %s or longer.\n", agetxt);
	} else {
		prune_print(v, n, now);
		if (o.dry_run) {
			printf("Not removed (--dry-run).\n");
		} else if (!o.force && !prune_confirm(n)) {
			printf("Nothing removed.\n");
			rc = 1;
		} else {
			/* not forced: one that started since the list is kept, and so is a
			 * --branch worktree with uncommitted changes (rm says so) */
			for (size_t i = 0; i < n; i++)
				if (cmd_sandbox_rm(p, c, v[i].name, false) != 0)
					rc = 1;
				else
					printf("Removed %s\n", v[i].name);
		}
	}
	json_object_put(resp);
	sbxd_conn_free(c);
	return rc;
}
