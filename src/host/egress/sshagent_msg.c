// SPDX-License-Identifier: MIT
/* sshagent_msg.c: SSH agent protocol framing and the request filter (pure, no I/O). */
#include "sshagent_msg.h"

#include <errno.h>

const uint8_t sshagent_failure_msg[5] = { 0, 0, 0, 1, SSH_AGENT_FAILURE };

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int sshagent_msg_frame(const uint8_t *buf, size_t len, uint32_t max, size_t *ret_total)
{
	uint32_t n;

	*ret_total = 0;
	if (len < 4)
		return 0;
	n = get_be32(buf);
	if (n == 0 || n > max)
		return -EBADMSG;
	*ret_total = (size_t)n + 4;
	return len - 4 >= n;
}

/* An SSH "string" (u32 length + bytes) at *off, within len. */
static bool get_string(const uint8_t *p, size_t len, size_t *off, const uint8_t **ret, size_t *ret_len)
{
	uint32_t n;

	if (len - *off < 4)
		return false;
	n = get_be32(p + *off);
	*off += 4;
	if (len - *off < n)
		return false;
	*ret = p + *off;
	*ret_len = n;
	*off += n;
	return true;
}

/* SIGN_REQUEST body: string key_blob, string data, u32 flags, nothing after. */
static bool sign_parse(const uint8_t *body, size_t len, const uint8_t **ret_key, size_t *ret_key_len)
{
	const uint8_t *key, *data;
	size_t off = 0, key_len, data_len;

	if (!get_string(body, len, &off, &key, &key_len) || key_len == 0)
		return false;
	if (!get_string(body, len, &off, &data, &data_len))
		return false;
	if (len - off != 4)
		return false;
	*ret_key = key;
	*ret_key_len = key_len;
	return true;
}

void sshagent_msg_filter(const uint8_t *msg, size_t len, struct sshagent_req *ret)
{
	*ret = (struct sshagent_req){ .type = len ? msg[0] : 0, .why = "malformed" };
	if (len == 0)
		return;
	switch (msg[0]) {
	case SSH_AGENTC_REQUEST_IDENTITIES:
		if (len != 1) {
			ret->why = "malformed request-identities";
			return;
		}
		ret->forward = true;
		ret->why = NULL;
		return;
	case SSH_AGENTC_SIGN_REQUEST:
		if (!sign_parse(msg + 1, len - 1, &ret->key, &ret->key_len)) {
			ret->why = "malformed sign";
			return;
		}
		ret->forward = true;
		ret->why = NULL;
		return;
	default:
		ret->why = sshagent_type_name(msg[0]);
		return;
	}
}

const char *sshagent_type_name(uint8_t type)
{
	switch (type) {
	case SSH_AGENTC_REQUEST_IDENTITIES:
		return "request-identities";
	case SSH_AGENTC_SIGN_REQUEST:
		return "sign";
	case SSH_AGENTC_ADD_IDENTITY:
		return "add-identity";
	case SSH_AGENTC_REMOVE_IDENTITY:
		return "remove-identity";
	case SSH_AGENTC_REMOVE_ALL_IDENTITIES:
		return "remove-all-identities";
	case SSH_AGENTC_ADD_SMARTCARD_KEY:
		return "add-smartcard-key";
	case SSH_AGENTC_REMOVE_SMARTCARD_KEY:
		return "remove-smartcard-key";
	case SSH_AGENTC_LOCK:
		return "lock";
	case SSH_AGENTC_UNLOCK:
		return "unlock";
	case SSH_AGENTC_ADD_ID_CONSTRAINED:
		return "add-identity-constrained";
	case SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED:
		return "add-smartcard-key-constrained";
	case SSH_AGENTC_EXTENSION:
		return "extension";
	default:
		return "unknown";
	}
}
