// SPDX-License-Identifier: MIT
/* cmd_settings.c: `sbx settings ls|get|set|unset`. */
#include "cmd.h"
#include "cmd_doc.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "settings.h"
#include "util.h"

static void settings_usage(FILE *f)
{
	cmd_help_print(f, "settings");
}

static int load_or_report(const struct sbx_paths *p, const char *sub, struct settings **ret)
{
	_cleanup_free_ char *err = NULL;
	int r = settings_load_ex(p, ret, &err);

	if (r < 0)
		fprintf(stderr, "sbx settings %s: %s\n", sub, err ? err : strerror(-r));
	return r;
}

static int settings_ls(const struct sbx_paths *p, bool json)
{
	struct settings *s;
	size_t n;
	const struct settings_key *k = settings_keys(&n);

	if (load_or_report(p, "ls", &s) < 0)
		return 1;
	if (json) {
		struct json_object *o = json_object_new_object();
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_new_object();
			const char *v = settings_get(s, k[i].key);
			json_object_object_add(e, "value", v ? json_object_new_string(v) : NULL);
			json_object_object_add(e, "default", k[i].def ? json_object_new_string(k[i].def) : NULL);
			json_object_object_add(e, "description", json_object_new_string(k[i].desc));
			json_object_object_add(o, k[i].key, e);
		}
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		printf("%-27s %-30s %-8s %s\n", "KEY", "VALUE", "DEFAULT", "DESCRIPTION");
		for (size_t i = 0; i < n; i++) {
			const char *v = settings_get(s, k[i].key);
			printf("%-27s %-30s %-8s %s\n", k[i].key, v ? v : "-", k[i].def ? k[i].def : "-", k[i].desc);
		}
	}
	settings_free(s);
	return 0;
}

static bool want_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

static int key_check(const char *sub, const char *key)
{
	if (!settings_key_known(key)) {
		fprintf(stderr, "sbx settings %s: unknown setting '%s' (see: sbx settings ls)\n", sub, key);
		return -ENOENT;
	}
	return 0;
}

int cmd_settings(struct sbx_paths *p, int argc, char **argv)
{
	static const char *const with_value[] = { NULL };
	const char *sub;

	cmd_sub_first(argc, argv, with_value); /* options may come first */
	sub = argc > 1 ? argv[1] : NULL;
	if (!sub) {
		settings_usage(stderr);
		return 2;
	}
	if (!strcmp(sub, "help") || want_help(argc, argv)) {
		settings_usage(stdout);
		return 0;
	}
	if (!strcmp(sub, "ls") || !strcmp(sub, "list")) {
		bool json = false;
		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--json")) {
				fprintf(stderr, "sbx settings ls: unexpected argument '%s'\n", argv[i]);
				return 2;
			}
			json = true;
		}
		return settings_ls(p, json);
	}
	if (!strcmp(sub, "get")) {
		struct settings *s;
		const char *v;
		int rc = 0;

		if (argc != 3) {
			fprintf(stderr, "sbx settings get: usage: sbx settings get KEY\n");
			return 2;
		}
		if (key_check(sub, argv[2]) < 0)
			return 2;
		if (load_or_report(p, sub, &s) < 0)
			return 1;
		v = settings_get_or_default(s, argv[2]);
		if (v) {
			printf("%s\n", v);
		} else {
			fprintf(stderr, "%s is not set\n", argv[2]);
			rc = 1;
		}
		settings_free(s);
		return rc;
	}
	if (!strcmp(sub, "set")) {
		_cleanup_free_ char *err = NULL;
		int r;

		if (argc != 4) {
			fprintf(stderr, "sbx settings set: usage: sbx settings set KEY VALUE\n");
			return 2;
		}
		if (key_check(sub, argv[2]) < 0)
			return 2;
		r = settings_set(p, argv[2], argv[3], &err);
		if (r < 0) {
			fprintf(stderr, "sbx settings set: %s: %s\n", argv[2], err ? err : strerror(-r));
			return 1;
		}
		{
			struct settings *s;
			if (settings_load(p, &s) == 0) {
				printf("%s = %s\n", argv[2], settings_get(s, argv[2]) ? settings_get(s, argv[2]) : "");
				settings_free(s);
			}
		}
		return 0;
	}
	if (!strcmp(sub, "unset")) {
		_cleanup_free_ char *err = NULL;
		int r;

		if (argc != 3) {
			fprintf(stderr, "sbx settings unset: usage: sbx settings unset KEY\n");
			return 2;
		}
		if (key_check(sub, argv[2]) < 0)
			return 2;
		r = settings_unset(p, argv[2], &err);
		if (r < 0) {
			fprintf(stderr, "sbx settings unset: %s: %s\n", argv[2], err ? err : strerror(-r));
			return 1;
		}
		return 0;
	}
	fprintf(stderr, "sbx settings: unknown command '%s'\n", sub);
	settings_usage(stderr);
	return 2;
}
