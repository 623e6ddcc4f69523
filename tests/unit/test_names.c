// SPDX-License-Identifier: MIT
/* test_names.c: sandbox name validation, sanitising, size parsing and spec round trip. */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "spec.h"
#include "testlib.h"
#include "util.h"

static void test_names(void)
{
	char long_name[80];

	CHECK(name_valid("a"));
	CHECK(name_valid("shell-proj_1.x"));
	CHECK(name_valid("9lives"));
	CHECK(!name_valid(""));
	CHECK(!name_valid(NULL));
	CHECK(!name_valid("-lead"));
	CHECK(!name_valid(".hidden"));
	CHECK(!name_valid("bad/name"));
	CHECK(!name_valid("a..b"));
	CHECK(!name_valid("trail."));
	CHECK(!name_valid("sp ace"));
	CHECK(!name_valid("uni\xc3\xa9"));
	CHECK(!name_valid("new\nline"));
	memset(long_name, 'a', sizeof(long_name));
	long_name[63] = 0;
	CHECK(name_valid(long_name));
	long_name[63] = 'a';
	long_name[64] = 0;
	CHECK(!name_valid(long_name));
}

static void test_sanitize(void)
{
	char *s;

	s = name_sanitize("shell-my project");
	CHECK_STR(s, "shell-my-project");
	CHECK(name_valid(s));
	free(s);
	s = name_sanitize("..//..");
	CHECK(name_valid(s));
	free(s);
	s = name_sanitize("");
	CHECK_STR(s, "sandbox");
	free(s);
	s = name_sanitize("shell-\xc3\xa9t\xc3\xa9");
	CHECK(name_valid(s));
	free(s);
	{
		char big[300];
		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = 0;
		s = name_sanitize(big);
		CHECK(name_valid(s));
		CHECK_EQ(strlen(s), NAME_MAX_LEN);
		free(s);
	}
}

static void test_sizes(void)
{
	unsigned v = 0;

	CHECK(size_parse_mib("512", &v) == 0 && v == 512);
	CHECK(size_parse_mib("2G", &v) == 0 && v == 2048);
	CHECK(size_parse_mib("1GiB", &v) == 0 && v == 1024);
	CHECK(size_parse_mib("768m", &v) == 0 && v == 768);
	CHECK(size_parse_mib("0", &v) == -EINVAL);
	CHECK(size_parse_mib("-1G", &v) == -EINVAL);
	CHECK(size_parse_mib("1T", &v) == -EINVAL);
	CHECK(size_parse_mib("99999999999999999999G", &v) == -EINVAL);
	CHECK(size_parse_mib("", &v) == -EINVAL);
	CHECK(env_assignment_valid("A=b"));
	CHECK(env_assignment_valid("_X1="));
	CHECK(!env_assignment_valid("=b"));
	CHECK(!env_assignment_valid("1A=b"));
	CHECK(!env_assignment_valid("A-B=c"));
	CHECK(!env_assignment_valid("noequals"));
}

static void test_spec(void)
{
	char *env[] = { "A=1", NULL };
	struct spec s = { .name = "shell-x", .agent = "shell", .template_name = "minimal", .workspace = "/tmp/x",
			  .cpus = 2, .memory_mib = 1024, .uid = 1000, .gid = 1000, .created = 5, .env = env };
	struct spec back = { 0 };
	const char *err = NULL;
	struct json_object *o;

	CHECK(spec_validate(&s, &err) == 0);
	o = spec_to_json(&s);
	CHECK(spec_from_json(o, &back, &err) == 0);
	CHECK_STR(back.name, "shell-x");
	CHECK_STR(back.workspace, "/tmp/x");
	CHECK(back.env && back.env[0] && !strcmp(back.env[0], "A=1") && !back.env[1]);
	CHECK_EQ(back.memory_mib, 1024);
	spec_free(&back);
	json_object_object_add(o, "cpus", json_object_new_int(0));
	CHECK(spec_from_json(o, &back, &err) == -EINVAL);
	json_object_object_add(o, "cpus", json_object_new_string("2"));
	CHECK(spec_from_json(o, &back, &err) == -EINVAL);
	json_object_object_add(o, "cpus", json_object_new_int(2));
	json_object_object_add(o, "workspace", json_object_new_string("relative/path"));
	CHECK(spec_from_json(o, &back, &err) == -EINVAL);
	json_object_object_add(o, "workspace", json_object_new_string("/ok"));
	json_object_object_add(o, "name", json_object_new_string("../etc"));
	CHECK(spec_from_json(o, &back, &err) == -EINVAL);
	json_object_object_add(o, "name", json_object_new_string("ok"));
	json_object_object_add(o, "agent", json_object_new_string("nope"));
	CHECK(spec_from_json(o, &back, &err) == -EINVAL);
	json_object_put(o);
	CHECK(agent_known("shell") && agent_known("claude") && !agent_known("bash"));
	CHECK_STR(agent_default_template("shell"), "minimal");
}

int main(void)
{
	test_names();
	test_sanitize();
	test_sizes();
	test_spec();
	TEST_DONE();
}
