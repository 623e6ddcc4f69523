// SPDX-License-Identifier: MIT
/* fuzz_policy_import.c: libFuzzer target: a policy file as `sbx policy import` reads it
 * (policy_file_parse: the text form, or JSON when it starts with '{'), then written
 * back in both forms, parsed again, and applied to an empty policy twice.
 *
 * Invariants: a refused file says why, at a line inside the file; an accepted one
 * writes text and JSON that parse back to the same file (the written forms are
 * fixed points); applying it twice changes nothing the second time (replace and merge);
 * as a project file it is refused with a reason, or every rule lands in its sandbox.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "policy.h"
#include "policy_file.h"

static char *const preset_rules[] = { "a.preset", "**.b.preset", "10.0.0.0/8:22", NULL };

static struct policy_file *reparse(const char *text)
{
	struct policy_file *g = NULL;
	char *err = NULL;
	int line = -1;

	assert(policy_file_parse(text, strlen(text), &g, &line, &err) == 0);
	assert(line == 0);
	return g;
}

static void check_apply(const struct policy_file *f, bool merge)
{
	struct policy *pol = policy_new();
	struct policy_diff d = { 0 };
	char *err = NULL;

	assert(policy_file_apply(pol, f, preset_rules, false, &d, &err) == 0);
	assert(policy_rule_count(pol) <= f->n + 3);
	policy_diff_clear(&d);
	assert(policy_file_apply(pol, f, preset_rules, merge, &d, &err) == 0);
	assert(policy_diff_empty(&d));
	policy_diff_clear(&d);
	policy_free(pol);
}

/* As a workspace's .sbx/policy: scoped to one sandbox, swapped in, swapped for itself. */
static void check_project(struct policy_file *f)
{
	struct policy *pol = policy_new();
	struct policy_diff d = { 0 };
	char *err = NULL;

	if (policy_file_project(f, "fz", &err) < 0) {
		assert(err && err[0]);
		free(err);
		policy_free(pol);
		return;
	}
	assert(policy_file_swap(pol, NULL, f, &d, &err) == 0);
	assert(d.n == f->n && policy_rule_count(pol) == f->n);
	policy_diff_clear(&d);
	assert(policy_file_swap(pol, f, f, &d, &err) == 0);
	assert(d.n == 0 && policy_rule_count(pol) == f->n);
	policy_diff_clear(&d);
	for (size_t i = 0; i < policy_rule_count(pol); i++) {
		struct policy_rule_info ri;
		policy_rule_get(pol, i, &ri);
		assert(ri.sandbox && !strcmp(ri.sandbox, "fz"));
	}
	policy_free(pol);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_file *f = NULL, *g;
	char *err = NULL, *text, *json, *text2, *json2;
	size_t lines = 1;
	int line = -1;

	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (policy_file_parse((const char *)data, size, &f, &line, &err) < 0) {
		assert(err && err[0]);
		assert(line >= 0 && (size_t)line <= lines);
		free(err);
		return 0;
	}
	assert(line == 0 && f->n <= 10000);
	text = policy_file_format_text(f);
	json = policy_file_format_json(f);
	g = reparse(text);
	assert(g->n == f->n && streq_null(g->preset, f->preset));
	text2 = policy_file_format_text(g);
	assert(!strcmp(text, text2));
	policy_file_free(g);
	g = reparse(json);
	assert(g->n == f->n);
	json2 = policy_file_format_json(g);
	assert(!strcmp(json, json2));
	policy_file_free(g);
	check_apply(f, false);
	check_apply(f, true);
	check_project(f);
	free(text);
	free(text2);
	free(json);
	free(json2);
	policy_file_free(f);
	return 0;
}
