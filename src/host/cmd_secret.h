// SPDX-License-Identifier: MIT
/* cmd_secret.h: the `sbx secret` command (set, ls, rm credentials). */
#ifndef SBX_CMD_SECRET_H
#define SBX_CMD_SECRET_H

#include "paths.h"

/* argv[0] is "secret"; returns the process exit status (0 ok, 1 failure, 2 usage). */
int cmd_secret(struct sbx_paths *p, int argc, char **argv);

#endif
