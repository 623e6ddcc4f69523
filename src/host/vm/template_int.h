// SPDX-License-Identifier: MIT
/* template_int.h: what the template modules (template*.c) share: meta.json, where a
 * template lives, qcow2 headers. Not for the CLI. */
#ifndef SBX_TEMPLATE_INT_H
#define SBX_TEMPLATE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image.h"

#define TEMPLATE_META_MAX (64u << 10)
#define TEMPLATE_VERSIONS_MAX 64
#define TEMPLATE_FIELD_MAX 256

/* meta.json's text from m (m->image: the image's file name, "base-ID.raw"). */
char *template_meta_json(const char *name, const struct template_meta *m);
/* Parse meta.json's text: every field optional but image (when need_image), bounded:
 * strings of printable ASCII up to TEMPLATE_FIELD_MAX, at most TEMPLATE_VERSIONS_MAX
 * versions "NAME@VERSION", size <= RECIPE_SIZE_MAX, image a "base-ID.raw" name. m->image
 * is the file name. -EBADMSG when malformed. Pure: archives carry one. */
int template_meta_parse(const char *text, size_t len, bool need_image, struct template_meta *ret);
/* Read tdir/meta.json (through template_meta_parse). */
int template_meta_read(const char *tdir, struct template_meta *ret);
bool template_image_name_ok(const char *s);
/* "base-YYYYmmddTHHMMSSZ[-N].raw" not yet in tdir (allocated). */
char *template_image_name_new(const char *tdir);
char *template_iso_now(void);

/* Move img (a finished raw image in the same file system) into tdir as a new
 * base-ID.raw, write meta.json from in (its image ignored), point base.raw at it and
 * delete older images of tdir no sandbox uses. */
int template_publish(const struct sbx_paths *p, const char *name, const char *tdir, const char *img,
		     const struct template_meta *in);

/* Take the template's lock (the parent directory's .NAME.lock), waiting; the fd. */
int template_lock(const struct sbx_paths *p, const char *name);

/* Saved and imported templates live in state/templates/NAME (not the cache: they are
 * not rebuilt from anything); templates built from a recipe in cache/templates/NAME. */
char *template_user_root(const struct sbx_paths *p);

/*
 * A qcow2 header (the first n bytes of the file: 72 for version 2, 104 for 3): its
 * version, virtual size, backing file reference, encryption and incompatible feature
 * bits. -EBADMSG when it is no qcow2 version 2/3 header. Pure.
 * qcow2_import_ok(): what sbx accepts from an archive: no backing file (it would
 * make qemu-img read host files into the template), no external data file, no
 * encryption, not marked corrupt, no unknown incompatible feature.
 */
struct qcow2_info {
	uint32_t version;
	uint64_t size;
	uint64_t backing_offset;
	uint32_t backing_len;
	uint64_t incompatible;
	uint32_t crypt_method;
};
#define QCOW2_HEADER_MIN 104
int qcow2_header_parse(const uint8_t *h, size_t n, struct qcow2_info *ret);
bool qcow2_import_ok(const struct qcow2_info *q);
/* Backing file named in the qcow2 file dfd/name: 0 with *ret (NULL if none), or -errno. */
int qcow2_backing(int dfd, const char *name, char **ret);

#endif
