// SPDX-License-Identifier: MIT
/* test_guest_cfg.c: the guest's OP_CONFIG parser and its host name / workspace path checks (src/guest/cfg.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "proto.h"
#include "testlib.h"
#include "tlv.h"

static uint8_t buf[64 * 1024];

static int parse(struct tlv_writer *w, struct cfg *c)
{
	CHECK_EQ(w->err, 0);
	return cfg_parse(buf, w->len, c);
}

static void test_full_message(void)
{
	struct tlv_writer w;
	struct cfg c = { 0 };
	uint8_t t[8] = { 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 };

	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_str(&w, CFG_HOSTNAME, "first");
	tlv_put_str(&w, CFG_HOSTNAME, "box-1");
	tlv_put_str(&w, CFG_WORKSPACE, "/home/u/proj");
	tlv_put_u32(&w, CFG_UID, 1000);
	tlv_put_u32(&w, CFG_GID, 1001);
	tlv_put_str(&w, CFG_ENV, "A=1");
	tlv_put_str(&w, CFG_ENV, "no-equals");
	tlv_put_str(&w, CFG_ENV, "=bad");
	tlv_put_str(&w, CFG_ENV, "B=x=y");
	tlv_put(&w, CFG_TIME_NS, t, sizeof(t));
	tlv_put_u32(&w, CFG_SSH_AGENT, 1);
	tlv_put_str(&w, CFG_SHARE_PATH, "/home/u/proj");
	tlv_put_str(&w, CFG_SHARE_PATH, "/home/u/.git");
	{
		uint8_t seed[CFG_SEED_LEN];
		for (size_t i = 0; i < sizeof(seed); i++)
			seed[i] = (uint8_t)i;
		tlv_put(&w, CFG_SEED, seed, sizeof(seed));
	}
	tlv_put_str(&w, 999, "unknown tags are skipped");
	CHECK_EQ(parse(&w, &c), 0);
	CHECK_STR(c.hostname, "box-1"); /* the later value wins */
	CHECK_STR(c.workspace, "/home/u/proj");
	CHECK(c.has_uid && c.uid == 1000);
	CHECK(c.has_gid && c.gid == 1001);
	CHECK_EQ(c.env_n, 2); /* entries that are not K=V are dropped */
	CHECK_STR(c.env[0], "A=1");
	CHECK_STR(c.env[1], "B=x=y");
	CHECK(c.has_time);
	CHECK(c.time_ns == 0x1122334455667788ull);
	CHECK(c.ssh_agent);
	CHECK_EQ(c.share_n, 2);
	CHECK_STR(c.share[1], "/home/u/.git");
	CHECK(c.has_seed && c.seed[0] == 0 && c.seed[CFG_SEED_LEN - 1] == CFG_SEED_LEN - 1);
	cfg_done(&c);
}

static void test_empty_and_defaults(void)
{
	struct cfg c = { 0 };

	CHECK_EQ(cfg_parse(buf, 0, &c), 0);
	CHECK(!c.hostname && !c.workspace && !c.has_uid && !c.has_gid && !c.has_time && !c.ssh_agent);
	CHECK_EQ(c.env_n, 0);
	cfg_done(&c);
}

static void test_ssh_agent_only_one(void)
{
	struct tlv_writer w;
	struct cfg c = { 0 };

	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_u32(&w, CFG_SSH_AGENT, 2);
	CHECK_EQ(parse(&w, &c), 0);
	CHECK(!c.ssh_agent);
	cfg_done(&c);
}

static void test_malformed(void)
{
	struct tlv_writer w;
	struct cfg c = { 0 };
	uint8_t three[3] = { 1, 2, 3 };

	/* u32 of the wrong size */
	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put(&w, CFG_UID, three, sizeof(three));
	CHECK_EQ(parse(&w, &c), -EPROTO);
	CHECK(!c.has_uid);
	cfg_done(&c);

	/* time must be exactly 8 bytes */
	c = (struct cfg){ 0 };
	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put(&w, CFG_TIME_NS, three, sizeof(three));
	CHECK_EQ(parse(&w, &c), -EPROTO);
	cfg_done(&c);

	/* the seed is exactly CFG_SEED_LEN bytes */
	c = (struct cfg){ 0 };
	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put(&w, CFG_SEED, three, sizeof(three));
	CHECK_EQ(parse(&w, &c), -EPROTO);
	CHECK(!c.has_seed);
	cfg_done(&c);

	/* a string with a NUL inside */
	c = (struct cfg){ 0 };
	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put(&w, CFG_HOSTNAME, "a\0b", 3);
	CHECK_EQ(parse(&w, &c), -EPROTO);
	cfg_done(&c);

	/* one share path more than it holds */
	c = (struct cfg){ 0 };
	tlv_writer_init(&w, buf, sizeof(buf));
	for (size_t i = 0; i <= ARRAY_SIZE(c.share); i++)
		tlv_put_str(&w, CFG_SHARE_PATH, "/w");
	CHECK_EQ(parse(&w, &c), -EPROTO);
	CHECK_EQ(c.share_n, ARRAY_SIZE(c.share)); /* kept for cfg_done */
	cfg_done(&c);

	/* a truncated TLV header is an error, not an end */
	c = (struct cfg){ 0 };
	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_str(&w, CFG_HOSTNAME, "box");
	CHECK(cfg_parse(buf, w.len - 1, &c) < 0);
	cfg_done(&c);
}

