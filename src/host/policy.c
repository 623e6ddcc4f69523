// SPDX-License-Identifier: MIT
/* policy.c: egress rules (parse, match, store), presets, host name normalisation, address classes. */
#include "policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <idn2.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "json_get.h"
#include "names.h"
#include "util.h"

#define POLICY_FILE_MAX (4u << 20)
#define POLICY_RULES_MAX 10000
#define PRESET_FILE_MAX (256u << 10)
#define HOST_IN_MAX 1024

/* ------------------------------------------------------------------ names */

static bool host_byte_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

/* "ends in a number" (WHATWG URL): a last label of digits or 0x+hex would be read as
 * an IPv4 part by some resolvers and URL parsers; such a name must be a valid IP. */
static bool label_numeric(const char *l)
{
	if (l[0] == '0' && l[1] == 'x') {
		for (l += 2; *l; l++)
			if (!isxdigit((unsigned char)*l))
				return false;
		return true;
	}
	if (!*l)
		return false;
	for (; *l; l++)
		if (!isdigit((unsigned char)*l))
			return false;
	return true;
}

/* IPv6 text (no brackets, no zone) to canonical text; v4-mapped becomes dotted v4. */
static int ip6_canon(const char *s, char **ret)
{
	struct in6_addr a6;
	char buf[INET6_ADDRSTRLEN];

	if (strchr(s, '%') || inet_pton(AF_INET6, s, &a6) != 1)
		return -EINVAL;
	if (IN6_IS_ADDR_V4MAPPED(&a6))
		inet_ntop(AF_INET, &a6.s6_addr[12], buf, sizeof(buf));
	else
		inet_ntop(AF_INET6, &a6, buf, sizeof(buf));
	*ret = xstrdup(buf);
	return 0;
}

int host_normalize(const char *in, char **ret, bool *ret_is_ip)
{
	_cleanup_free_ char *s = NULL;
	size_t n;
	char *last;

	if (!in)
		return -EINVAL;
	n = strlen(in);
	if (n == 0)
		return -EINVAL;
	if (n > HOST_IN_MAX)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c < 0x20 || c == 0x7f || c == '%' || c == '@')
			return -EINVAL;
	}

	/* IPv6, bracketed or bare. */
	if (in[0] == '[' || strchr(in, ':')) {
		_cleanup_free_ char *inner = NULL;
		int r;
		if (in[0] == '[') {
			if (n < 3 || in[n - 1] != ']')
				return -EINVAL;
			inner = strndup(in + 1, n - 2);
			if (!inner)
				return -ENOMEM;
		} else {
			inner = xstrdup(in);
		}
		r = ip6_canon(inner, ret);
		if (r < 0)
			return r;
		*ret_is_ip = true;
		return 0;
	}

	/* Non-ASCII, or an A-label to validate: UTS#46 (maps case, full-width forms,
	 * ideographic full stops); non-transitional first, as browsers do. */
	bool idna = false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)in[i] >= 0x80)
			idna = true;
	if (!idna && strcasestr(in, "xn--"))
		idna = true;
	if (idna) {
		char *out = NULL;
		int r = idn2_to_ascii_8z(in, &out, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
		if (r != IDN2_OK) {
			free(out);
			out = NULL;
			r = idn2_to_ascii_8z(in, &out, IDN2_NFC_INPUT | IDN2_TRANSITIONAL);
		}
		if (r != IDN2_OK) {
			free(out);
			return -EINVAL;
		}
		s = out;
	} else {
		s = xstrdup(in);
	}
	for (char *c = s; *c; c++) {
		*c = (char)tolower((unsigned char)*c);
		if (!host_byte_ok((unsigned char)*c))
			return -EINVAL;
	}
	n = strlen(s);
	while (n > 0 && s[n - 1] == '.')
		s[--n] = 0;
	if (n == 0)
		return -EINVAL;

	/* IPv4 in any spelling inet_aton accepts ("127.1", "0x7f000001", "017700000001"). */
	if (strspn(s, "0123456789abcdefx.") == n) {
		struct in_addr a4;
		if (inet_aton(s, &a4)) {
			char buf[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, &a4, buf, sizeof(buf));
			*ret = xstrdup(buf);
			*ret_is_ip = true;
			return 0;
		}
	}

	if (n > 253)
		return -ENAMETOOLONG;
	for (char *l = s;;) {
		char *dot = strchr(l, '.');
		size_t ll = dot ? (size_t)(dot - l) : strlen(l);
		if (ll == 0)
			return -EINVAL;
		if (ll > 63)
			return -ENAMETOOLONG;
		if (!dot)
			break;
		l = dot + 1;
	}
	last = strrchr(s, '.');
	if (label_numeric(last ? last + 1 : s))
		return -EINVAL;
	*ret = TAKE_PTR(s);
	*ret_is_ip = false;
	return 0;
}

