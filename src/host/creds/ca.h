// SPDX-License-Identifier: MIT
/* ca.h: sbx's local CA (leaf certificates for intercepted hosts) and upstream TLS. */
#ifndef SBX_CA_H
#define SBX_CA_H

#include <openssl/ssl.h>

#include "paths.h"

/*
 * Files: config/ca/ca.key (EC P-256, PKCS#8 PEM, 0600) and config/ca/ca.crt
 * (self-signed, CN "sbx local CA <hostname>", CA:TRUE pathlen:0, keyCertSign+cRLSign,
 * 10 years). The key never leaves the host; the certificate goes into every VM's
 * trust bundle and NODE_EXTRA_CA_CERTS.
 *
 * A CA is generated only when both files are absent (under config/ca/lock). Every
 * other state is refused with a clear error and nothing is overwritten: one file
 * missing, either corrupt, key and certificate not matching, the certificate not a
 * CA or expired, the key readable by group or others.
 *
 * Not thread-safe: one struct ca belongs to one thread (sbxd's event loop).
 */
struct ca;

#define CA_LEAF_CACHE_MAX 256

/* Load the CA, or create it when both files are absent. On error *ret_err (optional,
 * malloc'd, one line) says what is wrong and what to do. */
int ca_load_or_create(const struct sbx_paths *p, struct ca **ret, char **ret_err);
void ca_free(struct ca *ca);

/* The CA certificate as PEM (NUL-terminated, owned by ca). */
const char *ca_cert_pem(const struct ca *ca);
/* The CA certificate (owned by ca). */
X509 *ca_cert(const struct ca *ca);

/*
 * A server SSL_CTX presenting a leaf certificate for exactly `host` (a normalised DNS
 * name, or an IP literal, which gets an IP SAN): SAN, CN (when it fits in 64 bytes),
 * EKU serverAuth, valid from 1 h ago for 30 days, signed by the CA. One EC P-256 key
 * is generated per struct ca and reused for every leaf. Contexts are cached per
 * name (LRU, CA_LEAF_CACHE_MAX entries).
 * The returned context is borrowed: valid until the next ca_leaf_for() or ca_free();
 * create the SSL with SSL_new(ctx) right away (an SSL holds its own reference).
 * TLS >= 1.2; no ALPN callback is set, so clients fall back to HTTP/1.1.
 * -EINVAL for an empty, overlong or malformed host.
 */
int ca_leaf_for(struct ca *ca, const char *host, SSL_CTX **ret_ctx);

/*
 * A client SSL_CTX for upstream connections: verifies the peer against the system CAs
 * (SSL_CTX_set_default_verify_paths) plus every certificate in extra_ca_pem_path
 * (proxy.upstreamCA; NULL = none), TLS >= 1.2, ALPN "http/1.1". Free with SSL_CTX_free.
 * The name is checked per connection: use ca_upstream_ssl_new(), which sets SNI
 * (SSL_set_tlsext_host_name) and hostname verification (SSL_set1_host, or the IP for
 * IP literals); after a failed handshake ca_upstream_verify_reason() says why.
 */
int ca_upstream_ctx(const char *extra_ca_pem_path, SSL_CTX **ret, char **ret_err);
int ca_upstream_ssl_new(SSL_CTX *ctx, const char *host, SSL **ret);
/* Static text: "certificate has expired", "hostname mismatch", ...; NULL when the
 * certificate verified (the failure was something else). */
const char *ca_upstream_verify_reason(const SSL *ssl);

#endif
