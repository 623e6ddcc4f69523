// SPDX-License-Identifier: MIT
/* cfg.h: the host's OP_CONFIG message: parsing its TLVs, and the checks on the names and paths it carries. */
#ifndef SBX_GUEST_CFG_H
#define SBX_GUEST_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define CFG_ENV_MAX 4096u
#define CFG_SEED_LEN 32u

/* What one OP_CONFIG said; every string is owned (cfg_done frees them). */
struct cfg {
	char *hostname;
	char *workspace;
	bool has_uid, has_gid;
	uint32_t uid, gid;
	char **env;
	size_t env_n;
	bool has_time;
	uint64_t time_ns;
	bool ssh_agent;
	char *share[4];
	size_t share_n;
	char *local[LOCAL_DIRS_MAX];   /* sbx run --local: workspace dirs on the VM disk */
	size_t local_n;
	uint8_t seed[CFG_SEED_LEN];
	bool has_seed;
	bool ws_sync;   /* CFG_WS_SYNC */
	bool ws_writer; /* CFG_WS_WRITER: guest changes go to the host's writer in batches */
};

/* Add data's TLVs to *c (a later value of the same tag replaces an earlier one; env
 * and share paths accumulate). Unknown tags are skipped (newer hosts may send more);
 * env entries that are not K=V are dropped. -EPROTO on a malformed value, more than
 * CFG_ENV_MAX env entries, more share paths or local dirs than c holds, or a local
 * dir that is not local_dir_valid(); what was parsed
 * so far stays in *c for cfg_done. */
int cfg_parse(const uint8_t *data, size_t len, struct cfg *c);
void cfg_done(struct cfg *c);

/* A host name the guest accepts: 1-63 of [A-Za-z0-9._-], not starting with - or . */
bool cfg_hostname_valid(const char *h);

#endif
