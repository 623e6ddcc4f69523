// SPDX-License-Identifier: MIT
/* test_policy_file.c: the policy file: parsing (text and JSON), errors with their line,
 * export, and import's diff and apply (round trips). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "policy_file.h"
#include "testlib.h"
#include "util.h"

static struct policy_file *parse_ok(const char *text)
{
	struct policy_file *f = NULL;
	char *err = NULL;
	int line = -1;

	if (policy_file_parse(text, strlen(text), &f, &line, &err) < 0) {
		fprintf(stderr, "unexpected parse error, line %d: %s\n", line, err);
		free(err);
		return NULL;
	}
	CHECK_EQ(line, 0);
	return f;
}

/* Expect a refusal at line `want_line`, with `want` in the message. */
static void parse_bad(const char *text, size_t len, int want_line, const char *want)
{
	struct policy_file *f = NULL;
	char *err = NULL;
	int line = -1;
	int r = policy_file_parse(text, len == (size_t)-1 ? strlen(text) : len, &f, &line, &err);

	CHECK_EQ(r, -EINVAL);
	CHECK(f == NULL);
	CHECK_EQ(line, want_line);
	CHECK(err && strstr(err, want));
	if (!err || !strstr(err, want) || line != want_line)
		fprintf(stderr, "  got line %d: %s (want %d: %s)\n", line, err ? err : "(null)", want_line, want);
	free(err);
}

static void test_parse_text(void)
{
	struct policy_file *f = parse_ok("# a comment\n"
					 "version 1\n"
					 "  preset   deny-all   # trailing comment\r\n"
					 "\n"
					 "allow Example.COM.\n"
					 "deny **.ads.example:443\n"
					 "allow api.test:8443 sandbox=api\n"
					 "allow example.com\n"
					 "\tallow [fd00::1]:22");
	if (!f)
		return;
	CHECK_STR(f->preset, "deny-all");
	CHECK_EQ(f->n, 4); /* the duplicate example.com is dropped */
	CHECK_STR(f->rules[0].resource, "example.com");
	CHECK_EQ(f->rules[0].action, POLICY_ALLOW);
	CHECK(f->rules[0].sandbox == NULL);
	CHECK_EQ(f->rules[1].action, POLICY_DENY);
	CHECK_STR(f->rules[2].sandbox, "api");
	CHECK_STR(f->rules[2].resource, "api.test:8443");
	policy_file_free(f);

	f = parse_ok("");
	CHECK(f && f->n == 0 && !f->preset);
	policy_file_free(f);
}

static void test_parse_errors(void)
{
	static const char nul[] = "allow a.test\nallow b\0.test\n";

	parse_bad("allow a.test\nallow bad..name\n", (size_t)-1, 2, "invalid rule 'bad..name'");
	parse_bad("allow a.test\n\npermit b.test\n", (size_t)-1, 3, "unknown directive 'permit'");
	parse_bad("allow a.test sandbox=../x\n", (size_t)-1, 1, "invalid sandbox name");
	parse_bad("allow a.test for=x\n", (size_t)-1, 1, "sandbox=NAME");
	parse_bad("allow a.test sandbox=x extra\n", (size_t)-1, 1, "usage");
	parse_bad("allow\n", (size_t)-1, 1, "usage");
	parse_bad("preset nope\n", (size_t)-1, 1, "unknown preset");
	parse_bad("preset balanced\npreset deny-all\n", (size_t)-1, 2, "second preset");
	parse_bad("version 2\n", (size_t)-1, 1, "version");
	parse_bad(nul, sizeof(nul) - 1, 2, "NUL");
	parse_bad("allow a.test\x1b[2J\n", (size_t)-1, 1, "control character");
	parse_bad("allow a.test,b.test\n", (size_t)-1, 1, "invalid rule");
	{
		char big[POLICY_FILE_LINE_MAX + 20];
		memset(big, 'a', sizeof(big));
		memcpy(big, "\nallow ", 7);
		parse_bad(big, sizeof(big), 2, "longer than");
	}
	/* JSON */
	parse_bad("{\"rules\": [\n {\"action\": \"allow\", \"resource\": \"a.test\"},\n", (size_t)-1, 3, "not valid JSON");
	parse_bad("{\"rules\": [{\"action\": \"allow\", \"resource\": \"a..b\"}]}", (size_t)-1, 0, "rules[0]: invalid rule");
	parse_bad("{\"rules\": [{\"action\": \"permit\", \"resource\": \"a.test\"}]}", (size_t)-1, 0, "allow or deny");
	parse_bad("{\"rules\": [{\"action\": \"allow\", \"resource\": \"a.test\", \"id\": 3}]}", (size_t)-1, 0, "unknown key 'id'");
	parse_bad("{\"rulez\": []}", (size_t)-1, 0, "unknown key 'rulez'");
	parse_bad("{\"version\": 2}", (size_t)-1, 0, "version");
	parse_bad("{} {}", (size_t)-1, 1, "after the object");
	parse_bad("{\"rules\": [{\"action\": \"allow\", \"resource\": \"a\\u0000b\"}]}", (size_t)-1, 0, "NUL");
}

