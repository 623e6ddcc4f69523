// SPDX-License-Identifier: MIT
/* test_secrets.c: the file secret store, the backend choice, value checks, masking and `sbx secret`. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "secrets.h"
#include "settings.h"
#include "testlib.h"
#include "util.h"

static char tmpdir[] = "/tmp/sbx-test-secrets-XXXXXX";
static struct sbx_paths P;
static char *store;

#define KEY_A "sk-ant-api03-AAAAAAAAAAAAAAAAxy"
#define KEY_B "sk-ant-api03-BBBBBBBBBBBBBBBBzz"

static char *get(const char *sandbox, const char *service, int *ret_r)
{
	char *v = NULL;
	*ret_r = secrets_get(&P, sandbox, service, &v);
	return v;
}

static void write_file_n(const char *path, const char *s, size_t len, mode_t mode)
{
	unlink(path);
	CHECK_EQ(file_write_atomic(path, s, len, mode), 0);
	chmod(path, mode);
}

static void write_file(const char *path, const char *s, mode_t mode)
{
	write_file_n(path, s, strlen(s), mode);
}

static void test_values(void)
{
	char big[SECRET_VALUE_MAX + 2], out[SECRET_PREVIEW_MAX];

	CHECK(secret_value_check("sk-1", 4) == NULL);
	CHECK(secret_value_check("", 0) != NULL);
	CHECK(secret_value_check(NULL, 0) != NULL);
	CHECK(secret_value_check("a\nb", 3) != NULL);
	CHECK(secret_value_check("ab\n", 3) != NULL);
	CHECK(secret_value_check("ab\r", 3) != NULL);
	CHECK(secret_value_check("a\0b", 3) != NULL);
	CHECK(secret_value_check("a\x01", 2) != NULL);
	CHECK(secret_value_check("a\tb", 3) != NULL);
	CHECK(secret_value_check("a\x7f", 2) != NULL);
	CHECK(secret_value_check("caf\xc3\xa9", 5) != NULL);
	CHECK(secret_value_check(" key", 4) != NULL);
	CHECK(secret_value_check("key ", 4) != NULL);
	CHECK(secret_value_check("a key", 5) == NULL);
	CHECK(secret_value_check(SERVICE_SENTINEL, strlen(SERVICE_SENTINEL)) != NULL);
	memset(big, 'k', sizeof(big));
	CHECK(secret_value_check(big, SECRET_VALUE_MAX) == NULL);
	CHECK(secret_value_check(big, SECRET_VALUE_MAX + 1) != NULL);

	secret_preview("sk-ant-api03-ABCDEFGH", out);
	CHECK_STR(out, "sk-a\xe2\x80\xa6GH");
	secret_preview("0123456789abcdef", out);   /* 16: masked form */
	CHECK_STR(out, "0123\xe2\x80\xa6""ef");
	secret_preview("0123456789abcde", out);    /* 15: nothing shown */
	CHECK_STR(out, "****");
	secret_preview("ab", out);
	CHECK_STR(out, "****");
}

