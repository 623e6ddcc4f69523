// SPDX-License-Identifier: MIT
/* sandbox.h: a sandbox's lifecycle in sbxd: create, start (or adopt after a restart),
 * stop, remove, and its periodic checks; the types are in sbxd.h. A state change
 * reaches the daemon only through sbxd.sandbox_changed. */
#ifndef SBX_SANDBOX_H
#define SBX_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "sbxd.h"

struct json_object;

struct sandbox *sandbox_find(struct sbxd *d, const char *name);
/* Why sandbox NAME is broken (the message names the file), or NULL. */
const char *sandbox_broken(struct sbxd *d, const char *name);
void sandbox_broken_free_all(struct sbxd *d);
int sandbox_load_all(struct sbxd *d);
int sandbox_create(struct sbxd *d, struct spec *spec, char **ret_err, struct sandbox **ret);
int sandbox_start(struct sandbox *sb, char **ret_err);
/* Warm pool (docs/warm-pool.md). Boot a pool VM of spec (taken; its name is the pool
 * VM's) into d->pool. */
int sandbox_pool_boot(struct sbxd *d, struct spec *spec, char **ret_err, struct sandbox **ret);
/* Make ready pool VM pv the new sandbox of spec (taken on success): its files move to
 * the sandbox's name, the workspace is attached; OP_CONFIG waits for
 * sandbox_claim_configure(), called once the creating client's credentials are in.
 * Failure: pv is discarded, -EAGAIN (an ordinary create follows). */
int sandbox_claim(struct sandbox *pv, struct spec *spec, struct sandbox **ret);
void sandbox_claim_configure(struct sandbox *sb);
/* Kill a pool VM and remove its files; pool.c frees it. */
void sandbox_pool_discard(struct sandbox *sb, const char *why);
/* run_dir/vm.json: the processes of a VM (-ENOENT: none recorded). */
int sandbox_vm_record_read(const char *run_dir, struct vm_procs *ret);
int sandbox_stop(struct sandbox *sb);
int sandbox_remove(struct sandbox *sb, bool force, char **ret_err);
const char *sandbox_state_name(enum sb_state s);
void sandbox_on_qemu_exit(struct sandbox *sb);
void sandbox_tick(struct sandbox *sb, uint64_t now);
void sandbox_free(struct sandbox *sb);
/* A client asked to exec in sb (req is taken, even on failure): the request is
 * checked, the VM started if needed, and the relay opens the guest stream once the
 * guest is ready. */
int sandbox_exec(struct client *cl, uint32_t cid, struct sandbox *sb, struct json_object *req, char **ret_err);
/* The create request's SSH agent socket, and the caller's service variables the client
 * sent just before it (*cred_env, taken over when have_cred is true). */
void sandbox_take_cred_env(struct sandbox *sb, struct json_object *req, bool have_cred, char ***cred_env);

#endif
