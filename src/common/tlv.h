// SPDX-License-Identifier: MIT
/* tlv.h: tag-length-value encoding for channel arguments. Pure and bounded. */
#ifndef SBX_TLV_H
#define SBX_TLV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Item: u16 tag | u32 len | value[len], little-endian. */
#define TLV_HDR_LEN 6u

/* Writer into a caller-owned buffer; the first overflow sets err = -ENOBUFS and
 * makes every later put a no-op, so callers check once at the end. */
struct tlv_writer {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;
};
void tlv_writer_init(struct tlv_writer *w, uint8_t *buf, size_t cap);
void tlv_put(struct tlv_writer *w, uint16_t tag, const void *val, uint32_t len);
void tlv_put_str(struct tlv_writer *w, uint16_t tag, const char *s);  /* without NUL */
void tlv_put_u32(struct tlv_writer *w, uint16_t tag, uint32_t v);
void tlv_put_i32(struct tlv_writer *w, uint16_t tag, int32_t v);

struct tlv_reader {
	const uint8_t *p;
	size_t len;
	size_t off;
};
void tlv_reader_init(struct tlv_reader *r, const void *buf, size_t len);
/* Next item: returns 1 with tag/val/vlen set, 0 at the clean end, -EPROTO when an item
 * runs past the end. */
int tlv_next(struct tlv_reader *r, uint16_t *tag, const uint8_t **val, uint32_t *vlen);
/* Value helpers: -EPROTO when the length is wrong or (for strings) the value holds a NUL.
 * tlv_str copies into a fresh NUL-terminated malloc'd string. */
int tlv_u32(const uint8_t *val, uint32_t vlen, uint32_t *ret);
int tlv_i32(const uint8_t *val, uint32_t vlen, int32_t *ret);
/* The first well-formed u32 of tag in buf: 0, or -ENOENT. */
int tlv_find_u32(const void *buf, size_t len, uint16_t tag, uint32_t *ret);
int tlv_str(const uint8_t *val, uint32_t vlen, char **ret);

#endif
