// SPDX-License-Identifier: MIT
/* policy_file_apply.c: an import's diff and apply (replace or merge), and a workspace's
 * project file scoped to its sandbox and swapped for the one accepted before. */
#include "policy_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "names.h"
#include "policy_int.h"
#include "util.h"

void policy_diff_clear(struct policy_diff *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].resource);
		free(d->v[i].sandbox);
	}
	free(d->v);
	free(d->old_preset);
	free(d->new_preset);
	memset(d, 0, sizeof(*d));
}

bool policy_diff_empty(const struct policy_diff *d)
{
	return d->n == 0 && streq_null(d->old_preset, d->new_preset);
}

char *policy_change_text(const struct policy_change *c)
{
	return xasprintf("%s %s%s%s", c->action == POLICY_ALLOW ? "allow" : "deny", c->resource,
			 c->sandbox ? " sandbox=" : "", c->sandbox ? c->sandbox : "");
}

static void diff_push(struct policy_diff *d, char op, enum policy_action action, const char *resource,
		      const char *sandbox, bool from_preset)
{
	struct policy_change *nv = realloc(d->v, (d->n + 1) * sizeof(*nv));

	if (!nv)
		die("out of memory");
	d->v = nv;
	d->v[d->n++] = (struct policy_change){ op, action, xstrdup(resource), sandbox ? xstrdup(sandbox) : NULL,
					       from_preset };
}

/* What the policy is to hold: the preset's rules (marked), then the file's. */
struct want {
	enum policy_action action;
	const char *resource, *sandbox;
	bool from_preset;
};

static ssize_t find_rule(const struct policy *pol, enum policy_action a, const char *res, const char *sandbox)
{
	for (size_t i = 0; i < pol->n; i++)
		if (pol->rules[i].action == a && !strcmp(pol->rules[i].resource, res) &&
		    streq_null(pol->rules[i].sandbox, sandbox))
			return (ssize_t)i;
	return -1;
}

static size_t want_build(const struct policy_file *f, char *const *preset_rules, struct want **ret)
{
	size_t np = 0, n = 0;
	struct want *w;

	for (char *const *x = preset_rules; f->preset && x && *x; x++)
		np++;
	w = xcalloc(np + f->n + 1, sizeof(*w));
	for (size_t i = 0; i < np; i++)
		w[n++] = (struct want){ POLICY_ALLOW, preset_rules[i], NULL, true };
	for (size_t i = 0; i < f->n; i++) {
		const struct policy_file_rule *r = &f->rules[i];
		bool dup = false;
		for (size_t j = 0; j < np && !dup; j++)
			if (r->action == POLICY_ALLOW && !r->sandbox && !strcmp(w[j].resource, r->resource)) {
				w[j].from_preset = false; /* written in the file too: the user's */
				dup = true;
			}
		if (!dup)
			w[n++] = (struct want){ r->action, r->resource, r->sandbox, false };
	}
	*ret = w;
	return n;
}

int policy_file_apply(struct policy *pol, const struct policy_file *f, char *const *preset_rules, bool merge,
		      struct policy_diff *ret, char **ret_err)
{
	struct policy_diff d = { 0 };
	_cleanup_free_ struct want *w = NULL;
	size_t nw;

