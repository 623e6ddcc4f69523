// SPDX-License-Identifier: MIT
/* cmd_template.c: `sbx template build|ls`. */
#include "cmd.h"
#include "cmd_doc.h"
#include "image.h"

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
	return have ? json_object_new_string(s) : NULL;
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
		printf("%-16s %-8s %-21s %7s %7s  %s\n", "TEMPLATE", "STATUS", "BUILT", "SIZE", "USED", "KERNEL");
	for (char **n = names; *n; n++) {
		struct template_meta m = { 0 };
		bool built = template_meta_get(p, *n, &m) == 0;
		const char *status = "missing";

		if (built)
			status = kcur && m.kernel_release[0] && strcmp(kcur, m.kernel_release) ? "stale" : "built";
		if (json) {
			struct json_object *o = json_object_new_object();
			json_object_object_add(o, "name", json_object_new_string(*n));
			json_object_object_add(o, "status", json_object_new_string(status));
			json_object_object_add(o, "built", json_str_or_null(built, m.built));
			json_object_object_add(o, "kernel_release", json_str_or_null(built, m.kernel_release));
			json_object_object_add(o, "size", built ? json_object_new_int64((int64_t)m.size) : NULL);
			json_object_object_add(o, "disk_usage", built ? json_object_new_int64((int64_t)m.disk_usage) : NULL);
			json_object_object_add(o, "image", json_str_or_null(built, m.image));
			json_object_array_add(arr, o);
		} else {
			char size[16] = "-", used[16] = "-";
			if (built) {
				snprintf(size, sizeof(size), "%.1fG", (double)m.size / (1u << 30));
				snprintf(used, sizeof(used), "%lluM", (unsigned long long)(m.disk_usage >> 20));
			}
			printf("%-16s %-8s %-21s %7s %7s  %s\n", *n, status, built ? m.built : "-", size, used,
			       built && m.kernel_release[0] ? m.kernel_release : "-");
		}
		template_meta_free(&m);
	}
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(arr);
	}
	image_strv_free(names);
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
