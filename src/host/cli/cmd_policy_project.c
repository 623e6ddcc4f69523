// SPDX-License-Identifier: MIT
/* cmd_policy_project.c: a workspace's own policy file (.sbx/policy), for `sbx run` and
 * `sbx create`: the agent can write it, so a change takes effect only once the user
 * accepted it, shown as a diff, on a terminal; what was accepted is kept outside the
 * workspace, in state/project-policy/NAME.json (content and sha256). */
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "json_get.h"
#include "policy.h"
#include "policy_file.h"
#include "review.h"
#include "util.h"

#define PROJECT_POLICY_PATH ".sbx/policy"

/* The file's bytes (*ret NULL: there is none). -ELOOP/-EXDEV: a symlink on the way,
 * -EINVAL: not a regular file, -EFBIG: too large. */
static int project_read(const char *ws, char **ret, size_t *ret_len)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	_cleanup_close_ int dfd = -1, fd = -1;
	struct stat st;
	long r;

	*ret = NULL;
	*ret_len = 0;
	dfd = open(ws, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	r = syscall(SYS_openat2, dfd, PROJECT_POLICY_PATH, &how, sizeof(how));
	if (r < 0)
		return errno == ENOENT ? 0 : -errno;
	fd = (int)r;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	return fd_read_all(fd, POLICY_FILE_BYTES_MAX, ret, ret_len);
}

static char *record_path(const struct sbx_paths *p, const char *sandbox)
{
	return xasprintf("%s/project-policy/%s.json", p->state, sandbox);
}

/* What was accepted for this sandbox (*ret NULL: nothing). */
static int record_load(const struct sbx_paths *p, const char *sandbox, char **ret)
{
	_cleanup_free_ char *path = record_path(p, sandbox), *buf = NULL;
	struct json_object *root;
	const char *content;
	int r = file_read_all(path, 2 * POLICY_FILE_BYTES_MAX + 4096, &buf, NULL);

	*ret = NULL;
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	root = json_tokener_parse(buf);
	content = root ? json_get_str(root, "content") : NULL;
	if (!content) {
		json_object_put(root);
		return -EINVAL;
	}
	*ret = xstrdup(content);
	json_object_put(root);
	return 0;
}

/* Record content as accepted (NULL: the file is gone, so is the record). */
static int record_save(const struct sbx_paths *p, const char *sandbox, const char *ws, const char *content)
{
	_cleanup_free_ char *dir = xasprintf("%s/project-policy", p->state), *path = record_path(p, sandbox);
	struct json_object *root;
	const char *text;
	char hex[65];
	int r;

	if (!content)
		return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	r = mkdir_p(dir, 0700);
	if (r < 0)
		return r;
	review_sha256_hex(content, strlen(content), hex);
	root = json_object_new_object();
	json_object_object_add(root, "workspace", json_object_new_string(ws));
	json_object_object_add(root, "file", json_object_new_string(PROJECT_POLICY_PATH));
	json_object_object_add(root, "sha256", json_object_new_string(hex));
	json_object_object_add(root, "content", json_object_new_string(content));
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	r = file_write_atomic(path, text, strlen(text), 0600);
	json_object_put(root);
	return r;
}

/* A file (content NULL: none) as the sandbox's scoped rules; NULL with *ret_err when bad. */
static struct policy_file *project_parse(const char *content, const char *sandbox, int *ret_line, char **ret_err)
{
	struct policy_file *f = NULL;

	*ret_line = 0;
	if (!content)
		return xcalloc(1, sizeof(*f));
	if (policy_file_parse(content, strlen(content), &f, ret_line, ret_err) < 0)
		return NULL;
	if (policy_file_project(f, sandbox, ret_err) < 0) {
		policy_file_free(f);
		return NULL;
	}
	return f;
}

/* Drop from f the rules pol no longer holds (removed by the user since, or the policy
 * was reset): the diff is then against what is in effect, and offers them again. */
static void keep_present(struct policy_file *f, const struct policy *pol)
{
	size_t k = 0;

	for (size_t i = 0; f && i < f->n; i++) {
		bool found = false;
		for (size_t j = 0; j < policy_rule_count(pol) && !found; j++) {
			struct policy_rule_info ri;
			policy_rule_get(pol, j, &ri);
			found = ri.action == f->rules[i].action && !strcmp(ri.resource, f->rules[i].resource) &&
				streq_null(ri.sandbox, f->rules[i].sandbox);
		}
		if (found) {
			f->rules[k++] = f->rules[i];
		} else {
			free(f->rules[i].resource);
			free(f->rules[i].sandbox);
		}
	}
	if (f)
		f->n = k;
}

static void print_changes(const struct policy_diff *d)
{
	for (size_t i = 0; i < d->n; i++) {
		_cleanup_free_ char *t = policy_change_text(&d->v[i]);
		fprintf(stderr, "%c %s\n", d->v[i].op, t);
	}
}

