// SPDX-License-Identifier: MIT
/* cmd_review.c: sbx review [NAME|PATH] [--json] [--accept] [--stat]. Reads the
 * sandboxes' specs and baselines from state; needs no daemon. */
#include "cmd.h"
#include "cmd_doc.h"

#include <dirent.h>
#include <errno.h>
#include <unistd.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "names.h"
#include "progress.h"
#include "review.h"
#include "review_diff.h"
#include "spec.h"
#include "util.h"

struct opts {
	bool json, accept, stat, tty;
};

struct target {
	struct spec spec;
	char *dir;
};

struct counts {
	unsigned added, removed, modified, mode, type;
};

static void usage_error(const char *msg)
{
	fprintf(stderr, "sbx review: %s\nRun 'sbx review --help' for usage.\n", msg);
}

static void targets_free(struct target *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		spec_free(&t[i].spec);
		free(t[i].dir);
	}
	free(t);
}

static int target_cmp(const void *a, const void *b)
{
	return strcmp(((const struct target *)a)->spec.name, ((const struct target *)b)->spec.name);
}

static char *esc_name(const char *s);

/* Every sandbox with a readable spec, sorted by name; the others are reported (naming
 * their spec.json) and counted in *ret_broken. */
static int targets_load(struct sbx_paths *p, struct target **ret, size_t *ret_n, size_t *ret_broken)
{
	DIR *dir = opendir(p->sandboxes);
	struct target *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (!dir)
		return errno == ENOENT ? (*ret = NULL, *ret_n = 0, 0) : -errno;
	while ((de = readdir(dir))) {
		_cleanup_free_ char *path = NULL, *err = NULL;
		struct spec spec = { 0 };

		if (!name_valid(de->d_name))
			continue;
		path = xasprintf("%s/%s/spec.json", p->sandboxes, de->d_name);
		if (access(path, F_OK) < 0 && errno == ENOENT)
			continue;
		if (spec_load_ex(path, &spec, &err) < 0 || strcmp(spec.name, de->d_name)) {
			_cleanup_free_ char *e = esc_name(de->d_name);
			_cleanup_free_ char *why = err ? esc_name(err) : esc_name(path);
			fprintf(stderr, "sbx review: sandbox '%s' is broken: %s%s; fix the file\n", e, why,
				err ? "" : " names another sandbox");
			(*ret_broken)++;
			spec_free(&spec);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = realloc(v, cap * sizeof(*v));
			if (!v)
				die("out of memory");
		}
		v[n].spec = spec;
		v[n].dir = xasprintf("%s/%s", p->sandboxes, de->d_name);
		n++;
	}
	closedir(dir);
	if (n > 1)
		qsort(v, n, sizeof(*v), target_cmp);
	*ret = v;
	*ret_n = n;
	return 0;
}

static char *esc_name(const char *s)
{
	return text_escape(s, strlen(s), ESC_BACKSLASH);
}

