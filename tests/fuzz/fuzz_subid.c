// SPDX-License-Identifier: MIT
/* fuzz_subid.c: libFuzzer target: /etc/subuid text (subid_parse, subid_free_start in
 * idmap.c) and the namespace map built from what it finds.
 *
 * Input: four bytes of the id looked up, then the file's text; the name looked up is
 * "user". Invariants: a found range is non-empty and does not wrap; a free start lies
 * past every range in the text (or is 0: no room); a map built from a found range is
 * at most three extents that each stay inside 32 bits.
 */
#include <assert.h>
#include <string.h>

#include "fuzzlib.h"
#include "idmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct subid_range r;
	struct idmap m;
	uint32_t id = 0, free_start;
	char buf[128];

	if (size < 4)
		return 0;
	memcpy(&id, data, 4);
	data += 4;
	size -= 4;
	if (subid_parse((const char *)data, size, "user", id, &r) == 0) {
		assert(r.count > 0 && (uint64_t)r.start + r.count <= (uint64_t)UINT32_MAX + 1);
		free_start = subid_free_start((const char *)data, size);
		assert(free_start == 0 || free_start >= (uint64_t)r.start + r.count);
		if (idmap_build(id | 1, 0xffffffffu, r, &m) == 0) {
			assert(m.n >= 1 && m.n <= 3);
			for (unsigned i = 0; i < m.n; i++)
				assert((uint64_t)m.e[i].outside + m.e[i].count <= (uint64_t)UINT32_MAX + 1);
			assert(idmap_format(&m, buf, sizeof(buf)) > 0);
		}
	}
	return 0;
}
