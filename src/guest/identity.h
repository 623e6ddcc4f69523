// SPDX-License-Identifier: MIT
/* identity.h: what makes one VM distinguishable from another booted from the same
 * image: the entropy pool's seed, the machine-id and SSH host keys (docs/warm-pool.md). */
#ifndef SBX_GUEST_IDENTITY_H
#define SBX_GUEST_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#define IDENTITY_FILE "/var/lib/sbx/identity"

/* Credit the host's bytes to the kernel's entropy pool (RNDADDENTROPY). */
int identity_seed(const uint8_t *seed, size_t len);

/* When IDENTITY_FILE does not name hostname (a new sandbox: a fresh overlay of the
 * template, or a warm pool VM claimed under this name), write a new random
 * /etc/machine-id (and /var/lib/dbus/machine-id when it is a file), remove
 * /etc/ssh/ssh_host_* and record the name. Otherwise nothing: the identity lasts
 * the sandbox's life. */
int identity_apply(const char *hostname);

#endif
