// SPDX-License-Identifier: MIT
/* sshagent.h: sbxd's SSH agent filter: relays a guest's agent connection to the host agent. */
#ifndef SBX_SSHAGENT_H
#define SBX_SSHAGENT_H

#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "ev.h"
#include "proxy.h"

/*
 * Theory of operation.
 *
 * One struct sshagent_conn per guest "ssh-agent" stream (one guest client connection
 * to SSH_AUTH_SOCK). The guest's bytes are cut into agent messages (sshagent_msg.h);
 * a length of 0 or over 256 KiB resets the stream. Each message is classified: list
 * identities and sign requests go to the host agent, everything else (add, remove,
 * remove-all, lock, unlock, smartcard, extensions, unknown) is answered
 * SSH_AGENT_FAILURE here and never forwarded. Requests are handled strictly one at a
 * time, in order: the next message is looked at only once the previous answer has
 * been handed to the downstream, so answers keep the order of the requests and every
 * buffer holds at most one message (input: what the stream's credit allows).
 *
 * The host agent is reached over its unix socket (agent_sock), connected without
 * blocking on the first forwarded request, one host connection per guest connection.
 *
 * Destination-constrained keys (ssh-add -h). OpenSSH's agent treats a connection that
 * was never bound with session-bind@openssh.com as local use: it lists such keys there
 * (and OpenSSH 9.2 refuses to sign with them; older rules were looser). The guest is not
 * local use: it is an agent forwarded to an untrusted machine. So before any guest
 * request, sbxd sends its own session-bind on every host connection, as forwarding
 * (is_forwarding = 1), for a fresh Ed25519 key and a random session id signed by it,
 * both made per connection and never shown to the guest. The host agent then believes
 * exactly that: the agent is forwarded to a host no constraint names, so constrained
 * keys are neither listed nor used for signing; unconstrained keys work as before. The
 * bind's answer is swallowed: a refusal changes nothing (an OpenSSH agent then refuses
 * constrained keys on the connection anyway; an agent without session-bind has none).
 * The guest's own session-binds are refused, not relayed: they could only narrow what
 * the agent allows, and no constraint can name the per-connection key before them.
 * If the bind cannot be built, the host connection is dead (fail closed).
 * No socket, a failed connect, the agent closing, an answer over 256 KiB or bytes it
 * sends unasked make that host connection dead: the request in flight and every later
 * allowed request get SSH_AGENT_FAILURE. The guest never waits on a dead agent.
 *
 * Every sign request is written to the audit log (path "ssh-agent", host "", decision
 * allow, reason "sign SHA256:<fingerprint of the key blob>", as ssh-keygen -l prints
 * it); refused requests as decision deny, reason "refused <type> (<number>)", at most
 * SSHAGENT_DENY_LOG_MAX lines per connection so a guest cannot flood the log.
 *
 * Lifetime. The downstream ends every conn with exactly one sshagent_conn_abort(), also
 * after the filter called ops->reset (from then on the filter calls no ops and ignores
 * input). Call abort after the loop turn's events were dispatched (e.g. from a reap at
 * the end of the turn): an EV_AGENT event fetched in the same epoll batch would
 * otherwise find freed memory. ops callbacks must not call sshagent_* functions other
 * than sshagent_conn_abort(), which then takes effect when the current call returns.
 * Flow control: ops->consumed(n) once n bytes of input were handled (answered or copied
 * towards the host agent); ops->write may take less than offered: the rest waits for
 * sshagent_conn_writable(). After input EOF and the last answer, ops->close.
 */

#define SSHAGENT_DENY_LOG_MAX 8u

struct sshagent_conn;

/* A guest connection to SSH_AUTH_SOCK. agent_sock: the host agent's socket path (from the
 * caller's SSH_AUTH_SOCK; NULL or not absolute: every allowed request fails). audit: one
 * line per signature request (may be NULL). Returns NULL on allocation failure only. */
struct sshagent_conn *sshagent_conn_new(int epfd, const char *agent_sock, const char *sandbox, struct audit *au,
					const struct proxy_down_ops *ops, void *down);
/* Guest bytes, within the stream's credit. */
void sshagent_conn_input(struct sshagent_conn *c, const uint8_t *data, size_t len);
void sshagent_conn_input_eof(struct sshagent_conn *c);
/* The downstream can take more bytes. */
void sshagent_conn_writable(struct sshagent_conn *c);
/* The downstream is gone, or done after ops->close/ops->reset: free everything. */
void sshagent_conn_abort(struct sshagent_conn *c);
/* Dispatch for EV_AGENT fds (ev->obj is the conn). */
void sshagent_on_event(struct evsrc *ev, uint32_t events);

/* "SHA256:<base64 without padding>" of a key blob, as `ssh-keygen -l -E sha256`. buf
 * must hold SSHAGENT_FP_MAX bytes. 0 or -errno. */
#define SSHAGENT_FP_MAX 64
int sshagent_fingerprint(const uint8_t *key, size_t len, char *buf, size_t size);

#endif
