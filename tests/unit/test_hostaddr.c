// SPDX-License-Identifier: MIT
/* test_hostaddr.c: hostaddr_is_local() in a network namespace of its own (needs root:
 * skipped otherwise), with a veth interface, a local route and v6; and its cost. */
#include <arpa/inet.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "hostaddr.h"
#include "testlib.h"

static struct sockaddr_storage sa_of(const char *txt)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	if (inet_pton(AF_INET, txt, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, txt, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	return ss;
}

static bool local(struct hostaddr *h, const char *txt)
{
	struct sockaddr_storage ss = sa_of(txt);
	return hostaddr_is_local(h, (struct sockaddr *)&ss);
}

static double ns_per_check(struct hostaddr *h, const char *txt)
{
	struct sockaddr_storage ss = sa_of(txt);
	struct timespec t0, t1;
	const int n = 20000;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++)
		(void)hostaddr_is_local(h, (struct sockaddr *)&ss);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / n;
}

static int sh(const char *cmd)
{
	int r = system(cmd);
	if (r != 0)
		fprintf(stderr, "test_hostaddr: '%s' failed\n", cmd);
	return r;
}

int main(void)
{
	struct hostaddr *h = NULL;

	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
		printf("test_hostaddr: skipped (needs root for a network namespace)\n");
		TEST_DONE();
	}
	CHECK(sh("ip link set lo up && ip link add sbxt0 type veth peer name sbxt1 && ip link set sbxt0 up && ip link set sbxt1 up && "
		 "ip addr add 192.0.2.77/24 dev sbxt0 && ip addr add 10.77.0.1/16 dev sbxt0 && "
		 "sysctl -qw net.ipv6.conf.all.forwarding=1 && ip -6 addr add 2001:db8:77::1/64 dev sbxt0 nodad && "
		 "ip route add local 203.0.113.0/24 dev lo && ip route add default dev sbxt0 && "
		 "ip -6 route add default dev sbxt0") == 0);
	CHECK(hostaddr_new(&h) == 0);

	/* the host itself */
	CHECK(local(h, "127.0.0.1"));
	CHECK(local(h, "127.9.9.9"));
	CHECK(local(h, "0.0.0.0"));
	CHECK(local(h, "::1"));
	CHECK(local(h, "::"));
	CHECK(local(h, "192.0.2.77"));              /* interface address, public class */
	CHECK(local(h, "192.0.2.255"));             /* its broadcast */
	CHECK(local(h, "10.77.0.1"));
	CHECK(local(h, "10.77.255.255"));
	CHECK(local(h, "203.0.113.45"));            /* a local route covers the prefix */
	CHECK(local(h, "2001:db8:77::1"));
	CHECK(local(h, "2001:db8:77::"));           /* subnet-router anycast (forwarding on) */
	CHECK(local(h, "::ffff:192.0.2.77"));       /* v4-mapped */
	CHECK(local(h, "::ffff:10.77.0.1"));
	CHECK(local(h, "::ffff:127.0.0.1"));
	CHECK(local(h, "64:ff9b::c000:24d"));       /* NAT64 of 192.0.2.77 */
	CHECK(local(h, "2002:c000:24d::1"));        /* 6to4 of 192.0.2.77 */
	CHECK(local(h, "224.0.0.1"));

	/* elsewhere */
	CHECK(!local(h, "192.0.2.78"));
	CHECK(!local(h, "10.77.0.2"));
	CHECK(!local(h, "93.184.216.34"));
	CHECK(!local(h, "::ffff:93.184.216.34"));
	CHECK(!local(h, "2001:db8:77::2"));
	CHECK(!local(h, "2606:2800:220:1::1"));

	/* kept current: an address added or removed now counts at once */
	CHECK(!local(h, "198.51.100.7"));
	CHECK(sh("ip addr add 198.51.100.7/32 dev sbxt0") == 0);
	CHECK(local(h, "198.51.100.7"));
	CHECK(sh("ip addr del 192.0.2.77/24 dev sbxt0") == 0);
	CHECK(!local(h, "192.0.2.77"));

	/* no kernel to ask: fail closed */
	CHECK(local(NULL, "93.184.216.34"));
	CHECK(local(NULL, "2606:2800:220:1::1"));

	/* cost of one check (not asserted: printed for the record) */
	printf("BENCH hostaddr_check_ns %.0f\n", ns_per_check(h, "93.184.216.34"));
	printf("BENCH hostaddr_check6_ns %.0f\n", ns_per_check(h, "2606:2800:220:1::1"));
	hostaddr_free(h);
	TEST_DONE();
}
