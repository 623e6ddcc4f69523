// SPDX-License-Identifier: MIT
/* test_guest_users.c: the guest's passwd/group handling (src/guest/users.c) on a
 * temporary root: lookups by name and uid, supplementary groups, and the "agent"
 * account that users_ensure_agent makes or corrects. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"
#include "users.h"

static char root[] = "/tmp/test_guest_users.XXXXXX";

static void put(const char *name, const char *text)
{
	char *path = xasprintf("%s/etc/%s", root, name);

	CHECK_EQ(file_write_atomic(path, text, strlen(text), 0644), 0);
	free(path);
}

static char *get(const char *name)
{
	char *path = xasprintf("%s/etc/%s", root, name);
	char *text = slurp(path);

	free(path);
	return text;
}

static void drop(const char *name)
{
	char *path = xasprintf("%s/etc/%s", root, name);

	unlink(path);
	free(path);
}

static const char passwd[] =
	"root:x:0:0:root:/root:/bin/bash\n"
	"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
	"broken line without fields\n"
	"baduid:x:12a:1::/home/b:/bin/sh\n"
	"odd:x:1500:1600::relative:\n"
	"alice:x:1000:1000:Alice:/home/alice:/bin/zsh\n"
	"alice:x:1001:1001:second entry:/nowhere:/bin/sh\n"
	"last:x:4000:4000::/home/last:/bin/sh";   /* no final newline */

static void test_lookup(void)
{
	struct user_info u;

	put("passwd", passwd);
	CHECK_EQ(user_lookup(root, "alice", &u), 0);
	CHECK_STR(u.name, "alice");
	CHECK_EQ(u.uid, 1000); /* the first entry wins */
	CHECK_EQ(u.gid, 1000);
	CHECK_STR(u.home, "/home/alice");
	CHECK_STR(u.shell, "/bin/zsh");
	user_info_done(&u);
	CHECK(u.name == NULL);

	CHECK_EQ(user_lookup(root, "0", &u), 0); /* by uid */
	CHECK_STR(u.name, "root");
	CHECK_STR(u.home, "/root");
	user_info_done(&u);

	CHECK_EQ(user_lookup(root, "last", &u), 0);
	CHECK_EQ(u.uid, 4000);
	user_info_done(&u);

	/* a relative home and an empty shell get the defaults */
	CHECK_EQ(user_lookup(root, "odd", &u), 0);
	CHECK_STR(u.home, "/");
	CHECK_STR(u.shell, "/bin/sh");
	user_info_done(&u);

	/* a numeric uid without an entry is that uid, in its own group */
	CHECK_EQ(user_lookup(root, "4242", &u), 0);
	CHECK_STR(u.name, "4242");
	CHECK(u.uid == 4242 && u.gid == 4242);
	CHECK_STR(u.home, "/");
	CHECK_STR(u.shell, "/bin/sh");
	user_info_done(&u);
}

static void test_lookup_refusals(void)
{
	struct user_info u;

	put("passwd", passwd);
	CHECK_EQ(user_lookup(root, "nobody-here", &u), -ENOENT);
	CHECK_EQ(user_lookup(root, "baduid", &u), -ENOENT);   /* its uid does not parse */
	CHECK_EQ(user_lookup(root, "broken line without fields", &u), -ENOENT);
	CHECK_EQ(user_lookup(root, "", &u), -EINVAL);
	CHECK_EQ(user_lookup(root, "a:b", &u), -EINVAL);
	CHECK_EQ(user_lookup(root, "a/b", &u), -EINVAL);
	CHECK_EQ(user_lookup(root, "a,b", &u), -EINVAL);
	CHECK_EQ(user_lookup(root, "a\nb", &u), -EINVAL);
	/* 4294967295 is (uid_t)-1, "no change": not a uid, so a name, and unknown */
	CHECK_EQ(user_lookup(root, "4294967295", &u), -ENOENT);
	/* without a passwd file a uid still resolves, a name does not */
	drop("passwd");
	CHECK_EQ(user_lookup(root, "alice", &u), -ENOENT);
	CHECK_EQ(user_lookup(root, "77", &u), 0);
	CHECK_EQ(u.uid, 77);
	user_info_done(&u);
}

