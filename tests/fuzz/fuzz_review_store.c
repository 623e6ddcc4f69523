// SPDX-License-Identifier: MIT
/* fuzz_review_store.c: libFuzzer target: a sandbox's review baseline manifest
 * (baseline/manifest.json, review_store.c) through review_baseline_load, with one blob
 * in blobs/ whose name and content come from the input too.
 *
 * Input: a NUL-terminated blob content, then the manifest. Invariants: a loaded
 * snapshot is sorted without duplicate paths, every path is non-empty, and it can be
 * compared with itself without a change.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzzlib.h"
#include "review.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *sbdir, *manifest, *blobdir, *blobpath;
	struct fz_in in = { data, size };
	char *blob = fz_str(&in), sha[65];
	struct review_snap s = { 0 };
	struct review_diff_item *items = NULL;
	size_t nitems = 0;
	int r;

	if (!sbdir) {
		sbdir = xstrdup(fz_tmpdir());
		manifest = xasprintf("%s/baseline/manifest.json", sbdir);
		blobdir = xasprintf("%s/baseline/blobs", sbdir);
		if (mkdir_p(blobdir, 0700) < 0)
			abort();
	}
	/* blobs/ holds exactly this run's blob; most mutations leave it as it was, and
	 * creating and unlinking a file per run was a third of the time */
	review_sha256_hex(blob, strlen(blob), sha);
	if (!blobpath || strcmp(blobpath + strlen(blobdir) + 1, sha)) {
		if (blobpath)
			unlink(blobpath);
		free(blobpath);
		blobpath = xasprintf("%s/%s", blobdir, sha);
		fz_write(blobpath, blob, strlen(blob), 0600);
	}
	fz_write(manifest, in.p, in.n, 0600);
	r = review_baseline_load(sbdir, &s);
	free(blob);
	if (r < 0) {
		assert(r == -EBADMSG || r == -EINVAL || r == -EFBIG || r == -ENOMEM);
		return 0;
	}
	for (size_t i = 0; i < s.n; i++) {
		assert(s.v[i].path && s.v[i].path[0]);
		if (i)
			assert(strcmp(s.v[i - 1].path, s.v[i].path) < 0);
	}
	assert(review_compare(&s, &s, &items, &nitems) == 0);
	for (size_t i = 0; i < nitems; i++)
		assert(items[i].changes == 0);
	free(items);
	review_snap_free(&s);
	return 0;
}
