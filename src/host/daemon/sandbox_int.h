// SPDX-License-Identifier: MIT
/* sandbox_int.h: what sandbox.c shares with sandbox_pool.c (a pool VM is a struct
 * sandbox with its own lifecycle). Not for the rest of sbxd. */
#ifndef SBX_SANDBOX_INT_H
#define SBX_SANDBOX_INT_H

#include "guestchan.h"
#include "sbxd.h"

extern const struct guestchan_events sandbox_chan_events;       /* a sandbox's */
extern const struct guestchan_events sandbox_pool_chan_events;  /* a pool VM's */

/* A new struct sandbox of spec (taken), first on d->sandboxes. */
struct sandbox *sandbox_alloc(struct sbxd *d, struct spec *spec);
/* Boot sb's VM: jail, cgroup, QEMU and virtiofsd, then wait for the guest. */
int sandbox_launch(struct sandbox *sb, char **ret_err);
/* Kill the VM's processes (QEMU given qemu_grace_ms), remove its cgroup and run_dir. */
void vm_teardown(struct sandbox *sb, int qemu_grace_ms);
/* run_dir/vm.json: write sb's processes; read them back (-ENOENT: no VM recorded;
 * other errors: a record that cannot be read or makes no sense, *ret_err naming it). */
int write_vm_json(struct sandbox *sb);
int read_vm_json(const char *run_dir, struct vm_procs *ret, char **ret_err);
/* The console log's last lines (control characters blanked), for error messages. */
char *console_tail(struct sandbox *sb, int lines);
void sandbox_fail_start(struct sandbox *sb, char *error /* taken */);
void sandbox_on_guest_ready(struct sandbox *sb);
/* Why a sandbox's disk could not be made in dir (malloc'd). */
char *disk_error(const char *dir);

#endif