/* ---------------------------------------------------------- address classes */

static enum addr_class classify4(uint32_t a)
{
	if ((a >> 24) == 0)
		return ADDR_UNSPECIFIED;
	if ((a >> 24) == 10 || (a >> 20) == ((172u << 4) | 1) || (a >> 16) == ((192u << 8) | 168))
		return ADDR_PRIVATE;
	if ((a >> 24) == 127)
		return ADDR_LOOPBACK;
	if ((a >> 16) == ((169u << 8) | 254))
		return ADDR_LINKLOCAL;
	if ((a >> 22) == ((100u << 2) | 1))
		return ADDR_CGNAT;
	if ((a >> 28) == 0xe)
		return ADDR_MULTICAST;
	if (a == 0xffffffffu)
		return ADDR_BROADCAST;
	if ((a >> 28) == 0xf)
		return ADDR_RESERVED;
	/* Benchmarking range: sbx hands out synthetic DNS answers from it. */
	if ((a >> 17) == ((198u << 7) | (18 >> 1)))
		return ADDR_RESERVED;
	return ADDR_PUBLIC;
}

static uint32_t be32_at(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static enum addr_class classify6(const uint8_t *b)
{
	static const uint8_t zero[16];
	static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b };

	if (!memcmp(b, zero, 16))
		return ADDR_UNSPECIFIED;
	if (!memcmp(b, zero, 15) && b[15] == 1)
		return ADDR_LOOPBACK;
	/* v4-mapped ::ffff:0:0/96 and v4-compatible ::/96: the embedded v4 decides. */
	if (!memcmp(b, zero, 10) && ((b[10] == 0xff && b[11] == 0xff) || (b[10] == 0 && b[11] == 0)))
		return classify4(be32_at(b + 12));
	if (!memcmp(b, nat64, 12))   /* 64:ff9b::/96 well-known NAT64 prefix */
		return classify4(be32_at(b + 12));
	if (b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 1)
		return ADDR_RESERVED;   /* 64:ff9b:1::/48 local-use NAT64: may lead anywhere inside */
	if (b[0] == 0x20 && b[1] == 0x02)   /* 2002::/16 6to4 */
		return classify4(be32_at(b + 2));
	if ((b[0] & 0xfe) == 0xfc)
		return ADDR_PRIVATE;
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return ADDR_LINKLOCAL;
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return ADDR_PRIVATE;   /* fec0::/10, deprecated site-local */
	if (b[0] == 0xff)
		return ADDR_MULTICAST;
	return ADDR_PUBLIC;
}

