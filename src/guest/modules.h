// SPDX-License-Identifier: MIT
/* modules.h: loading the kernel modules listed in the initramfs. */
#ifndef SBX_GUEST_MODULES_H
#define SBX_GUEST_MODULES_H

/* The initramfs's list of module files to load at boot, in order. */
#define MODULES_LIST "/etc/sbx/modules"

void modules_load(const char *list_path);

#endif
