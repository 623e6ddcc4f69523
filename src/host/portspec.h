// SPDX-License-Identifier: MIT
/* portspec.h: published ports: the [ADDR:]HOSTPORT:GUESTPORT text of `sbx run -p` and of
 * a sandbox's spec.json, parsed and printed canonically. Pure (portspec.c). */
#ifndef SBX_PORTSPEC_H
#define SBX_PORTSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Published ports per sandbox (each is a listening socket while it runs). */
#define PORTSPEC_MAX 32
/* Longest text accepted: "[" v6 "]:" 5 ":" 5, with room to spare. */
#define PORTSPEC_TEXT_MAX 80
#define PORTSPEC_ADDR_DEFAULT "127.0.0.1"

/* A decimal TCP/UDP port, 1..65535, digits only (no sign, no spaces). */
int port_parse(const char *s, uint16_t *ret);

struct portspec {
	int family;            /* AF_INET or AF_INET6 */
	uint8_t addr[16];      /* network order; 4 bytes used for AF_INET */
	uint16_t host_port;    /* 1..65535 */
	uint16_t guest_port;   /* 1..65535 */
};

/* Parse "[ADDR:]HOSTPORT:GUESTPORT". ADDR is an IPv4 literal in dotted-quad form or an
 * IPv6 literal in brackets ("[::1]"), 127.0.0.1 when absent; ports are decimal 1..65535.
 * No names, no ranges, no protocol suffix. 0, or -EINVAL with a static *ret_err. */
int portspec_parse(const char *text, struct portspec *ret, const char **ret_err);
/* Parse just "HOSTPORT". */
int portspec_parse_host_port(const char *text, uint16_t *ret);
/* What `--unpublish` takes: a SPEC, "[ADDR:]HOSTPORT" (guest_port 0: any), or a bare
 * "HOSTPORT" (family 0 too: on any address). 0, or -EINVAL with a static *ret_err. */
int portspec_parse_unpublish(const char *text, struct portspec *ret, const char **ret_err);
/* Canonical text ("127.0.0.1:8080:80", "[::1]:8080:80") into buf (PORTSPEC_TEXT_MAX). */
void portspec_format(const struct portspec *p, char *buf, size_t n);
/* The listening address "127.0.0.1:8080" / "[::1]:8080" into buf (PORTSPEC_TEXT_MAX). */
void portspec_format_host(const struct portspec *p, char *buf, size_t n);
/* The socket address to bind; its length. */
socklen_t portspec_sockaddr(const struct portspec *p, struct sockaddr_storage *ret);
/* Same address and host port (the guest port may differ). */
bool portspec_same_host(const struct portspec *a, const struct portspec *b);
bool portspec_equal(const struct portspec *a, const struct portspec *b);
/* The address is the unspecified one (0.0.0.0 or ::): reachable from the network. */
bool portspec_is_wildcard(const struct portspec *p);
/* Whether list[0..n) may be a sandbox's ports: at most PORTSPEC_MAX, no listening
 * address twice; 0 or -EINVAL with a static *ret_err. */
int portspec_list_check(const struct portspec *list, size_t n, const char **ret_err);

#endif
