// SPDX-License-Identifier: MIT
/* audit.h: the egress audit log (state/audit.log, JSON lines): writer and reader. */
#ifndef SBX_AUDIT_H
#define SBX_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "paths.h"

/*
 * One line per decision:
 *   {"time":"2025-01-02T03:04:05.678Z","sandbox":"S","path":"forward|transparent|dns",
 *    "host":"H","port":443,"addr":"1.2.3.4","decision":"allow|deny","rule":"R","reason":"...",
 *    "method":"GET","url_path":"/x","status":200}
 * addr, rule, reason, method, url_path and status are left out when unknown. Strings
 * are bounded (url_path to 512 bytes) and non-printable bytes escaped, so a guest
 * cannot forge lines or grow them without bound. Rotated to audit.log.1 past 10 MiB.
 */
#define AUDIT_MAX_BYTES (10u << 20)
#define AUDIT_URL_PATH_MAX 512

struct audit;

struct audit_entry {
	const char *sandbox;
	const char *path;       /* "forward", "transparent" or "dns" */
	const char *host;
	uint16_t port;          /* 0: none (dns) */
	const char *addr;       /* NULL: none */
	bool allowed;
	const char *rule;       /* NULL: none */
	const char *reason;     /* NULL: none */
	const char *method;     /* plain HTTP only, else NULL */
	const char *url_path;
	int status;             /* 0: none */
};

/* Opens state/audit.log for appending (0600, created as needed). */
int audit_open(const struct sbx_paths *p, struct audit **ret);
/* One write() per line (O_APPEND); rotates first when the file would pass the size
 * limit. Errors are dropped (logged at debug): the decision was already taken. */
void audit_write(struct audit *a, const struct audit_entry *e);
void audit_close(struct audit *a);
/* Tests: a smaller rotation threshold. */
void audit_set_max_bytes(struct audit *a, size_t max);

/* Reader: one record per well-formed line of audit.log.1 then audit.log (garbage and
 * over-long lines skipped). Strings point into the parsed line: valid during the call. */
struct audit_record {
	const char *time, *sandbox, *path, *host, *addr, *decision, *rule, *reason, *method, *url_path;
	int port, status;
};
typedef int (*audit_read_cb)(const struct audit_record *r, void *userdata);
/* A callback returning < 0 stops the walk with that value. */
int audit_read(const struct sbx_paths *p, audit_read_cb cb, void *userdata);

/* `sbx policy log`: lines grouped by sandbox/host/port/decision, blocked first, then
 * most recent first. sandbox NULL: all. */
struct audit_group {
	char *sandbox, *host, *decision, *last_time, *rule, *reason, *path;
	int port;
	uint64_t count;
};
int audit_summary(const struct sbx_paths *p, const char *sandbox, struct audit_group **ret, size_t *ret_n);
void audit_summary_free(struct audit_group *g, size_t n);

#endif