static char *time_str(int64_t t)
{
	char buf[64];
	time_t tt = (time_t)t;
	struct tm tm;

	if (!localtime_r(&tt, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %Z", &tm))
		return xstrdup("an unknown time");
	return xstrdup(buf);
}

static const char *status_word(unsigned ch)
{
	if (ch & RC_ADDED) return "added";
	if (ch & RC_REMOVED) return "removed";
	if (ch & RC_TYPE) return "type";
	if (ch & RC_MODIFIED) return "modified";
	return "mode";
}

static void count(struct counts *c, unsigned ch)
{
	if (ch & RC_ADDED) c->added++;
	else if (ch & RC_REMOVED) c->removed++;
	else if (ch & RC_TYPE) c->type++;
	else {
		if (ch & RC_MODIFIED) c->modified++;
		if (ch & RC_MODE) c->mode++;
	}
}

/* "file, mode 0755, 12 bytes" / "symlink to 'x'" / "fifo, mode 0644" */
static char *describe(const struct review_entry *e)
{
	if (e->type == RT_SYMLINK) {
		_cleanup_free_ char *t = e->data ? text_escape(e->data, e->data_len, ESC_BACKSLASH) : xstrdup("?");
		return xasprintf("symlink to '%s'", t);
	}
	if (e->type == RT_FILE)
		return xasprintf("file, mode %04o, %llu bytes", e->mode, (unsigned long long)e->size);
	return xasprintf("%s, mode %04o", review_type_name(e->type), e->mode);
}

static char *mode_note(uint32_t a, uint32_t b)
{
	bool xa = a & 0111, xb = b & 0111;
	const char *x = xb && !xa ? " (now executable)" : xa && !xb ? " (no longer executable)" : "";
	const char *s = (b & 06000) && !(a & 06000) ? " (now setuid/setgid)" : "";
	return xasprintf("mode %04o -> %04o%s%s", a, b, x, s);
}

static bool is_package_json(const char *path)
{
	const char *b = strrchr(path, '/');
	return !strcmp(b ? b + 1 : path, "package.json");
}

/* What one changed file looks like, for text and JSON alike. */
struct item_view {
	char *path;        /* escaped */
	char *detail;      /* one line */
	char *diff;        /* unified diff, or NULL */
	char *diff_note;   /* why there is no diff, or NULL */
	int scripts;       /* package.json: 1 changed, 0 not, -1 unknown, -2 not a package.json */
	unsigned add, del;
};

static void item_view_free(struct item_view *v)
{
	free(v->path);
	free(v->detail);
	free(v->diff);
	free(v->diff_note);
}

static bool side_readable(const struct review_entry *e)
{
	return !e || e->type != RT_FILE || e->data;
}

static void item_view_make(const struct review_diff_item *it, struct item_view *v)
{
	const struct review_entry *o = it->old, *c = it->cur, *any = c ? c : o;
	bool content = it->changes & (RC_ADDED | RC_REMOVED | RC_MODIFIED | RC_TYPE);
	bool file_side = (o && o->type == RT_FILE) || (c && c->type == RT_FILE);

	memset(v, 0, sizeof(*v));
	v->path = esc_name(any->path);
	v->scripts = -2;
	if (it->changes & RC_ADDED) {
		_cleanup_free_ char *d = describe(c);
		v->detail = xasprintf("new %s", d);
	} else if (it->changes & RC_REMOVED) {
		_cleanup_free_ char *d = describe(o);
		v->detail = xasprintf("was %s", d);
	} else if (it->changes & RC_TYPE) {
		_cleanup_free_ char *a = describe(o), *b = describe(c);
		v->detail = xasprintf("%s -> %s", a, b);
	} else {
		_cleanup_free_ char *m = it->changes & RC_MODE ? mode_note(o->mode, c->mode) : NULL;
		_cleanup_free_ char *s = NULL;
		if (it->changes & RC_MODIFIED && o->type == RT_SYMLINK) {
			_cleanup_free_ char *ta = o->data ? esc_name(o->data) : xstrdup("?");
			_cleanup_free_ char *tb = c->data ? esc_name(c->data) : xstrdup("?");
			s = xasprintf("symlink target '%s' -> '%s'", ta, tb);
		} else if (it->changes & RC_MODIFIED) {
			s = xasprintf("%llu -> %llu bytes", (unsigned long long)o->size, (unsigned long long)c->size);
		}
		v->detail = xasprintf("%s%s%s", s ? s : "", s && m ? ", " : "", m ? m : "");
	}
	if (c && c->error) {
		char *d = xasprintf("%s; could not be checked: %s", v->detail, c->error);
		free(v->detail);
		v->detail = d;
	}
	if (!content || !file_side)
		return;
	if (!side_readable(o) || !side_readable(c)) {
		v->diff_note = xstrdup((c && c->error) ? "changed (could not be read, no diff)" : "changed (too large to show a diff)");
		return;
	}
	{
		const char *a = o && o->type == RT_FILE ? o->data : NULL;
		const char *b = c && c->type == RT_FILE ? c->data : NULL;
		size_t al = a ? o->data_len : 0, bl = b ? c->data_len : 0;
		_cleanup_free_ char *la = a ? xasprintf("a/%s", v->path) : xstrdup("/dev/null");
		_cleanup_free_ char *lb = b ? xasprintf("b/%s", v->path) : xstrdup("/dev/null");
		int r = review_diff_run(a, al, b, bl, la, lb, &v->diff);

		if (r < 0) {
			v->diff = NULL;
			v->diff_note = r == -ENOENT ? xstrdup("no diff: the diff program (diffutils) is missing")
						    : xasprintf("no diff: diff failed (%s)", strerror(-r));
		} else {
			review_diff_count(v->diff, &v->add, &v->del);
		}
		if (is_package_json(any->path))
			v->scripts = review_pkg_scripts_changed(a, al, b, bl);
	}
}

static void print_incomplete(const struct review_snap *cur)
{
	if (cur->hits & REVIEW_HIT_VISITS)
		printf("warning: review incomplete: the walk stopped after %d directory entries\n", REVIEW_VISIT_MAX);
	if (cur->hits & REVIEW_HIT_DEPTH)
		printf("warning: review incomplete: directories deeper than %d levels were not entered\n", REVIEW_DEPTH_MAX);
	if (cur->hits & REVIEW_HIT_FILES)
		printf("warning: review incomplete: more than %d matching files; the rest were not checked\n", REVIEW_FILES_MAX);
	if (cur->hits & REVIEW_HIT_UNREAD)
		printf("warning: review incomplete: some files or directories could not be read\n");
	if (cur->hits & REVIEW_HIT_HASH)
		printf("warning: review incomplete: some files were too large to check\n");
	if (cur->hits & REVIEW_HIT_REPOS)
		printf("warning: review incomplete: more than %d git repositories; the rest are not listed\n",
		       REVIEW_REPOS_MAX);
}

/* Every git repository git on the host would find, whether or not it changed. */
static void print_repos(const struct review_repos *r)
{
	if (!r->n)
		return;
	printf("git repositories here (git run on the host obeys their hooks and config):\n");
	for (size_t i = 0; i < r->n; i++) {
		const struct review_repo *p = &r->v[i];
		_cleanup_free_ char *path = esc_name(p->path), *to = p->points_to ? esc_name(p->points_to) : NULL;

		printf("  %s  [%s]%s%s\n", path, p->kind, to ? " -> " : "", to ? to : "");
		if (p->n_hooks) {
			printf("      hooks:");
			for (size_t j = 0; j < p->n_hooks; j++) {
				_cleanup_free_ char *h = esc_name(p->hooks[j]);
				printf(" %s", h);
			}
			putchar('\n');
		}
		for (size_t j = 0; j < p->n_runs; j++) {
			_cleanup_free_ char *k = esc_name(p->runs[j]);
			printf("      runs: %s\n", k);
		}
		if (p->truncated)
			printf("      (more than shown)\n");
		if (p->error) {
			_cleanup_free_ char *e = esc_name(p->error);
			printf("      could not be read: %s\n", e);
		}
	}
}

static struct json_object *strings_json(char *const *v, size_t n)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *e = esc_name(v[i]);
		json_object_array_add(a, json_object_new_string(e));
	}
	return a;
}