	if (f->preset && !preset_rules) {
		*ret_err = policy_errf("the rules of preset %s are missing", f->preset);
		return -EINVAL;
	}
	if (merge && f->preset && pol->preset && strcmp(f->preset, pol->preset)) {
		*ret_err = policy_errf("the file names preset %s, the policy has %s: --merge cannot change the preset "
				"(import without --merge to replace the policy)", f->preset, pol->preset);
		return -EINVAL;
	}
	nw = want_build(f, preset_rules, &w);
	/* check the size first: nothing changes on failure */
	{
		size_t total = merge ? pol->n : 0;
		for (size_t i = 0; i < nw; i++)
			total += !merge || find_rule(pol, w[i].action, w[i].resource, w[i].sandbox) < 0;
		if (total > POLICY_RULES_MAX) {
			*ret_err = policy_errf("the policy would hold more than %d rules", POLICY_RULES_MAX);
			return -EINVAL;
		}
	}
	d.old_preset = pol->preset ? xstrdup(pol->preset) : NULL;
	if (!merge) {
		for (size_t i = 0; i < pol->n;) {
			const struct rule *ru = &pol->rules[i];
			bool keep = false;
			for (size_t j = 0; j < nw && !keep; j++)
				keep = w[j].action == ru->action && !strcmp(w[j].resource, ru->resource) &&
				       streq_null(w[j].sandbox, ru->sandbox);
			if (keep) {
				i++;
				continue;
			}
			diff_push(&d, '-', ru->action, ru->resource, ru->sandbox, ru->from_preset);
			policy_delete_at(pol, i);
		}
		free(pol->preset);
		pol->preset = f->preset ? xstrdup(f->preset) : NULL;
	} else if (f->preset && !pol->preset) {
		pol->preset = xstrdup(f->preset);
	}
	for (size_t i = 0; i < nw; i++) {
		ssize_t at = find_rule(pol, w[i].action, w[i].resource, w[i].sandbox);
		const char *err = NULL;
		if (at >= 0) {
			/* replace: the file decides the origin; merge: a user rule stays the user's */
			if (!merge || !w[i].from_preset)
				pol->rules[at].from_preset = w[i].from_preset;
			continue;
		}
		int r = policy_add(pol, w[i].action, w[i].resource, w[i].sandbox, w[i].from_preset, NULL, &err);
		if (r < 0) { /* cannot happen: rules and size were checked */
			*ret_err = policy_errf("cannot add %s: %s", w[i].resource, err ? err : strerror(-r));
			policy_diff_clear(&d);
			return r;
		}
		diff_push(&d, '+', w[i].action, w[i].resource, w[i].sandbox, w[i].from_preset);
	}
	d.new_preset = pol->preset ? xstrdup(pol->preset) : NULL;
	*ret = d;
	return 0;
}

/* ---------------------------------------------------------------- project files */

int policy_file_project(struct policy_file *f, const char *sandbox, char **ret_err)
{
	if (!name_valid(sandbox)) {
		*ret_err = policy_errf("invalid sandbox name");
		return -EINVAL;
	}
	if (f->preset) {
		*ret_err = policy_errf("a project policy cannot choose a preset (preset %s): only allow and deny lines", f->preset);
		return -EINVAL;
	}
	for (size_t i = 0; i < f->n; i++)
		if (f->rules[i].sandbox) {
			_cleanup_free_ char *q = policy_quote(f->rules[i].sandbox);
			*ret_err = policy_errf("a project policy cannot name a sandbox (sandbox=%s): its rules are for the "
					"workspace's sandbox only", q);
			return -EINVAL;
		}
	for (size_t i = 0; i < f->n; i++)
		f->rules[i].sandbox = xstrdup(sandbox);
	/* the scope made two rules the same? no: all had none, all have one now */
	return 0;
}

static bool file_has(const struct policy_file *f, const struct policy_file_rule *r)
{
	for (size_t i = 0; f && i < f->n; i++)
		if (f->rules[i].action == r->action && !strcmp(f->rules[i].resource, r->resource) &&
		    streq_null(f->rules[i].sandbox, r->sandbox))
			return true;
	return false;
}

int policy_file_swap(struct policy *pol, const struct policy_file *old, const struct policy_file *new,
		     struct policy_diff *ret, char **ret_err)
{
	struct policy_diff d = { 0 };
	size_t adds = 0;

	for (size_t i = 0; i < new->n; i++)
		adds += find_rule(pol, new->rules[i].action, new->rules[i].resource, new->rules[i].sandbox) < 0;
	if (pol->n + adds > POLICY_RULES_MAX) {
		*ret_err = policy_errf("the policy would hold more than %d rules", POLICY_RULES_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; old && i < old->n; i++) {
		const struct policy_file_rule *r = &old->rules[i];
		ssize_t at;
		if (file_has(new, r))
			continue;
		if ((at = find_rule(pol, r->action, r->resource, r->sandbox)) >= 0) {
			diff_push(&d, '-', r->action, r->resource, r->sandbox, false);
			policy_delete_at(pol, (size_t)at);
		}
	}
	for (size_t i = 0; i < new->n; i++) {
		const struct policy_file_rule *r = &new->rules[i];
		const char *err = NULL;
		int rr;
		if (find_rule(pol, r->action, r->resource, r->sandbox) < 0)
			diff_push(&d, '+', r->action, r->resource, r->sandbox, false);
		rr = policy_add(pol, r->action, r->resource, r->sandbox, false, NULL, &err);
		if (rr < 0) {
			*ret_err = policy_errf("cannot add %s: %s", r->resource, err ? err : strerror(-rr));
			policy_diff_clear(&d);
			return rr;
		}
	}
	d.old_preset = pol->preset ? xstrdup(pol->preset) : NULL;
	d.new_preset = pol->preset ? xstrdup(pol->preset) : NULL;
	*ret = d;
	return 0;
}
