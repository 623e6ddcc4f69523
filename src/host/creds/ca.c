// SPDX-License-Identifier: MIT
/* ca.c: sbx's local CA, per-host leaf certificates, and the upstream client TLS context. */
#include "ca.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "util.h"

#define CA_DAYS 3650
#define LEAF_DAYS 30
#define LEAF_BACKDATE_S 3600
#define CA_FILE_MAX (64 * 1024)
#define HOST_MAX 253

struct leaf {
	char *host;
	SSL_CTX *ctx;
	uint64_t used;
};

struct ca {
	EVP_PKEY *key;
	X509 *cert;
	char *pem;
	EVP_PKEY *leaf_key;   /* generated on first use, shared by every leaf */
	struct leaf cache[CA_LEAF_CACHE_MAX];
	size_t n_cache;
	uint64_t tick;
};

static int fail(char **ret_err, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char **ret_err, int r, const char *fmt, ...)
{
	va_list ap;

	/* Leave OpenSSL's per-thread error queue clean for the caller's SSL_get_error(). */
	ERR_clear_error();
	if (ret_err) {
		va_start(ap, fmt);
		if (vasprintf(ret_err, fmt, ap) < 0)
			*ret_err = NULL;
		va_end(ap);
	}
	return r;
}

/* ---- certificate building ---- */

static int set_random_serial(X509 *x)
{
	unsigned char b[16];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	b[0] = (b[0] & 0x7f) | 0x40;   /* positive, full 16 bytes */
	bn = BN_bin2bn(b, sizeof(b), NULL);
	ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	return ok ? 0 : -EIO;
}

/* issuer == NULL: self-signed (x is its own issuer). */
static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -EINVAL;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -EIO;
}

static bool host_is_ip(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static int add_san(X509 *x, const char *host)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	int r = -EIO;

	if (!gens || !gn)
		goto out;
	if (host_is_ip(host)) {
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(host);
		if (!ip)
			goto out;
		GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
	} else {
		ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
		if (!dns || !ASN1_STRING_set(dns, host, (int)strlen(host))) {
			ASN1_IA5STRING_free(dns);
			goto out;
		}
		GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
	}
	if (!sk_GENERAL_NAME_push(gens, gn))
		goto out;
	gn = NULL;
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1)
		r = 0;
out:
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(gens);
	return r;
}

/* A v3 certificate with a random serial, valid from a little in the past for days. */
static X509 *cert_new(int days)
{
	X509 *x = X509_new();

	if (x && X509_set_version(x, X509_VERSION_3) && set_random_serial(x) >= 0 &&
	    X509_gmtime_adj(X509_getm_notBefore(x), -LEAF_BACKDATE_S) &&
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL))
		return x;
	X509_free(x);
	return NULL;
}

/* A certificate being built is dropped on any failure (X509_free(NULL) is a no-op). */
static int cert_drop(X509 *x)
{
	X509_free(x);
	ERR_clear_error();
	return -EIO;
}

/* Sign x with key and hand it to *ret, or drop it. */
static int cert_sign(X509 *x, EVP_PKEY *key, X509 **ret)
{
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		return cert_drop(x);
	*ret = x;
	return 0;
}

static int make_ca_cert(EVP_PKEY *key, X509 **ret)
{
	char host[HOST_NAME_MAX + 1] = "localhost", cn[65];
	X509 *x = cert_new(CA_DAYS);
	X509_NAME *name;

	if (gethostname(host, sizeof(host)) < 0 || !host[0])
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = 0;
	snprintf(cn, sizeof(cn), "sbx local CA %.51s", host);   /* CN is at most 64 bytes */
	if (!x)
		goto fail;
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"sbx", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, key))
		goto fail;
	if (add_ext(x, NULL, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
	    add_ext(x, NULL, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    add_ext(x, NULL, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(x, NULL, NID_authority_key_identifier, "keyid:always") < 0)
		goto fail;
	return cert_sign(x, key, ret);
fail:
	return cert_drop(x);
}

static int make_leaf_cert(struct ca *ca, const char *host, X509 **ret)
{
	X509 *x = cert_new(LEAF_DAYS);
	X509_NAME *name;

	if (!x)
		goto fail;
	name = X509_get_subject_name(x);
	/* CN is limited to 64 bytes; longer names rely on the SAN alone. */
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"sbx", -1, -1, 0) ||
	    (strlen(host) <= 64 &&
	     !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)host, -1, -1, 0)))
		goto fail;
	if (!X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) || !X509_set_pubkey(x, ca->leaf_key))
		goto fail;
	if (add_san(x, host) < 0 || add_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(x, ca->cert, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(x, ca->cert, NID_ext_key_usage, "serverAuth") < 0 ||
	    add_ext(x, ca->cert, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(x, ca->cert, NID_authority_key_identifier, "keyid:always") < 0)
		goto fail;
	return cert_sign(x, ca->key, ret);
fail:
	return cert_drop(x);
}

/* ---- files ---- */

/* Read a file of at most CA_FILE_MAX bytes into an exact buffer; the caller zeroes
 * and frees it. *ret_st is the opened file's stat. */
static int read_file_exact(const char *path, char **ret, size_t *ret_len, struct stat *ret_st)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	char *buf;
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (fstat(fd, ret_st) < 0)
		return -errno;
	if (!S_ISREG(ret_st->st_mode))
		return -EBADMSG;
	if (ret_st->st_size > CA_FILE_MAX)
		return -EFBIG;
	buf = xmalloc((size_t)ret_st->st_size + 1);
	n = read_full(fd, buf, (size_t)ret_st->st_size);
	if (n < 0) {
		explicit_bzero(buf, (size_t)ret_st->st_size + 1);
		free(buf);
		return (int)n;
	}
	buf[n] = 0;
	*ret = buf;
	*ret_len = (size_t)n;
	return 0;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;   /* never prompt: an encrypted key is refused */
}

