// SPDX-License-Identifier: MIT
/* policy.c: egress rules: parse, match, edit (the file and presets: policy_store.c; names
 * and address classes: netaddr.c). */
#include "policy_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "names.h"
#include "portspec.h"
#include "util.h"

/* ------------------------------------------------------------------ rules */

void policy_rule_clear(struct rule *r)
{
	free(r->resource);
	free(r->sandbox);
	free(r->name);
	memset(r, 0, sizeof(*r));
}

/* The one list of the names by which the guest reaches the host (policy.h). */
static const char *const host_aliases[] = { "host.docker.internal", "host.sbx.internal" };

bool policy_host_alias(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(host_aliases); i++)
		if (!strcmp(name, host_aliases[i]))
			return true;
	return false;
}

bool policy_local_name(const char *s)
{
	return !strcmp(s, "localhost") || policy_host_alias(s);
}

static bool prefix_match(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, net, full))
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		return (a[full] & mask) == (net[full] & mask);
	}
	return true;
}

/* Strict IP (+ optional /prefix) for rules; v4-mapped v6 turns into v4. */
static int net_parse(const char *addr, const char *prefix, struct rule *r, const char **ret_err)
{
	unsigned max;

	memset(r->net, 0, sizeof(r->net));
	if (inet_pton(AF_INET, addr, r->net) == 1) {
		r->family = AF_INET;
		max = 32;
	} else if (!strchr(addr, '%') && inet_pton(AF_INET6, addr, r->net) == 1) {
		r->family = AF_INET6;
		max = 128;
	} else {
		*ret_err = "not an IP address";
		return -EINVAL;
	}
	r->prefix = max;
	if (prefix) {
		char *end;
		unsigned long v;
		if (!isdigit((unsigned char)prefix[0]) || strlen(prefix) > 3) {
			*ret_err = "bad prefix length after '/'";
			return -EINVAL;
		}
		v = strtoul(prefix, &end, 10);
		if (*end || v > max) {
			*ret_err = "prefix length out of range";
			return -EINVAL;
		}
		r->prefix = (unsigned)v;
	}
	if (r->family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((struct in6_addr *)r->net) && r->prefix >= 96) {
		memmove(r->net, r->net + 12, 4);
		memset(r->net + 4, 0, 12);
		r->family = AF_INET;
		r->prefix -= 96;
	}
	for (unsigned bit = r->prefix; bit < (r->family == AF_INET ? 32u : 128u); bit++)
		if (r->net[bit / 8] & (0x80 >> (bit % 8))) {
			*ret_err = "address has bits set beyond the prefix length (write the network address)";
			return -EINVAL;
		}
	return 0;
}

/* Parse one resource into r (kind, name, net, port, resource); no id/action/scope. */
/* Split "HOST", "HOST:PORT", "[V6]" or "[V6]:PORT" in place: *ret_host and *ret_port
 * point into s (ret_port NULL without a port). */
static int rule_split_port(char *s, char **ret_host, char **ret_port, const char **ret_err)
{
	*ret_host = s;
	*ret_port = NULL;
	if (s[0] == '[') {
		char *close = strchr(s, ']');
		if (!close) {
			*ret_err = "'[' without ']'";
			return -EINVAL;
		}
		*close = 0;
		*ret_host = s + 1;
		if (close[1] == ':') {
			*ret_port = close + 2;
		} else if (close[1]) {
			*ret_err = "unexpected text after ']' (expected :PORT)";
			return -EINVAL;
		}
		if (!strchr(*ret_host, ':')) {
			*ret_err = "brackets are only for IPv6 addresses";
			return -EINVAL;
		}
	} else {
		char *c1 = strchr(s, ':');
		if (c1 && !strchr(c1 + 1, ':')) {
			*c1 = 0;
			*ret_port = c1 + 1;
		}
	}
	return 0;
}

