// SPDX-License-Identifier: MIT
/* netaddr.h: host name normalisation and address classes (netaddr.c). Pure. */
#ifndef SBX_NETADDR_H
#define SBX_NETADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Normalise a destination name: ASCII lower case, trailing dots stripped, IDNA
 * (UTS#46) to ASCII; refuse '%', '@', control bytes, empty labels, labels > 63,
 * names > 253. IP literals in every inet_aton spelling ("0x7f.1", "2130706433"),
 * bracketed IPv6, and v4-mapped IPv6 come back as canonical text with *ret_is_ip. */
int host_normalize(const char *in, char **ret, bool *ret_is_ip);

enum addr_class {
	ADDR_PUBLIC = 0,
	ADDR_LOOPBACK, ADDR_PRIVATE, ADDR_LINKLOCAL, ADDR_CGNAT, ADDR_UNSPECIFIED,
	ADDR_MULTICAST, ADDR_BROADCAST, ADDR_RESERVED,
};
/* v4, v6 and v4-mapped/compatible v6. Documentation ranges are PUBLIC (the package
 * mirror here answers from one). */
enum addr_class addr_classify(const struct sockaddr *sa);
const char *addr_class_name(enum addr_class c);

#endif