static void test_parse_json(void)
{
	struct policy_file *f = parse_ok("\n  {\"version\": 1, \"preset\": null, \"rules\": ["
					 "{\"action\": \"deny\", \"resource\": \"x.test\", \"sandbox\": \"s1\"},"
					 "{\"action\": \"allow\", \"resource\": \"**\"}]}\n\n");
	if (!f)
		return;
	CHECK(f->preset == NULL);
	CHECK_EQ(f->n, 2);
	CHECK_STR(f->rules[0].sandbox, "s1");
	CHECK_EQ(f->rules[0].action, POLICY_DENY);
	CHECK_STR(f->rules[1].resource, "**");
	policy_file_free(f);
}

static char *const preset_list[] = { "a.preset", "**.b.preset", NULL };

/* A policy like `sbx policy init` of a fake preset plus user rules makes. */
static struct policy *mk_policy(void)
{
	struct policy *pol = policy_new();
	struct policy_file *f = parse_ok("preset balanced\n"
					 "allow u.test\n"
					 "deny v.test:80 sandbox=s2\n"
					 "allow w.test sandbox=s1\n");
	struct policy_diff d;
	char *err = NULL;

	CHECK(policy_file_apply(pol, f, preset_list, false, &d, &err) == 0);
	policy_diff_clear(&d);
	policy_file_free(f);
	return pol;
}

static void test_export_round_trip(void)
{
	struct policy *pol = mk_policy(), *pol2 = policy_new();
	struct policy_file *f, *g;
	struct policy_diff d;
	_cleanup_free_ char *text = NULL, *json = NULL, *text2 = NULL, *json2 = NULL;
	char *err = NULL;
	bool expanded = true;

	CHECK_EQ(policy_rule_count(pol), 5);
	f = policy_file_from_policy(pol, preset_list, &expanded);
	CHECK(!expanded);
	CHECK_STR(f->preset, "balanced");
	CHECK_EQ(f->n, 3);
	text = policy_file_format_text(f);
	json = policy_file_format_json(f);
	CHECK(strstr(text, "\npreset balanced\n"));
	CHECK(strstr(text, "\nallow u.test\n"));
	CHECK(strstr(text, "\ndeny v.test:80 sandbox=s2\n"));
	/* global first, then each sandbox in name order */
	CHECK(strstr(text, "sandbox=s1") < strstr(text, "sandbox=s2"));
	policy_file_free(f);

	/* text -> import into an empty policy -> export: the same text */
	g = parse_ok(text);
	CHECK(g && policy_file_apply(pol2, g, preset_list, false, &d, &err) == 0);
	CHECK_EQ(d.n, 5);
	policy_diff_clear(&d);
	policy_file_free(g);
	CHECK_EQ(policy_rule_count(pol2), policy_rule_count(pol));
	f = policy_file_from_policy(pol2, preset_list, NULL);
	text2 = policy_file_format_text(f);
	json2 = policy_file_format_json(f);
	CHECK_STR(text, text2);
	CHECK_STR(json, json2);
	policy_file_free(f);

	/* the JSON form gives the same policy as the text form */
	g = parse_ok(json);
	CHECK(g && policy_file_apply(pol2, g, preset_list, false, &d, &err) == 0);
	CHECK(policy_diff_empty(&d));
	policy_diff_clear(&d);
	policy_file_free(g);
	policy_free(pol);
	policy_free(pol2);
}

