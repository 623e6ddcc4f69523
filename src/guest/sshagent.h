// SPDX-License-Identifier: MIT
/* sshagent.h: the guest's SSH_AUTH_SOCK, relayed to sbxd as "ssh-agent" streams. */
#ifndef SBX_GUEST_SSHAGENT_H
#define SBX_GUEST_SSHAGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "guest.h"

/*
 * When the host's OP_CONFIG carries CFG_SSH_AGENT=1, sbx-guest listens on
 * SSHAGENT_SOCK and every accepted connection becomes one "ssh-agent" stream, relayed
 * like the egress proxy connections (egress.c; same credit rules). The host filters
 * the agent protocol; the guest only moves bytes. The socket belongs to the agent user
 * (CFG_UID/CFG_GID) with mode 0600, so other unprivileged users of the VM cannot use
 * the host's keys (root can, as root can do anything in the VM). The directory is
 * 0755 root. SSH_AUTH_SOCK joins the default exec environment and
 * /etc/profile.d/sbx-ssh.sh (login shells, su -). A config without CFG_SSH_AGENT
 * closes the listener and removes the socket, the variable and the profile file;
 * connections already relayed finish normally.
 */
#define SSHAGENT_DIR "/run/sbx"
#define SSHAGENT_SOCK SSHAGENT_DIR "/ssh-agent.sock"
#define SSHAGENT_ENV "SSH_AUTH_SOCK=" SSHAGENT_SOCK
#define SSHAGENT_PROFILE "/etc/profile.d/sbx-ssh.sh"

/* Serve SSH_AUTH_SOCK (on) for uid:gid, or stop serving it. Failures are logged; the
 * rest of the configuration goes on without the socket. */
void sshagent_configure(struct guest *g, bool on, uint32_t uid, uint32_t gid);
/* SSHAGENT_ENV while the socket is served, else NULL. */
const char *sshagent_env(struct guest *g);
/* WATCH_SSH_AGENT_LISTEN events. */
void sshagent_on_event(struct guest *g, struct watch *w, uint32_t events);

#endif
