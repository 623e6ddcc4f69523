// SPDX-License-Identifier: MIT
/* hostaddr.c: is an address this host's own? One RTM_GETROUTE per check (hostaddr.h). */
#include "hostaddr.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "util.h"

struct hostaddr {
	int fd;          /* NETLINK_ROUTE, blocking, 1 s receive timeout */
	uint32_t seq;
};

int hostaddr_new(struct hostaddr **ret)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = 1 };
	struct hostaddr *h;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	h = xcalloc(1, sizeof(*h));
	h->fd = fd;
	*ret = h;
	return 0;
}

void hostaddr_free(struct hostaddr *h)
{
	if (!h)
		return;
	close(h->fd);
	free(h);
}

/* 1: routed to this host, 0: not (or no route at all: connect fails), -errno: cannot tell. */
static int route_is_local(struct hostaddr *h, int family, const void *addr)
{
	size_t alen = family == AF_INET ? 4 : 16;
	struct {
		struct nlmsghdr nh;
		struct rtmsg rt;
		struct rtattr ra;
		uint8_t addr[16];
	} req;
	union {
		struct nlmsghdr nh;
		uint8_t buf[8192];
	} resp;
	uint32_t seq = ++h->seq;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = (uint32_t)(NLMSG_LENGTH(sizeof(struct rtmsg)) + RTA_LENGTH(alen));
	req.nh.nlmsg_type = RTM_GETROUTE;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.nh.nlmsg_seq = seq;
	req.rt.rtm_family = (uint8_t)family;
	req.rt.rtm_dst_len = (uint8_t)(alen * 8);
	req.ra.rta_type = RTA_DST;
	req.ra.rta_len = (unsigned short)RTA_LENGTH(alen);
	memcpy(req.addr, addr, alen);
	if (send(h->fd, &req, req.nh.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(h->fd, &resp, sizeof(resp), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;   /* EAGAIN: no answer within a second */
		for (struct nlmsghdr *nh = &resp.nh; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_seq != seq)
				continue;   /* a late answer to an earlier question */
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);
				if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					return -EPROTO;
				/* no route, unreachable, prohibited: nothing to connect to here either */
				if (e->error == -ENETUNREACH || e->error == -EHOSTUNREACH || e->error == -EACCES)
					return 0;
				return e->error ? e->error : -EPROTO;
			}
			if (nh->nlmsg_type == RTM_NEWROUTE && nh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct rtmsg))) {
				const struct rtmsg *rt = NLMSG_DATA(nh);
				return rt->rtm_type == RTN_LOCAL || rt->rtm_type == RTN_BROADCAST ||
				       rt->rtm_type == RTN_ANYCAST || rt->rtm_type == RTN_MULTICAST;
			}
		}
	}
}

static bool v4_is_local(struct hostaddr *h, const uint8_t *a)
{
	int r;

	if (a[0] == 0 || a[0] == 127)   /* 0.0.0.0/8 connects to the host itself; loopback */
		return true;
	r = h ? route_is_local(h, AF_INET, a) : -EBADF;
	if (r < 0)
		log_debug("hostaddr: cannot ask the kernel about %u.%u.%u.%u: %s", a[0], a[1], a[2], a[3],
			  strerror(-r));
	return r != 0;
}

bool hostaddr_is_local(struct hostaddr *h, const struct sockaddr *sa)
{
	static const uint8_t zero[12], nat64[12] = { 0, 0x64, 0xff, 0x9b };
	const uint8_t *b;
	int r;

	if (sa && sa->sa_family == AF_INET)
		return v4_is_local(h, (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr);
	if (!sa || sa->sa_family != AF_INET6)
		return true;
	b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	/* ::ffff:a.b.c.d is a v4 connection; ::a.b.c.d, NAT64 and 6to4 may lead to one */
	if (!memcmp(b, zero, 10) && ((b[10] == 0xff && b[11] == 0xff) || (b[10] == 0 && b[11] == 0)) &&
	    v4_is_local(h, b + 12))
		return true;
	if (!memcmp(b, nat64, 12) && v4_is_local(h, b + 12))
		return true;
	if (b[0] == 0x20 && b[1] == 0x02 && v4_is_local(h, b + 2))
		return true;
	if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)b))
		return false;   /* the v4 answer above was no */
	if (IN6_IS_ADDR_UNSPECIFIED((const struct in6_addr *)b) || IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)b))
		return true;
	r = h ? route_is_local(h, AF_INET6, b) : -EBADF;
	if (r < 0)
		log_debug("hostaddr: cannot ask the kernel about a v6 address: %s", strerror(-r));
	return r != 0;
}
