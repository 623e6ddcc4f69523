// SPDX-License-Identifier: MIT
/* cmd_policy_file.c: `sbx policy export` and `sbx policy import`: the policy as a file
 * (format: docs/policy-file.md), imported only after the user accepted the diff. */
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"
#include "policy_file.h"
#include "util.h"

static int read_preset(const struct sbx_paths *p, const char *sub, const char *name, char ***ret)
{
	int line = 0, r = policy_preset_read(p, name, ret, &line);

	if (r == -EINVAL)
		fprintf(stderr, "sbx policy %s: preset %s/policy/%s: invalid rule on line %d\n", sub, p->recipes, name, line);
	else if (r < 0)
		fprintf(stderr, "sbx policy %s: cannot read preset %s/policy/%s: %s\n", sub, p->recipes, name, strerror(-r));
	return r;
}

int cmd_policy_export(const struct sbx_paths *p, const char *file, bool json)
{
	struct policy *pol = NULL;
	struct policy_file *f;
	char **preset_rules = NULL;
	_cleanup_free_ char *text = NULL;
	bool expanded = false;
	int r;

	if (cmd_policy_load(p, "export", &pol) < 0)
		return 1;
	/* an unreadable preset only means its rules are listed one by one */
	if (policy_preset(pol) && policy_preset_read(p, policy_preset(pol), &preset_rules, NULL) < 0)
		preset_rules = NULL;
	f = policy_file_from_policy(pol, preset_rules, &expanded);
	policy_strv_free(preset_rules);
	if (expanded)
		fprintf(stderr, "sbx policy export: the rules of preset %s were edited (or it changed since): every rule "
				"is listed, and the file names no preset\n", policy_preset(pol));
	text = json ? policy_file_format_json(f) : policy_file_format_text(f);
	policy_file_free(f);
	policy_free(pol);
	if (!file || !strcmp(file, "-")) {
		r = write_all(STDOUT_FILENO, text, strlen(text));
		if (r < 0) {
			fprintf(stderr, "sbx policy export: cannot write: %s\n", strerror(-r));
			return 1;
		}
		return 0;
	}
	r = file_write_atomic(file, text, strlen(text), 0644);
	if (r < 0) {
		fprintf(stderr, "sbx policy export: cannot write %s: %s\n", file, strerror(-r));
		return 1;
	}
	fprintf(stderr, "Wrote the network policy to %s\n", file);
	return 0;
}

/* FILE ("-": standard input), bounded; a FIFO or device is refused (it could block). */
static int read_policy_file(const char *file, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	if (!strcmp(file, "-"))
		return fd_read_all(STDIN_FILENO, POLICY_FILE_BYTES_MAX, ret, ret_len);
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	r = fd_read_all(fd, POLICY_FILE_BYTES_MAX, ret, ret_len);
	return r;
}

static void print_diff(FILE *out, const char *file, const struct policy_diff *d)
{
	size_t preset_add = 0, preset_rm = 0;

	fprintf(out, "Changes to the network policy from %s:\n", file);
	if (!streq_null(d->old_preset, d->new_preset))
		fprintf(out, "~ preset %s -> %s\n", d->old_preset ? d->old_preset : "(none)",
			d->new_preset ? d->new_preset : "(none)");
	for (size_t i = 0; i < d->n; i++) {
		_cleanup_free_ char *t = NULL;
		if (d->v[i].from_preset) {
			*(d->v[i].op == '+' ? &preset_add : &preset_rm) += 1;
			continue;
		}
		t = policy_change_text(&d->v[i]);
		fprintf(out, "%c %s\n", d->v[i].op, t);
	}
	if (preset_rm)
		fprintf(out, "- %zu rule%s of preset %s\n", preset_rm, preset_rm == 1 ? "" : "s",
			d->old_preset ? d->old_preset : "(none)");
	if (preset_add)
		fprintf(out, "+ %zu rule%s of preset %s (as shipped: recipes/policy/%s)\n", preset_add,
			preset_add == 1 ? "" : "s", d->new_preset, d->new_preset);
}

static bool same_diff(const struct policy_diff *a, const struct policy_diff *b)
{
	if (a->n != b->n || !streq_null(a->old_preset, b->old_preset) || !streq_null(a->new_preset, b->new_preset))
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].op != b->v[i].op || a->v[i].action != b->v[i].action ||
		    strcmp(a->v[i].resource, b->v[i].resource) || !streq_null(a->v[i].sandbox, b->v[i].sandbox))
			return false;
	return true;
}

