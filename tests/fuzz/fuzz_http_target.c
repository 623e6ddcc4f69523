// SPDX-License-Identifier: MIT
/* fuzz_http_target.c: libFuzzer target: the request target of a proxy request (CONNECT
 * authority or absolute URI), then what the proxy does with the host it names:
 * host_normalize and a policy decision.
 *
 * Input: one flag byte (bit 0: CONNECT, else GET), then the target text. It is put into
 * a request line, so the bytes that reach http_target_parse are those a guest can get
 * past the head scanner and http-parser.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "policy.h"
#include "proxy_http.h"

static struct policy *pol;

static void policy_setup(void)
{
	static const char *const allow[] = { "example.com", "**.example.org:443", "10.0.0.0/8", "[fd00::1]:80",
					     "localhost:8080" };
	const char *err;

	pol = policy_new();
	for (size_t i = 0; i < ARRAY_SIZE(allow); i++)
		if (policy_add(pol, POLICY_ALLOW, allow[i], NULL, false, NULL, &err) < 0)
			abort();
	if (policy_add(pol, POLICY_DENY, "*.bad.example.com", NULL, false, NULL, &err) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	uint8_t flags = fz_u8(&in);
	const char *method = flags & 1 ? "CONNECT" : "GET";
	char *host = NULL, *path = NULL, *norm = NULL;
	struct policy_decision d;
	struct http_scan s;
	struct http_msg m;
	uint16_t port = 0;
	size_t head_len = 0, len;
	uint8_t *req;
	bool is_ip;

	if (!pol)
		policy_setup();
	if (in.n > HTTP_LINE_MAX)
		return 0;
	req = xmalloc(in.n + 64);
	len = (size_t)snprintf((char *)req, 64, "%s ", method);
	memcpy(req + len, in.p, in.n);
	len += in.n;
	len += (size_t)snprintf((char *)req + len, 64, " HTTP/1.1\r\nHost: h\r\n\r\n");
	http_scan_init(&s, true);
	if (http_scan(&s, req, len, &head_len) != 1 || http_msg_parse(&m, true, false, req, head_len) < 0) {
		free(req);
		return 0;
	}
	if (http_target_parse(&m, &host, &port, flags & 1 ? NULL : &path) == 0) {
		assert(host && port);
		assert(!(flags & 1) == !!path);
		if (path)
			assert(path[0] == '/');
		if (host_normalize(host, &norm, &is_ip) == 0) {
			assert(norm[0]);
			policy_check(pol, NULL, norm, port, &d);
			free(norm);
		}
		policy_check(pol, "sb", host, port, &d);
	}
	free(host);
	free(path);
	http_msg_clear(&m);
	free(req);
	return 0;
}
