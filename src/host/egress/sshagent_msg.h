// SPDX-License-Identifier: MIT
/* sshagent_msg.h: SSH agent protocol framing and the request filter (pure, no I/O). */
#ifndef SBX_SSHAGENT_MSG_H
#define SBX_SSHAGENT_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A message on an agent connection is a u32 big-endian length, then that many bytes:
 * a type byte and a body (draft-miller-ssh-agent). Lengths 1..SSHAGENT_MSG_MAX are
 * valid either way; OpenSSH's ssh-agent uses the same bound (AGENT_MAX_LEN).
 *
 * The filter lets through exactly two requests: list identities and sign. It refuses
 * everything else, SSH_AGENTC_EXTENSION included: the guest's "session-bind@openssh.com"
 * is not relayed, because sbxd binds every host connection itself first (sshagent.h),
 * and ssh goes on without it when it fails; "query" and the others are not needed by
 * ssh, ssh-add -l/-L or ssh-keygen -Y sign.
 */
#define SSHAGENT_MSG_MAX (256u * 1024u)

enum {
	SSH_AGENT_FAILURE = 5,
	SSH_AGENT_SUCCESS = 6,
	SSH_AGENTC_REQUEST_IDENTITIES = 11,
	SSH_AGENT_IDENTITIES_ANSWER = 12,
	SSH_AGENTC_SIGN_REQUEST = 13,
	SSH_AGENT_SIGN_RESPONSE = 14,
	SSH_AGENTC_ADD_IDENTITY = 17,
	SSH_AGENTC_REMOVE_IDENTITY = 18,
	SSH_AGENTC_REMOVE_ALL_IDENTITIES = 19,
	SSH_AGENTC_ADD_SMARTCARD_KEY = 20,
	SSH_AGENTC_REMOVE_SMARTCARD_KEY = 21,
	SSH_AGENTC_LOCK = 22,
	SSH_AGENTC_UNLOCK = 23,
	SSH_AGENTC_ADD_ID_CONSTRAINED = 25,
	SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED = 26,
	SSH_AGENTC_EXTENSION = 27,
};

/* The whole SSH_AGENT_FAILURE message, length prefix included. */
extern const uint8_t sshagent_failure_msg[5];

/*
 * Frame the message at the start of buf[0..len). Returns 1 when it is complete, 0 when
 * more bytes are needed, -EBADMSG as soon as the length field reads 0 or more than max
 * (the stream must end: nothing after it can be trusted to be aligned). *ret_total is
 * 4 + length once the length field is there (0 before), also when returning 0.
 */
int sshagent_msg_frame(const uint8_t *buf, size_t len, uint32_t max, size_t *ret_total);

struct sshagent_req {
	uint8_t type;
	bool forward;            /* true: pass to the host agent; false: answer FAILURE */
	/* SSH_AGENTC_SIGN_REQUEST (forward only): the key blob, pointing into the message */
	const uint8_t *key;
	size_t key_len;
	const char *why;         /* refused: what was refused, e.g. "remove-all-identities" */
};

/* Classify one complete message (msg points at the type byte, len >= 1, without the
 * length prefix). A malformed request of an allowed type is refused. */
void sshagent_msg_filter(const uint8_t *msg, size_t len, struct sshagent_req *ret);

/* Short name of a request type ("sign", "lock", "add-identity", ...; "unknown"). */
const char *sshagent_type_name(uint8_t type);

#endif
