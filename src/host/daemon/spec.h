// SPDX-License-Identifier: MIT
/* spec.h: a sandbox's persistent description (state/sandboxes/NAME/spec.json). */
#ifndef SBX_SPEC_H
#define SBX_SPEC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "portspec.h"

struct json_object;

#define SPEC_MAX_ENV 256

struct spec {
	char *name;
	char *agent;
	char *template_name;
	char *workspace;   /* absolute, resolved */
	unsigned cpus;
	unsigned memory_mib;
	uid_t uid;         /* of user "agent" in the guest */
	gid_t gid;
	int64_t created;   /* unix seconds */
	int64_t stopped;   /* unix seconds of the last stop of its VM; 0: never stopped
			    * (or stopped by an sbx older than this field) */
	char **env;        /* NULL-terminated "K=V" list given at create */
	/* --branch (all NULL without): the workspace is a worktree of repo at branch;
	 * git_dir (the repository's git directory) is shared with the VM too */
	char *branch;
	char *repo;
	char *git_dir;
	/* the worktree's own git directory is git_dir/worktrees/ID (recorded when sbx
	 * made it; NULL in specs of older sbx): host git never asks the worktree */
	char *git_worktree_id;
	/* the template image its disk was made over (sbx's record: the disk's own header,
	 * which a broken-out VMM can rewrite, never chooses it); NULL in older specs */
	char *base;
	/* `sbx run --local DIR`: workspace directories kept on the VM's disk, not shared
	 * (NULL-terminated, at most LOCAL_DIRS_MAX, each local_dir_valid; NULL: none) */
	char **local;
	/* published ports (`sbx run -p`), at most PORTSPEC_MAX, checked by portspec_list_check */
	struct portspec ports[PORTSPEC_MAX];
	size_t n_ports;
	/* --workspace-mode sync: the guest works on a copy on its own disk, synchronised
	 * both ways (docs/workspace-sync.md); false: the virtiofs share itself ("share") */
	bool ws_sync;
};

/* "share" or "sync" -> *ret_sync; -EINVAL for anything else. */
int spec_ws_mode_parse(const char *s, bool *ret_sync);
const char *spec_ws_mode_name(const struct spec *s);

void spec_free(struct spec *s);
/* Validate every field (name, agent, paths, ranges). 0 or -EINVAL with *ret_err set. */
int spec_validate(const struct spec *s, const char **ret_err);
struct json_object *spec_to_json(const struct spec *s);
/* spec->local as a JSON array of strings. */
struct json_object *spec_local_json(const struct spec *s);
/* Parse and validate; -EINVAL on anything unexpected. */
int spec_from_json(struct json_object *o, struct spec *ret, const char **ret_err);
int spec_save(const struct spec *s, const char *path);
int spec_load(const char *path, struct spec *ret);
/* Like spec_load; on failure *ret_err (malloc'd) says what is wrong, naming the file. */
int spec_load_ex(const char *path, struct spec *ret, char **ret_err);

bool agent_known(const char *agent);
/* Default command and template of an agent (static strings). */
const char *const *agent_default_argv(const char *agent);
const char *agent_default_template(const char *agent);

#endif