static void test_set_get(void)
{
	_cleanup_free_ char *err = NULL;
	char *v;
	int r;
	struct stat st;

	v = get(NULL, "anthropic", &r);
	CHECK_EQ(r, -ENOENT);
	CHECK(v == NULL);

	CHECK_EQ(secrets_set(&P, NULL, "anthropic", KEY_A, NULL), 0);
	CHECK_EQ(stat(store, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0600);
	v = get(NULL, "anthropic", &r);
	CHECK(r == 0 && v && !strcmp(v, KEY_A));
	secret_free(TAKE_PTR(v));
	/* global applies to every sandbox */
	v = get("sb1", "anthropic", &r);
	CHECK(r == 0 && v && !strcmp(v, KEY_A));
	secret_free(TAKE_PTR(v));

	/* per sandbox wins */
	CHECK_EQ(secrets_set(&P, "sb1", "anthropic", KEY_B, NULL), 0);
	v = get("sb1", "anthropic", &r);
	CHECK(r == 0 && v && !strcmp(v, KEY_B));
	secret_free(TAKE_PTR(v));
	v = get("sb2", "anthropic", &r);
	CHECK(r == 0 && v && !strcmp(v, KEY_A));
	secret_free(TAKE_PTR(v));
	v = get(NULL, "anthropic", &r);
	CHECK(r == 0 && v && !strcmp(v, KEY_A));
	secret_free(TAKE_PTR(v));
	v = get("sb1", "openai", &r);
	CHECK_EQ(r, -ENOENT);

	/* replace */
	CHECK_EQ(secrets_set(&P, NULL, "anthropic", "sk-replaced", NULL), 0);
	v = get("sb2", "anthropic", &r);
	CHECK(r == 0 && v && !strcmp(v, "sk-replaced"));
	secret_free(TAKE_PTR(v));
	CHECK_EQ(secrets_set(&P, NULL, "anthropic", KEY_A, NULL), 0);

	/* quotes and backslashes survive the file format */
	CHECK_EQ(secrets_set(&P, "sb2", "openai", "a\"b\\c/d", NULL), 0);
	v = get("sb2", "openai", &r);
	CHECK(r == 0 && v && !strcmp(v, "a\"b\\c/d"));
	secret_free(TAKE_PTR(v));

	/* refusals: nothing stored */
	CHECK_EQ(secrets_set(&P, NULL, "nope", "x", &err), -EINVAL);
	CHECK(err && strstr(err, "unknown service") && strstr(err, "anthropic"));
	free(TAKE_PTR(err));
	CHECK_EQ(secrets_set(&P, "bad/name", "openai", "x", NULL), -EINVAL);
	CHECK_EQ(secrets_set(&P, NULL, "openai", "line1\nline2", &err), -EINVAL);
	CHECK(err && !strstr(err, "line1"));
	free(TAKE_PTR(err));
	CHECK_EQ(secrets_set(&P, NULL, "openai", "", NULL), -EINVAL);
	CHECK_EQ(secrets_set(&P, NULL, "openai", "ctl\x1b[0m", NULL), -EINVAL);
	v = get(NULL, "openai", &r);
	CHECK_EQ(r, -ENOENT);

	/* the file is valid JSON of the documented shape */
	{
		_cleanup_free_ char *text = slurp(store);
		struct json_object *o = json_tokener_parse(text), *g, *s, *sb;
		CHECK(o != NULL);
		CHECK(o && json_object_object_get_ex(o, "global", &g) &&
		      !strcmp(json_object_get_string(json_object_object_get(g, "anthropic")), KEY_A));
		CHECK(o && json_object_object_get_ex(o, "sandboxes", &s) && json_object_object_get_ex(s, "sb2", &sb) &&
		      !strcmp(json_object_get_string(json_object_object_get(sb, "openai")), "a\"b\\c/d"));
		json_object_put(o);
	}
}

static void test_list(void)
{
	struct secret_info *v = NULL;
	size_t n = 0;

	CHECK_EQ(secrets_list(&P, &v, &n, NULL), 0);
	CHECK_EQ(n, 3);
	if (n == 3) {
		CHECK(v[0].sandbox == NULL && !strcmp(v[0].service, "anthropic"));
		CHECK_STR(v[0].preview, "sk-a\xe2\x80\xa6xy");
		CHECK(v[1].sandbox && !strcmp(v[1].sandbox, "sb1") && !strcmp(v[1].service, "anthropic"));
		CHECK_STR(v[1].preview, "sk-a\xe2\x80\xa6zz");
		CHECK(v[2].sandbox && !strcmp(v[2].sandbox, "sb2") && !strcmp(v[2].service, "openai"));
		CHECK_STR(v[2].preview, "****");
	}
	secret_info_free(v, n);
}

static void test_refusals(void)
{
	_cleanup_free_ char *before = slurp(store), *err = NULL, *after = NULL;
	_cleanup_free_ char *link = xasprintf("%s/elsewhere.json", tmpdir);
	char *v;
	int r;

	/* readable by others: refused, and never rewritten */
	CHECK_EQ(chmod(store, 0644), 0);
	v = get(NULL, "anthropic", &r);
	CHECK_EQ(r, -EPERM);
	CHECK(v == NULL);
	CHECK_EQ(secrets_check(&P, &err), -EPERM);
	CHECK(err && strstr(err, "0644") && strstr(err, "chmod 600"));
	free(TAKE_PTR(err));
	CHECK_EQ(secrets_set(&P, NULL, "openai", "sk-new", &err), -EPERM);
	free(TAKE_PTR(err));
	CHECK_EQ(secrets_rm_sandbox(&P, "sb1", NULL), -EPERM);
	CHECK_EQ(chmod(store, 0640), 0);
	CHECK_EQ(secrets_check(&P, NULL), -EPERM);
	CHECK_EQ(chmod(store, 0600), 0);
	after = slurp(store);
	CHECK_STR(before, after);
	CHECK_EQ(secrets_check(&P, NULL), 0);

	/* config dir writable by others */
	CHECK_EQ(chmod(P.config, 0770), 0);
	CHECK_EQ(secrets_check(&P, &err), -EPERM);
	CHECK(err && strstr(err, "chmod 700"));
	free(TAKE_PTR(err));
	CHECK_EQ(chmod(P.config, 0700), 0);

	/* a symlink in place of the file */
	CHECK_EQ(rename(store, link), 0);
	CHECK_EQ(symlink(link, store), 0);
	CHECK_EQ(secrets_check(&P, NULL), -EPERM);
	CHECK_EQ(unlink(store), 0);
	CHECK_EQ(rename(link, store), 0);

	/* corrupt files: refused, not rewritten */
	static const char *const bad[] = {
		"{garbage",
		"",
		"[]",
		"{\"version\": 2, \"global\": {}}",
		"{\"global\": {}}",
		"{\"version\": 1, \"global\": {\"anthropic\": \"a\\nb\"}}",
		"{\"version\": 1, \"global\": {\"anthropic\": \"a\", \"anthropic\": \"b\"}}",
		"{\"version\": 1, \"global\": {\"anthropic\": 5}}",
		"{\"version\": 1, \"global\": {\"anthropic\": \"x\"}} trailing",
		"{\"version\": 1, \"sandboxes\": {\"../x\": {}}}",
		"{\"version\": 1, \"global\": {\"anthropic\": \"\\u00e9\"}}",
		"{\"version\": 1, \"other\": {}}",
		"{\"version\": 1, \"global\": {\"anthropic\": \"unterminated}}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		write_file(store, bad[i], 0600);
		r = secrets_check(&P, &err);
		CHECK_EQ(r, -EBADMSG);
		if (r != -EBADMSG)
			fprintf(stderr, "  accepted corrupt file #%zu\n", i);
		CHECK(err && strstr(err, "corrupt"));
		free(TAKE_PTR(err));
		CHECK_EQ(secrets_set(&P, NULL, "openai", "sk-new", NULL), -EBADMSG);
		free(after);
		after = slurp(store);
		CHECK_STR(after, bad[i]);
	}

	/* hand-written but valid: whitespace, escapes, empty scopes */
	write_file(store,
		   "\n{ \"sandboxes\" : { \"sb9\":{ } , \"sb8\": {\"xai\":\"\\u0041\\/B\"} },\r\n\t\"version\":1,"
		   "\"global\":{} }\n",
		   0600);
	v = get("sb8", "xai", &r);
	CHECK(r == 0 && v && !strcmp(v, "A/B"));
	secret_free(TAKE_PTR(v));

	/* restore the earlier content */
	write_file(store, before, 0600);
	CHECK_EQ(secrets_check(&P, NULL), 0);
}

static void test_rm(void)
{
	_cleanup_free_ char *err = NULL;
	char *v;
	int r;

	CHECK_EQ(secrets_rm(&P, "sb2", "anthropic", &err), -ENOENT);
	CHECK(err && strstr(err, "no anthropic secret"));
	CHECK_EQ(secrets_rm(&P, NULL, "nope", NULL), -EINVAL);
	CHECK_EQ(secrets_set(&P, "sb1", "openai", "sk-sb1-openai", NULL), 0);
	CHECK_EQ(secrets_set(&P, "sb3", "openai", "sk-sb3-openai", NULL), 0);

	CHECK_EQ(secrets_rm_sandbox(&P, "sb1", NULL), 2);
	v = get("sb1", "anthropic", &r);    /* falls back to global */
	CHECK(r == 0 && v && !strcmp(v, KEY_A));
	secret_free(TAKE_PTR(v));
	v = get("sb1", "openai", &r);
	CHECK_EQ(r, -ENOENT);
	v = get("sb3", "openai", &r);       /* other sandboxes untouched */
	CHECK(r == 0 && v && !strcmp(v, "sk-sb3-openai"));
	secret_free(TAKE_PTR(v));
	CHECK_EQ(secrets_rm_sandbox(&P, "sb1", NULL), 0);
	CHECK_EQ(secrets_rm_sandbox(&P, "bad/name", NULL), -EINVAL);

	CHECK_EQ(secrets_rm(&P, NULL, "anthropic", NULL), 0);
	v = get("sb1", "anthropic", &r);
	CHECK_EQ(r, -ENOENT);
	CHECK_EQ(secrets_rm(&P, NULL, "anthropic", NULL), -ENOENT);
}

static void test_resolve_env(void)
{
	char *env[] = { "PATH=/bin", "GITHUB_TOKEN=ghp_second", "GH_TOKEN=ghp_first", "OPENAI_API_KEY=" SERVICE_SENTINEL,
			"GROQ_API_KEY=bad\x01", "XAI_API_KEY", NULL };
	enum secret_source src;
	char *v = NULL, **col;
	bool found_gh = false, found_openai = false;

	CHECK_EQ(secrets_resolve(&P, "sb3", "github", env, &v, &src), 0);
	CHECK(v && !strcmp(v, "ghp_first") && src == SECRET_SOURCE_ENV);
	secret_free(TAKE_PTR(v));
	CHECK_EQ(secrets_resolve(&P, "sb3", "openai", env, &v, &src), 0);   /* stored beats env */
	CHECK(v && !strcmp(v, "sk-sb3-openai") && src == SECRET_SOURCE_SANDBOX);
	secret_free(TAKE_PTR(v));
	CHECK_EQ(secrets_resolve(&P, "sb4", "openai", env, &v, &src), -ENOENT);   /* sentinel skipped */
	CHECK_EQ(secrets_resolve(&P, "sb4", "groq", env, &v, &src), -ENOENT);     /* invalid skipped */
	CHECK_EQ(secrets_resolve(&P, "sb4", "xai", env, &v, &src), -ENOENT);
	CHECK_EQ(secrets_resolve(&P, "sb4", "github", NULL, &v, &src), -ENOENT);
	CHECK_EQ(secrets_resolve(&P, "sb4", "nope", env, &v, &src), -EINVAL);
	CHECK_EQ(secrets_set(&P, NULL, "github", "ghp_stored", NULL), 0);
	CHECK_EQ(secrets_resolve(&P, "sb4", "github", env, &v, &src), 0);
	CHECK(v && !strcmp(v, "ghp_stored") && src == SECRET_SOURCE_GLOBAL);
	secret_free(TAKE_PTR(v));
	CHECK_EQ(secrets_rm(&P, NULL, "github", NULL), 0);

	setenv("GH_TOKEN", "ghp_from_env", 1);
	setenv("OPENAI_API_KEY", SERVICE_SENTINEL, 1);
	col = secrets_env_collect();
	for (char **e = col; *e; e++) {
		found_gh |= !strcmp(*e, "GH_TOKEN=ghp_from_env");
		found_openai |= !strncmp(*e, "OPENAI_API_KEY=", 15);
	}
	CHECK(found_gh && !found_openai);
	secrets_env_free(col);
	unsetenv("GH_TOKEN");
	unsetenv("OPENAI_API_KEY");
}

/* Run `sbx secret ARGS` with stdin from a file holding input[0..len); capture
 * stdout+stderr. */
static int run_cmd_n(const char *input, size_t len, char **ret_out, int argc, char **argv)
{
	_cleanup_free_ char *in = xasprintf("%s/stdin", tmpdir), *out = xasprintf("%s/stdout", tmpdir);
	int saved_in = dup(0), saved_out = dup(1), saved_err = dup(2), fd, rc;

	write_file_n(in, input ? input : "", len, 0600);
	fflush(stdout);
	fflush(stderr);
	fd = open(in, O_RDONLY);
	dup2(fd, 0);
	close(fd);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 1);
	dup2(fd, 2);
	close(fd);
	rc = cmd_secret(&P, argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_in, 0);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_in);
	close(saved_out);
	close(saved_err);
	*ret_out = slurp(out);
	return rc;
}

