// SPDX-License-Identifier: MIT
/* vmm_jail.h: QEMU's own root: a tmpfs that holds only what it opens, at their host paths. */
#ifndef SBX_VMM_JAIL_H
#define SBX_VMM_JAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMM_JAIL_FILES_MAX 8

/*
 * What QEMU may see (Firecracker's jailer, for QEMU): new mount, IPC, UTS and cgroup
 * namespaces, and a root that is an empty tmpfs holding /usr (read-only, for the
 * binary, its libraries and firmware), the merged-/usr symlinks, /dev/null, zero,
 * random, urandom (and kvm when asked), the binary when it lies outside /usr, and
 * each of files[] bound at its own host path (read-only unless rw[i]): kernel,
 * initramfs, base image, disk, console log. Nothing else of the host (no /proc, no
 * /home, no other sandbox's files or sockets) exists there.
 */
struct vmm_jail {
	const char *mountpoint;   /* an empty directory of ours; the tmpfs goes on it */
	const char *exe;          /* argv[0] */
	bool kvm;
	const char *files[VMM_JAIL_FILES_MAX];
	bool rw[VMM_JAIL_FILES_MAX];
	size_t n;
};

/* In the child, with CAP_SYS_ADMIN in its user namespace (or as root), before exec:
 * unshare, build the root and pivot_root into it. 0 or -errno. */
int vmm_jail_enter(const struct vmm_jail *j);

/* What every VMM process gets before it execs: no core dumps, no_new_privs, no ambient
 * capabilities, a bounding set cut to `keep` (a mask of CAP_* numbers). */
int vmm_lockdown(uint64_t keep);

#endif
