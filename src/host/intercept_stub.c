// SPDX-License-Identifier: MIT
/* intercept_stub.c: placeholder until TLS interception (proxy_tls.c) lands: sbxd hands
 * the engine its CA, and the engine keeps every tunnel end to end. */
#include "proxy.h"

void proxy_set_interception(struct proxy *px, struct ca *ca,
			    const char *const *(*env_lookup)(void *ctx, const char *sandbox), void *ctx)
{
}