static void test_groups(void)
{
	gid_t *g = NULL;
	size_t n = 0;

	put("group",
	    "root:x:0:\n"
	    "sudo:x:27:bob,alice\n"
	    "audio:x:29:alicex,xalice\n"     /* no partial names */
	    "video:x:44:alice\n"
	    "bad:x:zz:alice\n"               /* gid does not parse */
	    "short:x:45\n"                   /* too few fields */
	    "alice:x:1000:alice\n"           /* the primary group again */
	    "docker:x:999:carol,alice");
	CHECK_EQ(user_groups(root, "alice", 1000, &g, &n), 0);
	CHECK_EQ(n, 4);
	CHECK(n == 4 && g[0] == 1000 && g[1] == 27 && g[2] == 44 && g[3] == 999);
	free(g);

	CHECK_EQ(user_groups(root, "nobody", 65534, &g, &n), 0);
	CHECK(n == 1 && g[0] == 65534);
	free(g);

	{
		gid_t gid = 1;

		CHECK_EQ(group_lookup(root, "docker", &gid), 0);
		CHECK_EQ(gid, 999);
		CHECK_EQ(group_lookup(root, "bad", &gid), -EINVAL);
		CHECK_EQ(group_lookup(root, "short", &gid), -ENOENT);
		CHECK_EQ(group_lookup(root, "docke", &gid), -ENOENT);
		CHECK_EQ(gid, 999);
	}
	drop("group");
	CHECK_EQ(group_lookup(root, "docker", &(gid_t){ 0 }), -ENOENT);
	CHECK_EQ(user_groups(root, "alice", 5, &g, &n), 0);   /* no group file: the gid alone */
	CHECK(n == 1 && g[0] == 5);
	free(g);
}

/* users_ensure_agent with the test's own ids, so that its chowns are allowed. */
static int ensure(char **msg)
{
	*msg = NULL;
	return users_ensure_agent(root, (uint32_t)getuid(), (uint32_t)getgid(), msg);
}

