// SPDX-License-Identifier: MIT
/* trust.h: extra CA certificates in the guest's trust bundle. */
#ifndef SBX_GUEST_TRUST_H
#define SBX_GUEST_TRUST_H

#include <stdbool.h>
#include <stddef.h>

#define TRUST_EXTRA_PEM "/etc/ssl/certs/sbx-extra.pem"

bool trust_pem_valid(const char *pem);
/* Debian's bundle + these PEMs -> /etc/ssl/certs/ca-certificates.crt; the extras alone
 * -> TRUST_EXTRA_PEM (for NODE_EXTRA_CA_CERTS). Idempotent across boots. */
int trust_apply(const char *const *pems, size_t n);

#endif