/* The destination part of a rule (no port): sets r->kind and r->name or r->net. */
static int rule_parse_host(char *host, struct rule *r, const char **ret_err)
{
	char *prefix = strchr(host, '/');
	bool is_ip;
	int rr;

	if (prefix)
		*prefix++ = 0;
	if (!strcmp(host, "**")) {
		r->kind = RK_ANY;
	} else if (!strncmp(host, "**.", 3) || !strncmp(host, "*.", 2)) {
		bool deep = host[1] == '*';
		const char *suffix = host + (deep ? 3 : 2);
		if (strchr(suffix, '*')) {
			*ret_err = "a wildcard is only allowed as the first label ('*.' or '**.')";
			return -EINVAL;
		}
		if (prefix || host_normalize(suffix, &r->name, &is_ip) < 0) {
			*ret_err = "invalid host name after the wildcard";
			return -EINVAL;
		}
		if (is_ip) {
			*ret_err = "a wildcard cannot apply to an IP address (use a CIDR such as 10.0.0.0/8)";
			return -EINVAL;
		}
		r->kind = deep ? RK_DEEP : RK_ONE;
	} else if (strchr(host, '*')) {
		*ret_err = "a wildcard is only allowed as '**', or as the first label ('*.' or '**.')";
		return -EINVAL;
	} else if (prefix) {
		rr = net_parse(host, prefix, r, ret_err);
		if (rr < 0)
			return rr;
		r->kind = RK_NET;
	} else {
		rr = host_normalize(host, &r->name, &is_ip);
		if (rr < 0) {
			*ret_err = rr == -ENAMETOOLONG ? "host name too long" : "invalid host name or address";
			return -EINVAL;
		}
		if (is_ip) {
			rr = net_parse(r->name, NULL, r, ret_err);
			free(r->name);
			r->name = NULL;
			if (rr < 0)
				return rr;
			r->kind = RK_NET;
		} else {
			r->kind = policy_local_name(r->name) ? RK_LOCALHOST : RK_HOST;
		}
	}
	return 0;
}

/* The rule's canonical text, r->resource (what policy.json stores and `sbx policy ls` shows). */
static void rule_canonical(struct rule *r)
{
	char base[300], ip[INET6_ADDRSTRLEN];
	bool v6 = false;

	switch (r->kind) {
	case RK_ANY:
		snprintf(base, sizeof(base), "**");
		break;
	case RK_ONE:
		snprintf(base, sizeof(base), "*.%s", r->name);
		break;
	case RK_DEEP:
		snprintf(base, sizeof(base), "**.%s", r->name);
		break;
	case RK_HOST:
	case RK_LOCALHOST:
		snprintf(base, sizeof(base), "%s", r->name);
		break;
	case RK_NET:
		inet_ntop(r->family, r->net, ip, sizeof(ip));
		v6 = r->family == AF_INET6;
		if (r->prefix == (v6 ? 128u : 32u))
			snprintf(base, sizeof(base), "%s", ip);
		else
			snprintf(base, sizeof(base), "%s/%u", ip, r->prefix);
		break;
	}
	if (r->port && v6)
		r->resource = xasprintf("[%s]:%u", base, r->port);
	else if (r->port)
		r->resource = xasprintf("%s:%u", base, r->port);
	else
		r->resource = xstrdup(base);
}

int policy_rule_parse(const char *in, struct rule *r, const char **ret_err)
{
	_cleanup_free_ char *s = NULL;
	char *host, *portstr;
	size_t n;
	int rr;

	memset(r, 0, sizeof(*r));
	while (*in == ' ' || *in == '\t')
		in++;
	s = xstrdup(in);
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = 0;
	if (n == 0) {
		*ret_err = "empty rule";
		return -EINVAL;
	}
	if (n > 260) {
		*ret_err = "rule too long";
		return -EINVAL;
	}
	rr = rule_split_port(s, &host, &portstr, ret_err);
	if (rr < 0)
		return rr;
	if (portstr && port_parse(portstr, &r->port) < 0) {
		*ret_err = "port must be a number from 1 to 65535";
		return -EINVAL;
	}
	rr = rule_parse_host(host, r, ret_err);
	if (rr < 0)
		return rr;
	rule_canonical(r);
	if (strlen(r->resource) > POLICY_RESOURCE_MAX) {
		policy_rule_clear(r);
		*ret_err = "rule too long";
		return -EINVAL;
	}
	return 0;
}

int policy_resource_normalize(const char *in, char **ret, const char **ret_err)
{
	struct rule r;
	const char *err = "invalid rule";
	int rr = policy_rule_parse(in ? in : "", &r, &err);

	if (rr < 0) {
		policy_rule_clear(&r);
		if (ret_err)
			*ret_err = err;
		return rr;
	}
	*ret = TAKE_PTR(r.resource);
	policy_rule_clear(&r);
	return 0;
}

/* --------------------------------------------------------------- matching */

struct target {
	bool is_ip;
	int family;
	uint8_t addr[16];
	const char *name;   /* normalised name (or IP text) */
	bool local_name;    /* host.docker.internal, host.sbx.internal */
	uint16_t port;      /* 0: any */
};

static bool suffix_match(const char *name, const char *suffix, bool deep)
{
	size_t nl = strlen(name), sl = strlen(suffix);

	if (nl < sl + 2 || name[nl - sl - 1] != '.' || strcmp(name + nl - sl, suffix))
		return false;
	if (!deep)
		return memchr(name, '.', nl - sl - 1) == NULL;
	return true;
}

