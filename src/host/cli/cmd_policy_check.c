// SPDX-License-Identifier: MIT
/* cmd_policy_check.c: `sbx policy check network TARGET`: what sbxd would decide, and why. */
#include "cmd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostaddr.h"
#include "policy.h"
#include "settings.h"
#include "util.h"

/* TARGET: host, host:port, [v6]:port, IP, or scheme://[user@]host[:port]/path. */
static int target_parse(const char *target, char **ret_host, uint16_t *ret_port, bool *ret_port_given)
{
	static const struct {
		const char *scheme;
		uint16_t port;
	} schemes[] = { { "http", 80 }, { "https", 443 }, { "ws", 80 }, { "wss", 443 }, { "ftp", 21 }, { "git", 9418 },
			{ "ssh", 22 } };
	_cleanup_free_ char *s = NULL;
	char *auth, *at, *host, *portstr = NULL;
	const char *sep = strstr(target, "://");
	uint16_t port = 443;
	bool given = false;

	if (sep) {
		size_t sl = (size_t)(sep - target);
		bool known = false;
		for (size_t i = 0; i < ARRAY_SIZE(schemes); i++)
			if (strlen(schemes[i].scheme) == sl && !strncasecmp(target, schemes[i].scheme, sl)) {
				port = schemes[i].port;
				known = true;
			}
		s = xstrdup(sep + 3);
		auth = s;
		auth[strcspn(auth, "/?#")] = 0;
		if ((at = strrchr(auth, '@')))
			auth = at + 1;
		given = known;
	} else {
		s = xstrdup(target);
		auth = s;
	}
	host = auth;
	if (auth[0] == '[') {
		char *close = strchr(auth, ']');
		if (!close)
			return -EINVAL;
		if (close[1] == ':')
			portstr = close + 2;
		else if (close[1])
			return -EINVAL;
		close[1] = 0;
	} else {
		char *c1 = strchr(auth, ':');
		if (c1 && !strchr(c1 + 1, ':')) {
			*c1 = 0;
			portstr = c1 + 1;
		}
	}
	if (portstr) {
		char *end;
		long v = strtol(portstr, &end, 10);
		if (*end || end == portstr || v < 1 || v > 65535)
			return -EINVAL;
		port = (uint16_t)v;
		given = true;
	} else if (sep && !given) {
		return -EINVAL;   /* unknown scheme and no port */
	}
	if (host_normalize(host, ret_host, &(bool){ false }) < 0)
		return -EINVAL;
	*ret_port = port;
	*ret_port_given = given;
	return 0;
}

/* What the egress engine refuses whatever the rules (hostaddr.h); sbxd runs here too. */
static bool host_address(const struct sockaddr_storage *a)
{
	struct hostaddr *h = NULL;
	bool r;

	(void)hostaddr_new(&h);   /* NULL: "yes", as the engine would fail closed */
	r = hostaddr_is_local(h, (const struct sockaddr *)a);
	hostaddr_free(h);
	return r;
}

int cmd_policy_check(const struct sbx_paths *p, const char *target, const char *sandbox)
{
	_cleanup_free_ char *host = NULL;
	struct policy_decision d;
	struct policy *pol = NULL;
	struct settings *set = NULL;
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	char hp[300];
	bool given, mapped = false;
	uint16_t port;

	if (target_parse(target, &host, &port, &given) < 0) {
		fprintf(stderr, "sbx policy check: invalid target '%s' (host, host:port, IP or URL)\n", target);
		return 2;
	}
	if (cmd_policy_load(p, "check", &pol) < 0)
		return 1;
	policy_check(pol, sandbox, host, port, &d);
	if (strchr(host, ':'))
		snprintf(hp, sizeof(hp), "[%s]:%u", host, port);
	else
		snprintf(hp, sizeof(hp), "%s:%u", host, port);
	if (settings_load(p, &set) == 0 && settings_resolve_lookup(set, host, port, &ss, &sl) == 0)
		mapped = true;

	if (!strcmp(host, "localhost") && !mapped) {
		/* in the VM, localhost is the VM; sbxd refuses the host's loopback by that name */
		printf("deny %s (the name localhost is never forwarded; a service on this host is reached as "
		       "host.docker.internal:%u after: sbx policy allow network localhost:%u)\n", hp, port, port);
		goto denied;
	}
	if (d.action == POLICY_ALLOW && !mapped) {
		struct sockaddr_storage a = { 0 };
		enum addr_class cls = ADDR_PUBLIC;
		if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&a)->sin_addr) == 1) {
			a.ss_family = AF_INET;
			cls = addr_classify((struct sockaddr *)&a);
		} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&a)->sin6_addr) == 1) {
			a.ss_family = AF_INET6;
			cls = addr_classify((struct sockaddr *)&a);
		}
		if (a.ss_family && host_address(&a)) {
			printf("deny %s (one of this host's own addresses, refused whatever the rules; a service "
			       "on this host is reached as host.docker.internal:%u after: sbx policy allow network "
			       "localhost:%u)\n", hp, port, port);
			goto denied;
		}
		if (cls != ADDR_PUBLIC && !d.names_address) {
			printf("deny %s (%s address: allowed by rule '%s', but '**' and names never open internal "
			       "addresses; allow it explicitly: sbx policy allow network %s)\n",
			       hp, addr_class_name(cls), d.rule, hp);
			goto denied;
		}
		if (policy_local_name(host) && !d.names_address) {
			printf("deny %s (leads to this host's loopback; allow the port explicitly: "
			       "sbx policy allow network localhost:%u)\n", hp, port);
			goto denied;
		}
	}
	if (d.action == POLICY_ALLOW) {
		printf("allow %s (rule %d: %s)\n", hp, d.rule_id, d.rule);
		if (mapped)
			printf("note: proxy.resolve maps %s to a fixed address\n", hp);
		if (!given)
			cmd_note("note: no port given, checked 443\n");
		settings_free(set);
		policy_free(pol);
		return 0;
	}
	if (d.rule_id >= 0)
		printf("deny %s (rule %d: %s)\n", hp, d.rule_id, d.rule);
	else if (policy_local_name(host))
		printf("deny %s (%s; allow it with: sbx policy allow network localhost:%u)\n", hp, d.rule, port);
	else
		printf("deny %s (%s; allow it with: sbx policy allow network %s)\n", hp, d.rule, host);
denied:
	if (!given)
		cmd_note("note: no port given, checked 443\n");
	settings_free(set);
	policy_free(pol);
	return 1;
}
