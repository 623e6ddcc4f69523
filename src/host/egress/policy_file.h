// SPDX-License-Identifier: MIT
/* policy_file.h: the policy as a file (docs/policy-file.md): parse, write, diff and apply.
 * Pure: no file I/O, no logging; the bytes parsed are hostile (a workspace may hold them). */
#ifndef SBX_POLICY_FILE_H
#define SBX_POLICY_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

/*
 * Text form, one directive a line, '#' to the end of a line is a comment:
 *   version 1                          optional, at most once
 *   preset balanced|allow-all|deny-all optional, at most once: the preset's rules
 *   allow RESOURCE [sandbox=NAME]      a rule (grammar: policy.h); sandbox=: that
 *   deny RESOURCE [sandbox=NAME]       sandbox only, else global
 * JSON form (a file whose first non-blank byte is '{'):
 *   {"version": 1, "preset": "balanced"|null,
 *    "rules": [{"action": "allow"|"deny", "resource": "...", "sandbox": "NAME"|null}]}
 * Both are read strictly: an unknown word, key or value refuses the whole file.
 */
#define POLICY_FILE_BYTES_MAX (1u << 20)
#define POLICY_FILE_LINE_MAX 1024

struct policy_file_rule {
	enum policy_action action;
	char *resource; /* normalised */
	char *sandbox;  /* NULL: global */
};

struct policy_file {
	char *preset;   /* NULL: none */
	struct policy_file_rule *rules;
	size_t n;       /* duplicates are dropped while parsing */
};

/* Parse len bytes (any bytes). On -EINVAL, *ret_err (allocated) says what is wrong
 * and *ret_line (when not NULL) is its 1-based line, 0 when no line applies. */
int policy_file_parse(const char *buf, size_t len, struct policy_file **ret, int *ret_line, char **ret_err);
void policy_file_free(struct policy_file *f);

/* The file of a loaded policy. preset_rules: the recorded preset's rules as shipped
 * (policy_preset_read), NULL when unreadable. When the policy's preset-derived rules
 * are exactly those, the file says `preset NAME` and lists the other rules; otherwise
 * it lists every rule and names no preset (*ret_expanded = true). */
struct policy_file *policy_file_from_policy(const struct policy *pol, char *const *preset_rules, bool *ret_expanded);

/* Text (with a header comment) or JSON; allocated, ends in a newline. */
char *policy_file_format_text(const struct policy_file *f);
char *policy_file_format_json(const struct policy_file *f);

/* One rule that an import adds or removes. */
struct policy_change {
	char op;        /* '+' or '-' */
	enum policy_action action;
	char *resource;
	char *sandbox;
	bool from_preset;
};

struct policy_diff {
	char *old_preset, *new_preset;
	struct policy_change *v;
	size_t n;
};

/* Make pol what f says (replace), or add f's rules to it (merge; f's preset must be
 * pol's or pol must have none). preset_rules: f->preset's rules (policy_preset_read),
 * required when f names a preset. The changes go to *ret (free: policy_diff_clear);
 * rules that stay keep their ids. -EINVAL with *ret_err (allocated): pol unchanged;
 * another error (*ret_err too) may leave pol half-edited: free it, never save it. */
int policy_file_apply(struct policy *pol, const struct policy_file *f, char *const *preset_rules, bool merge,
		      struct policy_diff *ret, char **ret_err);
bool policy_diff_empty(const struct policy_diff *d);
void policy_diff_clear(struct policy_diff *d);
/* "allow example.com sandbox=api": a change (or a rule) in the text form. */
char *policy_change_text(const struct policy_change *c);

/* A workspace's project policy (.sbx/policy): allow and deny lines only, no preset and
 * no sandbox=; every rule is then given the scope `sandbox`. -EINVAL (*ret_err). */
int policy_file_project(struct policy_file *f, const char *sandbox, char **ret_err);
/* Replace in pol the rules of `old` (the file accepted before; NULL: none) by those of
 * `new`: old's rules that new lacks are removed, new's are added (kept when present).
 * The diff is what changes in pol (a rule already there is no '+'). Errors as
 * policy_file_apply. */
int policy_file_swap(struct policy *pol, const struct policy_file *old, const struct policy_file *new,
		     struct policy_diff *ret, char **ret_err);

#endif