static void test_export_edited_preset(void)
{
	struct policy *pol = mk_policy();
	struct policy_file *f;
	bool expanded = false;

	/* the user removed one of the preset's rules: every rule is listed, no preset named */
	CHECK(policy_remove_resource(pol, "a.preset", NULL) == 1);
	f = policy_file_from_policy(pol, preset_list, &expanded);
	CHECK(expanded);
	CHECK(f->preset == NULL);
	CHECK_EQ(f->n, 4);
	policy_file_free(f);
	policy_free(pol);
}

static void test_apply_replace_diff(void)
{
	struct policy *pol = mk_policy();
	struct policy_file *f = parse_ok("allow u.test\nallow new.test sandbox=s1\ndeny evil.test\n");
	struct policy_diff d;
	struct policy_rule_info ri;
	char *err = NULL;
	int plus = 0, minus = 0, u_id = -1;
	bool have_deny = false;

	for (size_t i = 0; i < policy_rule_count(pol); i++) {
		policy_rule_get(pol, i, &ri);
		if (!strcmp(ri.resource, "u.test"))
			u_id = ri.id;
	}
	CHECK(policy_file_apply(pol, f, NULL, false, &d, &err) == 0);
	for (size_t i = 0; i < d.n; i++) {
		plus += d.v[i].op == '+';
		minus += d.v[i].op == '-';
	}
	CHECK_EQ(plus, 2);  /* new.test, evil.test */
	CHECK_EQ(minus, 4); /* two preset rules, v.test, w.test */
	CHECK_STR(d.old_preset, "balanced");
	CHECK(d.new_preset == NULL);
	CHECK(!policy_diff_empty(&d));
	policy_diff_clear(&d);
	CHECK(policy_preset(pol) == NULL);
	CHECK_EQ(policy_rule_count(pol), 3);
	for (size_t i = 0; i < policy_rule_count(pol); i++) {
		policy_rule_get(pol, i, &ri);
		if (!strcmp(ri.resource, "u.test"))
			CHECK_EQ(ri.id, u_id); /* a rule that stays keeps its id */
		have_deny |= ri.action == POLICY_DENY && !strcmp(ri.resource, "evil.test");
	}
	CHECK(have_deny);
	/* the same file again: nothing to change */
	CHECK(policy_file_apply(pol, f, NULL, false, &d, &err) == 0);
	CHECK(policy_diff_empty(&d));
	policy_diff_clear(&d);
	policy_file_free(f);
	policy_free(pol);
}

static void test_apply_merge(void)
{
	struct policy *pol = mk_policy();
	struct policy_file *f = parse_ok("allow u.test\nallow m.test\n"), *g = parse_ok("preset deny-all\n");
	struct policy_diff d = { 0 };
	char *err = NULL;

	CHECK(policy_file_apply(pol, f, NULL, true, &d, &err) == 0);
	CHECK_EQ(d.n, 1);
	CHECK(d.n == 1 && d.v[0].op == '+' && !strcmp(d.v[0].resource, "m.test"));
	policy_diff_clear(&d);
	CHECK_EQ(policy_rule_count(pol), 6);
	CHECK_STR(policy_preset(pol), "balanced");
	/* merge never changes the preset: refused, nothing changed */
	CHECK(policy_file_apply(pol, g, preset_list, true, &d, &err) == -EINVAL);
	CHECK(err && strstr(err, "--merge cannot change the preset"));
	free(err);
	CHECK_EQ(policy_rule_count(pol), 6);
	/* a preset named without its rules is refused */
	err = NULL;
	CHECK(policy_file_apply(pol, g, NULL, false, &d, &err) == -EINVAL);
	free(err);
	CHECK_EQ(policy_rule_count(pol), 6);
	policy_file_free(f);
	policy_file_free(g);
	policy_free(pol);
}