static int load_key(const char *path, EVP_PKEY **ret, char **ret_err)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	BIO *bio;
	EVP_PKEY *key;
	int r = read_file_exact(path, &buf, &len, &st);

	if (r < 0)
		return fail(ret_err, r, "cannot read the CA key %s: %s", path, strerror(-r));
	if (st.st_uid != geteuid() || (st.st_mode & 077)) {
		r = fail(ret_err, -EPERM,
			 "refusing to use the CA key %s: mode %04o, owner uid %u; it must be 0600 and yours (chmod 600 %s)",
			 path, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, path);
		goto out;
	}
	bio = BIO_new_mem_buf(buf, (int)len);
	key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
	BIO_free(bio);
	if (!key) {
		r = fail(ret_err, -EBADMSG, "the CA key %s is corrupt (not an unencrypted PEM private key)", path);
		goto out;
	}
	*ret = key;
	r = 0;
out:
	explicit_bzero(buf, len);
	free(buf);
	return r;
}

static int load_cert(const char *path, X509 **ret, char **ret_pem, char **ret_err)
{
	struct stat st;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	BIO *bio;
	X509 *x;
	int r = read_file_exact(path, &buf, &len, &st);

	if (r < 0)
		return fail(ret_err, r, "cannot read the CA certificate %s: %s", path, strerror(-r));
	bio = BIO_new_mem_buf(buf, (int)len);
	x = bio ? PEM_read_bio_X509(bio, NULL, no_passphrase, NULL) : NULL;
	BIO_free(bio);
	if (!x)
		return fail(ret_err, -EBADMSG, "the CA certificate %s is corrupt (not a PEM certificate)", path);
	*ret = x;
	*ret_pem = TAKE_PTR(buf);
	return 0;
}

static char *cert_to_pem(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL, *pem = NULL;
	long n;

	if (b && PEM_write_bio_X509(b, x) == 1) {
		n = BIO_get_mem_data(b, &data);
		if (n > 0) {
			pem = xmalloc((size_t)n + 1);
			memcpy(pem, data, (size_t)n);
			pem[n] = 0;
		}
	}
	BIO_free(b);
	return pem;
}

static int create_ca(const char *key_path, const char *crt_path, char **ret_err)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = NULL;
	BIO *kb = NULL;
	_cleanup_free_ char *pem = NULL;
	char *data;
	long n;
	int r;

	if (!key)
		return fail(ret_err, -EIO, "cannot generate the CA key");
	r = make_ca_cert(key, &x);
	if (r < 0) {
		r = fail(ret_err, r, "cannot build the CA certificate");
		goto out;
	}
	/* secure-memory BIO: cleared when freed */
	kb = BIO_new(BIO_s_secmem());
	if (!kb || PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (n = BIO_get_mem_data(kb, &data)) <= 0) {
		r = fail(ret_err, -EIO, "cannot encode the CA key");
		goto out;
	}
	pem = cert_to_pem(x);
	if (!pem) {
		r = fail(ret_err, -EIO, "cannot encode the CA certificate");
		goto out;
	}
	/* Key first: a crash in between leaves "certificate missing", which is refused
	 * with instructions rather than silently replaced. */
	r = file_write_atomic(key_path, data, (size_t)n, 0600);
	if (r < 0) {
		r = fail(ret_err, r, "cannot write %s: %s", key_path, strerror(-r));
		goto out;
	}
	r = file_write_atomic(crt_path, pem, strlen(pem), 0644);
	if (r < 0)
		r = fail(ret_err, r, "cannot write %s: %s", crt_path, strerror(-r));