/* Specificity of a match (higher: more specific), or -1. */
static int rule_match(const struct rule *r, const struct target *t)
{
	if (r->port && t->port && r->port != t->port)
		return -1;
	if (r->port && !t->port && r->action == POLICY_DENY)
		return -1;   /* port-limited deny does not deny the whole name */
	switch (r->kind) {
	case RK_ANY:
		return 0;
	case RK_HOST:
		return !t->is_ip && !strcmp(r->name, t->name) ? 2000 : -1;
	case RK_LOCALHOST:
		return t->local_name ? 2000 : -1;
	case RK_ONE:
	case RK_DEEP:
		if (t->is_ip || !suffix_match(t->name, r->name, r->kind == RK_DEEP))
			return -1;
		return 10 + 2 * (int)strlen(r->name) + (r->kind == RK_ONE);
	case RK_NET:
		if (!t->is_ip || t->family != r->family || !prefix_match(t->addr, r->net, r->prefix))
			return -1;
		return 1000 + (int)r->prefix;
	}
	return -1;
}

static bool rule_names_address(const struct rule *r)
{
	return r->action == POLICY_ALLOW && (r->kind == RK_NET || r->kind == RK_LOCALHOST);
}

static void decide(const struct policy *pol, const char *sandbox, const struct target *t, struct policy_decision *ret)
{
	const struct rule *best[2] = { NULL, NULL };
	int score[2] = { -1, -1 };
	bool port_named = false;

	for (size_t i = 0; pol && i < pol->n; i++) {
		const struct rule *r = &pol->rules[i];
		int sc;
		if (r->sandbox && (!sandbox || strcmp(r->sandbox, sandbox)))
			continue;
		sc = rule_match(r, t);
		if (sc >= 0 && r->action == POLICY_ALLOW &&
		    ((r->port && r->port == t->port) || (r->kind == RK_ANY && !r->port)))
			port_named = true;
		if (sc > score[r->action]) {
			score[r->action] = sc;
			best[r->action] = r;
		}
	}
	memset(ret, 0, sizeof(*ret));
	if (best[POLICY_DENY] || !best[POLICY_ALLOW]) {
		const struct rule *r = best[POLICY_DENY];
		ret->action = POLICY_DENY;
		ret->rule_id = r ? r->id : -1;
		snprintf(ret->rule, sizeof(ret->rule), "%s", r ? r->resource : "default deny");
		return;
	}
	ret->action = POLICY_ALLOW;
	ret->rule_id = best[POLICY_ALLOW]->id;
	ret->names_address = rule_names_address(best[POLICY_ALLOW]);
	ret->names_port = port_named;
	snprintf(ret->rule, sizeof(ret->rule), "%s", best[POLICY_ALLOW]->resource);
}

static void target_set_ip(struct target *t, int family, const void *addr)
{
	t->is_ip = true;
	t->family = family;
	memset(t->addr, 0, sizeof(t->addr));
	memcpy(t->addr, addr, family == AF_INET ? 4 : 16);
}

void policy_check(const struct policy *pol, const char *sandbox, const char *host, uint16_t port,
		  struct policy_decision *ret)
{
	_cleanup_free_ char *norm = NULL;
	struct target t = { .port = port };
	bool is_ip = false;
	uint8_t a[16];

	if (host_normalize(host, &norm, &is_ip) < 0) {
		memset(ret, 0, sizeof(*ret));
		ret->action = POLICY_DENY;
		ret->rule_id = -1;
		snprintf(ret->rule, sizeof(ret->rule), "invalid host name");
		return;
	}
	t.name = norm;
	if (is_ip) {
		if (inet_pton(AF_INET, norm, a) == 1)
			target_set_ip(&t, AF_INET, a);
		else if (inet_pton(AF_INET6, norm, a) == 1)
			target_set_ip(&t, AF_INET6, a);
	} else {
		t.local_name = policy_host_alias(norm);
	}
	decide(pol, sandbox, &t, ret);
}

void policy_check_addr(const struct policy *pol, const char *sandbox, const struct sockaddr *sa, uint16_t port,
		       struct policy_decision *ret)
{
	struct target t = { .port = port, .name = "" };

	if (sa && sa->sa_family == AF_INET) {
		target_set_ip(&t, AF_INET, &((const struct sockaddr_in *)sa)->sin_addr);
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6))
			target_set_ip(&t, AF_INET, &a6->s6_addr[12]);
		else
			target_set_ip(&t, AF_INET6, a6);
	} else {
		memset(ret, 0, sizeof(*ret));
		ret->action = POLICY_DENY;
		ret->rule_id = -1;
		snprintf(ret->rule, sizeof(ret->rule), "unsupported address family");
		return;
	}
	decide(pol, sandbox, &t, ret);
}

