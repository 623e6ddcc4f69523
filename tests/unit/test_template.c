// SPDX-License-Identifier: MIT
/* test_template.c: a template built from another version of its recipe is stale. */
#include <stdlib.h>
#include <unistd.h>

#include "image.h"
#include "paths.h"
#include "testlib.h"
#include "util.h"

static void put(const char *path, const char *text)
{
	CHECK_EQ(file_write_atomic(path, text, strlen(text), 0644), 0);
}

int main(void)
{
	char dir[] = "/tmp/sbx-template-XXXXXX";
	struct sbx_paths p = { 0 };
	_cleanup_free_ char *recipe = NULL, *tdir = NULL, *meta = NULL, *img = NULL;
	const char *text = "suite bookworm\ninclude curl\n";
	/* sha256 of text */
	char cmd[256];
	_cleanup_free_ char *out = NULL;

	CHECK(mkdtemp(dir) != NULL);
	p.recipes = xasprintf("%s/recipes", dir);
	p.cache = xasprintf("%s/cache", dir);
	CHECK_EQ(mkdir_p(p.recipes, 0755), 0);
	recipe = xasprintf("%s/t1", p.recipes);
	put(recipe, text);
	CHECK(template_known(&p, "t1"));
	CHECK(!template_stale(&p, "t1"));   /* not built: not stale */

	tdir = xasprintf("%s/templates/t1", p.cache);
	CHECK_EQ(mkdir_p(tdir, 0755), 0);
	img = xasprintf("%s/base-1.raw", tdir);
	put(img, "");
	meta = xasprintf("%s/meta.json", tdir);
	/* built before sbx recorded the recipe: stale */
	put(meta, "{\"name\":\"t1\",\"image\":\"base-1.raw\",\"size\":1}");
	CHECK(template_stale(&p, "t1"));
	/* the same recipe: current */
	snprintf(cmd, sizeof(cmd), "printf '%%s' 'suite bookworm\ninclude curl\n' | sha256sum | cut -c1-64 > %s/sum", dir);
	CHECK_EQ(system(cmd), 0);
	{
		_cleanup_free_ char *sump = xasprintf("%s/sum", dir), *m = NULL;
		CHECK_EQ(file_read_all(sump, 128, &out, NULL), 0);
		out[strcspn(out, "\n")] = 0;
		m = xasprintf("{\"name\":\"t1\",\"image\":\"base-1.raw\",\"size\":1,\"recipe_sha256\":\"%s\"}", out);
		put(meta, m);
	}
	CHECK(!template_stale(&p, "t1"));
	/* the recipe changed since: stale */
	put(recipe, "suite bookworm\ninclude curl,git\n");
	CHECK(template_stale(&p, "t1"));
	CHECK_EQ(rm_rf(dir), 0);
	free(p.recipes);
	free(p.cache);
	TEST_DONE();
}
