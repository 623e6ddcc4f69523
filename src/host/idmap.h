// SPDX-License-Identifier: MIT
/* idmap.h: the user-namespace id maps of the VMM helpers, and the subordinate ids they come from. */
#ifndef SBX_IDMAP_H
#define SBX_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * virtiofsd never runs with the rights of a real host user beyond the workspace
 * owner's: it starts in a new user namespace whose root is an unprivileged id and
 * where exactly one id, the agent's (ws_id), maps onto a real user (ws_host), so the
 * agent's files belong to that user on the host and whatever guest root creates
 * belongs to an id with no rights there.
 * - sbx as root: the ids come from the range sbx reserves, IDMAP_ROOT_BASE (65536
 *   ids), and ws_id maps to itself; sbx writes the maps.
 * - sbx as an ordinary user: the ids come from the user's subordinate ids
 *   (/etc/subuid, /etc/subgid) and ws_id maps to the user; the setuid helpers
 *   newuidmap/newgidmap (Debian's uidmap) write the maps. A map of the user alone
 *   would have to deny setgroups(), which virtiofsd needs to drop groups.
 */

#define IDMAP_ROOT_BASE 100000u
#define IDMAP_ROOT_COUNT 65536u
#define IDMAP_SUBUID_FILE "/etc/subuid"
#define IDMAP_SUBGID_FILE "/etc/subgid"
#define IDMAP_NEWUIDMAP "/usr/bin/newuidmap"
#define IDMAP_NEWGIDMAP "/usr/bin/newgidmap"
#define IDMAP_FILE_MAX (1u << 20)  /* /etc/subuid larger than this is refused */

struct subid_range {
	uint32_t start, count;
};

/*
 * One identity per running sandbox (a jail slot): its VMMs never share a host id with
 * another sandbox's. A pool of ids (sbx as root: IDMAP_JAIL_BASE, reserved; an
 * ordinary user: the subordinate ids) is cut into equal slots of at most 65536 ids,
 * at least IDMAP_MIN_SLOTS of them (a user's usual 65536 subids: 8 slots of 8192).
 * Slot k's last id is QEMU's (sbx switches to it before exec); the ids before it are
 * virtiofsd's namespace (its root, the first, is virtiofsd itself; guest id i is
 * start + i), so the guest's files never carry QEMU's id.
 */
#define IDMAP_JAIL_BASE 1000000000u  /* above useradd's SUB_UID_MAX (600100000) */
#define IDMAP_JAIL_ROOT_SLOTS 1024u
#define IDMAP_SLOT_MAX 65536u
#define IDMAP_SLOT_MIN 1024u
#define IDMAP_MIN_SLOTS 8u

struct idmap_slot {
	struct subid_range fs;  /* virtiofsd's namespace ids */
	uint32_t vmm;           /* QEMU's host id */
};

/* How many slots pool holds (0: too small for IDMAP_MIN_SLOTS of IDMAP_SLOT_MIN). Pure. */
unsigned idmap_slot_count(struct subid_range pool);
/* Slot k of pool; -ERANGE when there is no such slot. Pure. */
int idmap_slot_get(struct subid_range pool, unsigned k, struct idmap_slot *ret);
/* The first line of subuid/subgid text whose range overlaps r (1-based), 0 if none:
 * ids another user may own must never be a sandbox's. Pure. */
unsigned subid_overlap(const char *text, size_t len, struct subid_range r);

struct idmap_extent {
	uint32_t inside, outside, count;
};

struct idmap {
	struct idmap_extent e[3];
	unsigned n;
};

/* The range of NAME (or of the decimal ID, as shadow also accepts) in subuid/subgid
 * text: the largest when there are several. -ENOENT: none; -EINVAL: a line of the
 * user's that is malformed. Pure. */
int subid_parse(const char *text, size_t len, const char *name, uint32_t id, struct subid_range *ret);
/* The same from a file; -ENOENT also when the file is missing. */
int subid_lookup(const char *file, const char *name, uint32_t id, struct subid_range *ret);
/* The first id after every range in the text (at least IDMAP_ROOT_BASE): where a new
 * user's range may start. Pure. */
uint32_t subid_free_start(const char *text, size_t len);

/* Namespace ids [0, range.count) onto range, except ws_id onto ws_host. -EINVAL when
 * ws_id is 0 (ns root must stay unprivileged), ws_host lies in the range, or the
 * range is empty or wraps. Pure. */
int idmap_build(uint32_t ws_id, uint32_t ws_host, struct subid_range range, struct idmap *ret);
/* As /proc/PID/uid_map wants it ("inside outside count\n" per extent). Pure. */
int idmap_format(const struct idmap *m, char *buf, size_t size);

/* A user namespace to enter after fork: its maps, and who writes them. */
struct idmap_ns {
	bool self_write;        /* we are root and write them; else newuidmap/newgidmap */
	bool keep_groups;       /* keep the supplementary groups (QEMU's, for /dev/kvm) */
	struct idmap uid, gid;
	char uid_text[128], gid_text[128];
};

/* The namespace of idmap_build(ws_uid, host_uid, urange) and its gid twin; self_write
 * when we are root. Pure but for geteuid(). */
int idmap_ns_make(uint32_t ws_uid, uint32_t host_uid, struct subid_range urange, uint32_t ws_gid, uint32_t host_gid,
		  struct subid_range grange, struct idmap_ns *ret);
/* QEMU's namespace for an ordinary user: ns 0 is the user (sbx builds the jail
 * there), ns 1 is the slot's QEMU id, which sbx switches to before exec. */
void idmap_ns_vmm(uint32_t host_uid, uint32_t host_gid, uint32_t vmm_uid, uint32_t vmm_gid, struct idmap_ns *ret);
/* In a child after fork (plain syscalls; forks helpers): unshare a user namespace
 * with ns's maps and become its root with no supplementary groups, keeping full
 * capabilities inside it. */
int idmap_enter(const struct idmap_ns *ns);
/* The same with only our own ids mapped (setgroups denied, as the kernel requires),
 * unsharing the namespaces in extra (CLONE_NEW*) too. */
int idmap_enter_self(int extra);

/* For an ordinary user: a namespace of the user's subordinate ids with the user on
 * top (ns id = the range's size), whose root may touch both what the user owns and
 * what the user's sandboxes made as guest root (template trees, files guest root
 * left in a workspace). *ret_err as for idmap_user_ranges. */
int idmap_user_ns(struct idmap_ns *ret, char **ret_err);
/* fn(arg) in a child as root of ns; its result (>= 0, or -errno). */
int idmap_run(const struct idmap_ns *ns, int (*fn)(void *), void *arg);

/* For an ordinary user: the subordinate uid and gid ranges of the caller, checked
 * to be usable (newuidmap/newgidmap present). On failure *ret_err says what is
 * missing and the one command that fixes it. */
int idmap_user_ranges(struct subid_range *ret_uid, struct subid_range *ret_gid, char **ret_err);

#endif
