// SPDX-License-Identifier: MIT
/* review_rules.h: which workspace files run implicitly on the host (the one table
 * `sbx review` checks), and which directories its walk enters. Pure. */
#ifndef SBX_REVIEW_RULES_H
#define SBX_REVIEW_RULES_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A rule is a glob over the workspace-relative path, matched at any depth: a rule
 * "Makefile" matches "Makefile" and "sub/dir/Makefile". "*" and "?" stay within one
 * path component; a "**" component spans any number of components (zero included
 * in the middle of a glob, at least one at its end). Paths are raw bytes,
 * '/'-separated, without a leading slash or "." and ".." components.
 */
struct review_rule {
	const char *glob;
	const char *kind;   /* "git", "ci", "build", "js", "editor", "env" */
	const char *what;   /* short description for humans */
};

const struct review_rule *review_rules(size_t *ret_n);

/* The rule a non-directory entry at path falls under, or NULL. Besides the globs
 * themselves, a non-directory at a directory a rule names (".git" as a gitdir
 * pointer file, ".git/hooks" or ".vscode" as a symlink) falls under that rule:
 * replacing such a directory redirects what runs. */
const struct review_rule *review_rule_match(const char *path);

/* Whether data is what git itself writes at a file of this rule (a new worktree's
 * commondir, "../.."): not recorded, so that every new worktree of a repository is
 * not a change; any other content is. */
bool review_rule_usual(const struct review_rule *rule, const char *data, size_t len);

/* Glob matching as described above; exposed for the unit tests. */
bool review_glob_match(const char *glob, const char *path);

/* Whether the walk enters the directory at path (workspace-relative; its last
 * component is the directory's name). Skipped everywhere: node_modules, target,
 * .venv, venv, __pycache__, dist, build. Inside a ".git" directory only hooks/,
 * info/, worktrees/ and each worktrees/ID (not below), and modules/ (minus each
 * module's objects, refs, logs, lfs) are entered. */
bool review_dir_enter(const char *path);

#endif