/* Swap the rules in the policy under the lock and record what was accepted. */
static int project_apply(const struct sbx_paths *p, const char *cmd, const char *ws, const char *sandbox,
			 const struct policy_file *old, const struct policy_file *new, const char *content)
{
	_cleanup_close_ int lock = policy_lock(p);
	_cleanup_free_ char *err = NULL;
	struct policy_diff d = { 0 };
	struct policy *pol = NULL;
	int r;

	if (lock < 0 || cmd_policy_load(p, cmd, &pol) < 0)
		return 1;
	r = policy_file_swap(pol, old, new, &d, &err);
	if (r >= 0)
		r = policy_save(p, pol);
	policy_diff_clear(&d);
	policy_free(pol);
	if (r < 0) {
		fprintf(stderr, "sbx %s: cannot apply %s/%s: %s\n", cmd, ws, PROJECT_POLICY_PATH, err ? err : strerror(-r));
		return 1;
	}
	r = record_save(p, sandbox, ws, content);
	if (r < 0) {
		fprintf(stderr, "sbx %s: applied, but cannot record it in %s/project-policy: %s\n", cmd, p->state,
			strerror(-r));
		return 1;
	}
	return 0;
}

int cmd_project_policy(const struct sbx_paths *p, const char *cmd, const char *ws, const char *sandbox)
{
	_cleanup_free_ char *content = NULL, *accepted = NULL, *err = NULL;
	struct policy_file *old = NULL, *new = NULL;
	struct policy_diff d = { 0 };
	struct policy *sim = NULL;
	size_t len = 0;
	int line = 0, rc = 0, r;

	r = project_read(ws, &content, &len);
	if (r < 0) {
		fprintf(stderr, "sbx %s: warning: %s/%s ignored (%s); the rules accepted before stay\n", cmd, ws,
			PROJECT_POLICY_PATH, r == -ELOOP || r == -EXDEV ? "a symlink" : r == -EINVAL ? "not a regular file"
							   : r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
		return 0;
	}
	if (content && strlen(content) != len) {
		fprintf(stderr, "sbx %s: warning: %s/%s ignored (a NUL byte); the rules accepted before stay\n", cmd, ws,
			PROJECT_POLICY_PATH);
		return 0;
	}
	if (record_load(p, sandbox, &accepted) < 0) {
		_cleanup_free_ char *rp = record_path(p, sandbox);
		fprintf(stderr, "sbx %s: %s: unreadable; remove it to review %s/%s again\n", cmd, rp, ws,
			PROJECT_POLICY_PATH);
		return 1;
	}
	if (!content && !accepted)
		return 0;
	new = project_parse(content, sandbox, &line, &err);
	if (!new) {
		char at[16] = "";
		if (line > 0)
			snprintf(at, sizeof(at), ":%d", line);
		fprintf(stderr, "sbx %s: warning: %s/%s%s: %s; the file is ignored, the rules accepted before stay\n", cmd,
			ws, PROJECT_POLICY_PATH, at, err);
		return 0;
	}
	free(err);
	err = NULL;
	old = project_parse(accepted, sandbox, &line, &err); /* ours; NULL only if sbx's rules changed */
	/* The diff against what is in effect, on a copy of the policy. */
	if (cmd_policy_load(p, cmd, &sim) < 0) {
		rc = 1;
		goto out;
	}
	keep_present(old, sim);
	if (policy_file_swap(sim, old, new, &d, &err) < 0) {
		fprintf(stderr, "sbx %s: %s/%s: %s\n", cmd, ws, PROJECT_POLICY_PATH, err);
		rc = 1;
		goto out;
	}
	if (d.n == 0) { /* as accepted, or comments and order only: nothing to accept */
		if (!streq_null(content, accepted))
			rc = record_save(p, sandbox, ws, content) < 0 ? 1 : 0;
		goto out;
	}
	fprintf(stderr, "%s/%s %s; for sandbox %s it would change the network policy:\n", ws, PROJECT_POLICY_PATH,
		!accepted ? "is new" : !content ? "was removed" : strcmp(content, accepted) ? "changed since you accepted it"
		: "is as you accepted it, but the policy lost some of its rules since", sandbox);
	print_changes(&d);
	if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO)) {
		fprintf(stderr, "sbx %s: warning: not applied: accepting a workspace's policy needs a terminal; the rules "
				"accepted before stay (run sbx %s on a terminal to review it)\n", cmd, cmd);
		goto out;
	}
	fprintf(stderr, "The agent can write this file. Apply these rules for sandbox %s? [y/N] ", sandbox);
	{
		char ans[16];
		if (!fgets(ans, sizeof(ans), stdin) || (ans[0] != 'y' && ans[0] != 'Y')) {
			fprintf(stderr, "Not applied; the rules accepted before stay.\n");
			goto out;
		}
	}
	rc = project_apply(p, cmd, ws, sandbox, old, new, content);
	if (rc == 0)
		fprintf(stderr, "Applied %s/%s for sandbox %s.\n", ws, PROJECT_POLICY_PATH, sandbox);
out:
	policy_diff_clear(&d);
	policy_free(sim);
	policy_file_free(old);
	policy_file_free(new);
	return rc;
}