static int run_cmd(const char *input, char **ret_out, int argc, char **argv)
{
	return run_cmd_n(input, input ? strlen(input) : 0, ret_out, argc, argv);
}

static void test_cmd(void)
{
	#define SECRET "sk-cmd-SECRETVALUE-1234567890"
	static const char secret[] = SECRET;
	char *out = NULL, *v;
	int r;

	{
		char *argv[] = { "secret", "set", "--sandbox", "sb5", "anthropic", NULL };
		CHECK_EQ(run_cmd(SECRET "\n", &out, 5, argv), 0);
		CHECK(strstr(out, "file permissions") != NULL);
		CHECK(strstr(out, secret) == NULL);
		free(out);
		v = get("sb5", "anthropic", &r);
		CHECK(r == 0 && v && !strcmp(v, secret));   /* one trailing newline dropped */
		secret_free(TAKE_PTR(v));
	}
	{
		char *argv[] = { "secret", "set", "-g", "openai", NULL };
		CHECK_EQ(run_cmd("sk-crlf-value\r\n", &out, 4, argv), 0);
		free(out);
		v = get(NULL, "openai", &r);
		CHECK(r == 0 && v && !strcmp(v, "sk-crlf-value"));
		secret_free(TAKE_PTR(v));
	}
	{
		char *argv[] = { "secret", "ls", "--json", NULL };
		struct json_object *o, *e;
		bool seen = false;

		CHECK_EQ(run_cmd(NULL, &out, 3, argv), 0);
		CHECK(strstr(out, secret) == NULL);
		CHECK(strstr(out, "SECRETVALUE") == NULL);
		CHECK(strstr(out, "sk-crlf-value") == NULL);
		o = json_tokener_parse(out);
		CHECK(o && json_object_is_type(o, json_type_array));
		for (size_t i = 0; o && i < json_object_array_length(o); i++) {
			e = json_object_array_get_idx(o, i);
			if (!strcmp(json_object_get_string(json_object_object_get(e, "service")), "anthropic") &&
			    json_object_object_get(e, "sandbox") &&
			    !strcmp(json_object_get_string(json_object_object_get(e, "sandbox")), "sb5")) {
				seen = true;
				CHECK_STR(json_object_get_string(json_object_object_get(e, "scope")), "sandbox");
				CHECK_STR(json_object_get_string(json_object_object_get(e, "preview")), "sk-c\xe2\x80\xa6" "90");
			}
		}
		CHECK(seen);
		json_object_put(o);
		free(out);
	}
	{
		char *argv[] = { "secret", "ls", NULL };
		CHECK_EQ(run_cmd(NULL, &out, 2, argv), 0);
		CHECK(strstr(out, "SCOPE") && strstr(out, "sandbox:sb5") && strstr(out, "global"));
		CHECK(strstr(out, secret) == NULL && strstr(out, "sk-crlf-value") == NULL);
		free(out);
	}
	{
		/* refused values and usage errors store nothing */
		char *argv[] = { "secret", "set", "xai", NULL };
		CHECK_EQ(run_cmd("two\nlines\n", &out, 3, argv), 1);
		CHECK(strstr(out, "several lines") && !strstr(out, "two"));
		free(out);
		CHECK_EQ(run_cmd("\n", &out, 3, argv), 1);
		CHECK(strstr(out, "empty") != NULL);
		free(out);
		CHECK_EQ(run_cmd_n("nul\0byte\n", 9, &out, 3, argv), 1);
		CHECK(strstr(out, "NUL") != NULL);
		free(out);
		v = get(NULL, "xai", &r);
		CHECK_EQ(r, -ENOENT);
	}
	{
		char *argv[] = { "secret", "set", "nosuch", NULL };
		CHECK_EQ(run_cmd("x\n", &out, 3, argv), 2);
		CHECK(strstr(out, "unknown service") && strstr(out, "openrouter"));
		free(out);
	}
	{
		char *argv[] = { "secret", "set", "-g", "--sandbox", "x", "openai", NULL };
		CHECK_EQ(run_cmd("x\n", &out, 6, argv), 2);
		free(out);
	}
	{
		char *argv[] = { "secret", "rm", "--help", NULL };
		CHECK_EQ(run_cmd(NULL, &out, 3, argv), 0);
		CHECK(strstr(out, "Usage: sbx secret") && strstr(out, "sbx secret rm [-g") != NULL);
		free(out);
	}
	{
		char *argv[] = { "secret", "rm", "--sandbox", "sb5", "anthropic", NULL };
		CHECK_EQ(run_cmd(NULL, &out, 5, argv), 0);
		free(out);
		v = get("sb5", "anthropic", &r);
		CHECK_EQ(r, -ENOENT);
		CHECK_EQ(run_cmd(NULL, &out, 5, argv), 1);
		free(out);
	}
}

