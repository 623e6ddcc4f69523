// SPDX-License-Identifier: MIT
/* cmd_help.c: a command's page (cmd_doc.c) as `--help` text and as a troff man page. */
#include "cmd_doc.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "cmd.h"
#include "util.h"
#include "version.h"

#define HELP_WIDTH 80
#define HELP_LABEL_MAX 22 /* a longer label puts its text on the next line */
/* the man pages' date: when their text last changed (not the build's, so that builds
 * are reproducible) */
#define SBX_MAN_DATE "2026-12-05"

/* --- plain text ------------------------------------------------------------ */

/* Words of s[0..len) refilled from column `col` (where the caller left the cursor)
 * to HELP_WIDTH, continuation lines indented by `indent`; ends the line. */
static void fill(FILE *f, const char *s, size_t len, int col, int indent)
{
	const char *end = s + len;
	bool first = true;

	while (s < end) {
		int wl;
		while (s < end && isspace((unsigned char)*s))
			s++;
		if (s >= end)
			break;
		wl = (int)strcspn(s, " \t\n");
		if (s + wl > end)
			wl = (int)(end - s);
		if (!first && col + 1 + wl > HELP_WIDTH) {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
		} else if (!first) {
			fputc(' ', f);
			col++;
		}
		fwrite(s, 1, (size_t)wl, f);
		col += wl;
		s += wl;
		first = false;
	}
	fputc('\n', f);
}

/* Text in cmd_doc.h's format: paragraphs refilled, indented lines as they are. */
static void text_print(FILE *f, const char *t)
{
	while (t && *t) {
		size_t l = strcspn(t, "\n");
		if (l == 0) {
			fputc('\n', f);
			t++;
			continue;
		}
		if (*t == ' ') {
			fprintf(f, "%.*s\n", (int)l, t);
			t += l + (t[l] == '\n');
			continue;
		}
		/* a paragraph: up to an empty or indented line */
		{
			const char *p = t;
			do {
				p += strcspn(p, "\n");
				if (*p)
					p++;
			} while (*p && *p != '\n' && *p != ' ');
			fill(f, t, (size_t)(p - t), 0, 0);
			t = p;
		}
	}
}

static bool opt_end(const struct doc_opt *o)
{
	return !o->help;
}

/* "-m, --memory SIZE" */
static void opt_label(const struct doc_opt *o, char *buf, size_t n)
{
	size_t l = 0;

	buf[0] = 0;
	if (o->short_name)
		l += (size_t)snprintf(buf + l, n - l, "-%c%s", o->short_name, o->name ? ", " : "");
	if (o->name && l < n)
		l += (size_t)snprintf(buf + l, n - l, "--%s", o->name);
	if (o->arg && l < n)
		snprintf(buf + l, n - l, " %s", o->arg);
}

/* "  LABEL   text..." with the text refilled at a common column */
static void item_print(FILE *f, const char *label, const char *text, int col)
{
	int used = fprintf(f, "  %s", label);

	if (used + 2 > col) {
		fprintf(f, "\n%*s", col, "");
		used = col;
	} else {
		fprintf(f, "%*s", col - used, "");
		used = col;
	}
	fill(f, text, strlen(text), used, col);
}

static void synopsis_print(FILE *f, const char *syn)
{
	bool first = true;

	while (syn && *syn) {
		size_t l = strcspn(syn, "\n");
		fprintf(f, "%s sbx %.*s\n", first ? "Usage:" : "      ", (int)l, syn);
		first = false;
		syn += l + (syn[l] == '\n');
	}
}

