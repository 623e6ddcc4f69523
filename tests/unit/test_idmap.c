// SPDX-License-Identifier: MIT
/* test_idmap.c: subordinate id ranges and virtiofsd's user-namespace maps. */
#include <errno.h>

#include "idmap.h"
#include "testlib.h"

static const struct subid_range root_range = { IDMAP_ROOT_BASE, IDMAP_ROOT_COUNT };

static char *fmt(uint32_t ws, uint32_t host, struct subid_range r, int *ret)
{
	static char buf[128];
	struct idmap m;

	*ret = idmap_build(ws, host, r, &m);
	buf[0] = '\0';
	if (*ret == 0)
		*ret = idmap_format(&m, buf, sizeof(buf)) < 0 ? -ENOBUFS : 0;
	return buf;
}

static void test_build(void)
{
	const struct subid_range user = { 231072, 65536 };
	struct idmap m;
	char small[10];
	int r;

	/* as root: the agent's id keeps its number */
	CHECK_STR(fmt(1000, 1000, root_range, &r), "0 100000 1000\n1000 1000 1\n1001 101001 64535\n");
	CHECK_STR(fmt(1, 1, root_range, &r), "0 100000 1\n1 1 1\n2 100002 65534\n");
	CHECK_STR(fmt(70000, 70000, root_range, &r), "0 100000 65536\n70000 70000 1\n");
	fmt(200000, 200000, root_range, &r);
	CHECK_EQ(r, 0);
	fmt(165536, 165536, root_range, &r);
	CHECK_EQ(r, 0);
	fmt(0, 0, root_range, &r);
	CHECK_EQ(r, -EINVAL);         /* ns root must not be a real user */
	fmt(100000, 100000, root_range, &r);
	CHECK_EQ(r, -EINVAL);         /* the host id inside the range */
	fmt(165535, 165535, root_range, &r);
	CHECK_EQ(r, -EINVAL);
	/* an ordinary user: the agent's id is the user, the rest subordinate ids */
	CHECK_STR(fmt(1001, 1001, user, &r), "0 231072 1001\n1001 1001 1\n1002 232074 64534\n");
	CHECK_STR(fmt(4242, 1001, user, &r), "0 231072 4242\n4242 1001 1\n4243 235315 61293\n");
	/* a range of one id: only ns root and the agent */
	CHECK_STR(fmt(1000, 1000, (struct subid_range){ 500000, 1 }, &r), "0 500000 1\n1000 1000 1\n");
	fmt(1000, 1000, (struct subid_range){ 500000, 0 }, &r);
	CHECK_EQ(r, -EINVAL);
	fmt(1000, 1000, (struct subid_range){ 0xffffff00u, 0x1000 }, &r);
	CHECK_EQ(r, -EINVAL);         /* wraps */
	CHECK_EQ(idmap_build(1000, 1000, root_range, &m), 0);
	CHECK_EQ(idmap_format(&m, small, sizeof(small)), -ENOBUFS);
}

static void test_parse(void)
{
	static const char text[] = "alice:100000:65536\n"
				   "# comment\n"
				   "bob:165536:65536\n"
				   "1003:300000:1000\n"
				   "bob:400000:131072\r\n"
				   "\n"
				   "carol:abc:1\n"
				   "dave:1:\n"
				   "erin:4294967295:2\n"
				   "frank:5:0\n"
				   "gina:100:200";
	struct subid_range r = { 0 };

	CHECK_EQ(subid_parse(text, sizeof(text) - 1, "alice", 1001, &r), 0);
	CHECK_EQ(r.start, 100000);
	CHECK_EQ(r.count, 65536);
	/* several ranges: the largest */
	CHECK_EQ(subid_parse(text, sizeof(text) - 1, "bob", 1002, &r), 0);
	CHECK_EQ(r.start, 400000);
	CHECK_EQ(r.count, 131072);
	/* by number */
	CHECK_EQ(subid_parse(text, sizeof(text) - 1, "zed", 1003, &r), 0);
	CHECK_EQ(r.start, 300000);
	CHECK_EQ(subid_parse(text, sizeof(text) - 1, "nobody", 9, &r), -ENOENT);
	CHECK_EQ(subid_parse(text, sizeof(text) - 1, "ali", 9, &r), -ENOENT);     /* no prefix match */
	CHECK_EQ(subid_parse(text, sizeof(text) - 1, "carol", 9, &r), -EINVAL);
	CHECK_EQ(subid_parse(text, sizeof(text) - 1, "dave", 9, &r), -EINVAL);
	CHECK_EQ(subid_parse(text, sizeof(text) - 1, "erin", 9, &r), -EINVAL);    /* past 2^32 */
	CHECK_EQ(subid_parse(text, sizeof(text) - 1, "frank", 9, &r), -EINVAL);   /* empty */
	CHECK_EQ(subid_parse(text, sizeof(text) - 1, "gina", 9, &r), 0);          /* no final newline */
	CHECK_EQ(r.count, 200);
	CHECK_EQ(subid_parse("", 0, "alice", 1, &r), -ENOENT);
	/* a free range starts after every other one, on a 65536 boundary */
	CHECK_EQ(subid_free_start(text, sizeof(text) - 1), 589824);
	CHECK_EQ(subid_free_start("", 0), IDMAP_ROOT_BASE);
	CHECK_EQ(subid_free_start("a:4294900000:60000\n", 19), 0); /* no room left */
}

int main(void)
{
	test_build();
	test_parse();
	TEST_DONE();
}
