// SPDX-License-Identifier: MIT
/* vm_bootfiles.h: per-VM copies of the kernel and initramfs that QEMU maps, emptied once the guest runs. */
#ifndef SBX_VM_BOOTFILES_H
#define SBX_VM_BOOTFILES_H

/*
 * QEMU maps its -kernel and -initrd files privately and keeps them mapped for the
 * VM's life, only to load them again on a reset (sbx never resets a VM: a reboot ends
 * it, -no-reboot). Each page read stays in QEMU's resident set: 48 MiB of the Debian
 * kernel's vmlinux and the whole initramfs, per idle sandbox. So QEMU is given copies
 * in its run directory, and once the guest is up their blocks are punched out: the
 * kernel drops those pages from QEMU's mapping, and a reset would load zeros (a guest
 * that never comes back) rather than fault QEMU.
 */

#define VM_BOOT_VMLINUX "boot-vmlinux"
#define VM_BOOT_INITRD "boot-initrd"

/* Copy src to run_dir/name (mode 0644: QEMU's own ids read it) and set
 * *ret_path (malloc'd) to it. */
int vm_bootfile_copy(const char *run_dir, const char *name, const char *src, char **ret_path);

/* Punch out the blocks of run_dir's boot copies (those present). 0, or the first -errno. */
int vm_bootfiles_release(const char *run_dir);

#endif
