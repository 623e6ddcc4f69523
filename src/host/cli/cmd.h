// SPDX-License-Identifier: MIT
/* cmd.h: every sbx command's entry point; main.c's table (commands[]) dispatches to them. */
#ifndef SBX_CMD_H
#define SBX_CMD_H

#include <stdbool.h>
#include <stdio.h>

#include "paths.h"

struct json_object;
struct sbxd_conn;

/* Each command gets argv[0] = its own name (as typed: "create" runs cmd_run) and returns
 * the process exit status: 0 ok, 1 failure, 2 usage error, unless its help says otherwise.
 * A command parses its options before it reaches sbxd, so that --help and usage errors
 * start nothing. */
int cmd_run(struct sbx_paths *p, int argc, char **argv);     /* also "create" */
int cmd_ls(struct sbx_paths *p, int argc, char **argv);      /* also "list" (cmd_ls.c) */
int cmd_exec(struct sbx_paths *p, int argc, char **argv);
int cmd_cp(struct sbx_paths *p, int argc, char **argv);
int cmd_stop(struct sbx_paths *p, int argc, char **argv);
int cmd_rm(struct sbx_paths *p, int argc, char **argv);
/* `sbx prune [--older-than AGE] [-f] [-n]` (cmd_prune.c): 0 done or nothing to prune, 1 refused
 * at the prompt or a removal failed, 2 usage (also: no terminal and neither -f nor -n). */
int cmd_prune(struct sbx_paths *p, int argc, char **argv);
/* `sbx sync status|flush NAME [--json] [--timeout S]` (cmd_sync.c). */
int cmd_sync(struct sbx_paths *p, int argc, char **argv);
struct sbxd_conn;
/* A sync-mode sandbox: wait until every guest change reached the host (a flush); 0
 * at once for share mode or a stopped sandbox; -1 after printing why to stderr. */
int cmd_sync_barrier(struct sbxd_conn *c, const char *cmd, const char *name);
/* `sbx ports NAME [--publish SPEC]... [--unpublish SPEC]... [--json]` (cmd_ports.c). */
int cmd_ports(struct sbx_paths *p, int argc, char **argv);
/* `sbx reset [-f] [--secrets]`: 0 done or nothing to do, 1 refused at the prompt or a
 * failure, 2 usage (also: no terminal and no -f). */
int cmd_reset(struct sbx_paths *p, int argc, char **argv);
/* `sbx __complete WORD...`: candidates for the last WORD, one a line (cmd_complete.c). */
int cmd_complete(struct sbx_paths *p, int argc, char **argv);
int cmd_daemon(struct sbx_paths *p, int argc, char **argv);
int cmd_diagnose(struct sbx_paths *p, int argc, char **argv);
int cmd_policy(struct sbx_paths *p, int argc, char **argv);
/* `sbx policy check network TARGET` (cmd_policy_check.c), for cmd_policy. */
int cmd_policy_check(const struct sbx_paths *p, const char *target, const char *sandbox);
/* `sbx policy export|import` (cmd_policy_file.c), for cmd_policy. import: 2 when the
 * changes need accepting and there is no terminal and no -y. */
int cmd_policy_export(const struct sbx_paths *p, const char *file, bool json);
int cmd_policy_import(const struct sbx_paths *p, const char *file, bool merge, bool yes);
/* For sbx run/create (cmd_policy_project.c): the workspace's .sbx/policy, applied as
 * rules of that sandbox only once accepted on a terminal; 0 go on, 1 stop. */
int cmd_project_policy(const struct sbx_paths *p, const char *cmd, const char *ws, const char *sandbox);
int cmd_secret(struct sbx_paths *p, int argc, char **argv);
int cmd_settings(struct sbx_paths *p, int argc, char **argv);
/* 0 nothing changed, 1 something changed (or the review is incomplete), 2 error. Works
 * from the state on disk alone; no daemon needed. */
