// SPDX-License-Identifier: MIT
/* test_ca.c: sbx's CA files, leaf certificates and their cache, the upstream TLS context. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "testlib.h"
#include "util.h"

static char tmpdir[] = "/tmp/sbx-test-ca-XXXXXX";

static struct sbx_paths paths_in(const char *sub)
{
	struct sbx_paths p = { .config = xasprintf("%s/%s", tmpdir, sub) };
	mkdir_p(p.config, 0700);
	return p;
}

static void put(const char *path, const char *s, mode_t mode)
{
	unlink(path);
	CHECK_EQ(file_write_atomic(path, s, strlen(s), mode), 0);
}

/* Seconds from now to t (negative: in the past). */
static long secs_from_now(const ASN1_TIME *t)
{
	int days = 0, secs = 0;
	ASN1_TIME_diff(&days, &secs, NULL, t);
	return days * 86400L + secs;
}

static void test_create_reload(struct sbx_paths *p, char **ret_pem)
{
	_cleanup_free_ char *key = xasprintf("%s/ca/ca.key", p->config), *crt = xasprintf("%s/ca/ca.crt", p->config);
	_cleanup_free_ char *err = NULL, *key_before = NULL, *key_after = NULL;
	struct ca *ca = NULL, *ca2 = NULL;
	struct stat st;
	X509 *x;
	X509_NAME_ENTRY *cn;
	char cnbuf[128] = "";

	CHECK_EQ(ca_load_or_create(p, &ca, &err), 0);
	CHECK(ca != NULL);
	if (!ca) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	CHECK_EQ(stat(key, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0600);
	CHECK_EQ(stat(crt, &st), 0);

	x = ca_cert(ca);
	CHECK_EQ(X509_check_ca(x), 1);
	CHECK_EQ(X509_get_pathlen(x), 0);
	CHECK(X509_get_extension_flags(x) & EXFLAG_CA);
	CHECK_EQ(X509_get_key_usage(x), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	CHECK_EQ(X509_get_ext_by_NID(x, NID_basic_constraints, -1) >= 0 &&
			 X509_EXTENSION_get_critical(X509_get_ext(x, X509_get_ext_by_NID(x, NID_basic_constraints, -1))),
		 1);
	CHECK_EQ(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);
	cn = X509_NAME_get_entry(X509_get_subject_name(x), X509_NAME_get_index_by_NID(X509_get_subject_name(x), NID_commonName, -1));
	if (cn)
		snprintf(cnbuf, sizeof(cnbuf), "%.*s", ASN1_STRING_length(X509_NAME_ENTRY_get_data(cn)),
			 (const char *)ASN1_STRING_get0_data(X509_NAME_ENTRY_get_data(cn)));
	CHECK(!strncmp(cnbuf, "sbx local CA ", 13) && strlen(cnbuf) > 13);
	CHECK(secs_from_now(X509_get0_notAfter(x)) > 3649L * 86400);
	CHECK(secs_from_now(X509_get0_notAfter(x)) < 3651L * 86400);
	CHECK(secs_from_now(X509_get0_notBefore(x)) <= 0);
	CHECK_EQ(ASN1_STRING_length(X509_get0_serialNumber(x)), 16);
	CHECK(EVP_PKEY_is_a(X509_get0_pubkey(x), "EC"));
	{
		char group[64] = "";
		size_t gl = 0;
		EVP_PKEY_get_utf8_string_param(X509_get0_pubkey(x), "group", group, sizeof(group), &gl);
		CHECK_STR(group, "prime256v1");
	}
	CHECK(ca_cert_pem(ca) && strstr(ca_cert_pem(ca), "-----BEGIN CERTIFICATE-----"));
	{
		_cleanup_free_ char *file_pem = slurp(crt);
		CHECK_STR(file_pem, ca_cert_pem(ca));
	}

	/* reload: the same certificate, files untouched */
	key_before = slurp(key);
	CHECK_EQ(ca_load_or_create(p, &ca2, NULL), 0);
	CHECK(ca2 && X509_cmp(ca_cert(ca), ca_cert(ca2)) == 0);
	CHECK(ca2 && !strcmp(ca_cert_pem(ca), ca_cert_pem(ca2)));
	key_after = slurp(key);
	CHECK_STR(key_before, key_after);
	*ret_pem = xstrdup(ca_cert_pem(ca));
	ca_free(ca2);
	ca_free(ca);
}

/* Every broken state is refused and leaves both files exactly as they were. */
static void test_refusals(struct sbx_paths *p)
{
	_cleanup_free_ char *key = xasprintf("%s/ca/ca.key", p->config), *crt = xasprintf("%s/ca/ca.crt", p->config);
	_cleanup_free_ char *keyc = slurp(key), *crtc = slurp(crt), *err = NULL, *now = NULL;
	struct sbx_paths other = paths_in("other");
	_cleanup_free_ char *okey = xasprintf("%s/ca/ca.key", other.config);
	struct ca *ca = NULL;

	/* key missing, certificate present */
	CHECK_EQ(unlink(key), 0);
	CHECK_EQ(ca_load_or_create(p, &ca, &err), -ENOENT);
	CHECK(ca == NULL);
	CHECK(err && strstr(err, "key") && strstr(err, "never replaces"));
	free(TAKE_PTR(err));
	CHECK(access(key, F_OK) < 0);
	now = slurp(crt);
	CHECK_STR(now, crtc);
	free(TAKE_PTR(now));
	put(key, keyc, 0600);

	/* certificate missing, key present */
	CHECK_EQ(unlink(crt), 0);
	CHECK_EQ(ca_load_or_create(p, &ca, &err), -ENOENT);
	CHECK(err && strstr(err, "certificate"));
	free(TAKE_PTR(err));
	CHECK(access(crt, F_OK) < 0);
	now = slurp(key);
	CHECK_STR(now, keyc);
	free(TAKE_PTR(now));
	put(crt, crtc, 0644);

	/* corrupt key */
	put(key, "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n", 0600);
	CHECK_EQ(ca_load_or_create(p, &ca, &err), -EBADMSG);
	CHECK(err && strstr(err, "corrupt"));
	free(TAKE_PTR(err));
	now = slurp(key);
	CHECK(strstr(now, "not base64") != NULL);
	free(TAKE_PTR(now));
	put(key, keyc, 0600);

	/* corrupt certificate */
	put(crt, "garbage\n", 0644);
	CHECK_EQ(ca_load_or_create(p, &ca, &err), -EBADMSG);
	CHECK(err && strstr(err, "corrupt"));
	free(TAKE_PTR(err));
	now = slurp(crt);
	CHECK_STR(now, "garbage\n");
	free(TAKE_PTR(now));
	put(crt, crtc, 0644);

	/* empty key file */
	put(key, "", 0600);
	CHECK_EQ(ca_load_or_create(p, &ca, NULL), -EBADMSG);
	put(key, keyc, 0600);

	/* key readable by others */
	CHECK_EQ(chmod(key, 0644), 0);
	CHECK_EQ(ca_load_or_create(p, &ca, &err), -EPERM);
	CHECK(err && strstr(err, "chmod 600"));
	free(TAKE_PTR(err));
	CHECK_EQ(chmod(key, 0600), 0);

	/* key of another CA: mismatch */
	CHECK_EQ(ca_load_or_create(&other, &ca, NULL), 0);
	ca_free(TAKE_PTR(ca));
	{
		_cleanup_free_ char *ok = slurp(okey);
		put(key, ok, 0600);
	}
	CHECK_EQ(ca_load_or_create(p, &ca, &err), -EBADMSG);
	CHECK(err && strstr(err, "does not match"));
	free(TAKE_PTR(err));
	put(key, keyc, 0600);

	CHECK_EQ(ca_load_or_create(p, &ca, NULL), 0);
	ca_free(ca);
	free(other.config);
}

static bool verify_leaf(X509 *ca, X509 *leaf, const char *host, const char *ip)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *param;
	int ok;

	X509_STORE_add_cert(store, ca);
	X509_STORE_CTX_init(ctx, store, leaf, NULL);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	param = X509_STORE_CTX_get0_param(ctx);
	if (host)
		X509_VERIFY_PARAM_set1_host(param, host, 0);
	if (ip)
		X509_VERIFY_PARAM_set1_ip_asc(param, ip);
	ok = X509_verify_cert(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	ERR_clear_error();
	return ok == 1;
}

static void check_san(X509 *x, int type, const char *want)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);

	CHECK(gens && sk_GENERAL_NAME_num(gens) == 1);
	if (gens && sk_GENERAL_NAME_num(gens) == 1) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, 0);
		CHECK_EQ(gn->type, type);
		if (type == GEN_DNS)
			CHECK(ASN1_STRING_length(gn->d.dNSName) == (int)strlen(want) &&
			      !memcmp(ASN1_STRING_get0_data(gn->d.dNSName), want, strlen(want)));
	}
	GENERAL_NAMES_free(gens);
}

