// SPDX-License-Identifier: MIT
/* fuzz_services.c: libFuzzer target: the credential services table: which service a
 * (guest-named) host gets, the header built from a stored key, and which guest
 * headers are auth headers.
 *
 * Input: NUL-separated strings: a host, a key, a header name. Invariants: a built
 * header value holds no CR, LF or NUL (no header injection), contains the key for a
 * raw or bearer service, and its name is the table's.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzzlib.h"
#include "services.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	char *host = fz_str(&in), *key = fz_str(&in), *hdr = fz_str(&in);
	const struct service *svc;
	const struct service_host *sh = NULL;
	size_t n;
	const struct service *list = service_list(&n);
	char *name = NULL, *value = NULL;

	if (service_for_host(host, &svc, &sh) < 0)
		sh = &list[(size > 0 ? data[0] : 0) % n].hosts[0];
	else
		assert(!strcasecmp(sh->host, host) && sh->service == svc);   /* case-insensitive on purpose */
	(void)service_find(host);
	if (service_header(sh, key, &name, &value) == 0) {
		assert(!strcmp(name, sh->header));
		assert(!strpbrk(value, "\r\n"));
		if (sh->auth != SERVICE_AUTH_BASIC_TOKEN)
			assert(strstr(value, key));
		assert(service_is_auth_header(sh, name));
		free(name);
		free(value);
	}
	(void)service_is_auth_header(sh, hdr);
	free(host);
	free(key);
	free(hdr);
	return 0;
}
