// SPDX-License-Identifier: MIT
/* fuzz_template_archive.c: libFuzzer target: a file given to `sbx template import`
 * (tarchive_read, then tarchive_verify, in template_archive.c; libarchive's tar and
 * zstd readers underneath).
 *
 * Input: the file's bytes (a tar, or a zstd-compressed one). The image is hashed, not
 * written, and may be at most 1 MiB (the free space the reader is told of), so that a
 * small input cannot make a run decompress gigabytes. Invariants: a read archive has
 * its three entries within their bounds, the image's first bytes are at most its
 * length; every failure comes with a message; a verified one has a qcow2 header sbx
 * accepts and a meta.json whose strings are printable.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "template_archive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tarchive t = { 0 };
	struct template_meta m = { 0 };
	char *err = NULL;

	if (size > (1u << 20))
		return 0;
	if (tarchive_read(-1, data, size, -1, 1u << 20, &t, &err) < 0) {
		assert(err && *err);
		free(err);
		return 0;
	}
	assert(!err);
	assert(t.meta && t.meta_len > 0 && t.meta_len <= TEMPLATE_META_MAX && t.meta[t.meta_len] == 0);
	assert(t.sums && t.sums_len > 0 && t.sums_len <= TARCHIVE_SUMS_MAX);
	assert(t.image_len > 0 && t.image_len <= (1u << 20));
	assert(t.head_len <= sizeof(t.head) && t.head_len <= t.image_len);
	if (tarchive_verify(&t, &m, &err) == 0) {
		struct qcow2_info q;
		assert(!err);
		assert(qcow2_header_parse(t.head, t.head_len, &q) == 0 && qcow2_import_ok(&q));
		if (m.image)
			assert(template_image_name_ok(m.image));
		for (char **v = m.versions; v && *v; v++)
			assert(strlen(*v) <= TEMPLATE_FIELD_MAX);
		template_meta_free(&m);
	} else {
		assert(err && *err);
		free(err);
	}
	tarchive_free(&t);
	return 0;
}
