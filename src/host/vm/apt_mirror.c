// SPDX-License-Identifier: MIT
/* apt_mirror.c: find the machine's Debian mirror in apt's one-line and deb822 sources. */
#include "apt_mirror.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "recipe.h"
#include "util.h"


static void mirror_note(struct apt_mirrors *m, const char *uri, const char *suite, const char *want)
{
	size_t wl = strlen(want);
	bool ours = !strncmp(suite, want, wl) && (suite[wl] == 0 || suite[wl] == '-');

	if (!recipe_word_ok(uri, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:/._-~+%@", 512))
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
static void mirrors_scan_list(struct apt_mirrors *m, char *text, const char *want)
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

static void stanza_flush(struct apt_mirrors *m, struct stanza *st, const char *want)
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
static void mirrors_scan_sources(struct apt_mirrors *m, char *text, const char *want)
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

void apt_mirrors_scan(struct apt_mirrors *m, char *text, bool deb822, const char *suite)
{
	if (deb822)
		mirrors_scan_sources(m, text, suite);
	else
		mirrors_scan_list(m, text, suite);
}

void apt_mirrors_find(struct apt_mirrors *m, const char *suite)
{
	static const char *const dirs[] = { "/etc/apt/sources.list", "/etc/apt/sources.list.d" };
	_cleanup_free_ char *text = NULL;
	DIR *d;
	struct dirent *de;

	if (file_read_all(dirs[0], 1u << 20, &text, NULL) == 0)
		apt_mirrors_scan(m, text, false, suite);
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
		apt_mirrors_scan(m, t, sources, suite);
	}
	closedir(d);
}