static ASN1_INTEGER *leaf_serial(struct ca *ca, const char *host)
{
	SSL_CTX *ctx = NULL;
	if (ca_leaf_for(ca, host, &ctx) < 0)
		return NULL;
	return ASN1_INTEGER_dup(X509_get0_serialNumber(SSL_CTX_get0_certificate(ctx)));
}

static void test_leaf(struct sbx_paths *p)
{
	struct ca *ca = NULL;
	SSL_CTX *c1 = NULL, *c2 = NULL, *c3 = NULL, *c4 = NULL, *cip = NULL;
	X509 *leaf, *leaf2;
	static const char *const bad[] = {
		"", "a..b", ".a", "a.", "bad host", "x,DNS:evil.com", "a/b", "host:443", "caf\xc3\xa9.com",
		"[::1]", NULL,
	};
	char longname[300];

	CHECK_EQ(ca_load_or_create(p, &ca, NULL), 0);
	if (!ca)
		return;
	CHECK_EQ(ca_leaf_for(ca, "api.anthropic.com", &c1), 0);
	CHECK(c1 != NULL);
	if (!c1)
		goto out;
	leaf = SSL_CTX_get0_certificate(c1);
	CHECK(leaf != NULL);
	CHECK(verify_leaf(ca_cert(ca), leaf, "api.anthropic.com", NULL));
	CHECK(!verify_leaf(ca_cert(ca), leaf, "api.openai.com", NULL));
	CHECK(!verify_leaf(ca_cert(ca), leaf, "a.api.anthropic.com", NULL));
	check_san(leaf, GEN_DNS, "api.anthropic.com");
	CHECK(X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE);
	CHECK_EQ(X509_get_extended_key_usage(leaf), XKU_SSL_SERVER);
	CHECK_EQ(X509_check_ca(leaf), 0);
	CHECK(secs_from_now(X509_get0_notBefore(leaf)) <= -3500 && secs_from_now(X509_get0_notBefore(leaf)) >= -3700);
	CHECK(secs_from_now(X509_get0_notAfter(leaf)) > 29L * 86400 && secs_from_now(X509_get0_notAfter(leaf)) <= 30L * 86400);
	CHECK(EVP_PKEY_is_a(X509_get0_pubkey(leaf), "EC"));
	/* an unrelated CA does not verify it */
	{
		struct sbx_paths other = paths_in("other");
		struct ca *oca = NULL;
		CHECK_EQ(ca_load_or_create(&other, &oca, NULL), 0);
		CHECK(oca && !verify_leaf(ca_cert(oca), leaf, "api.anthropic.com", NULL));
		ca_free(oca);
		free(other.config);
	}

	/* cache: same name, same context; case-folded; one key for all leaves */
	CHECK_EQ(ca_leaf_for(ca, "api.anthropic.com", &c2), 0);
	CHECK(c1 == c2);
	CHECK_EQ(ca_leaf_for(ca, "API.Anthropic.com", &c3), 0);
	CHECK(c1 == c3);
	CHECK_EQ(ca_leaf_for(ca, "api.openai.com", &c4), 0);
	CHECK(c4 && c4 != c1);
	leaf2 = c4 ? SSL_CTX_get0_certificate(c4) : NULL;
	CHECK(leaf2 && verify_leaf(ca_cert(ca), leaf2, "api.openai.com", NULL));
	CHECK(leaf2 && EVP_PKEY_eq(X509_get0_pubkey(leaf), X509_get0_pubkey(leaf2)) == 1);
	CHECK(leaf2 && ASN1_INTEGER_cmp(X509_get0_serialNumber(leaf), X509_get0_serialNumber(leaf2)) != 0);

	/* IP literal: IP SAN */
	CHECK_EQ(ca_leaf_for(ca, "127.0.0.1", &cip), 0);
	CHECK(cip && verify_leaf(ca_cert(ca), SSL_CTX_get0_certificate(cip), NULL, "127.0.0.1"));
	CHECK(cip && !verify_leaf(ca_cert(ca), SSL_CTX_get0_certificate(cip), NULL, "127.0.0.2"));
	if (cip)
		check_san(SSL_CTX_get0_certificate(cip), GEN_IPADD, NULL);

	/* long names get no CN but a valid SAN */
	memset(longname, 'a', sizeof(longname));
	memcpy(longname, "x.", 2);
	for (int i = 60; i < 254; i += 60)
		longname[i] = '.';
	longname[200] = 0;
	CHECK_EQ(ca_leaf_for(ca, longname, &c2), 0);
	CHECK(c2 && verify_leaf(ca_cert(ca), SSL_CTX_get0_certificate(c2), longname, NULL));
	longname[200] = 'a';
	longname[253] = 0;
	CHECK_EQ(ca_leaf_for(ca, longname, &c2), 0);         /* 253 bytes: the maximum */
	longname[253] = 'a';
	longname[254] = 0;
	CHECK_EQ(ca_leaf_for(ca, longname, &c2), -EINVAL);   /* 254 bytes */

	for (const char *const *b = bad; *b; b++)
		CHECK_EQ(ca_leaf_for(ca, *b, &c2), -EINVAL);
	CHECK_EQ(ca_leaf_for(ca, NULL, &c2), -EINVAL);
	CHECK_EQ(ERR_peek_error(), 0);

	/* LRU bound: the least recently used name is evicted, a recently used one stays */
	{
		ASN1_INTEGER *s0 = leaf_serial(ca, "lru0.test"), *s1 = leaf_serial(ca, "lru1.test"), *t0, *t1;
		char name[32];
		ASN1_INTEGER_free(leaf_serial(ca, "lru1.test"));   /* touch */
		for (int i = 0; i < CA_LEAF_CACHE_MAX; i++) {
			snprintf(name, sizeof(name), "fill%d.test", i);
			ASN1_INTEGER_free(leaf_serial(ca, name));
			if (i == CA_LEAF_CACHE_MAX / 2)
				ASN1_INTEGER_free(leaf_serial(ca, "lru1.test"));
		}
		t0 = leaf_serial(ca, "lru0.test");
		t1 = leaf_serial(ca, "lru1.test");
		CHECK(s0 && t0 && ASN1_INTEGER_cmp(s0, t0) != 0);   /* re-minted */
		CHECK(s1 && t1 && ASN1_INTEGER_cmp(s1, t1) == 0);   /* still cached */
		ASN1_INTEGER_free(s0);
		ASN1_INTEGER_free(s1);
		ASN1_INTEGER_free(t0);
		ASN1_INTEGER_free(t1);
	}
out:
	ca_free(ca);
}