static struct json_object *repos_json(const struct review_repos *r)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < r->n; i++) {
		const struct review_repo *p = &r->v[i];
		struct json_object *o = json_object_new_object();
		_cleanup_free_ char *path = esc_name(p->path), *to = p->points_to ? esc_name(p->points_to) : NULL;
		_cleanup_free_ char *err = p->error ? esc_name(p->error) : NULL;

		json_object_object_add(o, "path", json_object_new_string(path));
		json_object_object_add(o, "kind", json_object_new_string(p->kind));
		json_object_object_add(o, "points_to", to ? json_object_new_string(to) : NULL);
		json_object_object_add(o, "hooks", strings_json(p->hooks, p->n_hooks));
		json_object_object_add(o, "runs", strings_json(p->runs, p->n_runs));
		json_object_object_add(o, "truncated", json_object_new_boolean(p->truncated));
		json_object_object_add(o, "error", err ? json_object_new_string(err) : NULL);
		json_object_array_add(a, o);
	}
	return a;
}

/* Escaped text on a terminal, a diff's added and removed lines in colour (progress.h
 * decides whether there is any). */
static void print_escaped(const char *e)
{
	bool colour = term_colour(STDOUT_FILENO);

	while (*e) {
		size_t l = strcspn(e, "\n");
		enum term_style st = TERM_RESET;
		if (colour && e[0] == '+' && strncmp(e, "+++", 3))
			st = TERM_GREEN;
		else if (colour && e[0] == '-' && strncmp(e, "---", 3))
			st = TERM_RED;
		else if (colour && !strncmp(e, "@@", 2))
			st = TERM_DIM;
		fputs(st != TERM_RESET ? term_sgr(STDOUT_FILENO, st) : "", stdout);
		fwrite(e, 1, l, stdout);
		fputs(st != TERM_RESET ? term_sgr(STDOUT_FILENO, TERM_RESET) : "", stdout);
		e += l;
		if (*e == '\n')
			putchar(*e++);
	}
}

