// SPDX-License-Identifier: MIT
/* vm.h: launch and stop one sandbox microVM (QEMU microvm + virtiofsd), detached from the daemon. */
#ifndef SBX_VM_H
#define VM_QEMU_NOFILE 1024  /* QEMU's fd limit, soft and hard */
#define VM_QEMU_NPROC 1024   /* QEMU's thread limit (its own id's), soft and hard */
#define SBX_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "accel.h"
#include "idmap.h"

/*
 * Theory of operation
 * - The daemon can restart while VMs keep running, so QEMU and virtiofsd are
 *   double-forked into their own sessions (proc_spawn_detached). The caller records
 *   struct vm_procs; (pid, start time) identifies each process later.
 * - Channel: we bind run_dir/ctl.sock (0600) and hand the listening fd to QEMU
 *   (-chardev socket,fd=N,server=on,wait=off). QEMU accepts one client at a time and
 *   a new one after the previous went away, so a restarted daemon reconnects with
 *   sock_connect_at(run_dir, VM_CTL_SOCK).
 * - Workspace: virtiofsd gets a listening socket by --fd (bound as run_dir/vfs.sock,
 *   unlinked once QEMU's end is connected). It never runs as real root: it starts in
 *   a new user namespace (idmap.h) whose root is an unprivileged host id and where
 *   ns ws_uid is the workspace's owner (ws_uid itself when we are root, our own uid
 *   otherwise; likewise for gids), so files the guest agent creates belong to that
 *   user on the host and anything guest root creates belongs to an id with no rights
 *   there; setuid-root files and device nodes cannot appear. Files owned by ids
 *   outside the map (host root, say) are "nobody" to virtiofsd and the guest, and
 *   the workspace's parents must be searchable by the owner or by everyone.
 *   QEMU gets its end as an already-connected socket (fd=).
 * - QEMU runs in an empty network namespace, with no NIC, -nodefaults, and its
 *   strictest seccomp filter. It becomes "started" only once it answers a QMP command
 *   on a private socketpair, i.e. after every device was realized; if it fails before
 *   that, virtiofsd is killed too (it would otherwise wait forever).
 * Nothing is written to disk besides ctl.sock and the console log.
 */

#define VM_CTL_SOCK "ctl.sock"
#define VM_VFS_SOCK "vfs.sock"
#define VM_FS_TAG "sbxws"          /* virtiofs tag the guest mounts */
#define VM_CTL_PORT "sbx.ctl"      /* virtio-serial port name */
#define VM_START_TIMEOUT_MS 15000
#define VM_CMDLINE_MAX 2048        /* x86 COMMAND_LINE_SIZE */

struct vm_config {
	const char *name;
	const char *qemu_bin;       /* NULL = qemu-system-x86_64 in PATH */
	const char *virtiofsd_bin;  /* NULL = /usr/lib/qemu/virtiofsd */
	const char *vmlinux, *initramfs, *disk /* qcow2 overlay */, *workspace /* host dir, absolute; NULL = none */;
	const char *run_dir;        /* run/vms/NAME: ctl.sock and vfs.sock live here */
	const char *console_log;    /* guest serial console plus QEMU's and virtiofsd's stderr; truncated at launch */
	unsigned cpus, mem_mib;
	enum accel accel;
	uid_t ws_uid;               /* agent uid/gid in the guest */
	gid_t ws_gid;
	/* host ids for virtiofsd's namespace (idmap.h): the range sbx reserves as root,
	 * the user's subordinate ids otherwise */
	struct subid_range uid_range, gid_range;
	const char *extra_cmdline;  /* appended, may be NULL */
	const char *disk_base;      /* the disk's backing file, named to QEMU (never the header's) */
	char *const *cgroup_procs;  /* cgroup.procs files QEMU and virtiofsd join first (NULL: none) */
	/* the sandbox's own QEMU ids (idmap.h, a jail slot; 0: none): sbx switches to
	 * them before it execs QEMU (as root directly; for an ordinary user QEMU starts
	 * in a namespace where ns 0 is the user and ns 1 these ids), after it opened
	 * QEMU's disks and console for it (-add-fd) */
	uint32_t vmm_uid, vmm_gid;
	bool protect_git;           /* git hooks/config read-only to the guest (wsguard.h) */
	const char *git_dir;        /* --branch: the repository's git directory, shared too */
	/* a warm pool VM (docs/warm-pool.md): workspace NULL, virtiofsd serves an empty
	 * stage that vm_stage_attach() fills at claim */
	bool pool_stage;
	/* --workspace-mode sync: the guest's engine is the share's only reader, and must
	 * see a host change as soon as sbxd names it: no entry or attribute caching */
	bool share_uncached;
};

struct vm_procs {
	pid_t qemu_pid;
	uint64_t qemu_start;
	pid_t vfsd_pid;             /* 0 without a workspace */
	uint64_t vfsd_start;
	int slot;                   /* the jail slot its ids come from (idmap.h); -1: none */
};

/* qemu-img create -f qcow2 -b BASE -F raw, under a temporary name, fsynced, renamed
 * into place (mode 0600). Both paths absolute. */
int vm_disk_create(const char *base_raw, const char *overlay_qcow2);

/* QEMU's argv (NULL-terminated, free with vm_argv_free). vfs_fd = -1: no workspace.
 * Reads the host TSC rate for TCG, otherwise pure. */
int vm_build_argv(const struct vm_config *c, int ctl_fd, int vfs_fd, char ***ret_argv);
void vm_argv_free(char **argv);
/* Kernel command line; tsc_khz is used under TCG only (0 = unknown, left out). Pure. */
int vm_build_cmdline(const struct vm_config *c, unsigned tsc_khz, char **ret);

/* Start virtiofsd (if c->workspace) and QEMU, wait until QEMU is up. *ret_err
 * (malloc'd, may stay NULL): why, when the workspace's git metadata cannot be
 * protected (wsguard.h). */
int vm_launch(const struct vm_config *c, struct vm_procs *ret, char **ret_err);
/* Terminate QEMU, then virtiofsd (SIGTERM, grace_ms, SIGKILL). 0 when both are gone. */
int vm_kill(const struct vm_procs *p, int grace_ms);

#endif
