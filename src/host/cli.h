// SPDX-License-Identifier: MIT
/* cli.h: the sbx subcommands. Each returns the process exit status. */
#ifndef SBX_CLI_H
#define SBX_CLI_H

#include "paths.h"

int cmd_run(struct sbx_paths *p, int argc, char **argv);     /* also "create" */
int cmd_ls(struct sbx_paths *p, int argc, char **argv);
int cmd_exec(struct sbx_paths *p, int argc, char **argv);
int cmd_stop(struct sbx_paths *p, int argc, char **argv);
int cmd_rm(struct sbx_paths *p, int argc, char **argv);
int cmd_daemon(struct sbx_paths *p, int argc, char **argv);
int cmd_diagnose(struct sbx_paths *p, int argc, char **argv);

#define SBX_VERSION "0.1.0"

#endif
