// SPDX-License-Identifier: MIT
/* cmd_template.c: `sbx template build|ls|save|rm|export|import` (update: cmd_template_update.c). */
#include "cmd.h"
#include "cmd_doc.h"
#include "image.h"
#include "recipe.h"
#include "sbxd_conn.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static void template_usage(FILE *f)
{
	cmd_help_print(f, "template");
}

static char *kernel_current(const struct sbx_paths *p)
{
	_cleanup_free_ char *path = xasprintf("%s/kernel/release", p->cache);
	char *buf = NULL;

	if (file_read_all(path, 256, &buf, NULL) < 0)
		return NULL;
	buf[strcspn(buf, "\n")] = 0;
	return buf;
}

static struct json_object *json_str_or_null(bool have, const char *s)
{
	return have && s ? json_object_new_string(s) : NULL;
}

static struct json_object *json_strv(char **v)
{
	struct json_object *a = json_object_new_array();

	for (char **s = v; s && *s; s++)
		json_object_array_add(a, json_object_new_string(*s));
	return a;
}

/* The versions a recipe pins ("node@V", "NAME@V" or NAME alone when unpinned), NULL when
 * it pins nothing or NAME is no recipe. */
static char **recipe_pins(const struct sbx_paths *p, const char *name)
{
	struct recipe rc = { 0 };
	char **v;
	size_t n = 0;

	if (!template_is_recipe(p, name) || recipe_load(p, name, &rc) < 0)
		return NULL;
	if (!rc.node_major && !rc.n_npm) {
		recipe_free(&rc);
		return NULL;
	}
	v = xcalloc(rc.n_npm + 2, sizeof(char *));
	if (rc.node_major)
		v[n++] = rc.node_version[0] ? xasprintf("node@%s", rc.node_version) : xasprintf("node@%u", rc.node_major);
	for (size_t i = 0; i < rc.n_npm; i++)
		v[n++] = xstrdup(rc.npm[i]);
	recipe_free(&rc);
	return v;
}

static struct json_object *ls_json(const char *name, const char *status, bool built, const struct template_meta *m,
				   char **pins)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "status", json_object_new_string(status));
	json_object_object_add(o, "source", json_str_or_null(built, m->source));
	json_object_object_add(o, "built", json_str_or_null(built, m->built));
	json_object_object_add(o, "kernel_release", json_str_or_null(built, m->kernel_release));
	json_object_object_add(o, "size", built ? json_object_new_int64((int64_t)m->size) : NULL);
	json_object_object_add(o, "disk_usage", built ? json_object_new_int64((int64_t)m->disk_usage) : NULL);
	json_object_object_add(o, "image", json_str_or_null(built, m->image));
	json_object_object_add(o, "source_sandbox", json_str_or_null(built, m->source_sandbox));
	json_object_object_add(o, "base_template", json_str_or_null(built, m->base_template));
	json_object_object_add(o, "versions", json_strv(built ? m->versions : NULL));
	json_object_object_add(o, "pins", pins ? json_strv(pins) : NULL);
	return o;
}

static void ls_line(const char *name, const char *status, bool built, const struct template_meta *m, char **pins)
{
	char size[16] = "-", used[16] = "-", src[64] = "-";

	if (built) {
		snprintf(size, sizeof(size), "%.1fG", (double)m->size / (1u << 30));
		snprintf(used, sizeof(used), "%lluM", (unsigned long long)(m->disk_usage >> 20));
		if (!strcmp(m->source, "saved") && m->source_sandbox)
			snprintf(src, sizeof(src), "saved:%.40s", m->source_sandbox);
		else
			snprintf(src, sizeof(src), "%.40s", m->source);
	}
	printf("%-16s %-8s %-16s %-21s %7s %7s  %s\n", name, status, src, built ? m->built : "-", size, used,
	       built && m->kernel_release[0] ? m->kernel_release : "-");
	if (built && m->versions && m->versions[0]) {
		printf("%-16s versions:", "");
		for (char **v = m->versions; *v; v++)
			printf(" %s", *v);
		printf("\n");
	}
	if (pins) {
		/* not built, built before sbx recorded versions, or from an older recipe: what
		 * the next build installs */
		printf("%-16s recipe pins:", "");
		for (char **v = pins; *v; v++)
			printf(" %s", *v);
		printf("\n");
	}
}

