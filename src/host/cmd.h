// SPDX-License-Identifier: MIT
/* cmd.h: every sbx command's entry point; main.c's table (commands[]) dispatches to them. */
#ifndef SBX_CMD_H
#define SBX_CMD_H

#include "paths.h"

/* Each command gets argv[0] = its own name (as typed: "create" runs cmd_run) and returns
 * the process exit status: 0 ok, 1 failure, 2 usage error, unless its help says otherwise.
 * A command parses its options before it reaches sbxd, so that --help and usage errors
 * start nothing. */
int cmd_run(struct sbx_paths *p, int argc, char **argv);     /* also "create" */
int cmd_ls(struct sbx_paths *p, int argc, char **argv);      /* also "list" */
int cmd_exec(struct sbx_paths *p, int argc, char **argv);
int cmd_stop(struct sbx_paths *p, int argc, char **argv);
int cmd_rm(struct sbx_paths *p, int argc, char **argv);
int cmd_daemon(struct sbx_paths *p, int argc, char **argv);
int cmd_diagnose(struct sbx_paths *p, int argc, char **argv);
int cmd_policy(struct sbx_paths *p, int argc, char **argv);
/* (0 ok, 1 failure, 2 usage) */
int cmd_secret(struct sbx_paths *p, int argc, char **argv);
int cmd_settings(struct sbx_paths *p, int argc, char **argv);
/* 0 nothing changed, 1 something changed (or the review is incomplete), 2 error. Works
 * from the state on disk alone; no daemon needed. */
int cmd_review(struct sbx_paths *p, int argc, char **argv);
/* `sbx template build [--force] [-v|-q] NAME` | `sbx template ls [--json]` */
int cmd_template(struct sbx_paths *p, int argc, char **argv);
/* `sbx proxy-bench --listen 127.0.0.1:PORT --sandbox NAME [--transparent]`: the egress
 * engine over plain TCP clients on a loopback port, for tests and benchmarks (never
 * reachable from guests: loopback addresses only), with interception enabled (sbx's CA
 * from SBX_HOME). Hidden from `sbx help`. */
int cmd_proxy_bench(struct sbx_paths *p, int argc, char **argv);

#define SBX_VERSION "0.1.0"

#endif