static void page_print(FILE *f, const struct cmd_doc *d)
{
	char label[96];
	int col = 0;
	struct doc_item it;

	synopsis_print(f, d->synopsis);
	fputc('\n', f);
	text_print(f, d->description);
	for (const struct doc_sub *s = d->subs; s && s->name; s++) {
		int w = (int)(strlen(s->name) + 1 + strlen(s->args));
		col = MAX(col, w);
	}
	for (const struct doc_opt *o = d->opts; o && !opt_end(o); o++) {
		opt_label(o, label, sizeof(label));
		if ((int)strlen(label) <= HELP_LABEL_MAX)
			col = MAX(col, (int)strlen(label));
	}
	for (size_t i = 0; d->list && d->list(i, &it); i++)
		if ((int)strlen(it.name) <= HELP_LABEL_MAX)
			col = MAX(col, (int)strlen(it.name));
	col = MIN(col, HELP_LABEL_MAX) + 4;
	if (d->subs) {
		fputs("\nCommands:\n", f);
		for (const struct doc_sub *s = d->subs; s->name; s++) {
			snprintf(label, sizeof(label), "%s%s%s", s->name, *s->args ? " " : "", s->args);
			item_print(f, label, s->help, col);
		}
	}
	if (d->opts && !opt_end(d->opts)) {
		fputs("\nOptions:\n", f);
		for (const struct doc_opt *o = d->opts; !opt_end(o); o++) {
			opt_label(o, label, sizeof(label));
			item_print(f, label, o->help, col);
		}
	}
	if (d->list) {
		fprintf(f, "\n%s:\n", d->list_title);
		for (size_t i = 0; d->list(i, &it); i++)
			item_print(f, it.name, it.text, col);
	}
	if (d->after) {
		fprintf(f, "\n%s:\n", d->after_title);
		text_print(f, d->after);
	}
}

int cmd_help_print(FILE *f, const char *name)
{
	const struct cmd_doc *d = cmd_doc_find(name);

	if (!d)
		return -ENOENT;
	page_print(f, d);
	return 0;
}

void cmd_help_top(FILE *f)
{
	const struct cmd_doc *t = cmd_doc_top(), *d;
	size_t n;

	d = cmd_doc_list(&n);
	synopsis_print(f, t->synopsis);
	fputc('\n', f);
	text_print(f, t->description);
	fputs("\nCommands:\n", f);
	for (size_t i = 0; i < n; i++)
		if (!d[i].hidden)
			item_print(f, d[i].name, d[i].summary, 12);
	if (t->opts && !opt_end(t->opts)) {
		char label[96];
		fputs("\nOptions:\n", f);
		for (const struct doc_opt *o = t->opts; !opt_end(o); o++) {
			opt_label(o, label, sizeof(label));
			item_print(f, label, o->help, 16);
		}
	}
	fprintf(f, "\n%s:\n", t->after_title);
	text_print(f, t->after);
}

/* --- troff ----------------------------------------------------------------- */

/* s[0..len) escaped for troff; at_line_start: a leading . or ' must not be a request. */
static void roff_put(FILE *f, const char *s, size_t len, bool at_line_start)
{
	if (at_line_start && len && (*s == '.' || *s == '\''))
		fputs("\\&", f);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\')
			fputs("\\e", f);
		else if (s[i] == '-')
			fputs("\\-", f);
		else
			fputc(s[i], f);
	}
}

static void roff_line(FILE *f, const char *s)
{
	roff_put(f, s, strlen(s), true);
	fputc('\n', f);
}

/* Text right after a .SH: its first paragraph needs no .PP. */
static void roff_text(FILE *f, const char *t)
{
	bool verbatim = false, para = false, first = true;

	while (t && *t) {
		size_t l = strcspn(t, "\n");
		if (l == 0) {
			para = false;
		} else if (*t == ' ') {
			if (!verbatim)
				fputs(first ? ".RS\n.nf\n" : ".PP\n.RS\n.nf\n", f);
			verbatim = true;
			first = false;
			roff_put(f, t, l, true);
			fputc('\n', f);
		} else {
			if (verbatim)
				fputs(".fi\n.RE\n", f);
			if ((verbatim || !para) && !first)
				fputs(".PP\n", f);
			verbatim = false;
			first = false;
			para = true;
			roff_put(f, t, l, true);
			fputc('\n', f);
		}
		if (l == 0 && verbatim) {
			fputs(".fi\n.RE\n", f);
			verbatim = false;
		}
		t += l + (t[l] == '\n');
	}
	if (verbatim)
		fputs(".fi\n.RE\n", f);
}

