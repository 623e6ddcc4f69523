// SPDX-License-Identifier: MIT
/* jail.h: each running sandbox's own host ids (a jail slot, idmap.h), chosen at start. */
#ifndef SBX_JAIL_H
#define SBX_JAIL_H

#include "idmap.h"
#include "sbxd.h"

struct jail_ids {
	int slot;
	struct idmap_slot uid, gid;
};

/*
 * The lowest slot no other live sandbox of d holds, and its uid and gid ids: from
 * the range sbx reserves (IDMAP_JAIL_BASE) as root, checked against /etc/subuid,
 * /etc/subgid and the users and groups that exist; from the user's subordinate ids
 * otherwise. On failure *ret_err says why and what fixes it.
 */
int jail_ids_pick(struct sbxd *d, const struct sandbox *self, struct jail_ids *ret, char **ret_err);

#endif