static int template_ls(const struct sbx_paths *p, bool json)
{
	_cleanup_free_ char *kcur = kernel_current(p);
	struct json_object *arr = NULL;
	char **names = NULL;
	int r;

	r = template_names(p, &names);
	if (r < 0) {
		fprintf(stderr, "sbx template ls: %s\n", strerror(-r));
		return 1;
	}
	if (json)
		arr = json_object_new_array();
	else
		printf("%-16s %-8s %-16s %-21s %7s %7s  %s\n", "TEMPLATE", "STATUS", "SOURCE", "CREATED", "SIZE", "USED",
		       "KERNEL");
	for (char **n = names; *n; n++) {
		struct template_meta m = { 0 };
		bool built = template_meta_get(p, *n, &m) == 0;
		const char *status = "missing";

		if (built)
			status = kcur && m.kernel_release[0] && strcmp(kcur, m.kernel_release) ? "stale" : "built";
		char **pins = recipe_pins(p, *n);
		if (json)
			json_object_array_add(arr, ls_json(*n, status, built, &m, pins));
		else
			ls_line(*n, status, built, &m,
				!built || !m.versions || !m.versions[0] || template_stale(p, *n) ? pins : NULL);
		image_strv_free(pins);
		template_meta_free(&m);
	}
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(arr);
	}
	image_strv_free(names);
	return 0;
}

/* The sandbox's status as sbxd reports it ("stopped", "running", ...); NULL when there
 * is no such sandbox or sbxd cannot be asked (then *rc is the exit status). */
static char *sandbox_status(struct sbx_paths *p, const char *name, int *rc)
{
	struct json_object *resp = NULL, *arr;
	struct sbxd_conn *c = cmd_connect(p);
	char *st = NULL;

	*rc = 1;
	if (!c)
		return NULL;
	if (sbxd_call(c, cmd_request("ls", NULL), &resp) < 0) {
		sbxd_conn_free(c);
		return NULL;
	}
	sbxd_conn_free(c);
	if (json_object_object_get_ex(resp, "sandboxes", &arr) && json_object_is_type(arr, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(arr) && !st; i++) {
			struct json_object *s = json_object_array_get_idx(arr, i);
			if (!strcmp(cmd_json_str(s, "name"), name))
				st = xstrdup(cmd_json_str(s, "status"));
		}
		if (!st) {
			fprintf(stderr, "sbx template save: no sandbox '%s' (see: sbx ls)\n", name);
			*rc = 2;
		}
	} else {
		fprintf(stderr, "sbx: malformed answer from sbxd\n");
	}
	json_object_put(resp);
	return st;
}

/* Options of save/export/import/rm: -f, -h; the rest are operands (at most max). */
static int sub_args(const char *sub, int argc, char **argv, bool *force, const char **ops, int min, int max)
{
	int n = 0;

	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-f") || !strcmp(a, "--force")) {
			*force = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			template_usage(stdout);
			return 0;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "sbx template %s: unknown option '%s'\n", sub, a);
			return 2;
		} else if (n == max) {
			fprintf(stderr, "sbx template %s: too many arguments\n", sub);
			return 2;
		} else {
			ops[n++] = a;
		}
	}
	if (n < min) {
		fprintf(stderr, "sbx template %s: missing argument (see: sbx template --help)\n", sub);
		return 2;
	}
	return -1;
}

static int template_save_cmd(struct sbx_paths *p, int argc, char **argv)
{
	const char *ops[2] = { 0 };
	_cleanup_free_ char *st = NULL, *err = NULL;
	bool force = false;
	int rc = sub_args("save", argc, argv, &force, ops, 2, 2);

	if (rc >= 0)
		return rc;
	if (!recipe_name_ok(ops[1])) {
		fprintf(stderr, "sbx template save: '%s' is not a template name ([a-z0-9][a-z0-9._-]*)\n", ops[1]);
		return 2;
	}
	st = sandbox_status(p, ops[0], &rc);
	if (!st)
		return rc;
	if (strcmp(st, "stopped")) {
		fprintf(stderr, "sbx template save: sandbox '%s' is %s: stop it first (sbx stop %s), so that its disk "
			"is consistent\n", ops[0], st, ops[0]);
		return 1;
	}
	if (template_save(p, ops[0], ops[1], force, &err) < 0) {
		fprintf(stderr, "sbx template save: %s\n", err ? err : "failed");
		return 1;
	}
	printf("saved sandbox %s as template %s (sbx run -t %s ...)\n", ops[0], ops[1], ops[1]);
	return 0;
}