enum addr_class addr_classify(const struct sockaddr *sa)
{
	if (!sa)
		return ADDR_RESERVED;
	if (sa->sa_family == AF_INET)
		return classify4(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
	if (sa->sa_family == AF_INET6)
		return classify6(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
	return ADDR_RESERVED;
}

const char *addr_class_name(enum addr_class c)
{
	static const char *const names[] = {
		[ADDR_PUBLIC] = "public", [ADDR_LOOPBACK] = "loopback", [ADDR_PRIVATE] = "private",
		[ADDR_LINKLOCAL] = "link-local", [ADDR_CGNAT] = "cgnat", [ADDR_UNSPECIFIED] = "unspecified",
		[ADDR_MULTICAST] = "multicast", [ADDR_BROADCAST] = "broadcast", [ADDR_RESERVED] = "reserved",
	};
	if ((unsigned)c < ARRAY_SIZE(names) && names[c])
		return names[c];
	return "unknown";
}

/* ------------------------------------------------------------------ rules */

enum rule_kind { RK_ANY, RK_HOST, RK_ONE, RK_DEEP, RK_NET, RK_LOCALHOST };

struct rule {
	int id;
	enum policy_action action;
	char *resource;   /* normalised text, as stored and shown */
	char *sandbox;    /* NULL: global */
	bool from_preset;
	enum rule_kind kind;
	char *name;       /* RK_HOST: the name; RK_ONE/RK_DEEP: the suffix */
	int family;       /* RK_NET */
	uint8_t net[16];
	unsigned prefix;
	uint16_t port;    /* 0: any */
};

struct policy {
	char *preset;
	int next_id;
	struct rule *rules;
	size_t n, cap;
	bool have_stat;
	struct stat st;
};

static void rule_clear(struct rule *r)
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

static int port_parse(const char *s, uint16_t *ret)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 5)
		return -EINVAL;
	for (const char *c = s; *c; c++) {
		if (!isdigit((unsigned char)*c))
			return -EINVAL;
		v = v * 10 + (unsigned long)(*c - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
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

static int rule_parse(const char *in, struct rule *r, const char **ret_err)
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
		rule_clear(r);
		*ret_err = "rule too long";
		return -EINVAL;
	}
	return 0;
}

int policy_resource_normalize(const char *in, char **ret, const char **ret_err)
{
	struct rule r;
	const char *err = "invalid rule";
	int rr = rule_parse(in ? in : "", &r, &err);

	if (rr < 0) {
		rule_clear(&r);
		if (ret_err)
			*ret_err = err;
		return rr;
	}
	*ret = TAKE_PTR(r.resource);
	rule_clear(&r);
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
		rule_clear(&pol->rules[i]);
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

static bool same_scope(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Append a parsed rule (takes its strings). */
static int policy_push(struct policy *pol, struct rule *r)
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
	rr = rule_parse(resource ? resource : "", &r, &err);
	if (rr < 0) {
		rule_clear(&r);
		if (ret_err)
			*ret_err = err;
		return rr;
	}
	for (size_t i = 0; i < pol->n; i++) {
		struct rule *o = &pol->rules[i];
		if (o->action == action && !strcmp(o->resource, r.resource) && same_scope(o->sandbox, sandbox)) {
			if (!from_preset)
				o->from_preset = false;
			if (ret_id)
				*ret_id = o->id;
			rule_clear(&r);
			return 0;
		}
	}
	r.action = action;
	r.sandbox = sandbox ? xstrdup(sandbox) : NULL;
	r.from_preset = from_preset;
	r.id = pol->next_id;
	rr = policy_push(pol, &r);
	if (rr < 0) {
		rule_clear(&r);
		if (ret_err)
			*ret_err = "too many rules";
		return rr;
	}
	pol->next_id++;
	if (ret_id)
		*ret_id = pol->rules[pol->n - 1].id;
	return 0;
}

static void policy_delete_at(struct policy *pol, size_t i)
{
	rule_clear(&pol->rules[i]);
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
		if (!strcmp(pol->rules[i].resource, norm) && same_scope(pol->rules[i].sandbox, sandbox)) {
			policy_delete_at(pol, i);
			removed++;
		} else {
			i++;
		}
	}
	return removed ? removed : -ENOENT;
}

static char *policy_path(const struct sbx_paths *p)
{
	return xasprintf("%s/policy.json", p->config);
}

static int policy_from_json(struct json_object *root, struct policy *pol, const char **ret_err)
{
	struct json_object *rules, *v;
	size_t n;

	if (!json_object_is_type(root, json_type_object)) {
		*ret_err = "not a JSON object";
		return -EINVAL;
	}
	if (json_object_object_get_ex(root, "preset", &v) && !json_object_is_type(v, json_type_null)) {
		const char *ps = json_object_get_string(v);
		if (!json_object_is_type(v, json_type_string) || !policy_preset_known(ps)) {
			*ret_err = "unknown preset";
			return -EINVAL;
		}
		pol->preset = xstrdup(ps);
	}
	if (json_object_object_get_ex(root, "next_id", &v)) {
		int64_t x = json_object_get_int64(v);
		if (!json_object_is_type(v, json_type_int) || x < 1 || x > INT32_MAX / 2) {
			*ret_err = "bad next_id";
			return -EINVAL;
		}
		pol->next_id = (int)x;
	}
	if (!json_object_object_get_ex(root, "rules", &rules))
		return 0;
	if (!json_object_is_type(rules, json_type_array) || (n = json_object_array_length(rules)) > POLICY_RULES_MAX) {
		*ret_err = "\"rules\" is not an array (or too long)";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(rules, i), *idv, *sbv;
		const char *action, *resource, *origin, *err = "invalid rule";
		struct rule r;
		int64_t id;
		int rr;

		if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "id", &idv) ||
		    !json_object_is_type(idv, json_type_int)) {
			*ret_err = "rule without an integer id";
			return -EINVAL;
		}
		id = json_object_get_int64(idv);
		action = json_get_str(o, "action");
		resource = json_get_str(o, "resource");
		origin = json_get_str(o, "origin");
		if (id < 1 || id > INT32_MAX / 2 || !action || (strcmp(action, "allow") && strcmp(action, "deny")) ||
		    !resource) {
			*ret_err = "rule with a bad id, action or resource";
			return -EINVAL;
		}
		for (size_t j = 0; j < pol->n; j++)
			if (pol->rules[j].id == id) {
				*ret_err = "duplicate rule id";
				return -EINVAL;
			}
		rr = rule_parse(resource, &r, &err);
		if (rr < 0) {
			rule_clear(&r);
			*ret_err = err;
			return rr;
		}
		if (json_object_object_get_ex(o, "sandbox", &sbv) && !json_object_is_type(sbv, json_type_null)) {
			if (!json_object_is_type(sbv, json_type_string) || !name_valid(json_object_get_string(sbv))) {
				rule_clear(&r);
				*ret_err = "rule with a bad sandbox name";
				return -EINVAL;
			}
			r.sandbox = xstrdup(json_object_get_string(sbv));
		}
		r.id = (int)id;
		r.action = strcmp(action, "allow") ? POLICY_DENY : POLICY_ALLOW;
		r.from_preset = origin && !strcmp(origin, "preset");
		rr = policy_push(pol, &r);
		if (rr < 0) {
			rule_clear(&r);
			return rr;
		}
		if (id >= pol->next_id)
			pol->next_id = (int)id + 1;
	}
	return 0;
}

