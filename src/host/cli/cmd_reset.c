// SPDX-License-Identifier: MIT
/* cmd_reset.c: `sbx reset`: remove every sandbox, template and setting, after asking. */
#include "cmd.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sbxd_conn.h"
#include "cmd_doc.h"
#include "image.h"
#include "names.h"
#include "policy.h"
#include "secrets.h"
#include "settings.h"
#include "util.h"

/* The setting that says where the secrets are: kept with them. */
#define RESET_KEEP_KEY "secrets.backend"

/* What goes. */
struct reset_plan {
	char **sandboxes, **templates, **saved, **settings; /* saved: state/templates (save, import) */
	size_t nsandboxes, ntemplates, nsaved, nsettings;
	bool policy, audit;
	struct secret_info *secrets;
	size_t nsecrets;
	char *keep_backend; /* the value of RESET_KEEP_KEY, kept when the secrets stay */
};

static void strv_add(char ***v, size_t *n, const char *s)
{
	*v = realloc(*v, (*n + 2) * sizeof(char *));
	if (!*v)
		die("out of memory");
	(*v)[(*n)++] = xstrdup(s);
	(*v)[*n] = NULL;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void plan_free(struct reset_plan *pl)
{
	strv_free(pl->sandboxes, pl->nsandboxes);
	strv_free(pl->templates, pl->ntemplates);
	strv_free(pl->saved, pl->nsaved);
	strv_free(pl->settings, pl->nsettings);
	secret_info_free(pl->secrets, pl->nsecrets);
	free(pl->keep_backend);
}

static bool path_exists(const char *dir, const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* Every sandbox on disk (also one whose state does not load), every template with
 * a directory in the cache, every setting set, the policy, the audit log, and the
 * secrets when they go too. */
static int plan_make(const struct sbx_paths *p, bool secrets, struct reset_plan *pl)
{
	_cleanup_free_ char *tdir = xasprintf("%s/templates", p->cache), *sdir = xasprintf("%s/templates", p->state);
	struct settings *s = NULL;
	_cleanup_free_ char *err = NULL;
	struct dirent *de;
	size_t n;
	const struct settings_key *k = settings_keys(&n);
	DIR *d;

	if ((d = opendir(p->sandboxes))) {
		while ((de = readdir(d)))
			if (de->d_name[0] != '.' && name_valid(de->d_name))
				strv_add(&pl->sandboxes, &pl->nsandboxes, de->d_name);
		closedir(d);
	}
	if ((d = opendir(tdir))) {
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				strv_add(&pl->templates, &pl->ntemplates, de->d_name);
		closedir(d);
	}
	if ((d = opendir(sdir))) {
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				strv_add(&pl->saved, &pl->nsaved, de->d_name);
		closedir(d);
	}
	if (settings_load_ex(p, &s, &err) == 0) {
		for (size_t i = 0; i < n; i++) {
			const char *v = settings_get(s, k[i].key);
			if (!v)
				continue;
			if (!secrets && !strcmp(k[i].key, RESET_KEEP_KEY))
				pl->keep_backend = xstrdup(v);
			else
				strv_add(&pl->settings, &pl->nsettings, k[i].key);
		}
		settings_free(s);
	} else if (path_exists(p->config, "settings.json")) {
		strv_add(&pl->settings, &pl->nsettings, "(settings.json, which does not load)");
	}
	pl->policy = path_exists(p->config, "policy.json");
	pl->audit = path_exists(p->state, "audit.log") || path_exists(p->state, "audit.log.1");
	if (secrets) {
		_cleanup_free_ char *serr = NULL;
		if (secrets_list(p, &pl->secrets, &pl->nsecrets, &serr) < 0) {
			fprintf(stderr, "sbx reset: cannot list the secrets: %s\n", serr ? serr : "unknown error");
			return -EIO;
		}
	}
	return 0;
}

static bool plan_empty(const struct reset_plan *pl)
{
	return !pl->nsandboxes && !pl->ntemplates && !pl->nsaved && !pl->nsettings && !pl->policy && !pl->audit && !pl->nsecrets;
}

static void list_print(FILE *f, const char *what, char **v, size_t n)
{
	if (!n)
		return;
	fprintf(f, "  %s:", what);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s %s", i ? "," : "", v[i]);
	fputc('\n', f);
}

static void plan_print(FILE *f, const struct sbx_paths *p, const struct reset_plan *pl, bool secrets)
{
	fprintf(f, "sbx reset removes:\n");
	list_print(f, "sandboxes (stopped first, with their disks)", pl->sandboxes, pl->nsandboxes);
	list_print(f, "templates", pl->templates, pl->ntemplates);
	list_print(f, "saved templates", pl->saved, pl->nsaved);
	list_print(f, "settings", pl->settings, pl->nsettings);
	if (pl->policy)
		fprintf(f, "  the network policy (%s/policy.json)\n", p->config);
	if (pl->audit)
		fprintf(f, "  the audit log (%s/audit.log)\n", p->state);
	if (pl->nsecrets) {
		fprintf(f, "  secrets:");
		for (size_t i = 0; i < pl->nsecrets; i++)
			fprintf(f, "%s %s (%s)", i ? "," : "", pl->secrets[i].service,
				pl->secrets[i].sandbox ? pl->secrets[i].sandbox : "global");
		fputc('\n', f);
	}
	if (!secrets)
		fprintf(f, "The global secrets stay (sbx reset --secrets removes them too); a sandbox's own\n"
			   "secrets go with it, as with sbx rm.\n");
}

/* y or yes on the terminal */
static bool confirm(void)
{
	char line[32];

	printf("Remove all this? [y/N] ");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	line[strcspn(line, "\n")] = 0;
	return !strcasecmp(line, "y") || !strcasecmp(line, "yes");
}

static int reset_sandboxes(struct sbx_paths *p, const struct reset_plan *pl)
{
	struct sbxd_conn *c;
	int rc = 0;

	if (!pl->nsandboxes)
		return 0;
	c = cmd_connect(p);
	if (!c)
		return 1;
	for (size_t i = 0; i < pl->nsandboxes; i++)
		if (cmd_sandbox_rm(p, c, pl->sandboxes[i], true) != 0)
			rc = 1;
	sbxd_conn_free(c);
	return rc;
}

static int remove_reported(const char *path, const char *what)
{
	int r = rm_rf(path);

	if (r < 0) {
		fprintf(stderr, "sbx reset: cannot remove %s %s: %s\n", what, path, strerror(-r));
		return 1;
	}
	return 0;
}

static int reset_files(struct sbx_paths *p, const struct reset_plan *pl)
{
	int rc = 0;

	/* a symlinked template directory loses the link only (rm_rf follows none) */
	for (size_t i = 0; i < pl->ntemplates; i++) {
		_cleanup_free_ char *t = xasprintf("%s/templates/%s", p->cache, pl->templates[i]);
		_cleanup_free_ char *lock = xasprintf("%s/templates/.%s.lock", p->cache, pl->templates[i]);
		rc |= remove_reported(t, "template");
		unlink(lock);
	}
	for (size_t i = 0; i < pl->nsaved; i++) {
		_cleanup_free_ char *t = xasprintf("%s/templates/%s", p->state, pl->saved[i]);
		_cleanup_free_ char *lock = xasprintf("%s/templates/.%s.lock", p->state, pl->saved[i]);
		rc |= remove_reported(t, "template");
		unlink(lock);
	}
	if (pl->nsettings) {
		_cleanup_free_ char *sp = xasprintf("%s/settings.json", p->config);
		rc |= remove_reported(sp, "the settings");
		if (pl->keep_backend) {
			_cleanup_free_ char *err = NULL;
			if (settings_set(p, RESET_KEEP_KEY, pl->keep_backend, &err) < 0) {
				fprintf(stderr, "sbx reset: cannot keep %s: %s\n", RESET_KEEP_KEY, err ? err : "error");
				rc = 1;
			}
		}
	}
	if (pl->policy) {
		_cleanup_close_ int lock = policy_lock(p);
		int r = lock < 0 ? lock : policy_remove_file(p);
		if (r < 0) {
			fprintf(stderr, "sbx reset: cannot remove the network policy: %s\n", strerror(-r));
			rc = 1;
		}
	}
	if (pl->audit) {
		_cleanup_free_ char *a = xasprintf("%s/audit.log", p->state), *a1 = xasprintf("%s/audit.log.1", p->state);
		rc |= remove_reported(a, "the audit log");
		rc |= remove_reported(a1, "the audit log");
	}
	for (size_t i = 0; i < pl->nsecrets; i++) {
		_cleanup_free_ char *err = NULL;
		int r = secrets_rm(p, pl->secrets[i].sandbox, pl->secrets[i].service, &err);
		if (r < 0 && r != -ENOENT) {
			fprintf(stderr, "sbx reset: cannot remove the %s secret: %s\n", pl->secrets[i].service,
				err ? err : strerror(-r));
			rc = 1;
		}
	}
	return rc;
}

int cmd_reset(struct sbx_paths *p, int argc, char **argv)
{
	bool force = false, secrets = false;
	struct reset_plan pl = { 0 };
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return cmd_help_print(stdout, "reset"), 0;
		if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--force"))
			force = true;
		else if (!strcmp(argv[i], "--secrets"))
			secrets = true;
		else if (argv[i][0] == '-')
			return cmd_usage_error("reset", "unknown option"), 2;
		else
			return cmd_usage_error("reset", "reset takes no arguments"), 2;
	}
	if (!force && !isatty(STDIN_FILENO)) {
		fprintf(stderr, "sbx reset: asking needs a terminal; 'sbx reset -f' removes everything without asking\n");
		return 2;
	}
	if (plan_make(p, secrets, &pl) < 0) {
		plan_free(&pl);
		return 1;
	}
	if (plan_empty(&pl)) {
		printf("Nothing to reset.\n");
		plan_free(&pl);
		return 0;
	}
	plan_print(stdout, p, &pl, secrets);
	if (!force && !confirm()) {
		printf("Nothing removed.\n");
		plan_free(&pl);
		return 1;
	}
	/* the templates back the sandboxes' disks: they go only when the sandboxes went */
	rc = reset_sandboxes(p, &pl);
	if (rc) {
		fprintf(stderr, "sbx reset: not every sandbox could be removed; templates, settings and policy are "
				"kept (see 'sbx ls', then run sbx reset again)\n");
		plan_free(&pl);
		return 1;
	}
	rc = reset_files(p, &pl);
	if (rc == 0 && pl.policy)
		printf("Done. Before the next run, choose a network policy: sbx policy init balanced\n");
	else if (rc == 0)
		printf("Done.\n");
	plan_free(&pl);
	return rc ? 1 : 0;
}
