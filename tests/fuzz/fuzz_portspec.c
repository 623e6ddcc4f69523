// SPDX-License-Identifier: MIT
/* fuzz_portspec.c: libFuzzer target: published ports, as typed (`sbx run -p`, `sbx ports
 * --publish`) and as read from a sandbox's spec.json (portspec.c, spec.c's "ports").
 *
 * Input: one selector byte, then the text. 0: portspec_parse and portspec_parse_unpublish; 1: the text as a JSON spec through spec_from_json. Invariants: a parsed
 * port has both ports in 1..65535; its canonical text fits PORTSPEC_TEXT_MAX, parses
 * again to the same port and formats to the same text; a spec that loads has at most
 * PORTSPEC_MAX ports, passes portspec_list_check, and survives spec_to_json ->
 * spec_from_json with the same ports.
 */
#include <assert.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "portspec.h"
#include "spec.h"

static void check_one(const struct portspec *p)
{
	struct portspec again;
	const char *err = NULL;
	char t[PORTSPEC_TEXT_MAX], t2[PORTSPEC_TEXT_MAX];

	assert(p->host_port >= 1 && p->guest_port >= 1);
	assert(p->family == AF_INET || p->family == AF_INET6);
	portspec_format(p, t, sizeof(t));
	assert(strlen(t) < sizeof(t) - 1);
	assert(portspec_parse(t, &again, &err) == 0);
	assert(portspec_equal(p, &again));
	portspec_format(&again, t2, sizeof(t2));
	assert(!strcmp(t, t2));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	uint8_t sel = fz_u8(&in);
	char *s = fz_str(&in);
	const char *err = NULL;

	if (sel % 2 == 0) {
		struct portspec p;
		if (portspec_parse(s, &p, &err) == 0)
			check_one(&p);
		else
			assert(err && *err);
		if (portspec_parse_unpublish(s, &p, &err) == 0) {
			assert(p.host_port >= 1);
			assert(p.family || p.guest_port == 0);
			if (p.guest_port)
				check_one(&p);
		}
	} else {
		struct json_tokener *tok = json_tokener_new_ex(16);
		struct json_object *o = json_tokener_parse_ex(tok, s, (int)strlen(s));
		struct spec sp = { 0 }, sp2 = { 0 };

		if (o && spec_from_json(o, &sp, &err) == 0) {
			struct json_object *back = spec_to_json(&sp);
			assert(sp.n_ports <= PORTSPEC_MAX);
			assert(portspec_list_check(sp.ports, sp.n_ports, &err) == 0);
			for (size_t i = 0; i < sp.n_ports; i++)
				check_one(&sp.ports[i]);
			assert(spec_from_json(back, &sp2, &err) == 0 && sp2.n_ports == sp.n_ports);
			for (size_t i = 0; i < sp.n_ports; i++)
				assert(portspec_equal(&sp.ports[i], &sp2.ports[i]));
			json_object_put(back);
			spec_free(&sp2);
			spec_free(&sp);
		}
		json_object_put(o);
		json_tokener_free(tok);
	}
	free(s);
	return 0;
}