static void test_change_text_and_scope_decision(void)
{
	struct policy *pol = policy_new();
	struct policy_file *f = parse_ok("allow only.test sandbox=s1\n");
	struct policy_decision dec;
	struct policy_diff d;
	char *err = NULL;
	_cleanup_free_ char *t = NULL;

	CHECK(policy_file_apply(pol, f, NULL, false, &d, &err) == 0);
	CHECK_EQ(d.n, 1);
	t = policy_change_text(&d.v[0]);
	CHECK_STR(t, "allow only.test sandbox=s1");
	policy_diff_clear(&d);
	policy_check(pol, "s1", "only.test", 443, &dec);
	CHECK_EQ(dec.action, POLICY_ALLOW);
	policy_check(pol, "s2", "only.test", 443, &dec);
	CHECK_EQ(dec.action, POLICY_DENY);
	policy_check(pol, NULL, "only.test", 443, &dec);
	CHECK_EQ(dec.action, POLICY_DENY);
	policy_file_free(f);
	policy_free(pol);
}

static void test_project_and_swap(void)
{
	struct policy *pol = policy_new();
	struct policy_file *old = parse_ok("allow a.test\ndeny b.test\n"), *new = parse_ok("allow a.test\nallow c.test\n");
	struct policy_file *bad1 = parse_ok("preset balanced\n"), *bad2 = parse_ok("allow x.test sandbox=other\n");
	struct policy_diff d;
	struct policy_rule_info ri;
	char *err = NULL;
	int add_id = 0;

	CHECK(policy_add(pol, POLICY_ALLOW, "mine.test", "p1", false, &add_id, NULL) == 0);
	CHECK(policy_file_project(bad1, "p1", &err) == -EINVAL && err && strstr(err, "preset"));
	free(err);
	err = NULL;
	CHECK(policy_file_project(bad2, "p1", &err) == -EINVAL && err && strstr(err, "cannot name a sandbox"));
	free(err);
	err = NULL;
	CHECK(policy_file_project(old, "p1", &err) == 0 && !strcmp(old->rules[1].sandbox, "p1"));
	CHECK(policy_file_project(new, "p1", &err) == 0);
	/* first acceptance: old = none */
	CHECK(policy_file_swap(pol, NULL, old, &d, &err) == 0);
	CHECK_EQ(d.n, 2);
	policy_diff_clear(&d);
	CHECK_EQ(policy_rule_count(pol), 3);
	/* old -> new: b.test goes, c.test comes, a.test and the user's own rule stay */
	CHECK(policy_file_swap(pol, old, new, &d, &err) == 0);
	CHECK_EQ(d.n, 2);
	CHECK(d.n == 2 && d.v[0].op == '-' && !strcmp(d.v[0].resource, "b.test") && d.v[1].op == '+' &&
	      !strcmp(d.v[1].resource, "c.test"));
	policy_diff_clear(&d);
	CHECK_EQ(policy_rule_count(pol), 3);
	for (size_t i = 0; i < policy_rule_count(pol); i++) {
		policy_rule_get(pol, i, &ri);
		CHECK_STR(ri.sandbox, "p1");
		CHECK(strcmp(ri.resource, "b.test"));
	}
	/* a rule the policy holds already is no change */
	{
		struct policy_file *same = parse_ok("allow mine.test\n");
		CHECK(policy_file_project(same, "p1", &err) == 0);
		CHECK(policy_file_swap(pol, NULL, same, &d, &err) == 0);
		CHECK_EQ(d.n, 0);
		policy_diff_clear(&d);
		CHECK_EQ(policy_rule_count(pol), 3);
		policy_file_free(same);
	}
	policy_file_free(old);
	policy_file_free(new);
	policy_file_free(bad1);
	policy_file_free(bad2);
	policy_free(pol);
}

int main(void)
{
	test_parse_text();
	test_parse_errors();
	test_parse_json();
	test_export_round_trip();
	test_export_edited_preset();
	test_apply_replace_diff();
	test_apply_merge();
	test_change_text_and_scope_decision();
	test_project_and_swap();
	TEST_DONE();
}
