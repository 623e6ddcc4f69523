// SPDX-License-Identifier: MIT
/* cfg.c: parse the host's OP_CONFIG TLVs and check the host name and paths in it (pure; ctl.c applies it). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "proto.h"
#include "tlv.h"
#include "util.h"

void cfg_done(struct cfg *c)
{
	free(c->hostname);
	free(c->workspace);
	for (size_t i = 0; i < c->share_n; i++)
		free(c->share[i]);
	for (size_t i = 0; i < c->local_n; i++)
		free(c->local[i]);
	for (size_t i = 0; i < c->env_n; i++)
		free(c->env[i]);
	free(c->env);
}

/* A u32 flag: 1 is on, anything else off. */
static int flag_of(const uint8_t *val, uint32_t vlen, bool *ret)
{
	uint32_t v;

	if (tlv_u32(val, vlen, &v) < 0)
		return -EPROTO;
	*ret = v == 1;
	return 0;
}

int cfg_parse(const uint8_t *data, size_t len, struct cfg *c)
{
	struct tlv_reader rd;
	const uint8_t *val;
	uint32_t vlen;
	uint16_t tag;
	int r;

	tlv_reader_init(&rd, data, len);
	while ((r = tlv_next(&rd, &tag, &val, &vlen)) > 0) {
		char *s = NULL;

		switch (tag) {
		case CFG_HOSTNAME:
		case CFG_WORKSPACE:
			if (tlv_str(val, vlen, &s) < 0)
				return -EPROTO;
			if (tag == CFG_HOSTNAME) {
				free(c->hostname);
				c->hostname = s;
			} else {
				free(c->workspace);
				c->workspace = s;
			}
			break;
		case CFG_UID:
			if (tlv_u32(val, vlen, &c->uid) < 0)
				return -EPROTO;
			c->has_uid = true;
			break;
		case CFG_GID:
			if (tlv_u32(val, vlen, &c->gid) < 0)
				return -EPROTO;
			c->has_gid = true;
			break;
		case CFG_ENV:
			if (c->env_n >= CFG_ENV_MAX || tlv_str(val, vlen, &s) < 0)
				return -EPROTO;
			if (!strchr(s, '=') || s[0] == '=') {
				free(s);
				break; /* not K=V: ignored */
			}
			if ((c->env_n & (c->env_n - 1)) == 0) {
				char **n = realloc(c->env, MAX(c->env_n * 2, (size_t)8) * sizeof(char *));
				if (!n) {
					free(s);
					return -ENOMEM;
				}
				c->env = n;
			}
			c->env[c->env_n++] = s;
			break;
		case CFG_SHARE_PATH:
			if (c->share_n >= ARRAY_SIZE(c->share) || tlv_str(val, vlen, &s) < 0)
				return -EPROTO;
			c->share[c->share_n++] = s;
			break;
		case CFG_LOCAL_DIR:
			if (c->local_n >= ARRAY_SIZE(c->local) || tlv_str(val, vlen, &s) < 0)
				return -EPROTO;
			if (!local_dir_valid(s)) {
				free(s);
				return -EPROTO;
			}
			c->local[c->local_n++] = s;
			break;
		case CFG_SSH_AGENT:
			if (flag_of(val, vlen, &c->ssh_agent) < 0)
				return -EPROTO;
			break;
		case CFG_WS_SYNC:
			if (flag_of(val, vlen, &c->ws_sync) < 0)
				return -EPROTO;
			break;
		case CFG_WS_WRITER:
			if (flag_of(val, vlen, &c->ws_writer) < 0)
				return -EPROTO;
			break;
		case CFG_SEED:
			if (vlen != CFG_SEED_LEN)
				return -EPROTO;
			memcpy(c->seed, val, CFG_SEED_LEN);
			c->has_seed = true;
			break;
		case CFG_TIME_NS:
			if (vlen != 8)
				return -EPROTO;
			c->time_ns = (uint64_t)get_le32(val) | (uint64_t)get_le32(val + 4) << 32;
			c->has_time = true;
			break;
		default:
			break; /* newer hosts may send more */
		}
	}
	return r;
}

bool cfg_hostname_valid(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n > 63 || h[0] == '-' || h[0] == '.')
		return false;
	for (; *h; h++)
		if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') ||
		      *h == '-' || *h == '.' || *h == '_'))
			return false;
	return true;
}
