// SPDX-License-Identifier: MIT
/* test_guest_egress.c: the pure parts of the guest's egress (src/guest/egress_dns.c,
 * src/guest/egress.c): the DNS stub's SERVFAIL answers, its DNS-over-TCP query framing
 * and its reassembly of the host's answers; a redirected connection's OPEN arguments. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "egress.h"
#include "proto.h"
#include "testlib.h"
#include "tlv.h"

/* A query for example.com A, id 0xbeef, RD set; with an OPT record when edns. */
static size_t make_query(uint8_t *q, bool edns)
{
	static const uint8_t hdr[12] = { 0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
	static const uint8_t qname[] = { 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0 };
	static const uint8_t opt[] = { 0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0 };
	size_t n = 0;

	memcpy(q, hdr, sizeof(hdr));
	n += sizeof(hdr);
	memcpy(q + n, qname, sizeof(qname));
	n += sizeof(qname);
	q[n++] = 0, q[n++] = 1;   /* QTYPE A */
	q[n++] = 0, q[n++] = 1;   /* QCLASS IN */
	if (edns) {
		q[11] = 1;        /* ARCOUNT */
		memcpy(q + n, opt, sizeof(opt));
		n += sizeof(opt);
	}
	return n;
}

static void test_servfail_echoes_question(void)
{
	uint8_t q[512], out[512];
	size_t qlen = make_query(q, true), n;

	memset(out, 0xaa, sizeof(out));
	n = dns_servfail(q, qlen, out);
	/* header and the one question; the OPT record is not echoed */
	CHECK_EQ(n, 12 + 13 + 4);
	CHECK(out[0] == 0xbe && out[1] == 0xef);   /* same id */
	CHECK_EQ(out[2], 0x81);                     /* QR, opcode 0, RD kept */
	CHECK_EQ(out[3], 0x82);                     /* RA, RCODE SERVFAIL */
	CHECK(out[4] == 0 && out[5] == 1);          /* QDCOUNT 1 */
	for (int i = 6; i < 12; i++)
		CHECK_EQ(out[i], 0);                /* no answers, authority, additional */
	CHECK(!memcmp(out + 12, q + 12, 13 + 4));   /* the question itself */
	CHECK_EQ(out[n], 0xaa);                     /* nothing written past it */
}

static void test_servfail_flags_and_opcode(void)
{
	uint8_t q[512], out[512];
	size_t qlen = make_query(q, false);

	q[2] = 0x7f;   /* QR clear, opcode 15, AA, TC, RD all set */
	dns_servfail(q, qlen, out);
	CHECK_EQ(out[2], 0x80 | (0x7f & 0x79));   /* QR; opcode and RD kept; AA and TC cleared */
}

static void test_servfail_bad_questions(void)
{
	uint8_t q[512], out[512];
	size_t qlen = make_query(q, false);

	/* shorter than a header: no answer at all */
	CHECK_EQ(dns_servfail(q, 11, out), 0);
	/* a header alone: answered with the header, no question */
	CHECK_EQ(dns_servfail(q, 12, out), 12);
	CHECK(out[4] == 0 && out[5] == 0);
	/* QDCOUNT 2: the question is not echoed */
	q[5] = 2;
	CHECK_EQ(dns_servfail(q, qlen, out), 12);
	CHECK(out[5] == 0);
	q[5] = 1;
	/* a compression pointer in the name: not echoed */
	q[12] = 0xc0;
	CHECK_EQ(dns_servfail(q, qlen, out), 12);
	make_query(q, false);
	/* the name runs past the end, or QTYPE/QCLASS are cut off */
	CHECK_EQ(dns_servfail(q, 12 + 5, out), 12);
	CHECK_EQ(dns_servfail(q, qlen - 1, out), 12);
	CHECK_EQ(dns_servfail(q, qlen, out), qlen);
}

static void test_tcp_framing(void)
{
	uint8_t in[2 + DNS_MAX_QUERY + 8] = { 0 };

	CHECK_EQ(dns_tcp_query_len(in, 0), 0);
	in[0] = 0, in[1] = 29;
	CHECK_EQ(dns_tcp_query_len(in, 1), 0);            /* half a length */
	CHECK_EQ(dns_tcp_query_len(in, 2), 0);            /* no query yet */
	CHECK_EQ(dns_tcp_query_len(in, 2 + 28), 0);       /* one byte short */
	CHECK_EQ(dns_tcp_query_len(in, 2 + 29), 29);
	CHECK_EQ(dns_tcp_query_len(in, 2 + 29 + 5), 29);  /* the next query's bytes follow */
	/* lengths are refused before the query is in */
	in[1] = 11;
	CHECK_EQ(dns_tcp_query_len(in, 2), -EBADMSG);     /* below a header */
	in[1] = 0;
	CHECK_EQ(dns_tcp_query_len(in, 2), -EBADMSG);
	in[1] = 12;
	CHECK_EQ(dns_tcp_query_len(in, 14), 12);
	in[0] = DNS_MAX_QUERY >> 8, in[1] = DNS_MAX_QUERY & 0xff;
	CHECK_EQ(dns_tcp_query_len(in, sizeof(in)), DNS_MAX_QUERY);
	in[1]++;
	CHECK_EQ(dns_tcp_query_len(in, 2), -EBADMSG);     /* above DNS_MAX_QUERY */
	in[0] = 0xff, in[1] = 0xff;
	CHECK_EQ(dns_tcp_query_len(in, sizeof(in)), -EBADMSG);
}

static void test_answer_in_pieces(void)
{
	uint8_t msg[2 + 40];
	struct dns_answer a = { 0 };

	msg[0] = 0, msg[1] = 40;
	for (int i = 0; i < 40; i++)
		msg[2 + i] = (uint8_t)(i * 7);
	/* one byte at a time: complete exactly at the last one */
	for (size_t i = 0; i + 1 < sizeof(msg); i++)
		CHECK_EQ(dns_answer_feed(&a, msg + i, 1), 0);
	CHECK_EQ(dns_answer_feed(&a, msg + sizeof(msg) - 1, 1), 1);
	CHECK_EQ(a.len, 40);
	CHECK_EQ(a.got, 40);
	CHECK(a.msg && !memcmp(a.msg, msg + 2, 40));
	free(a.msg);

	/* all at once, with bytes after it: complete, the rest ignored */
	{
		uint8_t more[sizeof(msg) + 3];
		memcpy(more, msg, sizeof(msg));
		memset(more + sizeof(msg), 0x55, 3);
		a = (struct dns_answer){ 0 };
		CHECK_EQ(dns_answer_feed(&a, more, sizeof(more)), 1);
		CHECK_EQ(a.got, 40);
		CHECK(!memcmp(a.msg, msg + 2, 40));
		free(a.msg);
	}
	/* split inside the length, then the rest */
	a = (struct dns_answer){ 0 };
	CHECK_EQ(dns_answer_feed(&a, msg, 1), 0);
	CHECK(a.msg == NULL);
	CHECK_EQ(dns_answer_feed(&a, msg + 1, 20), 0);
	CHECK_EQ(a.got, 19);
	CHECK_EQ(dns_answer_feed(&a, msg + 21, sizeof(msg) - 21), 1);
	CHECK(!memcmp(a.msg, msg + 2, 40));
	free(a.msg);
}

static void test_answer_too_short(void)
{
	static const uint8_t shortlen[] = { 0, 11, 1, 2, 3 };
	static const uint8_t hdr_only[2 + 12] = { 0, 12 };
	struct dns_answer a = { 0 };

	CHECK_EQ(dns_answer_feed(&a, shortlen, sizeof(shortlen)), -EBADMSG);
	CHECK(a.msg == NULL);   /* nothing allocated for a refused length */
	a = (struct dns_answer){ 0 };
	CHECK_EQ(dns_answer_feed(&a, shortlen, 2), -EBADMSG);
	a = (struct dns_answer){ 0 };
	CHECK_EQ(dns_answer_feed(&a, hdr_only, sizeof(hdr_only)), 1);   /* a bare header is enough */
	free(a.msg);
	a = (struct dns_answer){ 0 };
	CHECK_EQ(dns_answer_feed(&a, hdr_only, 0), 0);
}

/* The TLV records of an OPEN argument list, as the host reads them. */
static void read_dst(const uint8_t *buf, size_t len, const uint8_t **addr, uint32_t *addr_len, uint32_t *port,
		     int *n_rec)
{
	struct tlv_reader rd;
	uint16_t tag;
	const uint8_t *v;
	uint32_t vlen;

	*n_rec = 0;
	tlv_reader_init(&rd, buf, len);
	while (tlv_next(&rd, &tag, &v, &vlen) > 0) {
		(*n_rec)++;
		if (tag == OPEN_DST_ADDR) {
			*addr = v;
			*addr_len = vlen;
			CHECK_EQ(*n_rec, 1);   /* the address comes first */
		} else if (tag == OPEN_DST_PORT) {
			CHECK_EQ(tlv_u32(v, vlen, port), 0);
		}
	}
}

static void test_dst_v4(void)
{
	union egress_addr local = { 0 }, dst = { 0 };
	uint8_t buf[128];
	struct tlv_writer w;
	const uint8_t *addr = NULL;
	uint32_t alen = 0, port = 0;
	int n;

	local.in = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(EGRESS_TPROXY_PORT) };
	inet_pton(AF_INET, "127.0.0.1", &local.in.sin_addr);
	dst.in = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(443) };
	inet_pton(AF_INET, "93.184.216.34", &dst.in.sin_addr);
	tlv_writer_init(&w, buf, sizeof(buf));
	CHECK_EQ(egress_dst_put(&w, &local, &dst), 0);
	read_dst(buf, w.len, &addr, &alen, &port, &n);
	CHECK_EQ(n, 2);
	CHECK_EQ(alen, 4);
	CHECK(addr && addr[0] == 93 && addr[1] == 184 && addr[2] == 216 && addr[3] == 34);
	CHECK_EQ(port, 443);

	/* the listener itself: not redirected, nothing written */
	tlv_writer_init(&w, buf, sizeof(buf));
	CHECK_EQ(egress_dst_put(&w, &local, &local), -EDESTADDRREQ);
	CHECK_EQ(w.len, 0);
	/* same address, other port: a redirected connection to another local service */
	dst.in.sin_addr = local.in.sin_addr;
	CHECK_EQ(egress_dst_put(&w, &local, &dst), 0);
	/* a v6 destination on a v4 listener */
	tlv_writer_init(&w, buf, sizeof(buf));
	dst.in6 = (struct sockaddr_in6){ .sin6_family = AF_INET6, .sin6_port = htons(443) };
	CHECK_EQ(egress_dst_put(&w, &local, &dst), -EAFNOSUPPORT);
	CHECK_EQ(w.len, 0);
}