/* The current policy with f applied (a missing policy counts as an empty one). */
static int policy_with(const struct sbx_paths *p, const struct policy_file *f, char *const *preset_rules, bool merge,
		       struct policy **ret, struct policy_diff *ret_diff)
{
	_cleanup_free_ char *err2 = NULL;
	struct policy *pol = NULL;
	const char *err = NULL;
	int r = policy_load_ex(p, &pol, &err);

	if (r == -ENOENT) {
		pol = policy_new();
	} else if (r < 0) {
		fprintf(stderr, "sbx policy import: %s/policy.json: %s; fix it, or start over with 'sbx policy reset -f'\n",
			p->config, err ? err : strerror(-r));
		return r;
	}
	r = policy_file_apply(pol, f, preset_rules, merge, ret_diff, &err2);
	if (r < 0) {
		fprintf(stderr, "sbx policy import: %s\n", err2);
		policy_free(pol);
		return r;
	}
	*ret = pol;
	return 0;
}

/* Ask on a terminal; true when the user answered yes. */
static bool confirm(void)
{
	char line[16];

	printf("Apply these changes? [y/N] ");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

int cmd_policy_import(const struct sbx_paths *p, const char *file, bool merge, bool yes)
{
	_cleanup_free_ char *buf = NULL, *err = NULL;
	struct policy_file *f = NULL;
	struct policy *pol = NULL, *pol2 = NULL;
	struct policy_diff d = { 0 }, d2 = { 0 };
	_cleanup_close_ int lock = -1;
	char **preset_rules = NULL;
	size_t len = 0;
	int line = 0, rc = 1, r;

	r = read_policy_file(file, &buf, &len);
	if (r < 0) {
		fprintf(stderr, "sbx policy import: cannot read %s: %s\n", file,
			r == -EFBIG ? "larger than 1 MiB" : r == -EINVAL ? "not a regular file" : strerror(-r));
		return 1;
	}
	if (policy_file_parse(buf, len, &f, &line, &err) < 0) {
		if (line > 0)
			fprintf(stderr, "sbx policy import: %s:%d: %s; the policy is unchanged\n", file, line, err);
		else
			fprintf(stderr, "sbx policy import: %s: %s; the policy is unchanged\n", file, err);
		return 1;
	}
	if (f->preset && read_preset(p, "import", f->preset, &preset_rules) < 0)
		goto out;
	if (policy_with(p, f, preset_rules, merge, &pol, &d) < 0)
		goto out;
	if (policy_diff_empty(&d)) {
		printf("The network policy already matches %s; nothing to change.\n", file);
		rc = 0;
		goto out;
	}
	print_diff(stdout, file, &d);
	if (!yes) {
		if (!strcmp(file, "-") || !isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
			fprintf(stderr, "sbx policy import: not applied: accepting these changes needs a terminal; "
					"run it again with -y to accept them without asking\n");
			rc = 2;
			goto out;
		}
		if (!confirm()) {
			printf("Not applied; the policy is unchanged.\n");
			goto out;
		}
	}
	/* Apply to the policy as it is now, under the lock, only if that is what was shown. */
	lock = policy_lock(p);
	if (lock < 0) {
		fprintf(stderr, "sbx policy import: cannot lock the policy: %s\n", strerror(-lock));
		goto out;
	}
	if (policy_with(p, f, preset_rules, merge, &pol2, &d2) < 0)
		goto out;
	if (!same_diff(&d, &d2)) {
		fprintf(stderr, "sbx policy import: the policy changed while you were asked; nothing applied, run it again\n");
		goto out;
	}
	r = policy_save(p, pol2);
	if (r < 0) {
		fprintf(stderr, "sbx policy import: cannot write %s/policy.json: %s\n", p->config, strerror(-r));
		goto out;
	}
	printf("Imported %s: %zu rule%s now\n", file, policy_rule_count(pol2), policy_rule_count(pol2) == 1 ? "" : "s");
	rc = 0;
out:
	policy_diff_clear(&d);
	policy_diff_clear(&d2);
	policy_free(pol);
	policy_free(pol2);
	policy_strv_free(preset_rules);
	policy_file_free(f);
	return rc;
}