int policy_load_ex(const struct sbx_paths *p, struct policy **ret, const char **ret_err)
{
	_cleanup_free_ char *path = policy_path(p);
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	struct json_tokener *tok;
	struct json_object *root;
	struct policy *pol;
	const char *err = "invalid policy file";
	struct stat st;
	size_t len;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* Read through the same fd we stat'ed: the stamp matches the content. */
	{
		_cleanup_free_ char *fdpath = xasprintf("/proc/self/fd/%d", fd);
		r = file_read_all(fdpath, POLICY_FILE_MAX, &buf, &len);
		if (r < 0) {
			if (ret_err)
				*ret_err = r == -EFBIG ? "policy file too large" : "cannot read the policy file";
			return r;
		}
	}
	tok = json_tokener_new();
	root = json_tokener_parse_ex(tok, buf, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success) {
		json_tokener_free(tok);
		json_object_put(root);
		if (ret_err)
			*ret_err = "policy file is not valid JSON";
		return -EINVAL;
	}
	json_tokener_free(tok);
	pol = policy_new();
	r = policy_from_json(root, pol, &err);
	json_object_put(root);
	if (r < 0) {
		log_debug("policy: %s: %s", path, err);
		policy_free(pol);
		if (ret_err)
			*ret_err = err;
		return r;
	}
	pol->st = st;
	pol->have_stat = true;
	*ret = pol;
	return 0;
}

int policy_load(const struct sbx_paths *p, struct policy **ret)
{
	return policy_load_ex(p, ret, NULL);
}

bool policy_stale(const struct sbx_paths *p, const struct policy *pol)
{
	_cleanup_free_ char *path = policy_path(p);

	return file_changed_since(path, pol->have_stat, &pol->st);
}

