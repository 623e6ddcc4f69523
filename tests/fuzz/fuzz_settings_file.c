// SPDX-License-Identifier: MIT
/* fuzz_settings_file.c: libFuzzer target: config/settings.json through settings_load_ex
 * (written to a private directory each run), the lookups made from what it holds
 * (proxy.resolve, proxy.dnsServers), and settings_validate of one value for one key.
 *
 * Input: one selector byte (the key for settings_validate), a NUL-terminated value,
 * then the file. Invariants: a refused file or value says why; a normalised value
 * validates to itself.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sbx_paths p;
	static char *file;
	struct fz_in in = { data, size };
	uint8_t sel = fz_u8(&in);
	char *value = fz_str(&in), *norm = NULL, *norm2 = NULL, *err = NULL, *csv = NULL;
	size_t nkeys;
	const struct settings_key *keys = settings_keys(&nkeys);
	const char *key = keys[sel % nkeys].key;
	struct settings *s = NULL;
	struct sockaddr_storage ss;
	socklen_t sl;
	int r;

	if (!file) {
		p.config = xstrdup(fz_tmpdir());
		file = xasprintf("%s/settings.json", p.config);
	}
	r = settings_validate(key, value, &norm, &err);
	if (r == 0) {
		assert(settings_validate(key, norm, &norm2, NULL) == 0 && !strcmp(norm, norm2));
	} else {
		assert(r != -EINVAL || (err && err[0]));
	}
	free(norm);
	free(norm2);
	free(err);
	err = NULL;

	fz_write(file, in.p, in.n, 0600);
	r = settings_load_ex(&p, &s, &err);
	if (r == 0) {
		for (size_t i = 0; i < nkeys; i++)
			(void)settings_get_or_default(s, keys[i].key);
		(void)settings_resolve_lookup(s, value, 443, &ss, &sl);
		(void)settings_resolve_has_name(s, value);
		if (settings_dns_servers(s, &csv) == 0)
			free(csv);
		(void)settings_agent_forwarding(s);
		(void)settings_protect_git(s);
		settings_free(s);
	} else {
		assert(r != -EINVAL || (err && err[0]));
	}
	free(err);
	free(value);
	return 0;
}
