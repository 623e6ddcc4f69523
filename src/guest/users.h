// SPDX-License-Identifier: MIT
/* users.h: /etc/passwd and /etc/group without NSS (the guest binary is static). */
#ifndef SBX_GUEST_USERS_H
#define SBX_GUEST_USERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AGENT_USER "agent"
#define USERS_MAX_GROUPS 256u

struct user_info {
	char *name;
	uid_t uid;
	gid_t gid;
	char *home;
	char *shell;
};

void user_info_done(struct user_info *u);

/* Resolve a user name or a numeric uid through /etc/passwd (under root, for tests).
 * A numeric uid without an entry resolves to uid=gid=N, home "/", shell /bin/sh.
 * -ENOENT when a name is unknown, -EINVAL when spec is malformed. */
int user_lookup(const char *root, const char *spec, struct user_info *ret);

/* The gid of group name in /etc/group (under root). -ENOENT when there is none. */
int group_lookup(const char *root, const char *name, gid_t *ret_gid);

/* Supplementary groups: gid first, then every /etc/group entry that lists name.
 * *ret is malloc'd, at most USERS_MAX_GROUPS entries. */
int user_groups(const char *root, const char *name, gid_t gid, gid_t **ret, size_t *ret_n);

/* Make user "agent" exist with exactly uid/gid: rewrite passwd/group (and shadow)
 * atomically when needed, keep it in group sudo if that exists, create and chown its
 * home. Idempotent. On failure *ret_msg (malloc'd) says what failed. */
int users_ensure_agent(const char *root, uint32_t uid, uint32_t gid, char **ret_msg);

#endif