static void roff_upper(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc(toupper((unsigned char)*s), f);
}

static void roff_head(FILE *f, const char *page, const char *summary)
{
	fputs(".TH ", f);
	roff_upper(f, page);
	fputs(" 1 \"" SBX_MAN_DATE "\" \"sbx " SBX_VERSION "\" \"sbx manual\"\n.SH NAME\n", f);
	roff_put(f, page, strlen(page), true);
	fputs(" \\- ", f);
	roff_line(f, summary);
}

static void roff_synopsis(FILE *f, const char *syn)
{
	fputs(".SH SYNOPSIS\n.nf\n", f);
	while (syn && *syn) {
		size_t l = strcspn(syn, "\n");
		fputs("\\fBsbx\\fR ", f);
		roff_put(f, syn, l, false);
		fputc('\n', f);
		syn += l + (syn[l] == '\n');
	}
	fputs(".fi\n", f);
}

static void roff_item(FILE *f, const char *label, const char *text)
{
	fputs(".TP\n", f);
	roff_line(f, label);
	roff_line(f, text);
}

static void roff_section(FILE *f, const char *title)
{
	fputs(".SH ", f);
	roff_upper(f, title);
	fputc('\n', f);
}

static void man_page(FILE *f, const struct cmd_doc *d)
{
	_cleanup_free_ char *page = xasprintf("sbx-%s", d->name);
	char label[96];
	struct doc_item it;

	roff_head(f, page, d->summary);
	roff_synopsis(f, d->synopsis);
	fputs(".SH DESCRIPTION\n", f);
	roff_text(f, d->description);
	if (d->subs) {
		fputs(".SH COMMANDS\n", f);
		for (const struct doc_sub *s = d->subs; s->name; s++) {
			snprintf(label, sizeof(label), "%s%s%s", s->name, *s->args ? " " : "", s->args);
			roff_item(f, label, s->help);
		}
	}
	if (d->opts && !opt_end(d->opts)) {
		fputs(".SH OPTIONS\n", f);
		for (const struct doc_opt *o = d->opts; !opt_end(o); o++) {
			opt_label(o, label, sizeof(label));
			roff_item(f, label, o->help);
		}
	}
	if (d->list) {
		roff_section(f, d->list_title);
		for (size_t i = 0; d->list(i, &it); i++)
			roff_item(f, it.name, it.text);
	}
	if (d->after) {
		roff_section(f, d->after_title);
		roff_text(f, d->after);
	}
	fputs(".SH SEE ALSO\n.BR sbx (1)\n", f);
}

static void man_top(FILE *f)
{
	const struct cmd_doc *t = cmd_doc_top(), *d;
	size_t n;

	d = cmd_doc_list(&n);
	roff_head(f, "sbx", t->summary);
	roff_synopsis(f, t->synopsis);
	fputs(".SH DESCRIPTION\n", f);
	roff_text(f, t->description);
	fputs(".SH COMMANDS\n", f);
	for (size_t i = 0; i < n; i++)
		if (!d[i].hidden)
			roff_item(f, d[i].name, d[i].summary);
	if (t->opts && !opt_end(t->opts)) {
		char label[96];
		fputs(".SH OPTIONS\n", f);
		for (const struct doc_opt *o = t->opts; !opt_end(o); o++) {
			opt_label(o, label, sizeof(label));
			roff_item(f, label, o->help);
		}
	}
	roff_section(f, t->after_title);
	roff_text(f, t->after);
	fputs(".SH SEE ALSO\n", f);
	for (size_t i = 0, k = 0; i < n; i++)
		if (!d[i].hidden)
			fprintf(f, "%s\\fBsbx\\-%s\\fR(1)", k++ ? ",\n" : "", d[i].name);
	fputc('\n', f);
}

int cmd_man_print(FILE *f, const char *name)
{
	const struct cmd_doc *d;

	if (!name) {
		man_top(f);
		return 0;
	}
	d = cmd_doc_find(name);
	if (!d || d->hidden || strcmp(d->name, name))
		return -ENOENT;
	man_page(f, d);
	return 0;
}
