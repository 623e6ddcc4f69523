// SPDX-License-Identifier: MIT
/* fuzz_secrets_file.c: libFuzzer target: config/secrets.json (the store's own strict
 * JSON subset parser in secrets_file.c) through secrets_list and secrets_get, the file
 * written (0600) to a private 0700 directory each run.
 *
 * Invariants: a refused file says why (never quoting a value); what loads lists
 * entries of known shape and every listed entry can be read back.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "secrets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sbx_paths p;
	static char *file;
	struct secret_info *v = NULL;
	size_t n = 0;
	char *err = NULL;
	int r;

	if (!file) {
		p.config = xstrdup(fz_tmpdir());
		file = xasprintf("%s/secrets.json", p.config);
	}
	if (size > SECRETS_FILE_MAX)
		return 0;
	fz_write(file, data, size, 0600);
	r = secrets_list(&p, &v, &n, &err);
	if (r < 0) {
		assert(err && err[0]);
		free(err);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		char *val = NULL;

		assert(service_find(v[i].service) || v[i].service[0]);
		assert(strlen(v[i].preview) < SECRET_PREVIEW_MAX);
		r = secrets_get(&p, v[i].sandbox, v[i].service, &val);
		assert(r == 0 && val && !secret_value_check(val, strlen(val)));
		secret_free(val);
	}
	secret_info_free(v, n);
	return 0;
}
