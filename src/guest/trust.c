// SPDX-License-Identifier: MIT
/* trust.c: CA certificates the host hands over (its locally added CAs, later sbx's
 * own CA), added to the guest's trust bundle at every boot. */
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

#define BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define BUNDLE_BASE "/etc/ssl/certs/ca-certificates.crt.sbx-base"
#define EXTRA "/etc/ssl/certs/sbx-extra.pem"
#define LOCAL_DIR "/usr/local/share/ca-certificates"
#define PEM_MAX (16u * 1024u)
#define BUNDLE_MAX (8u * 1024u * 1024u)

/* One or more PEM certificates and nothing else that could confuse a parser. */
bool trust_pem_valid(const char *pem)
{
	size_t n = strlen(pem);

	if (n == 0 || n > PEM_MAX || strncmp(pem, "-----BEGIN CERTIFICATE-----", 27) != 0 ||
	    !strstr(pem, "-----END CERTIFICATE-----"))
		return false;
	for (const char *p = pem; *p; p++)
		if (!((*p >= 0x20 && *p < 0x7f) || *p == '\n' || *p == '\r'))
			return false;
	return true;
}

/* A warm pool VM is configured twice (at its boot, then at its claim): write only
 * what changed, each unchanged write would cost an fsync. */
static int write_changed(const char *path, const char *data, size_t len)
{
	_cleanup_free_ char *old = NULL;
	size_t old_len = 0;

	if (file_read_all(path, BUNDLE_MAX, &old, &old_len) >= 0 && old_len == len && !memcmp(old, data, len))
		return 0;
	return file_write_atomic(path, data, len, 0644);
}

int trust_apply(const char *const *pems, size_t n)
{
	_cleanup_free_ char *base = NULL;
	_cleanup_free_ char *extra = NULL;
	_cleanup_free_ char *bundle = NULL;
	size_t base_len = 0, extra_len = 0, cap = 1;
	int r;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!trust_pem_valid(pems[i]))
			return -EINVAL;
		cap += strlen(pems[i]) + 1;
	}
	/* Keep Debian's bundle as it came, so every boot starts from it. */
	r = file_read_all(BUNDLE_BASE, BUNDLE_MAX, &base, &base_len);
	if (r == -ENOENT) {
		r = file_read_all(BUNDLE, BUNDLE_MAX, &base, &base_len);
		if (r == 0)
			r = file_write_atomic(BUNDLE_BASE, base, base_len, 0644);
	}
	if (r < 0)
		return r;
	extra = xmalloc(cap);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(pems[i]);
		memcpy(extra + extra_len, pems[i], l);
		extra_len += l;
		if (l && pems[i][l - 1] != '\n')
			extra[extra_len++] = '\n';
		/* update-ca-certificates (e.g. from apt) keeps what is in LOCAL_DIR. */
		{
			_cleanup_free_ char *path = xasprintf(LOCAL_DIR "/sbx-%zu.crt", i);
			(void)mkdir_p(LOCAL_DIR, 0755);
			(void)write_changed(path, pems[i], l);
		}
	}
	bundle = xmalloc(base_len + extra_len + 2);
	memcpy(bundle, base, base_len);
	if (base_len && base[base_len - 1] != '\n')
		bundle[base_len++] = '\n';
	memcpy(bundle + base_len, extra, extra_len);
	r = write_changed(EXTRA, extra, extra_len);
	if (r == 0)
		r = write_changed(BUNDLE, bundle, base_len + extra_len);
	return r;
}
