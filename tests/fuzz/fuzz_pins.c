// SPDX-License-Identifier: MIT
/* fuzz_pins.c: libFuzzer target: npm registry answers and recipe pins (pins.c), a
 * template's meta.json and a qcow2 header (template_meta.c).
 *
 * Input: one byte choosing the parser, then its bytes:
 *   0 GET /NAME/latest answer (npm_latest_parse)
 *   1 packument (npm_newest_in_major; the next byte is the major version)
 *   2 recipe text: recipe_pins_rewrite with fixed changes, whose output must still
 *     parse whenever the input did (the pins written are valid versions)
 *   3 meta.json (template_meta_parse), written back and parsed again
 *   4 qcow2 header (qcow2_header_parse, qcow2_import_ok)
 * Invariants: every version returned is pin_version_ok (and of the major asked);
 * rewriting keeps every line that is not node/npm; meta.json round-trips.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "pins.h"
#include "recipe.h"
#include "template_int.h"

static void rewrite(const char *text)
{
	static const struct pin_change ch[] = { { "node", "22.9.0" }, { "@a/b", "1.2.3" }, { "c", "4.5.6-rc.1" } };
	struct recipe rc = { 0 }, rc2 = { 0 };
	char *out = NULL;
	bool ok = recipe_parse(text, "fuzz", &rc) == 0;

	assert(recipe_pins_rewrite(text, ch, 3, &out) == 0);
	if (ok) {
		/* a node line of the input was a major in 18..99 or a version: 22.9.0 is valid */
		assert(recipe_parse(out, "fuzz", &rc2) == 0);
		assert(rc2.n_npm == rc.n_npm);
		recipe_free(&rc2);
		recipe_free(&rc);
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *v = NULL;
	size_t len;
	uint8_t sel;

	if (size < 2 || size > (64u << 10))
		return 0;
	sel = data[0] % 5;
	len = size - 1;
	text = malloc(len + 1);
	assert(text);
	memcpy(text, data + 1, len);
	text[len] = 0;
	if (sel == 0) {
		if (npm_latest_parse(text, len, &v) == 0)
			assert(pin_version_ok(v));
	} else if (sel == 1) {
		unsigned major = (uint8_t)text[0];
		if (npm_newest_in_major(text + 1, len - 1, major, &v) == 0)
			assert(pin_version_release(v) && strtoul(v, NULL, 10) == major);
	} else if (sel == 2) {
		if (strlen(text) == len)
			rewrite(text);
	} else if (sel == 3) {
		struct template_meta m = { 0 }, m2 = { 0 };
		if (template_meta_parse(text, len, false, &m) == 0) {
			char *j = template_meta_json("x", &m);
			assert(template_meta_parse(j, strlen(j), false, &m2) == 0);
			assert(m2.size == m.size);
			assert(!m.versions || (m2.versions && !strcmp(m.versions[0] ? m.versions[0] : "",
								     m2.versions[0] ? m2.versions[0] : "")));
			template_meta_free(&m2);
			free(j);
			template_meta_free(&m);
		}
	} else {
		struct qcow2_info q;
		if (qcow2_header_parse(data + 1, len, &q) == 0 && qcow2_import_ok(&q))
			assert(q.backing_offset == 0 && q.size > 0);
	}
	free(v);
	free(text);
	return 0;
}
