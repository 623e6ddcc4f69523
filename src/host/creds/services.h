// SPDX-License-Identifier: MIT
/* services.h: the credential services table (hosts, auth header, env variables). Pure. */
#ifndef SBX_SERVICES_H
#define SBX_SERVICES_H

#include <stdbool.h>
#include <stddef.h>

/* What every configured service's variables hold inside a VM. */
#define SERVICE_SENTINEL "proxy-managed"
/* Longest service name (for fixed buffers and input checks). */
#define SERVICE_NAME_MAX 32

enum service_auth {
	SERVICE_AUTH_RAW,          /* NAME: KEY */
	SERVICE_AUTH_BEARER,       /* NAME: Bearer KEY */
	SERVICE_AUTH_BASIC_TOKEN,  /* NAME: Basic base64("x-access-token:KEY") (git over HTTPS) */
};

struct service;

/*
 * One host a service's credential is injected for. Matching is by exact, normalised
 * host name (lower case, no trailing dot): never a suffix or wildcard, so
 * a.api.anthropic.com gets nothing.
 */
struct service_host {
	const char *host;
	const char *header;             /* header that carries the credential */
	enum service_auth auth;
	const struct service *service;  /* back pointer into the table */
};

struct service {
	const char *name;               /* "anthropic", ... */
	const char *desc;
	const struct service_host *hosts;
	size_t n_hosts;
	/* Host environment variables it may fall back to, in order of preference; also
	 * the variables set to SERVICE_SENTINEL inside VMs. NULL-terminated. */
	const char *const *env;
};

/* The whole table, *ret_n entries (static storage). */
const struct service *service_list(size_t *ret_n);
/* By name (exact, lower case); NULL when unknown. */
const struct service *service_find(const char *name);
/* "anthropic, openai, ..." (static storage) for error messages and help. */
const char *service_names(void);

/* The service and host entry for a normalised host name: 0, or -ENOENT when no
 * service injects for it. Either ret may be NULL. */
int service_for_host(const char *host_normalized, const struct service **ret, const struct service_host **ret_host);

/* Build the header that carries key for h: *ret_name and *ret_value are malloc'd;
 * the caller erases *ret_value (explicit_bzero) before freeing it. -EINVAL when key
 * is empty or holds a byte that may not appear in a header value (control bytes,
 * non-ASCII). */
int service_header(const struct service_host *h, const char *key, char **ret_name, char **ret_value);

/* True when a guest-supplied request header with this name (case-insensitive) must be
 * removed before the real one is added: the host's credential header and, for every
 * service host, Authorization (e.g. anthropic drops both x-api-key and Authorization). */
bool service_is_auth_header(const struct service_host *h, const char *header_name);

#endif