static void test_dst_v6(void)
{
	union egress_addr local = { 0 }, dst = { 0 };
	uint8_t buf[128], want[16];
	struct tlv_writer w;
	const uint8_t *addr = NULL;
	uint32_t alen = 0, port = 0;
	int n;

	local.in6 = (struct sockaddr_in6){ .sin6_family = AF_INET6, .sin6_port = htons(EGRESS_TPROXY_PORT) };
	inet_pton(AF_INET6, "::1", &local.in6.sin6_addr);
	dst.in6 = (struct sockaddr_in6){ .sin6_family = AF_INET6, .sin6_port = htons(8443) };
	inet_pton(AF_INET6, "2001:db8::17", &dst.in6.sin6_addr);
	memcpy(want, &dst.in6.sin6_addr, 16);
	tlv_writer_init(&w, buf, sizeof(buf));
	CHECK_EQ(egress_dst_put(&w, &local, &dst), 0);
	read_dst(buf, w.len, &addr, &alen, &port, &n);
	CHECK_EQ(n, 2);
	CHECK_EQ(alen, 16);
	CHECK(addr && !memcmp(addr, want, 16));
	CHECK_EQ(port, 8443);

	tlv_writer_init(&w, buf, sizeof(buf));
	CHECK_EQ(egress_dst_put(&w, &local, &local), -EDESTADDRREQ);
	CHECK_EQ(w.len, 0);
	/* a v4 destination on a v6 listener, and a listener of neither family */
	dst.in = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(80) };
	CHECK_EQ(egress_dst_put(&w, &local, &dst), -EAFNOSUPPORT);
	local.sa.sa_family = AF_UNIX;
	CHECK_EQ(egress_dst_put(&w, &local, &dst), -EAFNOSUPPORT);
	CHECK_EQ(w.len, 0);
}

int main(void)
{
	test_servfail_echoes_question();
	test_servfail_flags_and_opcode();
	test_servfail_bad_questions();
	test_tcp_framing();
	test_answer_in_pieces();
	test_answer_too_short();
	test_dst_v4();
	test_dst_v6();
	TEST_DONE();
}
