// SPDX-License-Identifier: MIT
/* keyring_dl.c: the Secret Service backend's entry points in sbx: load libsbx-keyring.so
 * on first use and call through its sbx_keyring_ops (see secrets_keyring.h). */
#include "secrets_keyring.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>

#include "util.h"

/* Defined when the backend is linked in (unit tests); NULL in sbx itself. */
extern const struct keyring_ops sbx_keyring_ops __attribute__((weak));

static char *lib_path;
static const struct keyring_ops *ops;
static char *load_err;   /* why loading failed (once failed, not retried) */

void keyring_use_library(const char *path)
{
	if (!path || (lib_path && !strcmp(lib_path, path)))
		return;
	free(lib_path);
	lib_path = xstrdup(path);
}

char *keyring_label(const char *sandbox, const char *service)
{
	return sandbox ? xasprintf("sbx: %s (sandbox %s)", service, sandbox) : xasprintf("sbx: %s (global)", service);
}

static const struct keyring_ops *get_ops(char **ret_err)
{
	void *h;
	const char *e;

	if (ops)
		return ops;
	if (&sbx_keyring_ops) {
		ops = &sbx_keyring_ops;
		return ops;
	}
	if (!load_err) {
		if (!lib_path) {
			load_err = xstrdup("the Secret Service backend cannot be used: its library was not located");
		} else if (!(h = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL))) {
			e = dlerror();
			load_err = xasprintf("the Secret Service backend cannot be used: cannot load %s (%s); "
					     "reinstall sbx, or use the file store (sbx settings set secrets.backend file)",
					     lib_path, e ? e : "unknown error");
		} else if (!(ops = dlsym(h, "sbx_keyring_ops"))) {
			load_err = xasprintf("the Secret Service backend cannot be used: %s is not sbx's keyring library",
					     lib_path);
			dlclose(h);
		} else {
			return ops;   /* never unloaded: GLib keeps threads and state */
		}
	}
	if (ret_err)
		*ret_err = xstrdup(load_err);
	return NULL;
}

int keyring_probe(char **ret_err)
{
	const struct keyring_ops *o = get_ops(ret_err);

	return o ? o->probe(ret_err) : -ENOPKG;
}

int keyring_store(const char *config, const char *sandbox, const char *service, const char *value, char **ret_err)
{
	const struct keyring_ops *o = get_ops(ret_err);

	return o ? o->store(config, sandbox, service, value, ret_err) : -ENOPKG;
}

int keyring_lookup(const char *config, const char *sandbox, const char *service, char **ret_value, char **ret_err)
{
	const struct keyring_ops *o = get_ops(ret_err);

	return o ? o->lookup(config, sandbox, service, ret_value, ret_err) : -ENOPKG;
}

int keyring_list(const char *config, struct secret_info **ret, size_t *ret_n, char **ret_err)
{
	const struct keyring_ops *o = get_ops(ret_err);

	return o ? o->list(config, ret, ret_n, ret_err) : -ENOPKG;
}

int keyring_remove(const char *config, const char *sandbox, const char *service, char **ret_err)
{
	const struct keyring_ops *o = get_ops(ret_err);

	return o ? o->remove(config, sandbox, service, ret_err) : -ENOPKG;
}

int keyring_check(char **ret_err)
{
	const struct keyring_ops *o = get_ops(ret_err);

	return o ? o->check(ret_err) : -ENOPKG;
}

void keyring_cache_flush(void)
{
	if (ops)
		ops->cache_flush();
}
