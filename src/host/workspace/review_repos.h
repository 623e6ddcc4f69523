// SPDX-License-Identifier: MIT
/* review_repos.h: the git repositories host git would find in a workspace, with what
 * in them runs programs (hooks, config keys). Part of `sbx review`. */
#ifndef SBX_REVIEW_REPOS_H
#define SBX_REVIEW_REPOS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * git run anywhere in the workspace walks up to the nearest `.git` (a directory, or
 * a file or symlink naming one elsewhere) or to a directory that is itself a git
 * directory (a bare repository), and obeys that directory's config and hooks;
 * `git submodule` and `git status` in a superproject do the same for
 * `.git/modules/NAME`. The review walk (review.c) calls review_repo_probe() on every
 * directory and `.git` it meets; each git directory becomes a review_repo listing
 * its hooks and the config keys of its `config` and `config.worktree` that run a
 * program or pull in more config. Files are read beneath the directory's fd without
 * following a symlink, bounded (REVIEW_REPO_CONFIG_MAX, REVIEW_REPO_LIST_MAX).
 */

#define REVIEW_REPOS_MAX 256
#define REVIEW_REPO_CONFIG_MAX (256u << 10)
#define REVIEW_REPO_LIST_MAX 64   /* hooks, keys per repository */

struct review_repo {
	char *path;        /* as review entries are named: the git directory, or the .git file */
	const char *kind;  /* "repository", "bare repository", "submodule", "gitdir file",
			    * "gitdir symlink", "shared git directory" */
	char *points_to;   /* a .git file's gitdir, a symlink's target, a commondir's text; or NULL */
	char **hooks;      /* names in hooks/ but *.sample */
	size_t n_hooks;
	char **runs;       /* "key = value" ("config.worktree: key = value") */
	size_t n_runs;
	bool truncated;    /* a list or a file went past its bound */
	char *error;       /* what could not be read, or NULL */
};

struct review_repos {
	struct review_repo *v;
	size_t n;
	bool full;         /* more than REVIEW_REPOS_MAX: the rest not listed */
};

void review_repos_free(struct review_repos *r);

/* Whether the directory at dirfd/name looks like a git directory to git: a HEAD,
 * and objects/ and refs/ (or a commondir naming them elsewhere). lstat only. */
bool review_repo_is_gitdir(int dirfd, const char *name);

/* Record the git directory dirfd/name (kind as above) named path. */
void review_repo_add_dir(struct review_repos *r, int dirfd, const char *name, const char *path, const char *kind);
/* Record a `.git` that is not a directory: a file ("gitdir: X") or a symlink. */
void review_repo_add_gitfile(struct review_repos *r, int dirfd, const char *name, const char *path);

/* The keys of a git config text that run programs or include other config, as
 * "key = value" lines (key: section[.subsection].name, section and name lower
 * case), prefixed with prefix. Appends to *v (at most REVIEW_REPO_LIST_MAX in all;
 * returns false when it had to stop). Exposed for tests. */
bool review_gitcfg_runs(const char *text, size_t len, const char *prefix, char ***v, size_t *n);

#endif
