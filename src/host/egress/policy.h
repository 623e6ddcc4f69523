// SPDX-License-Identifier: MIT
/* policy.h: the egress policy: rules, presets, destination names and address classes.
 * Pure apart from policy_load/policy_save (file I/O); no logging above debug. */
#ifndef SBX_POLICY_H
#define SBX_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "netaddr.h"
#include "paths.h"

/*
 * Rule grammar (one resource; the CLI accepts comma-separated lists):
 *   host            exact name              example.com
 *   *.host          exactly one more label  *.example.com   (not example.com itself)
 *   **.host         one or more labels      **.example.com  (not example.com itself)
 *   **              everything (never counts as naming an internal address)
 *   IP | CIDR       1.2.3.4, 10.0.0.0/8, ::1, [fd00::1], fd00::/8
 *   localhost       the host's 127.0.0.1, reached only by the names host.docker.internal and
 *                   host.sbx.internal (also how the rule may be written); never by an
 *                   address, 127/8, [::1] or the name localhost
 *   ...:PORT        any of the above limited to one port (without: any port)
 * Matching: deny wins over allow; no match = deny. Names are normalised first.
 * Stored in config/policy.json: {"preset": "balanced"|..., "rules": [{"id": N, "action":
 * "allow"|"deny", "resource": "...", "sandbox": "NAME"|null}]}; written atomically.
 * Preset rule lists live in recipes/policy/PRESET (one resource per line, '#' comments).
 */
enum policy_action { POLICY_DENY = 0, POLICY_ALLOW = 1 };

struct policy;

/* Load config/policy.json (-ENOENT: no preset chosen yet: callers say "run sbx policy init"). */
int policy_load(const struct sbx_paths *p, struct policy **ret);
void policy_free(struct policy *pol);
/* True when the file changed since pol was loaded (cheap: stat). */
bool policy_stale(const struct sbx_paths *p, const struct policy *pol);

struct policy_decision {
	enum policy_action action;
	char rule[300];      /* matched rule as the user wrote it, "default deny", ... */
	int rule_id;         /* -1 for the default */
	bool names_address;  /* an allow rule named this IP/CIDR (or localhost) explicitly */
	bool names_port;     /* allowed, and a matching allow rule names this port (`host:PORT`,
			      * `**:PORT`, ...) or is a bare `**`: the proxy relays bytes that
			      * are neither TLS nor HTTP only then */
};
/* Decide for a normalised host name (or IP literal text) and port, for a sandbox
 * (rules with sandbox == NULL are global and apply to all). */
void policy_check(const struct policy *pol, const char *sandbox, const char *host, uint16_t port,
		  struct policy_decision *ret);
/* Decide for a resolved address (IP and CIDR rules only, plus what the name decided). */
void policy_check_addr(const struct policy *pol, const char *sandbox, const struct sockaddr *sa, uint16_t port,
		       struct policy_decision *ret);

/* ---- Additions (egress policy helper): editing, presets, combined check. ---- */

/* Port semantics of policy_check*(): port 0 means "any port" (the DNS path): an allow
 * rule with a port still matches (the name resolves), a deny rule with a port does not.
 * policy_check_addr() looks only at IP/CIDR rules and `**`; rule_id == -1 there means no address rule matched, which is NOT a refusal
 * by itself: combine with the name's decision, or use policy_check_dest().
 * `localhost` rules (also written host.docker.internal / host.sbx.internal) match the
 * names host.docker.internal and host.sbx.internal only, and set names_address: `**` matches them too
 * but never sets it, so host services stay closed unless a localhost:PORT rule opens them.
 * policy_check() normalises host itself (an invalid name is denied, rule "invalid host
 * name"); the reported rule is the most specific match (exact > *.x > **.x > **). */

/* Whole decision for a connection to `host` (normalised name or IP text) at the
 * resolved address sa: denied when a deny rule matches the name or the address, or no
 * allow rule matches the name; names_address when an allow rule names the address
 * (or host is an IP/localhost name named by one). Refusing internal addresses
 * (addr_classify() != ADDR_PUBLIC && !names_address && no proxy.resolve mapping) and the
 * host's own addresses (hostaddr.h: refused whatever the rules) stay the caller's job. */
void policy_check_dest(const struct policy *pol, const char *sandbox, const char *host, const struct sockaddr *sa,
		       uint16_t port, struct policy_decision *ret);

/* The names by which the guest reaches services on the host (sbx dials them at 127.0.0.1
 * itself, and only through a localhost:PORT rule): the one list, used by the policy, the
 * router, the DNS path and the CLI. */
bool policy_host_alias(const char *name);
/* How a localhost rule may be written: "localhost" or a host alias. */
bool policy_local_name(const char *s);

/* What a command that needs a policy says before any preset is chosen (policy_load: -ENOENT). */
#define POLICY_MISSING_MSG "no network policy yet: run 'sbx policy init balanced' (or allow-all / deny-all)"

#define POLICY_RESOURCE_MAX 280
/* Parse and normalise one resource ("**.Bücher.example.:443" -> "**.xn--bcher-kva.example:443").
 * -EINVAL with *ret_err (static text) saying what is wrong. */
int policy_resource_normalize(const char *in, char **ret, const char **ret_err);

/* Like policy_load; on -EINVAL *ret_err (static text) says what is wrong with the file. */
int policy_load_ex(const struct sbx_paths *p, struct policy **ret, const char **ret_err);
/* An empty policy (no preset, no rules), for init and tests. */
struct policy *policy_new(void);
/* Atomic write of config/policy.json (0600); pol is no longer stale afterwards. */
int policy_save(const struct sbx_paths *p, struct policy *pol);
/* Remove config/policy.json (back to "no preset chosen"); a missing file is fine. */
int policy_remove_file(const struct sbx_paths *p);
/* Serialise read-modify-write between sbx commands: returns a locked fd (close to unlock). */
int policy_lock(const struct sbx_paths *p);

const char *policy_preset(const struct policy *pol);   /* NULL: none recorded */
/* Add a rule (resource normalised; sandbox NULL = global). An identical rule (action,
 * resource, scope) is not added twice: its id comes back, and a user add turns a
 * preset rule into a user rule. -EINVAL (*ret_err) for a bad resource or sandbox name. */
int policy_add(struct policy *pol, enum policy_action action, const char *resource, const char *sandbox,
	       bool from_preset, int *ret_id, const char **ret_err);
int policy_remove_id(struct policy *pol, int id);   /* -ENOENT */
/* Remove the rules with this resource (normalised first) in this scope; returns how
 * many, -ENOENT none, -EINVAL bad resource. */
int policy_remove_resource(struct policy *pol, const char *resource, const char *sandbox);

struct policy_rule_info {
	int id;
	enum policy_action action;
	const char *resource;
	const char *sandbox;   /* NULL: global */
	bool from_preset;
};
size_t policy_rule_count(const struct policy *pol);
void policy_rule_get(const struct policy *pol, size_t i, struct policy_rule_info *ret);

/* Presets: "allow-all", "balanced", "deny-all", read from p->recipes/policy/NAME. */
bool policy_preset_known(const char *name);
/* NULL-terminated list of normalised resources. -ENOENT unknown preset or missing
 * file, -EINVAL bad line (*ret_line = its number). Free with policy_strv_free(). */
int policy_preset_read(const struct sbx_paths *p, const char *name, char ***ret, int *ret_line);
void policy_strv_free(char **v);
/* Replace the preset-derived rules with preset NAME's (user rules stay) and record NAME. */
int policy_apply_preset(const struct sbx_paths *p, struct policy *pol, const char *name);

#endif