static void print_content(const char *s, bool tty)
{
	if (tty) {
		_cleanup_free_ char *e = text_escape(s, strlen(s), ESC_KEEP_NL_TAB);
		print_escaped(e);
	} else {
		fputs(s, stdout);
	}
	if (*s && s[strlen(s) - 1] != '\n')
		putchar('\n');
}

static struct json_object *side_json(const struct review_entry *e)
{
	struct json_object *o;
	char mode[8];

	if (!e)
		return NULL;
	o = json_object_new_object();
	snprintf(mode, sizeof(mode), "%04o", e->mode);
	json_object_object_add(o, "type", json_object_new_string(review_type_name(e->type)));
	json_object_object_add(o, "mode", json_object_new_string(mode));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)e->size));
	json_object_object_add(o, "sha256", json_object_new_string(e->sha256));
	if (e->type == RT_SYMLINK && e->data) {
		_cleanup_free_ char *t = esc_name(e->data);
		json_object_object_add(o, "target", json_object_new_string(t));
	}
	if (e->error)
		json_object_object_add(o, "error", json_object_new_string(e->error));
	return o;
}

static struct json_object *item_json(const struct review_diff_item *it, const struct item_view *v, bool stat)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = { { RC_ADDED, "added" }, { RC_REMOVED, "removed" }, { RC_MODIFIED, "modified" },
		      { RC_MODE, "mode" }, { RC_TYPE, "type" } };
	const struct review_entry *any = it->cur ? it->cur : it->old;
	struct json_object *o = json_object_new_object(), *ch = json_object_new_array();

	json_object_object_add(o, "path", json_object_new_string(v->path));
	json_object_object_add(o, "kind", json_object_new_string(any->rule ? any->rule->kind : ""));
	json_object_object_add(o, "what", json_object_new_string(any->rule ? any->rule->what : ""));
	json_object_object_add(o, "status", json_object_new_string(status_word(it->changes)));
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (it->changes & names[i].bit)
			json_object_array_add(ch, json_object_new_string(names[i].name));
	json_object_object_add(o, "changes", ch);
	json_object_object_add(o, "detail", json_object_new_string(v->detail));
	json_object_object_add(o, "old", side_json(it->old));
	json_object_object_add(o, "new", side_json(it->cur));
	if (v->scripts > -2)
		json_object_object_add(o, "scripts_changed", v->scripts < 0 ? NULL : json_object_new_boolean(v->scripts));
	json_object_object_add(o, "lines_added", json_object_new_int((int)v->add));
	json_object_object_add(o, "lines_removed", json_object_new_int((int)v->del));
	if (v->diff && !stat) {
		_cleanup_free_ char *d = text_escape(v->diff, strlen(v->diff), ESC_UTF8_ONLY);
		json_object_object_add(o, "diff", json_object_new_string(d));
	} else {
		json_object_object_add(o, "diff", NULL);
	}
	if (v->diff_note)
		json_object_object_add(o, "diff_note", json_object_new_string(v->diff_note));
	return o;
}

static void print_item(const struct review_diff_item *it, const struct item_view *v, const struct opts *o)
{
	const struct review_entry *any = it->cur ? it->cur : it->old;
	_cleanup_free_ char *counts = v->diff ? xasprintf(", +%u -%u", v->add, v->del) : NULL;

	const char *word = status_word(it->changes);

	printf("%s%s%s%*s %s  [%s: %s] %s%s\n", term_sgr(STDOUT_FILENO, TERM_YELLOW), word,
	       term_sgr(STDOUT_FILENO, TERM_RESET), (int)(9 - MIN(strlen(word), (size_t)9)), "", v->path,
	       any->rule ? any->rule->kind : "?", any->rule ? any->rule->what : "?", v->detail, counts ? counts : "");
	if (v->scripts == 1)
		printf("          package.json \"scripts\" changed: they run on npm install, npm test, npm run ...\n");
	else if (v->scripts == -1)
		printf("          package.json is not a JSON object: cannot tell whether \"scripts\" changed\n");
	if (v->diff_note)
		printf("          %s\n", v->diff_note);
	if (!o->stat && !o->accept && v->diff && *v->diff) {
		print_content(v->diff, o->tty);
		putchar('\n');
	}
}

