// SPDX-License-Identifier: MIT
/* paths.h: where sbx keeps its files (SBX_HOME, else the XDG base directories). */
#ifndef SBX_PATHS_H
#define SBX_PATHS_H

/*
 * Layout (every directory 0700):
 *   config/                      settings, policy, CA, secrets file
 *   state/sandboxes/NAME/        spec.json, disk.qcow2, console.log
 *   state/sbxd.log               daemon log
 *   cache/kernel/                vmlinux, modules, initramfs (see image.h)
 *   cache/templates/NAME/        base.raw (read-only base disk), meta.json
 *   run/sbxd.sock, run/sbxd.pid  daemon control socket (0600) and pid
 *   run/vms/NAME/                ctl.sock, vm.json (pids of qemu and virtiofsd)
 * Unix socket paths may exceed sun_path: bind and connect them through
 * sock_*_at() (sock.h), which go through /proc/self/fd/DIRFD/NAME.
 */
struct sbx_paths {
	char *config;
	char *state;
	char *cache;
	char *run;
	char *sandboxes;   /* state/sandboxes */
	char *vms;         /* run/vms */
	char *self_exe;    /* absolute path of the running sbx binary */
	char *guest_bin;   /* sbx-guest next to it, or PREFIX/lib/sbx/sbx-guest */
	char *keyring_lib; /* libsbx-keyring.so, in the directory of guest_bin */
	char *recipes;     /* recipes/ in the source tree, or PREFIX/share/sbx/recipes */
};

/* Fill p from the environment and create the directories. Dies on failure (start-up). */
void paths_init(struct sbx_paths *p);
void paths_free(struct sbx_paths *p);

#endif