static int template_rm_cmd(struct sbx_paths *p, int argc, char **argv)
{
	const char *ops[64] = { 0 };
	bool force = false;
	int rc = sub_args("rm", argc, argv, &force, ops, 1, 64);

	if (rc >= 0)
		return rc;
	if (force) {
		fprintf(stderr, "sbx template rm: -f is not an option of rm (a template in use stays)\n");
		return 2;
	}
	rc = 0;
	for (size_t i = 0; i < ARRAY_SIZE(ops) && ops[i]; i++) {
		_cleanup_free_ char *err = NULL;
		if (template_remove(p, ops[i], &err) < 0) {
			fprintf(stderr, "sbx template rm: %s\n", err ? err : "failed");
			rc = 1;
		} else {
			printf("removed template %s\n", ops[i]);
		}
	}
	return rc;
}

static int template_export_cmd(struct sbx_paths *p, int argc, char **argv)
{
	const char *ops[2] = { 0 };
	_cleanup_free_ char *err = NULL;
	bool force = false;
	int rc = sub_args("export", argc, argv, &force, ops, 2, 2);

	if (rc >= 0)
		return rc;
	if (template_export(p, ops[0], ops[1], force, &err) < 0) {
		fprintf(stderr, "sbx template export: %s\n", err ? err : "failed");
		return 1;
	}
	printf("exported template %s to %s\n", ops[0], ops[1]);
	return 0;
}

static int template_import_cmd(struct sbx_paths *p, int argc, char **argv)
{
	const char *ops[2] = { 0 };
	_cleanup_free_ char *err = NULL, *name = NULL;
	bool force = false;
	int rc = sub_args("import", argc, argv, &force, ops, 1, 2);

	if (rc >= 0)
		return rc;
	if (template_import(p, ops[0], ops[1], force, &name, &err) < 0) {
		fprintf(stderr, "sbx template import: %s: %s; nothing was imported\n", ops[0], err ? err : "failed");
		return 1;
	}
	printf("imported template %s from %s\n", name, ops[0]);
	return 0;
}

static int template_build_cmd(const struct sbx_paths *p, int argc, char **argv)
{
	enum template_verbosity v = template_verbosity_default();
	bool force = false, any = false;

	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--force") || !strcmp(a, "-f")) {
			force = true;
		} else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
			v = TEMPLATE_VERBOSE;
		} else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
			cmd_quiet_set();
			v = TEMPLATE_QUIET;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			template_usage(stdout);
			return 0;
		} else if (a[0] == '-') {
			fprintf(stderr, "sbx template build: unknown option '%s'\n", a);
			return 2;
		} else if (!template_known(p, a)) {
			fprintf(stderr, "sbx template build: unknown template '%s' (see: sbx template ls)\n", a);
			return 2;
		} else {
			any = true;
		}
	}
	if (!any) {
		fprintf(stderr, "sbx template build: which template? (see: sbx template ls)\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		int r;
		if (argv[i][0] == '-')
			continue;
		r = template_build_ex(p, argv[i], force, v);
		if (r == -EINTR)
			return 130;
		if (r < 0) {
			fprintf(stderr, "sbx: template %s: build failed: %s\n", argv[i], strerror(-r));
			return 1;
		}
	}
	return 0;
}

int cmd_template(struct sbx_paths *p, int argc, char **argv)
{
	static const char *const with_value[] = { NULL };
	const char *sub;

	cmd_sub_first(argc, argv, with_value); /* options may come first */
	if (argc < 2) {
		template_usage(stderr);
		return 2;
	}
	sub = argv[1];
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
		template_usage(stdout);
		return 0;
	}
	if (!strcmp(sub, "build"))
		return template_build_cmd(p, argc, argv);
	if (!strcmp(sub, "save"))
		return template_save_cmd(p, argc, argv);
	if (!strcmp(sub, "rm") || !strcmp(sub, "remove"))
		return template_rm_cmd(p, argc, argv);
	if (!strcmp(sub, "export"))
		return template_export_cmd(p, argc, argv);
	if (!strcmp(sub, "import"))
		return template_import_cmd(p, argc, argv);
	if (!strcmp(sub, "update"))
		return cmd_template_update(p, argc, argv);
	if (!strcmp(sub, "ls") || !strcmp(sub, "list")) {
		bool json = false;
		for (int i = 2; i < argc; i++) {
			if (!strcmp(argv[i], "--json")) {
				json = true;
			} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
				template_usage(stdout);
				return 0;
			} else {
				fprintf(stderr, "sbx template ls: unknown argument '%s'\n", argv[i]);
				return 2;
			}
		}
		return template_ls(p, json);
	}
	fprintf(stderr, "sbx template: unknown command '%s'\n", sub);
	template_usage(stderr);
	return 2;
}