void policy_check_dest(const struct policy *pol, const char *sandbox, const char *host, const struct sockaddr *sa,
		       uint16_t port, struct policy_decision *ret)
{
	struct policy_decision dn, da;

	policy_check(pol, sandbox, host, port, &dn);
	if (dn.action == POLICY_DENY || !sa) {
		*ret = dn;
		return;
	}
	policy_check_addr(pol, sandbox, sa, port, &da);
	if (da.action == POLICY_DENY && da.rule_id >= 0) {
		*ret = da;   /* an explicit deny of the address */
		return;
	}
	*ret = dn;
	if (da.action == POLICY_ALLOW && da.names_address && !dn.names_address) {
		ret->names_address = true;
		snprintf(ret->rule, sizeof(ret->rule), "%s", da.rule);
		ret->rule_id = da.rule_id;
	}
}

/* ------------------------------------------------------- editing, storage */

struct policy *policy_new(void)
{
	struct policy *pol = xcalloc(1, sizeof(*pol));
	pol->next_id = 1;
	return pol;
}

void policy_free(struct policy *pol)
{
	if (!pol)
		return;
	for (size_t i = 0; i < pol->n; i++)
		policy_rule_clear(&pol->rules[i]);
	free(pol->rules);
	free(pol->preset);
	free(pol);
}

const char *policy_preset(const struct policy *pol)
{
	return pol->preset;
}

size_t policy_rule_count(const struct policy *pol)
{
	return pol->n;
}

void policy_rule_get(const struct policy *pol, size_t i, struct policy_rule_info *ret)
{
	const struct rule *r = &pol->rules[i];

	ret->id = r->id;
	ret->action = r->action;
	ret->resource = r->resource;
	ret->sandbox = r->sandbox;
	ret->from_preset = r->from_preset;
}

/* Append a parsed rule (takes its strings). */
int policy_push(struct policy *pol, struct rule *r)
{
	if (pol->n >= POLICY_RULES_MAX)
		return -E2BIG;
	if (pol->n == pol->cap) {
		size_t cap = pol->cap ? pol->cap * 2 : 16;
		struct rule *nr = realloc(pol->rules, cap * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		pol->rules = nr;
		pol->cap = cap;
	}
	pol->rules[pol->n++] = *r;
	memset(r, 0, sizeof(*r));
	return 0;
}

int policy_add(struct policy *pol, enum policy_action action, const char *resource, const char *sandbox,
	       bool from_preset, int *ret_id, const char **ret_err)
{
	struct rule r;
	const char *err = "invalid rule";
	int rr;

	if (sandbox && !name_valid(sandbox)) {
		if (ret_err)
			*ret_err = "invalid sandbox name";
		return -EINVAL;
	}
	if (action != POLICY_ALLOW && action != POLICY_DENY)
		return -EINVAL;
	rr = policy_rule_parse(resource ? resource : "", &r, &err);
	if (rr < 0) {
		policy_rule_clear(&r);
		if (ret_err)
			*ret_err = err;
		return rr;
	}
	for (size_t i = 0; i < pol->n; i++) {
		struct rule *o = &pol->rules[i];
		if (o->action == action && !strcmp(o->resource, r.resource) && streq_null(o->sandbox, sandbox)) {
			if (!from_preset)
				o->from_preset = false;
			if (ret_id)
				*ret_id = o->id;
			policy_rule_clear(&r);
			return 0;
		}
	}
	r.action = action;
	r.sandbox = sandbox ? xstrdup(sandbox) : NULL;
	r.from_preset = from_preset;
	r.id = pol->next_id;
	rr = policy_push(pol, &r);
	if (rr < 0) {
		policy_rule_clear(&r);
		if (ret_err)
			*ret_err = "too many rules";
		return rr;
	}
	pol->next_id++;
	if (ret_id)
		*ret_id = pol->rules[pol->n - 1].id;
	return 0;
}

void policy_delete_at(struct policy *pol, size_t i)
{
	policy_rule_clear(&pol->rules[i]);
	memmove(&pol->rules[i], &pol->rules[i + 1], (pol->n - i - 1) * sizeof(pol->rules[0]));
	pol->n--;
}

int policy_remove_id(struct policy *pol, int id)
{
	for (size_t i = 0; i < pol->n; i++)
		if (pol->rules[i].id == id) {
			policy_delete_at(pol, i);
			return 0;
		}
	return -ENOENT;
}

int policy_remove_resource(struct policy *pol, const char *resource, const char *sandbox)
{
	_cleanup_free_ char *norm = NULL;
	int removed = 0;

	if (policy_resource_normalize(resource, &norm, NULL) < 0)
		return -EINVAL;
	for (size_t i = 0; i < pol->n;) {
		if (!strcmp(pol->rules[i].resource, norm) && streq_null(pol->rules[i].sandbox, sandbox)) {
			policy_delete_at(pol, i);
			removed++;
		} else {
			i++;
		}
	}
	return removed ? removed : -ENOENT;
}
