// SPDX-License-Identifier: MIT
/* secrets.h: the secret store (credentials per service, global or per sandbox). */
#ifndef SBX_SECRETS_H
#define SBX_SECRETS_H

#include <stdbool.h>
#include <stddef.h>

#include "paths.h"
#include "services.h"
#include "util.h"

/*
 * This module owns every credential value on the host. Rules for callers:
 *  - a value returned to you is malloc'd: release it with secret_free() (or declare
 *    the variable _cleanup_secret_), which zeroes it first;
 *  - never log a value, never put it in argv or in a child's environment;
 *  - show users secret_preview() at most.
 *
 * Scopes: global, or one sandbox (sandbox != NULL). Lookups try the sandbox's value,
 * then the global one, then (secrets_resolve only) the caller's environment.
 *
 * Backends, chosen by the setting secrets.backend, the same way in every process (the
 * CLI and sbxd, which may run in another environment):
 *  - "file": config/secrets.json (below);
 *  - "secret-service": the Secret Service over the session bus (secrets_keyring.h).
 *    Without a session bus, or with nothing answering on it, or a locked keyring,
 *    every operation fails and says why: never a silent fall-back to the file or to
 *    "no key";
 *  - "auto" (default): the file when config/secrets.json exists (anything there, so a
 *    bad file is reported, not skipped). Else the first secrets_set() asks the bus
 *    whether org.freedesktop.secrets is running (no activation, bounded): if so it
 *    stores there and records secrets.backend=secret-service in the settings (or takes
 *    the value back when it cannot), so later lookups, from sbxd too, go to the same
 *    place; if not, it creates the file. Until then nothing is stored: lookups give
 *    -ENOENT without touching D-Bus.
 *
 * The file, config/secrets.json, mode 0600 in config/ (owner only), written
 * atomically under config/secrets.lock. It is refused (-EPERM, with the reason from
 * secrets_check) when it is not a regular file owned by us, has any group/other
 * permission bit, or config/ is writable by group or others; refused as corrupt
 * (-EBADMSG) when it does not parse. It is never rewritten while refused.
 *
 * The file format (hand-editable, strict):
 *   {"version": 1, "global": {"SERVICE": "VALUE", ...},
 *    "sandboxes": {"NAME": {"SERVICE": "VALUE", ...}, ...}}
 * It is parsed and written here without json-c so that no copy of a value is left
 * in freed memory (json-c's buffers grow by realloc and are freed unzeroed).
 */

#define SECRET_VALUE_MAX 4096
#define SECRET_PREVIEW_MAX 16
#define SECRETS_FILE_MAX (1024 * 1024)

enum secret_source {
	SECRET_SOURCE_SANDBOX,   /* stored for this sandbox */
	SECRET_SOURCE_GLOBAL,    /* stored globally */
	SECRET_SOURCE_ENV,       /* the caller's environment */
};

/* For the store's backends: r, after setting *ret_err (when ret_err is not NULL) to a
 * malloc'd message (NULL if out of memory). Never give it a value. */
int secrets_fail(char **ret_err, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* explicit_bzero + free; NULL is fine. */
void secret_free(char *s);
static inline void secret_freep(char **s) { secret_free(*s); }
#define _cleanup_secret_ _cleanup_(secret_freep)

/* NULL when value[0..len) is acceptable, else a static one-line reason: empty, more
 * than SECRET_VALUE_MAX bytes, several lines, NUL or other control bytes, non-ASCII,
 * leading/trailing blanks, or the in-VM sentinel itself. */
const char *secret_value_check(const char *value, size_t len);

/* "abcd…yz" (first 4, an ellipsis, last 2) for values of 16 bytes or more, else
 * "****". Never more of the value than that. */
void secret_preview(const char *value, char out[SECRET_PREVIEW_MAX]);

enum secrets_backend {
	SECRETS_BACKEND_NONE,      /* auto, nothing stored yet */
	SECRETS_BACKEND_FILE,
	SECRETS_BACKEND_KEYRING,   /* the Secret Service */
};

/* The choice without I/O. setting: secrets.backend (NULL or "auto": auto);
 * file_exists: config/secrets.json exists; for_write: a store; service_answers:
 * whether the Secret Service runs (only asked for a store under auto without file). */
enum secrets_backend secrets_backend_pick(const char *setting, bool file_exists, bool for_write, bool service_answers);
/* "none" | "file" | "secret-service" (static). */
const char *secrets_backend_id(enum secrets_backend b);
/* Where lookups go now (never probes D-Bus). -errno with *ret_err when the settings
 * cannot be read. */
int secrets_backend_current(const struct sbx_paths *p, enum secrets_backend *ret, char **ret_err);
/* "the Secret Service (default collection)", "the file ..." (malloc'd). */
char *secrets_backend_describe(const struct sbx_paths *p, enum secrets_backend b);

/* One line for `sbx secret set` after storing service (sandbox NULL: global): where
 * the value is kept and how it is protected (malloc'd). */
char *secrets_backend_notice(const struct sbx_paths *p, const char *sandbox, const char *service);

/* 0 when the store can be used (a missing file is fine); else -EPERM / -EBADMSG /
 * -errno with *ret_err (malloc'd, one line, names the file and says what to do). */
int secrets_check(const struct sbx_paths *p, char **ret_err);

/* Store value for service (must be in the services table) globally (sandbox NULL) or
 * for one sandbox, replacing any previous value. -EINVAL for an unknown service, bad
 * sandbox name or bad value; store errors as secrets_check. *ret_err (optional) is
 * one malloc'd line without the value. */
int secrets_set(const struct sbx_paths *p, const char *sandbox, const char *service, const char *value, char **ret_err);

/* The value for service: the sandbox's (when sandbox != NULL), else the global one.
 * -ENOENT when none is stored; store errors as secrets_check (call it for the why). */
int secrets_get(const struct sbx_paths *p, const char *sandbox, const char *service, char **ret_value);

/* Like secrets_get, then the first of the service's environment variables found in
 * env ("KEY=VALUE" strings, NULL-terminated; NULL = none), e.g. what `sbx run` handed
 * the daemon. Environment values that fail secret_value_check or equal the sentinel
 * are skipped. *ret_source (optional) says where the value came from. A broken store
 * is an error (not a silent fall-back to the environment). */
int secrets_resolve(const struct sbx_paths *p, const char *sandbox, const char *service, char *const *env,
		    char **ret_value, enum secret_source *ret_source);

/* For `sbx run`/`create`: a NULL-terminated, malloc'd list of "KEY=VALUE" for every
 * service variable set (validly, not the sentinel) in this process's environment.
 * Free with secrets_env_free() (zeroes). Never pass it to a child process. */
char **secrets_env_collect(void);
void secrets_env_free(char **env);

struct secret_info {
	char *sandbox;                      /* NULL: global */
	char service[SERVICE_NAME_MAX];
	char preview[SECRET_PREVIEW_MAX];   /* secret_preview(), never the value */
};

/* Every stored entry, global first, then by sandbox and service. */
int secrets_list(const struct sbx_paths *p, struct secret_info **ret, size_t *ret_n, char **ret_err);
void secret_info_free(struct secret_info *v, size_t n);

/* Remove one entry. -ENOENT when it was not stored. */
int secrets_rm(const struct sbx_paths *p, const char *sandbox, const char *service, char **ret_err);
/* Remove every entry of a sandbox (on `sbx rm`); returns how many (0 is fine). */
int secrets_rm_sandbox(const struct sbx_paths *p, const char *sandbox, char **ret_err);

#endif
