// SPDX-License-Identifier: MIT
/* proxy_dns.h: DNS messages for the egress engine (parse a guest's query, build the
 * answer, with ldns) and the per-sandbox table of synthetic addresses. */
#ifndef SBX_PROXY_DNS_H
#define SBX_PROXY_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_MSG_MAX 65535u
#ifndef DNS_TABLE_MAX                   /* the fuzz build makes it small: eviction in ~200 inserts */
#define DNS_TABLE_MAX 4096u              /* names per sandbox (least recently used go) */
#endif
#define DNS_SYNTH_NET 0xc6120000u        /* 198.18.0.0/15 (RFC 2544 benchmarking range) */
#define DNS_SYNTH_MASK 0xfffe0000u

enum { DNS_NOERROR = 0, DNS_FORMERR = 1, DNS_SERVFAIL = 2, DNS_NXDOMAIN = 3, DNS_NOTIMP = 4, DNS_REFUSED = 5 };
enum { DNS_TYPE_A = 1, DNS_TYPE_AAAA = 28 };

struct dns_query {
	uint16_t id;
	uint16_t qtype;
	char name[256];   /* the question name as text: lower-cased later by host_normalize */
};

/* Parse a query: one question, class IN, opcode QUERY, QR clear, no answer records.
 * -EBADMSG: not a DNS message we can answer at all (drop); -EPROTO: answer FORMERR;
 * -EOPNOTSUPP: answer NOTIMP (opcode) or REFUSED (class, several questions). In the
 * last two cases ret->id is set. Label bytes outside [A-Za-z0-9_-] make -EPROTO. */
int dns_query_parse(const uint8_t *msg, size_t len, struct dns_query *ret);
/* Answer to query msg: rcode, and for rcode NOERROR with a4 != NULL one A record
 * (TTL ttl) for the question name; NOERROR without a4 is an empty answer (NODATA).
 * The question is copied from the query; a query ldns cannot parse gets a bare
 * header with the query's id. *ret is malloc'd. */
int dns_answer_build(const uint8_t *msg, size_t len, int rcode, const uint32_t *a4, uint32_t ttl, uint8_t **ret,
		     size_t *ret_len);

/*
 * Synthetic addresses: every name a sandbox may reach gets a stable address in
 * 198.18.0.0/15, derived from a hash of the name (probing past collisions), so the
 * same name keeps its address while it stays in the table (and usually after).
 * Bounded: past DNS_TABLE_MAX names the least recently used is forgotten.
 */
struct dns_table;
struct dns_table *dns_table_new(void);
void dns_table_free(struct dns_table *t);
/* The address for name (host byte order), allocating it if needed. */
uint32_t dns_table_addr(struct dns_table *t, const char *name);
/* The name behind a synthetic address (host byte order), or NULL. Refreshes it. */
const char *dns_table_name(struct dns_table *t, uint32_t addr);
size_t dns_table_count(const struct dns_table *t);
static inline bool dns_addr_is_synthetic(uint32_t a)
{
	return (a & DNS_SYNTH_MASK) == DNS_SYNTH_NET;
}

#endif
