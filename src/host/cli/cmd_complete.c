// SPDX-License-Identifier: MIT
/* cmd_complete.c: `sbx __complete WORD...`: the candidates for the last word, for the
 * bash, zsh and fish scripts in completion/; made from the help pages (cmd_doc.c). */
#include "cmd.h"
#include "cmd_doc.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "image.h"
#include "names.h"
#include "services.h"
#include "settings.h"
#include "util.h"

static const char *const agents[] = { "shell", "claude", "codex", "gemini", "copilot", NULL };
static const char *const presets[] = { "allow-all", "balanced", "deny-all", NULL };

static void say(const char *word, const char *cur)
{
	if (!strncmp(word, cur, strlen(cur)))
		printf("%s\n", word);
}

static void say_all(const char *const *v, const char *cur)
{
	for (; *v; v++)
		say(*v, cur);
}

/* The sandboxes on disk: no daemon to start for a tab. */
static void say_sandboxes(const struct sbx_paths *p, const char *cur)
{
	DIR *d = opendir(p->sandboxes);
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.' && name_valid(de->d_name))
			say(de->d_name, cur);
	if (d)
		closedir(d);
}

/* Candidates of one kind (cmd_doc.h); files and directories are the shell's: a line
 * ":file" or ":dir" says so. */
static void say_kind(const struct sbx_paths *p, const char *kind, size_t len, const char *cur)
{
	_cleanup_free_ char *k = xasprintf("%.*s", (int)len, kind);

	if (!strcmp(k, "agent")) {
		say_all(agents, cur);
	} else if (!strcmp(k, "preset")) {
		say_all(presets, cur);
	} else if (!strcmp(k, "dir")) {
		printf(":dir\n");
	} else if (!strcmp(k, "file")) {
		printf(":file\n");
	} else if (!strcmp(k, "sandbox")) {
		say_sandboxes(p, cur);
	} else if (!strcmp(k, "template")) {
		char **v = NULL;
		if (template_names(p, &v) == 0)
			say_all((const char *const *)v, cur);
		image_strv_free(v);
	} else if (!strcmp(k, "service")) {
		size_t n;
		const struct service *s = service_list(&n);
		for (size_t i = 0; i < n; i++)
			say(s[i].name, cur);
	} else if (!strcmp(k, "setting")) {
		size_t n;
		const struct settings_key *s = settings_keys(&n);
		for (size_t i = 0; i < n; i++)
			say(s[i].key, cur);
	} else if (!strcmp(k, "command")) {
		size_t n;
		const struct cmd_doc *d = cmd_doc_list(&n);
		for (size_t i = 0; i < n; i++)
			if (!d[i].hidden)
				say(d[i].name, cur);
	} else if (k[0] == '=') {
		say(k + 1, cur);
	}
}

/* The kind of positional argument number i in a list like "sandbox command file...". */
static void say_positional(const struct sbx_paths *p, const char *kinds, int i, const char *cur)
{
	const char *k = kinds;

	while (k && *k) {
		size_t l = strcspn(k, " ");
		bool rep = l > 3 && !strncmp(k + l - 3, "...", 3);
		if (i == 0 || (rep && !k[l])) {
			say_kind(p, k, rep ? l - 3 : l, cur);
			return;
		}
		i--;
		k += l;
		k += strspn(k, " ");
	}
}

static bool in_list(const char *list, const char *word)
{
	size_t n = strlen(word);

	while (list && *list) {
		size_t l = strcspn(list, " ");
		if (l == n && !strncmp(list, word, n))
			return true;
		list += l;
		list += strspn(list, " ");
	}
	return false;
}

static bool opt_applies(const struct doc_opt *o, const char *sub)
{
	return !o->sub || (sub && in_list(o->sub, sub));
}

/* The option word w names (--name, --name=V, -x, or the last of -abc); NULL if none. */
static const struct doc_opt *opt_find(const struct cmd_doc *d, const char *sub, const char *w, bool *ret_inline)
{
	*ret_inline = false;
	for (const struct doc_opt *o = d->opts; o && o->help; o++) {
		if (!opt_applies(o, sub))
			continue;
		if (w[1] == '-' && o->name) {
			size_t n = strlen(o->name);
			if (!strncmp(w + 2, o->name, n) && (!w[2 + n] || w[2 + n] == '=')) {
				*ret_inline = w[2 + n] == '=';
				return o;
			}
		} else if (w[1] != '-' && o->short_name && w[strlen(w) - 1] == o->short_name) {
			return o;
		}
	}
	return NULL;
}

int cmd_complete(struct sbx_paths *p, int argc, char **argv)
{
	char **w = argv + 1;
	int nw = argc - 1, npos = 0;
	const char *cur = nw > 0 ? w[nw - 1] : "";
	const struct cmd_doc *d;
	const struct doc_sub *sub = NULL;
	const struct doc_opt *want = NULL;
	bool dashdash = false, is_exec;

	/* the options before the command (sbx -q template ...) */
	while (nw > 1 && w[0][0] == '-') {
		bool inl;
		if (!opt_find(cmd_doc_top(), NULL, w[0], &inl))
			return 0;
		w++;
		nw--;
	}
	if (nw <= 1) {
		if (cur[0] == '-') {
			for (const struct doc_opt *o = cmd_doc_top()->opts; o && o->help; o++) {
				char buf[64];
				snprintf(buf, sizeof(buf), "--%s", o->name);
				say(buf, cur);
			}
			return 0;
		}
		say_kind(p, "command", 7, cur);
		return 0;
	}
	d = cmd_doc_find(w[0]);
	if (!d)
		return 0;
	is_exec = !strcmp(d->name, "exec");
	for (int i = 1; i < nw - 1; i++) {
		bool inl;
		const struct doc_opt *o;

		if (want) {
			want = NULL;
		} else if (dashdash || (is_exec && npos >= 2)) {
			npos++;
		} else if (!strcmp(w[i], "--")) {
			dashdash = true;
		} else if (w[i][0] == '-' && w[i][1]) {
			o = opt_find(d, sub ? sub->name : NULL, w[i], &inl);
			if (o && o->arg && !inl)
				want = o;
		} else if (d->subs && !sub) {
			for (sub = d->subs; sub->name && strcmp(sub->name, w[i]); sub++)
				;
			if (!sub->name)
				return 0;
		} else {
			npos++;
		}
	}
	if (want) {
		/* an option's value may be one of several kinds: "=share =sync" */
		for (const char *k = want->kind; k && *k; k += strcspn(k, " "), k += *k == ' ')
			say_kind(p, k, strcspn(k, " "), cur);
		return 0;
	}
	if (dashdash && !is_exec) {
		printf(":file\n");
		return 0;
	}
	if (cur[0] == '-' && !dashdash && !(is_exec && npos >= 2)) {
		for (const struct doc_opt *o = d->opts; o && o->help; o++) {
			char buf[64];
			if (!opt_applies(o, sub ? sub->name : NULL))
				continue;
			if (o->name)
				snprintf(buf, sizeof(buf), "--%s", o->name);
			else
				snprintf(buf, sizeof(buf), "-%c", o->short_name);
			say(buf, cur);
		}
		return 0;
	}
	if (d->subs && !sub) {
		for (sub = d->subs; sub->name; sub++)
			say(sub->name, cur);
		return 0;
	}
	say_positional(p, sub ? sub->kinds : d->kinds, npos, cur);
	return 0;
}
