// SPDX-License-Identifier: MIT
/* template_archive.h: the file `sbx template export` writes and `import` reads.
 *
 * A tar (pax) compressed with zstd holding exactly, in this order:
 *   meta.json     the template's metadata (template_meta_parse), at most 64 KiB
 *   image.qcow2   its disk, qcow2 (sparse, no backing file), at most 1 TiB
 *   SHA256SUMS    "HEX  meta.json\nHEX  image.qcow2\n" (sha256sum -c can check it)
 * Every entry a regular file; anything else (links, devices, directories, other
 * names, repeats, a missing entry, trailing entries) is refused. Entry names never
 * become paths: the reader writes the image to a fixed name in a directory of its own.
 */
#ifndef SBX_TEMPLATE_ARCHIVE_H
#define SBX_TEMPLATE_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "template_int.h"

#define TARCHIVE_IMAGE_MAX (1ull << 40)
#define TARCHIVE_SUMS_MAX 4096

struct tarchive {
	char *meta;           /* NUL-terminated */
	size_t meta_len;
	char *sums;
	size_t sums_len;
	uint8_t meta_sha[32], image_sha[32];
	uint64_t image_len;
	uint8_t head[QCOW2_HEADER_MIN]; /* the image's first bytes */
	size_t head_len;
};
void tarchive_free(struct tarchive *t);

/* Read an archive from fd (or memory when fd < 0: buf/len), writing image.qcow2 into
 * dfd (-1: hash it only), bounded by avail bytes. Fails with *ret_err on anything the
 * format above does not allow, and on a truncated or corrupt stream. */
int tarchive_read(int fd, const void *buf, size_t len, int dfd, uint64_t avail, struct tarchive *ret,
		  char **ret_err);
/* Check what tarchive_read found: SHA256SUMS names both entries with their digests,
 * meta.json parses, the image is a qcow2 sbx accepts (qcow2_import_ok). Pure. */
int tarchive_verify(const struct tarchive *t, struct template_meta *ret_meta, char **ret_err);

#endif