static void test_long_value_via_cmd(void)
{
	char *argv[] = { "secret", "set", "mistral", NULL };
	char *in = xmalloc(SECRET_VALUE_MAX + 3), *out = NULL, *v;
	int r;

	memset(in, 'm', SECRET_VALUE_MAX);
	strcpy(in + SECRET_VALUE_MAX, "\n");
	CHECK_EQ(run_cmd(in, &out, 3, argv), 0);
	free(out);
	v = get(NULL, "mistral", &r);
	CHECK(r == 0 && v && strlen(v) == SECRET_VALUE_MAX);
	secret_free(TAKE_PTR(v));
	strcpy(in + SECRET_VALUE_MAX, "mm");
	CHECK_EQ(run_cmd(in, &out, 3, argv), 1);
	CHECK(strstr(out, "longer than") != NULL);
	free(out);
	free(in);
}

/* Removing everything leaves a valid, empty store. */
static void test_empty(void)
{
	struct secret_info *v = NULL;
	size_t n = 0;
	struct json_object *o, *g;
	_cleanup_free_ char *text = NULL;

	CHECK_EQ(secrets_list(&P, &v, &n, NULL), 0);
	CHECK(n > 0);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(secrets_rm(&P, v[i].sandbox, v[i].service, NULL), 0);
	secret_info_free(v, n);
	CHECK_EQ(secrets_list(&P, &v, &n, NULL), 0);
	CHECK_EQ(n, 0);
	secret_info_free(v, n);
	text = slurp(store);
	o = json_tokener_parse(text);
	CHECK(o && json_object_object_get_ex(o, "global", &g) && json_object_object_length(g) == 0);
	json_object_put(o);
}

