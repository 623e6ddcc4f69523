// SPDX-License-Identifier: MIT
/* hostaddr.h: is an address this host's own? Asked of the kernel's routing per check. */
#ifndef SBX_HOSTADDR_H
#define SBX_HOSTADDR_H

#include <stdbool.h>
#include <sys/socket.h>

/*
 * The egress engine must never deliver a guest's connection to the host itself:
 * loopback, any address of any interface (docker0 and the like included), broadcast
 * and anycast addresses, and whole prefixes routed locally (`ip route add local
 * 10.9.0.0/16 dev lo`). Rather than keep a list in step with the interfaces, each
 * check asks the kernel how it would route a connection from sbxd right now
 * (RTM_GETROUTE, like `ip route get ADDR`): a route of type local, broadcast, anycast
 * or multicast means "the host". So the answer is current by construction; it costs
 * one netlink round trip (a few microseconds, see tests/unit/test_hostaddr.c).
 *
 * Unspecified and loopback addresses are the host without asking. A v4-mapped v6
 * address is checked as its v4 address; the v4 embedded in v4-compatible, NAT64
 * (64:ff9b::/96) and 6to4 (2002::/16) addresses is checked too. When the kernel cannot
 * be asked, the answer is "the host" (fail closed).
 */
struct hostaddr;

int hostaddr_new(struct hostaddr **ret);   /* -errno: no netlink socket */
void hostaddr_free(struct hostaddr *h);
/* True when a connection to sa would reach this host (or the kernel cannot say). */
bool hostaddr_is_local(struct hostaddr *h, const struct sockaddr *sa);

#endif