static void counts_json(struct json_object *o, const struct counts *c)
{
	struct json_object *s = json_object_new_object();
	json_object_object_add(s, "added", json_object_new_int((int)c->added));
	json_object_object_add(s, "removed", json_object_new_int((int)c->removed));
	json_object_object_add(s, "modified", json_object_new_int((int)c->modified));
	json_object_object_add(s, "mode", json_object_new_int((int)c->mode));
	json_object_object_add(s, "type", json_object_new_int((int)c->type));
	json_object_object_add(o, "summary", s);
}

static int fail(struct json_object *jo, const char *name, const char *msg)
{
	if (jo)
		json_object_object_add(jo, "error", json_object_new_string(msg));
	else
		fprintf(stderr, "sbx review: %s: %s\n", name, msg);
	return 2;
}

/* Review one sandbox; JSON goes into jo when given. Returns 0, 1 or 2. */
static int review_one(const struct target *t, const struct opts *o, struct json_object *jo)
{
	struct review_snap base = { 0 }, cur = { 0 };
	struct review_diff_item *items = NULL;
	struct counts c = { 0 };
	size_t n = 0;
	bool have_base;
	int r, rc;

	if (jo) {
		json_object_object_add(jo, "sandbox", json_object_new_string(t->spec.name));
		json_object_object_add(jo, "workspace", json_object_new_string(t->spec.workspace));
	}
	r = review_baseline_load(t->dir, &base);
	have_base = r >= 0;
	if (jo)
		json_object_object_add(jo, "baseline", json_object_new_boolean(have_base));
	if (r < 0 && r != -ENOENT && !o->accept) {
		_cleanup_free_ char *m = xasprintf("cannot read its review baseline %s/baseline (%s); 'sbx review --accept %s' replaces it",
						   t->dir, r == -EBADMSG ? "it is damaged" : strerror(-r), t->spec.name);
		return fail(jo, t->spec.name, m);
	}
	if (!have_base && !o->accept) {
		_cleanup_free_ char *m = xasprintf(
			"no review baseline: the sandbox was created by an older sbx, so its changes cannot be shown. "
			"Check the workspace yourself, then run 'sbx review --accept %s' to take its current state "
			"as the baseline", t->spec.name);
		return fail(jo, t->spec.name, m);
	}
	r = review_scan_sandbox(t->spec.workspace, t->spec.git_dir, &cur);
	if (r < 0) {
		_cleanup_free_ char *m = xasprintf("cannot scan workspace %s: %s", t->spec.workspace, strerror(-r));
		review_snap_free(&base);
		return fail(jo, t->spec.name, m);
	}
	review_compare(&base, &cur, &items, &n);
	if (!o->json) {
		_cleanup_free_ char *ws = esc_name(t->spec.workspace);
		_cleanup_free_ char *when = have_base ? time_str(base.taken) : NULL;
		if (have_base)
			printf("== %s (%s), baseline of %s\n", t->spec.name, ws, when);
		else
			printf("== %s (%s), no baseline yet\n", t->spec.name, ws);
	} else if (have_base) {
		json_object_object_add(jo, "baseline_taken", json_object_new_int64(base.taken));
	}
	{
		struct json_object *arr = jo ? json_object_new_array() : NULL;
		for (size_t i = 0; i < n && have_base; i++) {
			struct item_view v;
			item_view_make(&items[i], &v);
			count(&c, items[i].changes);
			if (arr)
				json_object_array_add(arr, item_json(&items[i], &v, o->stat));
			else
				print_item(&items[i], &v, o);
			item_view_free(&v);
		}
		if (jo) {
			struct json_object *inc = json_object_new_array();
			for (unsigned bit = 1; bit <= REVIEW_HIT_LAST; bit <<= 1)
				if (cur.hits & bit)
					json_object_array_add(inc, json_object_new_string(review_hit_name(bit)));
			json_object_object_add(jo, "changes", arr);
			json_object_object_add(jo, "repositories", repos_json(&cur.repos));
			json_object_object_add(jo, "incomplete", inc);
			json_object_object_add(jo, "checked", json_object_new_int((int)cur.n));
			json_object_object_add(jo, "changed", json_object_new_boolean(have_base && n > 0));
			counts_json(jo, &c);
		}
	}
	if (!o->json) {
		print_repos(&cur.repos);
		print_incomplete(&cur);
	}
	rc = (have_base && n > 0) || cur.hits ? 1 : 0;
	if (!o->json && have_base) {
		if (n)
			printf("%s: %zu changed (%u added, %u removed, %u modified, %u mode changed, %u type changed) "
			       "of %zu trust-relevant files\n", t->spec.name, n, c.added, c.removed, c.modified, c.mode,
			       c.type, cur.n);
		else
			printf("%s: no change in %zu trust-relevant files\n", t->spec.name, cur.n);
	}
	if (o->accept) {
		r = review_baseline_save(t->dir, &cur);
		if (r < 0) {
			_cleanup_free_ char *m = xasprintf("cannot save the new baseline: %s", strerror(-r));
			rc = fail(jo, t->spec.name, m);
		} else {
			if (jo)
				json_object_object_add(jo, "accepted", json_object_new_boolean(1));
			else
				printf("%s: accepted: the baseline now holds %zu files\n", t->spec.name, cur.n);
			rc = 0;
		}
	}
	free(items);
	review_snap_free(&base);
	review_snap_free(&cur);
	return rc;
}

