// SPDX-License-Identifier: MIT
/* fuzz_subid.c: libFuzzer target: /etc/subuid text (subid_parse, subid_free_start in
 * idmap.c) and the namespace map built from what it finds.
 *
 * Input: four bytes of the id looked up, then the file's text; the name looked up is
 * "user". Invariants: a found range is non-empty and does not wrap; a free start lies
 * past every range in the text (or is 0: no room); a map built from a found range is
 * at most three extents that each stay inside 32 bits; a user's jail slots lie inside
 * the range with QEMU's id past virtiofsd's; subid_overlap names a line of the text.
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
	/* the root pool's first slot against the text: a line number within it, or 0 */
	{
		struct subid_range pool = { IDMAP_JAIL_BASE, IDMAP_JAIL_ROOT_SLOTS * IDMAP_SLOT_MAX };
		struct idmap_slot s;
		unsigned lines = 1;

		for (size_t i = 0; i < size; i++)
			lines += data[i] == '\n';
		assert(idmap_slot_get(pool, id % IDMAP_JAIL_ROOT_SLOTS, &s) == 0);
		assert(subid_overlap((const char *)data, size, s.fs) <= lines);
	}
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
		/* a user's slots: inside the range, disjoint, QEMU's id outside virtiofsd's */
		for (unsigned k = 0, n = idmap_slot_count(r); k < n && k < 4; k++) {
			struct idmap_slot s;
			assert(idmap_slot_get(r, k, &s) == 0);
			assert(s.fs.start >= r.start && (uint64_t)s.vmm < (uint64_t)r.start + r.count);
			assert(s.vmm == s.fs.start + s.fs.count);
		}
	}
	return 0;
}