int cmd_review(struct sbx_paths *p, int argc, char **argv);
/* `sbx template build|ls|save|rm|export|import|update ...` */
int cmd_template(struct sbx_paths *p, int argc, char **argv);
/* `sbx template update NAME [-n]` (cmd_template_update.c): 0 pins written (or already
 * current), 1 a registry or write failure (nothing written), 2 usage. */
int cmd_template_update(struct sbx_paths *p, int argc, char **argv);
/* For `sbx version`: the versions each built template records, one line each. */
void cmd_template_versions(struct sbx_paths *p, FILE *f);
/* `sbx proxy-bench --listen 127.0.0.1:PORT --sandbox NAME [--transparent]`: the egress
 * engine over plain TCP clients on a loopback port, for tests and benchmarks (never
 * reachable from guests: loopback addresses only), with interception enabled (sbx's CA
 * from SBX_HOME). Hidden from `sbx help`. */
int cmd_proxy_bench(struct sbx_paths *p, int argc, char **argv);
/* `sbx __wsync-writer SOCK ROOT`: sbxd's sync-mode writer process (wswriter.h). Hidden. */
int cmd_wsync_writer(struct sbx_paths *p, int argc, char **argv);

/* Shared by the commands (cmd_common.c, which the front binary links too, front.c;
 * but cmd_daemon_status: cmd_daemon.c, cmd_port_warn: cmd_ports.c, cmd_policy_load:
 * cmd_policy.c). */
/* "sbx CMD: MSG" and where to find the usage, on stderr. */
void cmd_usage_error(const char *cmd, const char *msg);
/* Connect to sbxd, starting it if needed; says why on stderr and returns NULL when it
 * cannot, and notes a daemon from an older build. Free with sbxd_conn_free(). */
struct sbxd_conn *cmd_connect(struct sbx_paths *p);
/* {"op": op, "name": name} (no name when NULL), for sbxd_call(), which takes it. */
struct json_object *cmd_request(const char *op, const char *name);
/* The exec request of run and exec: argv, env, cwd, user, and a terminal (with the
 * caller's TERM) when tty. */
struct json_object *cmd_exec_request(const char *name, char **argv, int argc, char **env, int nenv,
				     const char *cwd, const char *user, bool tty);
/* Remove one sandbox over c as `sbx rm [-f]` does, with its --branch worktree (cmd_lifecycle.c);
 * 0, or 1 after saying why on stderr. */
int cmd_sandbox_rm(struct sbx_paths *p, struct sbxd_conn *c, const char *name, bool force);
/* Print whether sbxd runs (nothing when quiet); 0 when it does, 3 when not, 1 on error. */
int cmd_daemon_status(struct sbx_paths *p, bool quiet);
/* Load the network policy for `sbx policy SUB`, which needs a chosen preset; on
 * failure says on stderr what is wrong and returns -errno. */
struct policy;
int cmd_policy_load(const struct sbx_paths *p, const char *sub, struct policy **ret);
/* `sbx FAMILY [OPTIONS] SUB ...` is `sbx FAMILY SUB [OPTIONS] ...`: moves the first word
 * that is not an option (nor the value of one in with_value, NULL-terminated) to
 * argv[1], keeping the order of the rest; stops at "--". */
void cmd_sub_first(int argc, char **argv, const char *const *with_value);
/* The options before the command (-q/--quiet), applied; how many words they take. */
int cmd_global_options(int argc, char **argv);
/* --quiet (before the command, or a command's own): only errors on stderr from here on
 * (progress.h, and the log below errors unless SBX_DEBUG is set). */
void cmd_quiet_set(void);
/* A note or warning that is not an error, on stderr unless --quiet. */
void cmd_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A published port on every address (0.0.0.0, ::) is reachable from the network: say so
 * on stderr. */
struct portspec;
void cmd_port_warn(const char *cmd, const struct portspec *p);
/* o[k] as a string, "" when absent; o keeps it. */
const char *cmd_json_str(struct json_object *o, const char *k);

#endif
