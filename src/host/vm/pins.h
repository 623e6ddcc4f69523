// SPDX-License-Identifier: MIT
/* pins.h: the versions a recipe pins (node, npm packages), npm registry answers, and
 * rewriting the pins in a recipe's text. Pure but for pins_read_installed(). */
#ifndef SBX_PINS_H
#define SBX_PINS_H

#include <stdbool.h>
#include <stddef.h>

#define PIN_VERSION_MAX 64
#define NPM_DOC_MAX (16u << 20) /* the biggest registry answer we read */

/* A release version: [0-9]+.[0-9]+.[0-9]+ then optionally [-+][0-9A-Za-z.+-]*, at most
 * PIN_VERSION_MAX bytes. */
bool pin_version_ok(const char *v);
/* A version without a "-pre" part. */
bool pin_version_release(const char *v);
/* Compare X.Y.Z numerically (a prerelease sorts before its release); both must be ok. */
int pin_version_cmp(const char *a, const char *b);
/* Split an npm spec: "name", "name@version", "@scope/name", "@scope/name@version".
 * *ret_version is NULL when the spec has none. -EINVAL when the name is not an npm name
 * or the version not pin_version_ok. */
int pin_split(const char *spec, char **ret_name, char **ret_version);

/* json: len bytes then a NUL. A registry's GET /NAME/latest answer: its "version" (pin_version_ok). -EBADMSG if not. */
int npm_latest_parse(const char *json, size_t len, char **ret_version);
/* A registry's GET /NAME answer (full or abbreviated packument): the newest release
 * (no prerelease) whose major is major, -ENOENT when none, -EBADMSG when malformed. */
int npm_newest_in_major(const char *json, size_t len, unsigned major, char **ret_version);

/* One pin to write: name ("node" for the recipe's node line) and its new version. */
struct pin_change {
	const char *name;
	const char *version;
};
/* text with the node line and the npm words of the changed packages rewritten to
 * NAME@VERSION (node: VERSION); every other byte kept. -EINVAL on bad input. */
int recipe_pins_rewrite(const char *text, const struct pin_change *ch, size_t n, char **ret_text);

/* Versions installed under prefix (lib/node_modules/NAME/package.json) of the npm specs,
 * as "NAME@VERSION" strings, NULL-terminated, appended to *v (count *n). A package
 * whose version cannot be read is left out. */
void pins_read_installed(const char *prefix, char *const *specs, size_t n_specs, char ***v, size_t *n);

#endif
