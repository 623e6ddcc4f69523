// SPDX-License-Identifier: MIT
/* cmd_doc.h: every command's help, once: `--help`, `sbx help`, the man pages and the
 * shell completion are all made from this table (cmd_doc.c; renderers in cmd_help.c
 * and cmd_complete.c). */
#ifndef SBX_CMD_DOC_H
#define SBX_CMD_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * Text fields (description, after) are lines: consecutive lines that start with a
 * letter or punctuation form one paragraph (refilled to the terminal's 80 columns,
 * and by troff); a line starting with a space is kept exactly as written (tables,
 * examples); an empty line ends a paragraph. ASCII only.
 *
 * Positional arguments, for completion, are a space-separated list of kinds; the last
 * one ending in "..." repeats: "agent dir", "sandbox...". Kinds: agent, dir, file,
 * sandbox, template, service, setting, preset, command (an sbx command), and =WORD
 * (that word).
 */
struct doc_opt {
	const char *sub;   /* the subcommands it belongs to, space-separated; NULL: every one */
	char short_name;   /* 0: none */
	const char *name;  /* the long name without "--"; NULL: none */
	const char *arg;   /* its value's name ("NAME"); NULL: a flag */
	const char *kind;  /* what the value is, for completion (a kind as above) */
	const char *help;
};

struct doc_sub {
	const char *name;
	const char *args;  /* how it is written after its name, for the help ("PRESET") */
	const char *kinds; /* positional kinds, for completion */
	const char *help;
};

/* An extra list the help and the man page make at run time (services, settings keys). */
struct doc_item {
	const char *name, *text;
};

struct cmd_doc {
	const char *name;
	const char *aliases;     /* space-separated other names, reaching the same page */
	const char *summary;     /* one line, lower case, no full stop: `sbx help`, man NAME */
	const char *synopsis;    /* lines without the leading "sbx " */
	const char *description;
	const struct doc_sub *subs; /* { NULL }-terminated; NULL: none */
	const struct doc_opt *opts; /* { NULL... }-terminated (help == NULL ends it) */
	const char *kinds;       /* positional kinds of the command without subcommands */
	const char *list_title;  /* a section made by list(): "Services", "Keys" */
	size_t (*list)(size_t i, struct doc_item *ret); /* 0 when past the end */
	const char *after_title; /* a last section: "Examples", "Exit status" */
	const char *after;
	bool hidden;             /* not in `sbx help`, no man page of its own (login, logout) */
};

/* The pages, in the order `sbx help` lists them; *ret_n entries. */
const struct cmd_doc *cmd_doc_list(size_t *ret_n);
/* By name or alias; NULL when none. */
const struct cmd_doc *cmd_doc_find(const char *name);
/* The top page, sbx(1) and `sbx help`. */
const struct cmd_doc *cmd_doc_top(void);

/* cmd_help.c: `sbx CMD --help` (the command's page on f; name as typed, an alias is
 * fine); 0, or -ENOENT when there is no page. */
int cmd_help_print(FILE *f, const char *name);
/* `sbx help`: the top page with the list of commands. */
void cmd_help_top(FILE *f);
/* The troff source of sbx(1) (name NULL) or sbx-NAME(1); -ENOENT when no page. */
int cmd_man_print(FILE *f, const char *name);

#endif