static void test_backend_pick(void)
{
	static const struct {
		const char *setting;
		bool file, write, answers;
		enum secrets_backend want;
	} t[] = {
		{ "file", false, false, true, SECRETS_BACKEND_FILE },
		{ "file", false, true, true, SECRETS_BACKEND_FILE },
		{ "secret-service", true, false, false, SECRETS_BACKEND_KEYRING },   /* fail closed, not the file */
		{ "secret-service", false, true, false, SECRETS_BACKEND_KEYRING },
		{ "auto", true, true, true, SECRETS_BACKEND_FILE },                  /* existing data stays */
		{ NULL, true, false, false, SECRETS_BACKEND_FILE },
		{ "auto", false, false, true, SECRETS_BACKEND_NONE },               /* lookups: nothing stored */
		{ NULL, false, false, false, SECRETS_BACKEND_NONE },
		{ "auto", false, true, true, SECRETS_BACKEND_KEYRING },
		{ "auto", false, true, false, SECRETS_BACKEND_FILE },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		enum secrets_backend b = secrets_backend_pick(t[i].setting, t[i].file, t[i].write, t[i].answers);
		CHECK_EQ(b, t[i].want);
		if (b != t[i].want)
			fprintf(stderr, "  pick case #%zu\n", i);
	}
	CHECK_STR(secrets_backend_id(SECRETS_BACKEND_KEYRING), "secret-service");
	CHECK_STR(secrets_backend_id(SECRETS_BACKEND_FILE), "file");
}