/* Drive a client and a server SSL over an in-memory BIO pair. 1: both done. */
static int handshake(SSL *c, SSL *s)
{
	BIO *b1 = NULL, *b2 = NULL;
	int done_c = 0, done_s = 0;

	BIO_new_bio_pair(&b1, 0, &b2, 0);
	SSL_set_bio(c, b1, b1);
	SSL_set_bio(s, b2, b2);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (int i = 0; i < 100 && !(done_c && done_s); i++) {
		if (!done_c) {
			int r = SSL_do_handshake(c);
			if (r == 1)
				done_c = 1;
			else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ && SSL_get_error(c, r) != SSL_ERROR_WANT_WRITE)
				return 0;
		}
		if (!done_s) {
			int r = SSL_do_handshake(s);
			if (r == 1)
				done_s = 1;
			else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ && SSL_get_error(s, r) != SSL_ERROR_WANT_WRITE)
				return 0;
		}
	}
	return done_c && done_s;
}

static int try_upstream(SSL_CTX *client_ctx, SSL_CTX *server_ctx, const char *name, const char **ret_reason,
			char *ret_sni, size_t sni_len)
{
	SSL *c = NULL, *s = SSL_new(server_ctx);
	int ok;

	*ret_reason = NULL;
	if (ca_upstream_ssl_new(client_ctx, name, &c) < 0) {
		SSL_free(s);
		return -1;
	}
	ok = handshake(c, s);
	*ret_reason = ca_upstream_verify_reason(c);
	if (ret_sni) {
		const char *sni = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
		snprintf(ret_sni, sni_len, "%s", sni ? sni : "");
	}
	SSL_free(c);
	SSL_free(s);
	ERR_clear_error();
	return ok;
}