out:
	BIO_free(kb);
	X509_free(x);
	EVP_PKEY_free(key);
	return r;
}

static int check_dir(const char *dir, char **ret_err)
{
	struct stat st;

	if (stat(dir, &st) < 0)
		return fail(ret_err, -errno, "cannot use %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
		return fail(ret_err, -EPERM,
			    "refusing to use the CA in %s: it must be a directory of yours not writable by "
			    "others (chmod 700 %s)",
			    dir, dir);
	return 0;
}

int ca_load_or_create(const struct sbx_paths *p, struct ca **ret, char **ret_err)
{
	_cleanup_free_ char *dir = xasprintf("%s/ca", p->config);
	_cleanup_free_ char *key_path = xasprintf("%s/ca.key", dir);
	_cleanup_free_ char *crt_path = xasprintf("%s/ca.crt", dir);
	_cleanup_free_ char *lock_path = xasprintf("%s/lock", dir);
	_cleanup_close_ int lock = -1;
	struct ca *ca;
	struct stat st;
	bool have_key, have_crt;
	int r;

	r = mkdir_p(dir, 0700);
	if (r < 0)
		return fail(ret_err, r, "cannot create %s: %s", dir, strerror(-r));
	r = check_dir(dir, ret_err);
	if (r < 0)
		return r;
	lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lock < 0)
		return fail(ret_err, -errno, "cannot open %s: %s", lock_path, strerror(errno));
	while (flock(lock, LOCK_EX) < 0)
		if (errno != EINTR)
			return fail(ret_err, -errno, "cannot lock %s: %s", lock_path, strerror(errno));

	have_key = lstat(key_path, &st) == 0;
	if (!have_key && errno != ENOENT)
		return fail(ret_err, -errno, "cannot stat %s: %s", key_path, strerror(errno));
	have_crt = lstat(crt_path, &st) == 0;
	if (!have_crt && errno != ENOENT)
		return fail(ret_err, -errno, "cannot stat %s: %s", crt_path, strerror(errno));
	if (!have_key && !have_crt) {
		r = create_ca(key_path, crt_path, ret_err);
		if (r < 0)
			return r;
	} else if (!have_key || !have_crt) {
		return fail(ret_err, -ENOENT,
			    "the CA %s %s is missing but %s exists; sbx never replaces a CA silently: restore it, or "
			    "remove %s to generate a new CA (running sandboxes then need a restart to trust it)",
			    have_key ? "certificate" : "key", have_key ? crt_path : key_path,
			    have_key ? key_path : crt_path, have_key ? key_path : crt_path);
	}

	ca = xcalloc(1, sizeof(*ca));
	r = load_key(key_path, &ca->key, ret_err);
	if (r >= 0)
		r = load_cert(crt_path, &ca->cert, &ca->pem, ret_err);
	if (r >= 0 && X509_check_private_key(ca->cert, ca->key) != 1)
		r = fail(ret_err, -EBADMSG, "the CA key %s does not match the certificate %s; restore the matching pair",
			 key_path, crt_path);
	if (r >= 0 && X509_check_ca(ca->cert) != 1)
		r = fail(ret_err, -EBADMSG, "%s is not a CA certificate", crt_path);
	if (r >= 0 && X509_cmp_current_time(X509_get0_notAfter(ca->cert)) <= 0)
		r = fail(ret_err, -EKEYEXPIRED,
			 "the CA certificate %s has expired; remove %s and %s to generate a new CA", crt_path, key_path,
			 crt_path);
	if (r < 0) {
		ca_free(ca);
		return r;
	}
	*ret = ca;
	return 0;
}

void ca_free(struct ca *ca)
{
	if (!ca)
		return;
	for (size_t i = 0; i < ca->n_cache; i++) {
		free(ca->cache[i].host);
		SSL_CTX_free(ca->cache[i].ctx);
	}
	EVP_PKEY_free(ca->key);
	EVP_PKEY_free(ca->leaf_key);
	X509_free(ca->cert);
	free(ca->pem);
	free(ca);
}

const char *ca_cert_pem(const struct ca *ca)
{
	return ca->pem;
}

X509 *ca_cert(const struct ca *ca)
{
	return ca->cert;
}

/* ---- leaves ---- */

