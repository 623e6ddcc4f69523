// SPDX-License-Identifier: MIT
/* settings.h: user settings in config/settings.json (flat "key": "value" strings). */
#ifndef SBX_SETTINGS_H
#define SBX_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "paths.h"

/*
 * Keys (every value a string, validated and normalised on set):
 *   proxy.resolve              "host:port=ip:port,..."  host-side name overrides (trusted:
 *                              may point at internal addresses); v6 targets as [ip]:port
 *   proxy.dnsServers           "ip[:port],..."  resolvers sbxd asks instead of the system's
 *   proxy.upstreamCA           absolute path of a PEM file with extra upstream CA certificates
 *   proxy.inspect              "auto" | "all"
 *   ssh.agentForwardingEnabled "true" | "false" (default true)
 *   vm.accel                   "auto" | "kvm" | "tcg" (default auto)
 *   secrets.backend            "auto" | "secret-service" | "file" (default auto; see secrets.h)
 *   workspace.protectGit       "true" | "false" (default true)
 *   sandbox.idleStop           "off" | a duration ("30m", "2h", "90s"; a bare number is
 *                              minutes) (default SETTINGS_IDLE_STOP_DEFAULT)
 *   pool.size                  0-SETTINGS_POOL_MAX warm pool VMs (default 1; docs/warm-pool.md)
 * The file is 0600 and written atomically under config/settings.lock.
 */
struct settings;

/* Under TCG an idle 1 GiB sandbox holds 200-450 MiB of host memory (minimal, agents;
 * docs/idle-memory.md), and a stopped one starts again in 1.5-3 s, paid once by the
 * next exec or run after the pause; a
 * sandbox working for its user has an exec session (the agent), egress or a busy CPU,
 * and one publishing ports is never stopped. Half an hour of none of these is a user
 * who walked away. */
#define SETTINGS_IDLE_STOP_DEFAULT "30m"
#define SETTINGS_POOL_MAX 8
#define SBX_STR_(x) #x
#define SBX_STR(x) SBX_STR_(x)

struct settings_key {
	const char *key;
	const char *def;    /* default shown by `sbx settings ls`; NULL: none */
	const char *desc;
};
const struct settings_key *settings_keys(size_t *ret_n);
bool settings_key_known(const char *key);

/* Missing file: everything unset. -EINVAL (*ret_err, malloc'd, when given) for a file
 * that is not a JSON object of strings or holds an invalid value for a known key;
 * unknown keys are ignored. */
int settings_load_ex(const struct sbx_paths *p, struct settings **ret, char **ret_err);
int settings_load(const struct sbx_paths *p, struct settings **ret);
void settings_free(struct settings *s);
/* True when the file changed (or appeared/vanished) since s was loaded. */
bool settings_stale(const struct sbx_paths *p, const struct settings *s);
/* The stored value; NULL when unset or unknown (see settings_keys() for defaults). */
const char *settings_get(const struct settings *s, const char *key);
/* The value, or the key's default when unset. */
const char *settings_get_or_default(const struct settings *s, const char *key);

/* Validate and normalise a value for key: *ret_norm is what gets stored. -EINVAL with
 * *ret_err (malloc'd, one line) naming what is wrong; -ENOENT for an unknown key. */
int settings_validate(const char *key, const char *value, char **ret_norm, char **ret_err);
/* Validate, then store atomically. Errors as settings_validate, or -errno of I/O. */
int settings_set(const struct sbx_paths *p, const char *key, const char *value, char **ret_err);
/* Remove a key (unset already is fine). -ENOENT for an unknown key; other errors as
 * settings_set (*ret_err, when given, names the file). */
int settings_unset(const struct sbx_paths *p, const char *key, char **ret_err);

/* proxy.resolve: the address for host:port (host is normalised first); -ENOENT: no
 * mapping. */
int settings_resolve_lookup(const struct settings *s, const char *host, uint16_t port, struct sockaddr_storage *ret,
			    socklen_t *ret_len);
/* True when proxy.resolve maps host (normalised first) on any port (the DNS path). */
bool settings_resolve_has_name(const struct settings *s, const char *host);
/* proxy.dnsServers as "ip:port,[ip6]:port" for c-ares ares_set_servers_ports_csv();
 * *ret_csv = NULL when unset. */
int settings_dns_servers(const struct settings *s, char **ret_csv);
/* ssh.agentForwardingEnabled (default true). */
bool settings_agent_forwarding(const struct settings *s);
/* sandbox.idleStop in seconds; 0: off. */
uint64_t settings_idle_stop_s(const struct settings *s);
unsigned settings_pool_size(const struct settings *s);
/* workspace.protectGit (true unless set to false). */
bool settings_protect_git(const struct settings *s);

#endif
