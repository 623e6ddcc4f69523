// SPDX-License-Identifier: MIT
/* paths.c: resolve SBX_HOME / XDG directories and the helper binaries. */
#include "paths.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static char *xdg_dir(const char *env, const char *fallback_rel, const char *sub)
{
	const char *v = getenv(env);
	const char *home = getenv("HOME");

	if (v && v[0] == '/')
		return xasprintf("%s/sbx%s", v, sub);
	if (!home || home[0] != '/')
		die("HOME is not set to an absolute path; set SBX_HOME");
	return xasprintf("%s/%s/sbx%s", home, fallback_rel, sub);
}

static void ensure_dir(const char *path)
{
	int r = mkdir_p(path, 0700);
	if (r < 0)
		die("cannot create %s: %s", path, strerror(-r));
}

void paths_init(struct sbx_paths *p)
{
	const char *home = getenv("SBX_HOME");
	char exe[PATH_MAX];
	ssize_t n;

	memset(p, 0, sizeof(*p));
	if (home && *home) {
		if (home[0] != '/')
			die("SBX_HOME must be an absolute path, got '%s'", home);
		p->config = xasprintf("%s/config", home);
		p->state = xasprintf("%s/state", home);
		p->cache = xasprintf("%s/cache", home);
		p->run = xasprintf("%s/run", home);
	} else {
		const char *rt = getenv("XDG_RUNTIME_DIR");
		p->config = xdg_dir("XDG_CONFIG_HOME", ".config", "");
		p->state = xdg_dir("XDG_STATE_HOME", ".local/state", "");
		p->cache = xdg_dir("XDG_CACHE_HOME", ".cache", "");
		if (rt && rt[0] == '/')
			p->run = xasprintf("%s/sbx", rt);
		else
			p->run = xasprintf("%s/run", p->state);
	}
	p->sandboxes = xasprintf("%s/sandboxes", p->state);
	p->vms = xasprintf("%s/vms", p->run);
	ensure_dir(p->config);
	ensure_dir(p->sandboxes);
	ensure_dir(p->cache);
	ensure_dir(p->vms);

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		die("cannot resolve /proc/self/exe");
	exe[n] = 0;
	p->self_exe = xstrdup(exe);
	{
		_cleanup_free_ char *d = xstrdup(exe);
		char *dir = dirname(d);
		_cleanup_free_ char *side = xasprintf("%s/sbx-guest", dir);
		_cleanup_free_ char *src_recipes = xasprintf("%s/../recipes", dir);
		/* PREFIX/bin/sbx, or the full program in PREFIX/lib/sbx/ (front.c) */
		size_t dl = strlen(dir);
		bool in_lib = dl >= 8 && !strcmp(dir + dl - 8, "/lib/sbx");
		struct stat st;

		if (stat(side, &st) == 0) {
			p->guest_bin = xstrdup(side);
			p->keyring_lib = xasprintf("%s/libsbx-keyring.so", dir);
		} else {
			p->guest_bin = xasprintf("%s/../lib/sbx/sbx-guest", dir);
			p->keyring_lib = xasprintf("%s/../lib/sbx/libsbx-keyring.so", dir);
		}
		if (stat(src_recipes, &st) == 0 && S_ISDIR(st.st_mode))
			p->recipes = realpath(src_recipes, NULL);
		if (!p->recipes)
			p->recipes = xasprintf("%s/%s/share/sbx/recipes", dir, in_lib ? "../.." : "..");
	}
}

void paths_free(struct sbx_paths *p)
{
	free(p->config);
	free(p->state);
	free(p->cache);
	free(p->run);
	free(p->sandboxes);
	free(p->vms);
	free(p->self_exe);
	free(p->guest_bin);
	free(p->keyring_lib);
	free(p->recipes);
	*p = (struct sbx_paths){ 0 };
}
