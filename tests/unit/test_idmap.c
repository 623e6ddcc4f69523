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

static void test_slots(void)
{
	const struct subid_range user = { 100000, 65536 }, root = { IDMAP_JAIL_BASE, IDMAP_JAIL_ROOT_SLOTS * IDMAP_SLOT_MAX };
	struct idmap_slot a, b;

	/* a user's usual 65536 subids: 8 slots of 8192; QEMU's id is each slot's last */
	CHECK_EQ(idmap_slot_count(user), 8);
	CHECK_EQ(idmap_slot_get(user, 0, &a), 0);
	CHECK_EQ(a.fs.start, 100000);
	CHECK_EQ(a.fs.count, 8191);
	CHECK_EQ(a.vmm, 100000 + 8191);
	CHECK_EQ(idmap_slot_get(user, 7, &b), 0);
	CHECK_EQ(b.fs.start, 100000 + 7 * 8192);
	CHECK_EQ(b.vmm, 100000 + 65535);
	CHECK_EQ(idmap_slot_get(user, 8, &b), -ERANGE);
	/* slots never overlap, and QEMU's id is outside virtiofsd's range */
	CHECK_EQ(idmap_slot_get(user, 1, &b), 0);
	CHECK(a.vmm < b.fs.start && a.vmm >= a.fs.start + a.fs.count);
	/* as root: 1024 slots of 65536 */
	CHECK_EQ(idmap_slot_count(root), 1024);
	CHECK_EQ(idmap_slot_get(root, 1023, &a), 0);
	CHECK_EQ(a.vmm, IDMAP_JAIL_BASE + 1024u * 65536u - 1);
	/* too few ids for 8 slots of 1024; an odd count rounds down to whole KiB slots */
	CHECK_EQ(idmap_slot_count((struct subid_range){ 100000, 8191 }), 0);
	CHECK_EQ(idmap_slot_count((struct subid_range){ 100000, 8192 }), 8);
	CHECK_EQ(idmap_slot_count((struct subid_range){ 100000, 10000 }), 9);
	/* a pool that wraps is none */
	CHECK_EQ(idmap_slot_count((struct subid_range){ 0xffff0000u, 0x20000 }), 0);
	/* a slot's build: guest ids below its size, the agent onto the user */
	{
		struct idmap m;
		char buf[128];
		CHECK_EQ(idmap_slot_get(user, 2, &a), 0);
		CHECK_EQ(idmap_build(1000, 5000, a.fs, &m), 0);
		CHECK(idmap_format(&m, buf, sizeof(buf)) > 0);
		CHECK_STR(buf, "0 116384 1000\n1000 5000 1\n1001 117385 7190\n");
	}
}

static void test_overlap(void)
{
	static const char text[] = "alice:100000:65536\n# bob:999:1\nbob:1000000000:5\nbad line\n";

	CHECK_EQ(subid_overlap(text, sizeof(text) - 1, (struct subid_range){ 165536, 10 }), 0);
	CHECK_EQ(subid_overlap(text, sizeof(text) - 1, (struct subid_range){ 165535, 10 }), 1);
	CHECK_EQ(subid_overlap(text, sizeof(text) - 1, (struct subid_range){ 99990, 11 }), 1);
	CHECK_EQ(subid_overlap(text, sizeof(text) - 1, (struct subid_range){ 99990, 10 }), 0);
	CHECK_EQ(subid_overlap(text, sizeof(text) - 1, (struct subid_range){ IDMAP_JAIL_BASE + 4, 65536 }), 3);
	CHECK_EQ(subid_overlap(text, sizeof(text) - 1, (struct subid_range){ 998, 5 }), 0);  /* a comment */
	CHECK_EQ(subid_overlap("", 0, (struct subid_range){ 0, 1 }), 0);
}

int main(void)
{
	test_build();
	test_parse();
	test_slots();
	test_overlap();
	TEST_DONE();
}
