// SPDX-License-Identifier: MIT
/* modules.h: loading kernel modules with finit_module: the initramfs list, and single modules via modules.dep. */
#ifndef SBX_GUEST_MODULES_H
#define SBX_GUEST_MODULES_H

#include <stdbool.h>

/* The initramfs's list of module files to load at boot, in order. */
#define MODULES_LIST "/etc/sbx/modules"

/* The line of the list after which come the modules loaded in the background
 * (INITRAMFS_MODULE_LATER_MARK in src/host/vm/image.h). */
#define MODULES_LATER_MARK "@later"

/* Load every module of the list at list_path (one path a line; blank lines and
 * '#' comments skipped), in order. A missing list is fine (drivers built in);
 * failures are logged and the rest is still loaded. The modules after a
 * MODULES_LATER_MARK line are opened now and loaded by a child process, in order. */
void modules_load_list(const char *list_path);
/* Return once the later modules are loaded (at once when there were none). Safe in
 * any process forked from PID 1 after modules_load_list. */
void modules_later_wait(void);
/* The next path of a module list in *cur (modified in place: lines are cut, blanks
 * trimmed), or NULL at its end. */
char *modules_list_next(char **cur);

/* The parameters a module file is loaded with: "numdummies=0" for dummy.ko (else it
 * creates an unused dummy0 next to sbx0), "" for any other. */
const char *modules_params(const char *path);
/* finit_module one module file; already loaded counts as success. */
int modules_load_file(const char *path);

/* /lib/modules/RELEASE of the running kernel and its modules.dep (NULL when absent). */
struct moddep {
	char *dir;
	char *dep;
};
void moddep_open(struct moddep *m);
void moddep_close(struct moddep *m);
/* The modules.dep line of module name ("path/name.ko: dep dep ..."), allocated, or
 * NULL. */
char *moddep_line(const char *dep, const char *name);
/* Load module name and, before it, its dependencies from modules.dep (uncompressed
 * .ko only: -EOPNOTSUPP otherwise, -ENOENT when modules.dep does not list it). */
int moddep_load(const struct moddep *m, const char *name);
/* /sys/module/NAME exists (loaded, or built in). */
bool module_present(const char *name);

#endif
