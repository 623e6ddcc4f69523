// SPDX-License-Identifier: MIT
/* recipe.c: template recipes: the "KEY VALUE" lines of recipes/NAME, parsed and bounded. */
#include "recipe.h"
#include "pins.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

void recipe_free(struct recipe *r)
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


bool recipe_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 63 || !strchr("abcdefghijklmnopqrstuvwxyz0123456789", name[0]))
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

bool recipe_word_ok(const char *s, const char *set, size_t max)
{
	size_t n = strlen(s);

	return n > 0 && n <= max && strspn(s, set) == n;
}

/* An absolute path inside the image: no "..", no odd bytes. */
static bool img_path_ok(const char *p)
{
	return p[0] == '/' && recipe_word_ok(p, IMG_PATH_CHARS, 512) && !strstr(p, "/../") && !strstr(p, "//") &&
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
	if (*end || v > RECIPE_SIZE_MAX / mul || v * mul < RECIPE_SIZE_MIN)
		return -EINVAL;
	*ret = v * mul;
	return 0;
}

/* Recipe: lines "KEY VALUE"; '#' starts a comment; "include" may repeat. */
int recipe_parse(const char *text, const char *file, struct recipe *ret)
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
		if (!strcmp(key, "suite") && recipe_word_ok(val, "abcdefghijklmnopqrstuvwxyz0123456789-", sizeof(rc.suite) - 1)) {
			snprintf(rc.suite, sizeof(rc.suite), "%s", val);
		} else if (!strcmp(key, "variant") &&
			   (!strcmp(val, "minbase") || !strcmp(val, "essential") || !strcmp(val, "apt") ||
			    !strcmp(val, "required") || !strcmp(val, "buildd") || !strcmp(val, "important") ||
			    !strcmp(val, "standard"))) {
			snprintf(rc.variant, sizeof(rc.variant), "%s", val);
		} else if (!strcmp(key, "hostname") && recipe_word_ok(val, "abcdefghijklmnopqrstuvwxyz0123456789-", 63)) {
			snprintf(rc.hostname, sizeof(rc.hostname), "%s", val);
		} else if (!strcmp(key, "size")) {
			if (parse_size(val, &rc.size) < 0)
				r = -EINVAL;
		} else if (!strcmp(key, "nodocs") && (!strcmp(val, "yes") || !strcmp(val, "no"))) {
			rc.nodocs = !strcmp(val, "yes");
		} else if (!strcmp(key, "node")) {
			/* a major version (the newest of it at build time) or an exact pin */
			char *end;
			unsigned long v = strtoul(val, &end, 10);
			if (val[0] < '0' || val[0] > '9' || v < 18 || v > 99 || (*end && (*end != '.' || !pin_version_ok(val))))
				r = -EINVAL;
			else {
				rc.node_major = (unsigned)v;
				snprintf(rc.node_version, sizeof(rc.node_version), "%s", *end ? val : "");
			}
		} else if (!strcmp(key, "npm")) {
			char *s2 = NULL;
			for (char *pkg = strtok_r(val, " \t", &s2); pkg && r == 0; pkg = strtok_r(NULL, " \t", &s2)) {
				if (!recipe_word_ok(pkg, NPM_CHARS, 200) || pkg[0] == '-' || rc.n_npm == RECIPE_NPM_MAX)
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
				if (!recipe_word_ok(pkg, PKG_CHARS, 100)) {
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

char *recipe_path(const struct sbx_paths *p, const char *name)
{
	struct stat st;

	if (!p || !recipe_name_ok(name))
		return NULL;
	if (p->config) {
		char *user = xasprintf("%s/recipes/%s", p->config, name);
		if (stat(user, &st) == 0 && S_ISREG(st.st_mode))
			return user;
		free(user);
	}
	if (p->recipes) {
		char *inst = xasprintf("%s/%s", p->recipes, name);
		if (stat(inst, &st) == 0 && S_ISREG(st.st_mode))
			return inst;
		free(inst);
	}
	return NULL;
}

int recipe_load(const struct sbx_paths *p, const char *name, struct recipe *ret)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	int r;

	if (!p || !recipe_name_ok(name))
		return -EINVAL;
	path = recipe_path(p, name);
	if (!path)
		return -ENOENT;
	r = file_read_all(path, RECIPE_MAX, &text, NULL);
	if (r < 0)
		return r;
	r = recipe_parse(text, path, ret);
	if (r == 0)
		sha256_hex(text, strlen(text), ret->sha256);
	return r;
}
