// SPDX-License-Identifier: MIT
/* jail.c: a running sandbox's own host ids: which slot, and whether the ids are free (jail.h). */
#include "jail.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define JAIL_SLOTS_SEEN 1024u

/* As root: a slot's ids must belong to nobody else (another user's subordinate ids, a
 * user or group that exists). */
static int root_slot_free(const struct jail_ids *j, char **ret_err)
{
	static const char *const files[] = { IDMAP_SUBUID_FILE, IDMAP_SUBGID_FILE };
	const struct idmap_slot *s[] = { &j->uid, &j->gid };

	for (int i = 0; i < 2; i++) {
		_cleanup_free_ char *text = NULL;
		struct subid_range all = { s[i]->fs.start, s[i]->fs.count + 1 };
		size_t len = 0;
		unsigned line;

		if (file_read_all(files[i], IDMAP_FILE_MAX, &text, &len) < 0)
			continue;
		line = subid_overlap(text, len, all);
		if (line) {
			*ret_err = xasprintf("the ids %u-%u that sbx reserves for sandbox slot %d are given to someone in %s "
					     "(line %u); fix: move that range (usermod --del-subuids/--add-subuids)",
					     all.start, all.start + all.count - 1, j->slot, files[i], line);
			return -EADDRINUSE;
		}
	}
	if (getpwuid(j->uid.vmm) || getgrgid(j->gid.vmm) || getpwuid(j->uid.fs.start) || getgrgid(j->gid.fs.start)) {
		*ret_err = xasprintf("uid or gid %u or %u, reserved by sbx for sandbox slot %d, belongs to an existing "
				     "user or group; fix: give that account another id",
				     j->uid.fs.start, j->uid.vmm, j->slot);
		return -EADDRINUSE;
	}
	return 0;
}

/* The slots the VMs of list hold, in used[n]; how many. */
static unsigned slots_mark(const struct sandbox *list, const struct sandbox *self, unsigned n, bool *used)
{
	unsigned live = 0;

	for (const struct sandbox *sb = list; sb; sb = sb->next) {
		if (sb == self || sb->procs.qemu_pid <= 0 || sb->procs.slot < 0 || (unsigned)sb->procs.slot >= n)
			continue;
		used[sb->procs.slot] = true;
		live++;
	}
	return live;
}

int jail_ids_pick(struct sbxd *d, const struct sandbox *self, struct jail_ids *ret, char **ret_err)
{
	struct subid_range up = { IDMAP_JAIL_BASE, IDMAP_JAIL_ROOT_SLOTS * IDMAP_SLOT_MAX }, gp = up;
	bool used[JAIL_SLOTS_SEEN] = { false };
	unsigned n, live;
	int r;

	if (geteuid() != 0 && (r = idmap_user_ranges(&up, &gp, ret_err)) < 0)
		return r;
	n = MIN(idmap_slot_count(up), idmap_slot_count(gp));
	if (n == 0) {
		*ret_err = xasprintf("%u subordinate uids and %u gids are too few: each running sandbox takes %u of each, "
				     "and sbx wants room for %u; fix: sudo usermod --add-subuids/--add-subgids a range "
				     "of 65536 (sbx diagnose prints one)",
				     up.count, gp.count, IDMAP_SLOT_MIN, IDMAP_MIN_SLOTS);
		return -ENOSPC;
	}
	n = MIN(n, JAIL_SLOTS_SEEN);
	/* pool VMs hold their slots as sandboxes do (docs/warm-pool.md) */
	live = slots_mark(d->sandboxes, self, n, used) + slots_mark(d->pool, self, n, used);
	for (unsigned k = 0; k < n; k++) {
		struct jail_ids j = { .slot = (int)k };

		if (used[k])
			continue;
		if (idmap_slot_get(up, k, &j.uid) < 0 || idmap_slot_get(gp, k, &j.gid) < 0)
			break;
		if (geteuid() == 0 && (r = root_slot_free(&j, ret_err)) < 0)
			return r;
		*ret = j;
		return 0;
	}
	*ret_err = xasprintf("all %u sandbox id slots are taken by running sandboxes (%u); stop one, or give "
			     "yourself more subordinate ids (sudo usermod --add-subuids/--add-subgids)",
			     n, live);
	return -ENOSPC;
}