static void test_upstream(void)
{
	struct sbx_paths up = paths_in("fake-upstream");
	_cleanup_free_ char *pem_path = xasprintf("%s/upstream-ca.pem", tmpdir);
	_cleanup_free_ char *bad_path = xasprintf("%s/not-a-pem", tmpdir);
	_cleanup_free_ char *err = NULL;
	struct ca *test_ca = NULL;
	SSL_CTX *server = NULL, *with = NULL, *without = NULL, *bad = NULL;
	const char *reason;
	char sni[256];

	CHECK_EQ(ca_load_or_create(&up, &test_ca, NULL), 0);
	if (!test_ca)
		return;
	CHECK_EQ(ca_leaf_for(test_ca, "upstream.test", &server), 0);
	put(pem_path, ca_cert_pem(test_ca), 0644);

	CHECK_EQ(ca_upstream_ctx(pem_path, &with, NULL), 0);
	CHECK_EQ(ca_upstream_ctx(NULL, &without, NULL), 0);
	CHECK(SSL_CTX_get_min_proto_version(with) == TLS1_2_VERSION);
	if (!with || !without || !server)
		goto out;

	CHECK_EQ(try_upstream(with, server, "upstream.test", &reason, sni, sizeof(sni)), 1);
	CHECK(reason == NULL);
	CHECK_STR(sni, "upstream.test");

	/* the system CAs alone do not know the test CA */
	CHECK_EQ(try_upstream(without, server, "upstream.test", &reason, NULL, 0), 0);
	CHECK(reason != NULL);
	if (reason)
		printf("  without upstreamCA: %s\n", reason);

	/* right CA, wrong name */
	CHECK_EQ(try_upstream(with, server, "other.test", &reason, NULL, 0), 0);
	CHECK(reason && strstr(reason, "hostname mismatch"));

	/* proxy.upstreamCA unusable */
	put(bad_path, "nothing here\n", 0644);
	CHECK(ca_upstream_ctx(bad_path, &bad, &err) < 0);
	CHECK(err && strstr(err, bad_path));
	free(TAKE_PTR(err));
	CHECK(ca_upstream_ctx("/nonexistent/ca.pem", &bad, NULL) < 0);
	CHECK_EQ(ca_upstream_ssl_new(with, "", &(SSL *){ NULL }), -EINVAL);
	CHECK_EQ(ERR_peek_error(), 0);
out:
	SSL_CTX_free(with);
	SSL_CTX_free(without);
	ca_free(test_ca);
	free(up.config);
}

int main(void)
{
	struct sbx_paths p;
	char *pem = NULL;

	if (!mkdtemp(tmpdir))
		return 2;
	p = paths_in("config");
	test_create_reload(&p, &pem);
	test_refusals(&p);
	{
		/* still the same CA after all the refusals */
		struct ca *ca = NULL;
		CHECK_EQ(ca_load_or_create(&p, &ca, NULL), 0);
		CHECK(ca && pem && !strcmp(ca_cert_pem(ca), pem));
		ca_free(ca);
	}
	test_leaf(&p);
	test_upstream();
	rm_rf(tmpdir);
	free(pem);
	free(p.config);
	TEST_DONE();
}