/* The choice on disk, with no Secret Service reachable (the bus address points nowhere). */
static void test_backend_choice(void)
{
	_cleanup_free_ char *dir = xasprintf("%s/choice", tmpdir), *file = NULL, *err = NULL, *notice = NULL;
	struct sbx_paths q = { .config = dir };
	enum secrets_backend b = SECRETS_BACKEND_FILE;
	struct secret_info *v = NULL;
	char *env[] = { "ANTHROPIC_API_KEY=sk-from-env-123", NULL }, *val = NULL;
	size_t n = 9;
	int r;

	file = xasprintf("%s/secrets.json", dir);
	CHECK_EQ(mkdir(dir, 0700), 0);
	/* auto, nothing stored: no D-Bus, nothing anywhere */
	CHECK_EQ(secrets_backend_current(&q, &b, NULL), 0);
	CHECK_EQ(b, SECRETS_BACKEND_NONE);
	CHECK_EQ(secrets_get(&q, NULL, "anthropic", &val), -ENOENT);
	CHECK_EQ(secrets_list(&q, &v, &n, NULL), 0);
	CHECK_EQ(n, 0);
	secret_info_free(v, n);
	CHECK_EQ(secrets_rm_sandbox(&q, "sb1", NULL), 0);
	CHECK_EQ(secrets_rm(&q, NULL, "anthropic", &err), -ENOENT);
	free(TAKE_PTR(err));
	CHECK_EQ(secrets_check(&q, NULL), 0);
	CHECK(access(file, F_OK) < 0);

	/* explicit secret-service without a bus: every operation fails and says why */
	CHECK_EQ(settings_set(&q, "secrets.backend", "secret-service", NULL), 0);
	r = secrets_set(&q, NULL, "anthropic", KEY_A, &err);
	CHECK(r < 0 && r != -ENOENT);
	CHECK(err && strstr(err, "Secret Service") && strstr(err, "session bus"));
	free(TAKE_PTR(err));
	r = secrets_resolve(&q, "sb1", "anthropic", env, &val, NULL);
	CHECK(r < 0 && r != -ENOENT && val == NULL);   /* not the environment's value */
	CHECK(secrets_check(&q, &err) < 0);
	CHECK(err && strstr(err, "session bus"));
	free(TAKE_PTR(err));
	CHECK(secrets_list(&q, &v, &n, &err) < 0);
	CHECK(err && strstr(err, "session bus"));
	free(TAKE_PTR(err));
	CHECK(secrets_rm_sandbox(&q, "sb1", NULL) < 0);
	CHECK(access(file, F_OK) < 0);
	{
		char *saved = getenv("DBUS_SESSION_BUS_ADDRESS") ? xstrdup(getenv("DBUS_SESSION_BUS_ADDRESS")) : NULL;
		unsetenv("DBUS_SESSION_BUS_ADDRESS");
		setenv("XDG_RUNTIME_DIR", dir, 1);   /* no "bus" socket in it */
		CHECK(secrets_get(&q, NULL, "anthropic", &val) < 0);
		CHECK(secrets_check(&q, &err) < 0);
		CHECK(err && strstr(err, "no session bus"));
		free(TAKE_PTR(err));
		if (saved)
			setenv("DBUS_SESSION_BUS_ADDRESS", saved, 1);
		free(saved);
	}

	/* explicit file */
	CHECK_EQ(settings_set(&q, "secrets.backend", "file", NULL), 0);
	CHECK_EQ(secrets_set(&q, NULL, "anthropic", KEY_A, NULL), 0);
	CHECK_EQ(access(file, F_OK), 0);
	notice = secrets_backend_notice(&q, NULL, "anthropic");
	CHECK(strstr(notice, "file permissions") != NULL);

	/* auto with the file there: the file, whatever answers on the bus */
	CHECK_EQ(settings_unset(&q, "secrets.backend", NULL), 0);
	CHECK_EQ(secrets_backend_current(&q, &b, NULL), 0);
	CHECK_EQ(b, SECRETS_BACKEND_FILE);
	CHECK_EQ(secrets_get(&q, NULL, "anthropic", &val), 0);
	CHECK(val && !strcmp(val, KEY_A));
	secret_free(TAKE_PTR(val));

	/* auto, no file, no Secret Service: the first set creates the file */
	CHECK_EQ(unlink(file), 0);
	CHECK_EQ(secrets_set(&q, "sb1", "openai", KEY_B, NULL), 0);
	CHECK_EQ(access(file, F_OK), 0);
	CHECK_EQ(secrets_backend_current(&q, &b, NULL), 0);
	CHECK_EQ(b, SECRETS_BACKEND_FILE);

	/* a broken settings file: refuse, do not guess */
	free(file);
	file = xasprintf("%s/settings.json", dir);
	write_file(file, "{\"secrets.backend\": \"keyring\"}", 0600);
	CHECK(secrets_get(&q, "sb1", "openai", &val) < 0);
	CHECK(secrets_check(&q, &err) < 0);
	CHECK(err && strstr(err, "secrets.backend"));
	free(TAKE_PTR(err));
}