int policy_save(const struct sbx_paths *p, struct policy *pol)
{
	_cleanup_free_ char *path = policy_path(p);
	struct json_object *root = json_object_new_object(), *arr = json_object_new_array();
	const char *text;
	struct stat st;
	int r;

	json_object_object_add(root, "preset", pol->preset ? json_object_new_string(pol->preset) : NULL);
	json_object_object_add(root, "next_id", json_object_new_int(pol->next_id));
	for (size_t i = 0; i < pol->n; i++) {
		const struct rule *ru = &pol->rules[i];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_int(ru->id));
		json_object_object_add(o, "action", json_object_new_string(ru->action == POLICY_ALLOW ? "allow" : "deny"));
		json_object_object_add(o, "resource", json_object_new_string(ru->resource));
		json_object_object_add(o, "sandbox", ru->sandbox ? json_object_new_string(ru->sandbox) : NULL);
		json_object_object_add(o, "origin", json_object_new_string(ru->from_preset ? "preset" : "user"));
		json_object_array_add(arr, o);
	}
	json_object_object_add(root, "rules", arr);
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	r = file_write_atomic(path, text, strlen(text), 0600);
	json_object_put(root);
	if (r < 0)
		return r;
	if (stat(path, &st) == 0) {
		pol->st = st;
		pol->have_stat = true;
	}
	return 0;
}

int policy_remove_file(const struct sbx_paths *p)
{
	_cleanup_free_ char *path = policy_path(p);

	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int policy_lock(const struct sbx_paths *p)
{
	_cleanup_free_ char *path = xasprintf("%s/policy.lock", p->config);

	return file_lock(path, LOCK_EX);
}

/* ---------------------------------------------------------------- presets */

static const char *const presets[] = { "allow-all", "balanced", "deny-all" };

bool policy_preset_known(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(presets); i++)
		if (!strcmp(name, presets[i]))
			return true;
	return false;
}

void policy_strv_free(char **v)
{
	for (char **x = v; x && *x; x++)
		free(*x);
	free(v);
}

int policy_preset_read(const struct sbx_paths *p, const char *name, char ***ret, int *ret_line)
{
	_cleanup_free_ char *path = NULL, *buf = NULL;
	char **v = NULL, *line, *save = NULL;
	size_t n = 0;
	int lineno = 0, r;

	if (!policy_preset_known(name))
		return -ENOENT;
	path = xasprintf("%s/policy/%s", p->recipes, name);
	r = file_read_all(path, PRESET_FILE_MAX, &buf, NULL);
	if (r < 0)
		return r;
	v = xcalloc(1, sizeof(*v));
	/* strtok_r would merge empty lines and lose the numbering; split by hand. */
	for (line = buf; line; line = save) {
		char *nl = strchr(line, '\n'), *hash;
		char *norm = NULL;
		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = 0;
		lineno++;
		if ((hash = strchr(line, '#')))
			*hash = 0;
		line += strspn(line, " \t\r");
		line[strcspn(line, "\r")] = 0;
		{
			size_t l = strlen(line);
			while (l > 0 && (line[l - 1] == ' ' || line[l - 1] == '\t'))
				line[--l] = 0;
			if (l == 0)
				continue;
		}
		if (policy_resource_normalize(line, &norm, NULL) < 0) {
			policy_strv_free(v);
			if (ret_line)
				*ret_line = lineno;
			return -EINVAL;
		}
		{
			char **nv = realloc(v, (n + 2) * sizeof(*v));
			if (!nv) {
				free(norm);
				policy_strv_free(v);
				return -ENOMEM;
			}
			v = nv;
			v[n++] = norm;
			v[n] = NULL;
		}
	}
	*ret = v;
	return 0;
}

int policy_apply_preset(const struct sbx_paths *p, struct policy *pol, const char *name)
{
	char **list = NULL;
	int r;

	r = policy_preset_read(p, name, &list, NULL);
	if (r < 0)
		return r;
	for (size_t i = 0; i < pol->n;) {
		if (pol->rules[i].from_preset)
			policy_delete_at(pol, i);
		else
			i++;
	}
	for (char **x = list; *x; x++) {
		r = policy_add(pol, POLICY_ALLOW, *x, NULL, true, NULL, NULL);
		if (r < 0) {
			policy_strv_free(list);
			return r;
		}
	}
	policy_strv_free(list);
	free(pol->preset);
	pol->preset = xstrdup(name);
	return 0;
}