static void test_env_limit(void)
{
	static uint8_t big[(CFG_ENV_MAX + 1) * 16];
	struct tlv_writer w;
	struct cfg c = { 0 };

	tlv_writer_init(&w, big, sizeof(big));
	for (unsigned i = 0; i < CFG_ENV_MAX; i++)
		tlv_put_str(&w, CFG_ENV, "K=V");
	CHECK_EQ(w.err, 0);
	CHECK_EQ(cfg_parse(big, w.len, &c), 0);
	CHECK_EQ(c.env_n, CFG_ENV_MAX);
	cfg_done(&c);

	c = (struct cfg){ 0 };
	tlv_put_str(&w, CFG_ENV, "K=V");
	CHECK_EQ(w.err, 0);
	CHECK_EQ(cfg_parse(big, w.len, &c), -EPROTO);
	cfg_done(&c);
}

static void test_hostname_valid(void)
{
	char long64[65];

	CHECK(cfg_hostname_valid("box"));
	CHECK(cfg_hostname_valid("claude-proj_1.local"));
	CHECK(!cfg_hostname_valid(""));
	CHECK(!cfg_hostname_valid("-lead"));
	CHECK(!cfg_hostname_valid(".lead"));
	CHECK(!cfg_hostname_valid("sp ace"));
	CHECK(!cfg_hostname_valid("semi;colon"));
	CHECK(!cfg_hostname_valid("new\nline"));
	memset(long64, 'a', 63);
	long64[63] = 0;
	CHECK(cfg_hostname_valid(long64));
	long64[63] = 'a';
	long64[64] = 0;
	CHECK(!cfg_hostname_valid(long64));
}

static void test_workspace_valid(void)
{
	static const char *const good[] = { "/home/u/proj", "/work", "/srv/a.b/c", "/etcetera", "/usr2/x",
					    "/home/u/..x" };
	static const char *const bad[] = { "relative", "", "/", "/etc", "/usr", "/home", "/var", "/proc/1",
					   "/sys/kernel", "/dev/sda", "/home//u", "/home/./u", "/home/../etc",
					   "/home/u/", "/home/u/.", "/home/u/.." };
	char long_path[4200];

	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		CHECK(workspace_path_valid(good[i]));
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (workspace_path_valid(bad[i]))
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CHECK(!workspace_path_valid(bad[i]));
	}
	long_path[0] = '/';
	memset(long_path + 1, 'a', sizeof(long_path) - 2);
	long_path[sizeof(long_path) - 1] = 0;
	CHECK(!workspace_path_valid(long_path));
}

static void test_local_dirs(void)
{
	static const char *const good[] = { "node_modules", "target", "build/out", ".venv", "a/.gitx", "x..y",
					    "packages/web/node_modules" };
	static const char *const bad[] = { "", "/abs", "trailing/", ".", "..", "../up", "a/../b", "a/./b", "a//b",
					   ".git", ".git/x", "tab\tname" };
	struct tlv_writer w;
	struct cfg c = { 0 };
	char long_rel[300];

	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		CHECK(local_dir_valid(good[i]));
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (local_dir_valid(bad[i]))
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CHECK(!local_dir_valid(bad[i]));
	}
	memset(long_rel, 'a', sizeof(long_rel) - 1);
	long_rel[sizeof(long_rel) - 1] = 0;
	CHECK(!local_dir_valid(long_rel));
	CHECK(!local_dir_valid(NULL));

	/* accumulated; an invalid one or one too many is a malformed message */
	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_str(&w, CFG_LOCAL_DIR, "node_modules");
	tlv_put_str(&w, CFG_LOCAL_DIR, "target");
	CHECK_EQ(parse(&w, &c), 0);
	CHECK_EQ(c.local_n, 2u);
	CHECK_STR(c.local[1], "target");
	cfg_done(&c);
	memset(&c, 0, sizeof(c));
	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_str(&w, CFG_LOCAL_DIR, "../etc");
	CHECK_EQ(parse(&w, &c), -EPROTO);
	cfg_done(&c);
	memset(&c, 0, sizeof(c));
	tlv_writer_init(&w, buf, sizeof(buf));
	for (int i = 0; i <= LOCAL_DIRS_MAX; i++)
		tlv_put_str(&w, CFG_LOCAL_DIR, "d");
	CHECK_EQ(parse(&w, &c), -EPROTO);
	CHECK_EQ(c.local_n, (size_t)LOCAL_DIRS_MAX);
	cfg_done(&c);
}

int main(void)
{
	test_full_message();
	test_empty_and_defaults();
	test_ssh_agent_only_one();
	test_malformed();
	test_env_limit();
	test_hostname_valid();
	test_workspace_valid();
	test_local_dirs();
	TEST_DONE();
}
