// SPDX-License-Identifier: MIT
/* sbxd_conn.h: the CLI's side of the daemon connection: requests and exec sessions. */
#ifndef SBX_SBXD_CONN_H
#define SBX_SBXD_CONN_H

#include <stdbool.h>

#include "paths.h"

struct json_object;
struct sbxd_conn;

/* Connect to sbxd; with autostart, start it when it is not running. */
int sbxd_connect(const struct sbx_paths *p, bool autostart, struct sbxd_conn **ret);
void sbxd_conn_free(struct sbxd_conn *c);
/* Ask sbxd whether it runs an older build than this one, without waiting: the request
 * goes out with the next one (or the exec), and a note is printed on stderr (unless
 * --quiet) when the answer comes in. */
int sbxd_ask_stale(struct sbxd_conn *c);
/* Send one request, wait for its answer. Returns 0 with *ret_resp set (check "ok"),
 * or -errno when the daemon went away. Takes req. */
int sbxd_request(struct sbxd_conn *c, struct json_object *req, struct json_object **ret_resp);
/* Convenience: request, and on {"ok":false} print the error; returns 0/-1. */
int sbxd_call(struct sbxd_conn *c, struct json_object *req, struct json_object **ret_resp);
/* Queue OP_CRED_ENV (the caller's service variables, "K=V", NULL-terminated) for the
 * next request, which must be "create". Every buffer that held a value is zeroed. */
int sbxd_send_cred_env(struct sbxd_conn *c, char *const *env);
/* Run an exec session (req: name, argv, env, cwd, user, tty) attached to this
 * terminal. Returns the command's exit status, or 125 when sbx itself failed. */
int sbxd_exec(struct sbxd_conn *c, struct json_object *req, bool forward_stdin, bool tty);
/* After sbxd_exec(): the sandbox's workspace is the share itself (sbxd said so), so a
 * sync barrier (cmd_sync_barrier) has nothing to wait for. false from an sbxd that
 * does not say. */
bool sbxd_exec_ws_share(const struct sbxd_conn *c);
/* The same without a terminal, for commands that move data (sbx cp): stdin read from
 * in_fd (-1: none, closed at once), stdout written to out_fd; the guest's stderr goes to
 * ours escaped. When writing to out_fd fails (its reader gave up) the session is reset
 * and the result is 125. */
int sbxd_exec_fds(struct sbxd_conn *c, struct json_object *req, int in_fd, int out_fd);
/* Start the daemon detached, if it is not running. */
int sbxd_spawn(const struct sbx_paths *p);

#endif