/*
 * Against a real Secret Service: run by tests/proxy/test_secret_service.py with
 * SBX_TEST_SECRET_SERVICE=1 and a private session bus with an unlocked gnome-keyring.
 */
static int test_keyring_main(void)
{
	_cleanup_free_ char *file = NULL, *err = NULL, *notice = NULL;
	enum secrets_backend b = SECRETS_BACKEND_NONE;
	enum secret_source src;
	struct secret_info *v = NULL;
	struct settings *st = NULL;
	size_t n = 0;
	char *val = NULL;

	P.config = xasprintf("%s/config", tmpdir);
	file = xasprintf("%s/secrets.json", P.config);
	CHECK_EQ(mkdir(P.config, 0700), 0);

	/* auto: the first set goes to the Secret Service and records the choice */
	CHECK_EQ(secrets_set(&P, NULL, "anthropic", KEY_A, &err), 0);
	if (err)
		fprintf(stderr, "  %s\n", err);
	CHECK_EQ(settings_load(&P, &st), 0);
	CHECK(st && settings_get(st, "secrets.backend") && !strcmp(settings_get(st, "secrets.backend"), "secret-service"));
	settings_free(st);
	CHECK_EQ(secrets_backend_current(&P, &b, NULL), 0);
	CHECK_EQ(b, SECRETS_BACKEND_KEYRING);
	CHECK(access(file, F_OK) < 0);
	notice = secrets_backend_notice(&P, "sb1", "openai");
	CHECK_STR(notice, "note: stored in the Secret Service (default collection) as 'sbx: openai (sandbox sb1)'");

	/* sandbox first, then global; a set in this process is seen at once */
	CHECK_EQ(secrets_resolve(&P, "sb1", "anthropic", NULL, &val, &src), 0);
	CHECK(val && !strcmp(val, KEY_A) && src == SECRET_SOURCE_GLOBAL);
	secret_free(TAKE_PTR(val));
	CHECK_EQ(secrets_set(&P, "sb1", "anthropic", KEY_B, NULL), 0);
	CHECK_EQ(secrets_set(&P, "sb1", "openai", "sk-openai-sb1", NULL), 0);
	CHECK_EQ(secrets_set(&P, "sb2", "openai", "sk-openai-sb2", NULL), 0);
	CHECK_EQ(secrets_resolve(&P, "sb1", "anthropic", NULL, &val, &src), 0);
	CHECK(val && !strcmp(val, KEY_B) && src == SECRET_SOURCE_SANDBOX);
	secret_free(TAKE_PTR(val));
	CHECK_EQ(secrets_set(&P, "sb1", "anthropic", KEY_A, NULL), 0);   /* replaces, no duplicate */
	CHECK_EQ(secrets_get(&P, "sb1", "anthropic", &val), 0);
	CHECK(val && !strcmp(val, KEY_A));
	secret_free(TAKE_PTR(val));
	CHECK_EQ(secrets_get(&P, NULL, "xai", &val), -ENOENT);

	CHECK_EQ(secrets_list(&P, &v, &n, NULL), 0);
	CHECK_EQ(n, 4);
	if (n == 4) {
		CHECK(!v[0].sandbox && !strcmp(v[0].service, "anthropic"));
		CHECK(v[1].sandbox && !strcmp(v[1].sandbox, "sb1") && !strcmp(v[1].service, "anthropic"));
		CHECK(v[2].sandbox && !strcmp(v[2].sandbox, "sb1") && !strcmp(v[2].service, "openai"));
		CHECK(v[3].sandbox && !strcmp(v[3].sandbox, "sb2"));
		CHECK_STR(v[0].preview, "sk-a\xe2\x80\xa6xy");
	}
	secret_info_free(v, n);

	/* `sbx rm`: every item of the sandbox, nothing else */
	CHECK_EQ(secrets_rm_sandbox(&P, "sb1", NULL), 2);
	CHECK_EQ(secrets_rm_sandbox(&P, "sb1", NULL), 0);
	CHECK_EQ(secrets_resolve(&P, "sb1", "anthropic", NULL, &val, &src), 0);
	CHECK(val && !strcmp(val, KEY_A) && src == SECRET_SOURCE_GLOBAL);
	secret_free(TAKE_PTR(val));
	CHECK_EQ(secrets_get(&P, "sb2", "openai", &val), 0);
	secret_free(TAKE_PTR(val));

	CHECK_EQ(secrets_rm(&P, "sb2", "openai", NULL), 0);
	CHECK_EQ(secrets_rm(&P, NULL, "anthropic", NULL), 0);
	CHECK_EQ(secrets_rm(&P, NULL, "anthropic", &err), -ENOENT);
	CHECK_EQ(secrets_list(&P, &v, &n, NULL), 0);
	CHECK_EQ(n, 0);
	secret_info_free(v, n);
	CHECK_EQ(secrets_check(&P, NULL), 0);
	CHECK(access(file, F_OK) < 0);

	rm_rf(tmpdir);
	free(P.config);
	TEST_DONE();
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 2;
	if (getenv("SBX_TEST_SECRET_SERVICE"))
		return test_keyring_main();
	/* Never the developer's own keyring: no Secret Service answers in these tests. */
	setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/sbx-unit-test-no-bus", 1);
	P.config = xasprintf("%s/config", tmpdir);
	store = xasprintf("%s/secrets.json", P.config);
	/* a missing config dir is an empty store */
	CHECK_EQ(secrets_check(&P, NULL), 0);
	CHECK_EQ(secrets_rm_sandbox(&P, "sb1", NULL), 0);
	CHECK_EQ(mkdir(P.config, 0700), 0);

	test_values();
	test_set_get();
	test_list();
	test_refusals();
	test_rm();
	test_resolve_env();
	test_cmd();
	test_long_value_via_cmd();
	test_empty();
	test_backend_pick();
	test_backend_choice();

	rm_rf(tmpdir);
	free(P.config);
	free(store);
	TEST_DONE();
}
