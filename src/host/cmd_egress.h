// SPDX-License-Identifier: MIT
/* cmd_egress.h: the `sbx policy` and `sbx settings` commands. */
#ifndef SBX_CMD_EGRESS_H
#define SBX_CMD_EGRESS_H

#include "paths.h"

/* argv[0] is "policy" / "settings"; return the process exit status. */
int cmd_policy(struct sbx_paths *p, int argc, char **argv);
int cmd_settings(struct sbx_paths *p, int argc, char **argv);

#endif