static void test_agent_created(void)
{
	char *msg, *pw, *gr, *sh, *want, *home = xasprintf("%s/home/agent", root), *skel, *dot;
	struct stat st;

	put("passwd", "root:x:0:0:root:/root:/bin/bash\n");
	put("group", "root:x:0:\nsudo:x:27:\ndocker:x:999:bob\naudio:x:29:\n");
	put("shadow", "root:*:19000:0:99999:7:::\n");
	skel = xasprintf("%s/etc/skel", root);
	CHECK_EQ(mkdir(skel, 0755), 0);
	put("skel/.bashrc", "echo hi\n");
	CHECK_EQ(ensure(&msg), 0);
	CHECK(msg == NULL);

	pw = get("passwd");
	want = xasprintf("root:x:0:0:root:/root:/bin/bash\nagent:x:%u:%u:agent:/home/agent:/bin/bash\n",
			 (unsigned)getuid(), (unsigned)getgid());
	CHECK_STR(pw, want);
	free(want);
	gr = get("group");
	want = xasprintf("root:x:0:\nsudo:x:27:agent\ndocker:x:999:bob,agent\naudio:x:29:\nagent:x:%u:\n",
			 (unsigned)getgid());
	CHECK_STR(gr, want);
	free(want);
	sh = get("shadow");
	CHECK(!strncmp(sh, "root:*:19000:0:99999:7:::\nagent:*:", strlen("root:*:19000:0:99999:7:::\nagent:*:")));
	CHECK(strstr(sh, ":0:99999:7:::\n") != NULL);
	CHECK(stat(home, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid());
	dot = xasprintf("%s/.bashrc", home);
	free(skel);
	skel = slurp(dot);
	CHECK_STR(skel, "echo hi\n");   /* /etc/skel copied into the new home */

	/* idempotent: a second run changes nothing */
	free(pw);
	free(gr);
	free(sh);
	pw = get("passwd");
	gr = get("group");
	sh = get("shadow");
	CHECK_EQ(ensure(&msg), 0);
	{
		char *pw2 = get("passwd"), *gr2 = get("group"), *sh2 = get("shadow");
		CHECK_STR(pw2, pw);
		CHECK_STR(gr2, gr);
		CHECK_STR(sh2, sh);
		free(pw2);
		free(gr2);
		free(sh2);
	}
	free(pw);
	free(gr);
	free(sh);
	free(skel);
	unlink(dot);
	free(dot);
	rmdir(home);
	free(home);
	drop("skel/.bashrc");
	home = xasprintf("%s/etc/skel", root);
	rmdir(home);
	free(home);
	home = xasprintf("%s/home", root);
	rmdir(home);
	free(home);
}

static void test_agent_corrected(void)
{
	char *msg, *pw, *gr, *want, *home = xasprintf("%s/work/agent-home", root);

	/* the template made agent with other ids and a home of its own */
	put("passwd", "root:x:0:0:root:/root:/bin/bash\n"
		      "agent:x:1234:1234:Agent Smith:/work/agent-home:/bin/zsh\n"
		      "zed:x:2000:2000::/home/zed:/bin/sh\n");
	put("group", "agent:x:1234:zed\nsudo:x:27:agent\n");
	drop("shadow");
	CHECK_EQ(mkdir_p(home, 0755), 0);
	CHECK_EQ(ensure(&msg), 0);
	pw = get("passwd");
	want = xasprintf("root:x:0:0:root:/root:/bin/bash\n"
			 "agent:x:%u:%u:Agent Smith:/work/agent-home:/bin/zsh\n"
			 "zed:x:2000:2000::/home/zed:/bin/sh\n",
			 (unsigned)getuid(), (unsigned)getgid());
	CHECK_STR(pw, want);   /* only the ids change; the other fields stay */
	free(want);
	gr = get("group");
	want = xasprintf("agent:x:%u:zed\nsudo:x:27:agent\n", (unsigned)getgid());
	CHECK_STR(gr, want);   /* members kept; sudo already lists agent */
	free(want);
	{
		char *path = xasprintf("%s/etc/shadow", root);
		CHECK(access(path, F_OK) < 0);   /* no shadow file: none is made */
		free(path);
	}
	free(pw);
	free(gr);
	rmdir(home);
	free(home);
	home = xasprintf("%s/work", root);
	rmdir(home);
	free(home);
}

static void test_agent_refusals(void)
{
	char *msg = NULL, *home = xasprintf("%s/home/agent", root), *dir = xasprintf("%s/home", root);

	CHECK_EQ(users_ensure_agent(root, UINT32_MAX, 1, &msg), -EINVAL);
	CHECK(msg && !strcmp(msg, "invalid uid/gid"));
	free(msg);
	msg = NULL;
	CHECK_EQ(users_ensure_agent(root, 1, UINT32_MAX, &msg), -EINVAL);
	free(msg);

	/* a home that is not a directory */
	put("passwd", "");
	put("group", "");
	CHECK_EQ(mkdir(dir, 0755), 0);
	CHECK_EQ(file_write_atomic(home, "x", 1, 0644), 0);
	CHECK_EQ(ensure(&msg), -ENOTDIR);
	CHECK(msg && strstr(msg, "is not a directory"));
	free(msg);
	unlink(home);
	rmdir(dir);
	free(home);
	free(dir);
}

int main(void)
{
	char *etc;

	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	etc = xasprintf("%s/etc", root);
	CHECK_EQ(mkdir(etc, 0755), 0);
	test_lookup();
	test_lookup_refusals();
	test_groups();
	test_agent_created();
	test_agent_corrected();
	test_agent_refusals();
	rm_rf(root);
	free(etc);
	TEST_DONE();
}
