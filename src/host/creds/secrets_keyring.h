// SPDX-License-Identifier: MIT
/* secrets_keyring.h: the Secret Service (libsecret) backend of the secret store. */
#ifndef SBX_SECRETS_KEYRING_H
#define SBX_SECRETS_KEYRING_H

#include <stddef.h>

#include "secrets.h"

/*
 * Only secrets.c calls this; it has checked service, sandbox name and value first.
 *
 * Items: schema "dev.sbx.Secret", attributes {config: the store's config directory,
 * scope: "global"|"sandbox", sandbox (sandbox scope only), service}, label
 * "sbx: SERVICE (global)" or "sbx: SERVICE (sandbox NAME)", in the collection behind
 * the "default" alias. The config attribute keeps two SBX_HOMEs (a test run, a second
 * install) from seeing or removing each other's items.
 *
 * Never prompts: a locked collection or item is -EACCES ("unlock your keyring"), never
 * an unlock request (the daemon has no display). Every operation has a deadline
 * (KEYRING_LOOKUP_MS for lookups, KEYRING_OP_MS otherwise); a D-Bus call still pending
 * then is cancelled and the operation fails with -ETIMEDOUT, after which lookups fail
 * at once for KEYRING_BACKOFF_MS instead of stalling the daemon's loop again.
 *
 * Errors: -ENXIO no session bus, -EHOSTDOWN nothing owns org.freedesktop.secrets,
 * -EACCES locked, -ETIMEDOUT, -ENODEV no default collection, -EIO anything else; each
 * with *ret_err (malloc'd, one line, says what to do; never a value).
 *
 * Process-wide state (the API of secrets.c takes no context): the session bus
 * connection (exit-on-close off, so a vanishing bus never kills sbxd), a private
 * GMainContext iterated only inside these calls, and a cache of lookups. Not
 * thread-safe: one thread calls this module.
 */

#define KEYRING_LOOKUP_MS 2000
#define KEYRING_OP_MS 5000
#define KEYRING_CACHE_MS 1000
#define KEYRING_BACKOFF_MS 10000

/*
 * Loading. GLib, GIO and libsecret cost every sbx command about 1.5 ms of start-up
 * and sbxd a D-Bus thread, so they are not linked into sbx: this backend is a shared
 * object, libsbx-keyring.so (next to sbx-guest: build/ or PREFIX/lib/sbx/), loaded the
 * first time a keyring_* function below runs. It exports one symbol, sbx_keyring_ops;
 * it uses a few of sbx's own functions (src/host/creds/keyring.dynlist: the executable
 * exports exactly those). The functions below are keyring_dl.c's wrappers; when the
 * library cannot be loaded they fail with -ENOPKG and a reason. Unit tests link the
 * backend in directly (the weak sbx_keyring_ops is then defined).
 */
struct keyring_ops {
	int (*probe)(char **ret_err);
	int (*store)(const char *config, const char *sandbox, const char *service, const char *value, char **ret_err);
	int (*lookup)(const char *config, const char *sandbox, const char *service, char **ret_value, char **ret_err);
	int (*list)(const char *config, struct secret_info **ret, size_t *ret_n, char **ret_err);
	int (*remove)(const char *config, const char *sandbox, const char *service, char **ret_err);
	int (*check)(char **ret_err);
	void (*cache_flush)(void);
};

/* Where libsbx-keyring.so is (struct sbx_paths.keyring_lib); set before the first use. */
void keyring_use_library(const char *path);

/* "sbx: SERVICE (global)" / "sbx: SERVICE (sandbox NAME)", malloc'd. */
char *keyring_label(const char *sandbox, const char *service);

#ifndef SBX_KEYRING_IMPL
/* 0 when org.freedesktop.secrets has an owner on the session bus right now (one
 * NameHasOwner call, no activation, at most KEYRING_LOOKUP_MS); else < 0 as above. */
int keyring_probe(char **ret_err);

/* Create or replace the item of that scope. */
int keyring_store(const char *config, const char *sandbox, const char *service, const char *value, char **ret_err);

/* The value of exactly that scope (no fall-back to global here); -ENOENT when none.
 * Results, errors included, are cached for KEYRING_CACHE_MS; the copy handed out is
 * the caller's (secret_free). */
int keyring_lookup(const char *config, const char *sandbox, const char *service, char **ret_value, char **ret_err);

/* Every item of this config dir, unsorted, previews only. -EACCES when any is locked. */
int keyring_list(const char *config, struct secret_info **ret, size_t *ret_n, char **ret_err);

/* Delete the item of that scope (-ENOENT when none), or every item of a sandbox
 * (service NULL; returns how many). */
int keyring_remove(const char *config, const char *sandbox, const char *service, char **ret_err);

/* 0 when the Secret Service can be used: the error of a lookup in the last
 * KEYRING_CACHE_MS, else a fresh connection check. */
int keyring_check(char **ret_err);

/* Forget cached lookups (zeroed), e.g. after this process changed an item. */
void keyring_cache_flush(void);
#endif

#endif