/* The sandboxes an argument names; 2 with a message when none. */
static int select_targets(struct target *all, size_t n, const char *arg, bool *sel)
{
	char rp[PATH_MAX];
	size_t hits = 0;

	if (arg && name_valid(arg))
		for (size_t i = 0; i < n; i++)
			if (!strcmp(all[i].spec.name, arg)) {
				sel[i] = true;
				return 0;
			}
	if (!realpath(arg ? arg : ".", rp)) {
		if (!arg)
			goto everything;
		_cleanup_free_ char *e = esc_name(arg);
		fprintf(stderr, "sbx review: no sandbox named '%s', and no such path\n", e);
		return 2;
	}
	for (size_t i = 0; i < n; i++)
		if (!strcmp(all[i].spec.workspace, rp)) {
			sel[i] = true;
			hits++;
		}
	if (hits || !arg) {
		if (hits)
			return 0;
		goto everything;
	}
	{
		_cleanup_free_ char *e = esc_name(rp);
		fprintf(stderr, "sbx review: no sandbox has the workspace %s\n", e);
	}
	return 2;
everything:
	for (size_t i = 0; i < n; i++)
		sel[i] = true;
	return 0;
}

int cmd_review(struct sbx_paths *p, int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "accept", no_argument, NULL, 'a' },
		{ "stat", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct opts o = { .tty = isatty(STDOUT_FILENO) };
	struct target *all = NULL;
	_cleanup_free_ bool *sel = NULL;
	struct json_object *arr = NULL;
	size_t n = 0, broken = 0;
	int opt, rc = 0, r;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (opt) {
		case 'j': o.json = true; break;
		case 'a': o.accept = true; break;
		case 's': o.stat = true; break;
		case 'h': cmd_help_print(stdout, "review"); return 0;
		default: return usage_error("unknown option"), 2;
		}
	}
	if (argc - optind > 1)
		return usage_error("takes at most one NAME or PATH"), 2;
	r = targets_load(p, &all, &n, &broken);
	if (r < 0) {
		fprintf(stderr, "sbx review: cannot list sandboxes in %s: %s\n", p->sandboxes, strerror(-r));
		return 2;
	}
	sel = xcalloc(n + 1, sizeof(*sel));
	if (select_targets(all, n, optind < argc ? argv[optind] : NULL, sel) != 0) {
		targets_free(all, n);
		return 2;
	}
	if (broken && optind >= argc)
		rc = 2; /* reviewing every sandbox, and some cannot be */
	if (n == 0 && !broken && !o.json)
		cmd_note("sbx review: no sandboxes\n");
	if (o.json)
		arr = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		struct json_object *jo;
		if (!sel[i])
			continue;
		jo = arr ? json_object_new_object() : NULL;
		r = review_one(&all[i], &o, jo);
		rc = MAX(rc, r);
		if (jo)
			json_object_array_add(arr, jo);
		fflush(stdout);
	}
	if (arr) {
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(arr);
	}
	targets_free(all, n);
	return rc;
}