/* Lower-cased copy of a DNS name ([a-z0-9_-] labels, 1-63 bytes each) or IP literal. */
static char *host_canonical(const char *host)
{
	size_t n = host ? strlen(host) : 0, label = 0;
	char *h;

	if (n == 0 || n > HOST_MAX)
		return NULL;
	if (host_is_ip(host))
		return xstrdup(host);
	h = xstrdup(host);
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (c >= 'A' && c <= 'Z')
			h[i] = c = (char)(c - 'A' + 'a');
		if (c == '.') {
			if (label == 0)
				goto bad;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') || ++label > 63)
			goto bad;
	}
	if (label == 0)
		goto bad;
	return h;
bad:
	free(h);
	return NULL;
}

/* The interceptor speaks HTTP/1.1 only: a client offering h2 and http/1.1 gets
 * http/1.1 chosen explicitly; one offering no http/1.1 gets no ALPN answer (and its h2
 * preface a 400), never a protocol we cannot frame. */
static int leaf_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
			    unsigned int inlen, void *arg)
{
	static const unsigned char h11[] = "\x08http/1.1";
	unsigned char *sel = NULL;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, h11, sizeof(h11) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int leaf_ctx_new(struct ca *ca, const char *host, SSL_CTX **ret)
{
	X509 *x = NULL;
	SSL_CTX *ctx;
	int r;

	if (!ca->leaf_key) {
		ca->leaf_key = EVP_EC_gen("P-256");
		if (!ca->leaf_key)
			return fail(NULL, -EIO, "keygen");
	}
	r = make_leaf_cert(ca, host, &x);
	if (r < 0)
		return r;
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) || SSL_CTX_use_certificate(ctx, x) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, ca->leaf_key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		SSL_CTX_free(ctx);
		X509_free(x);
		return fail(NULL, -EIO, "ctx");
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_alpn_select_cb(ctx, leaf_alpn_select, NULL);
	X509_free(x);   /* the context holds its own reference */
	*ret = ctx;
	return 0;
}

int ca_leaf_for(struct ca *ca, const char *host, SSL_CTX **ret_ctx)
{
	_cleanup_free_ char *h = host_canonical(host);
	struct leaf *slot;
	SSL_CTX *ctx = NULL;
	int r;

	if (!h)
		return -EINVAL;
	for (size_t i = 0; i < ca->n_cache; i++)
		if (!strcmp(ca->cache[i].host, h)) {
			ca->cache[i].used = ++ca->tick;
			*ret_ctx = ca->cache[i].ctx;
			return 0;
		}
	r = leaf_ctx_new(ca, h, &ctx);
	if (r < 0)
		return r;
	if (ca->n_cache < CA_LEAF_CACHE_MAX) {
		slot = &ca->cache[ca->n_cache++];
	} else {
		slot = &ca->cache[0];
		for (size_t i = 1; i < ca->n_cache; i++)
			if (ca->cache[i].used < slot->used)
				slot = &ca->cache[i];
		free(slot->host);
		SSL_CTX_free(slot->ctx);   /* live SSLs keep their own reference */
	}
	*slot = (struct leaf){ .host = TAKE_PTR(h), .ctx = ctx, .used = ++ca->tick };
	*ret_ctx = ctx;
	return 0;
}

/* ---- upstream ---- */

int ca_upstream_ctx(const char *extra_ca_pem_path, SSL_CTX **ret, char **ret_err)
{
	static const unsigned char alpn[] = "\x08http/1.1";
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		return fail(ret_err, -ENOMEM, "cannot create a TLS context");
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) || SSL_CTX_set_default_verify_paths(ctx) != 1) {
		SSL_CTX_free(ctx);
		return fail(ret_err, -EIO, "cannot load the system CA certificates");
	}
	if (extra_ca_pem_path && *extra_ca_pem_path && SSL_CTX_load_verify_file(ctx, extra_ca_pem_path) != 1) {
		SSL_CTX_free(ctx);
		return fail(ret_err, -EINVAL, "cannot load proxy.upstreamCA %s: not a readable PEM file of certificates",
			    extra_ca_pem_path);
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	*ret = ctx;
	return 0;
}

int ca_upstream_ssl_new(SSL_CTX *ctx, const char *host, SSL **ret)
{
	SSL *ssl;
	bool ok;

	if (!host || !*host || strlen(host) > HOST_MAX)
		return -EINVAL;
	ssl = SSL_new(ctx);
	if (!ssl)
		return fail(NULL, -ENOMEM, "ssl");
	if (host_is_ip(host)) {
		/* no SNI for IP literals (RFC 6066) */
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
	} else {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1;
	}
	if (!ok) {
		SSL_free(ssl);
		return fail(NULL, -EINVAL, "host");
	}
	*ret = ssl;
	return 0;
}

const char *ca_upstream_verify_reason(const SSL *ssl)
{
	long v = SSL_get_verify_result(ssl);
	return v == X509_V_OK ? NULL : X509_verify_cert_error_string(v);
}
