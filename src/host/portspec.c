// SPDX-License-Identifier: MIT
/* portspec.c: the [ADDR:]HOSTPORT:GUESTPORT text of published ports (user input and spec.json). */
#include "portspec.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int portspec_parse_host_port(const char *text, uint16_t *ret)
{
	return port_parse(text, ret);
}

int portspec_parse(const char *text, struct portspec *ret, const char **ret_err)
{
	struct portspec p = { .family = AF_INET };
	char buf[PORTSPEC_TEXT_MAX + 1], addr[INET6_ADDRSTRLEN + 1] = PORTSPEC_ADDR_DEFAULT;
	char *ports = buf, *colon;
	size_t len = strlen(text);

	if (len == 0 || len > PORTSPEC_TEXT_MAX)
		return *ret_err = "a published port is [ADDR:]HOSTPORT:GUESTPORT (e.g. 8080:80)", -EINVAL;
	memcpy(buf, text, len + 1);
	if (buf[0] == '[') {
		char *end = strchr(buf, ']');
		if (!end || end[1] != ':' || (size_t)(end - buf - 1) > INET6_ADDRSTRLEN - 1 || end == buf + 1)
			return *ret_err = "an IPv6 address is written in brackets: [ADDR]:HOSTPORT:GUESTPORT", -EINVAL;
		memcpy(addr, buf + 1, (size_t)(end - buf - 1));
		addr[end - buf - 1] = 0;
		p.family = AF_INET6;
		ports = end + 2;
	} else {
		char *first = strchr(buf, ':'), *last = strrchr(buf, ':');
		if (!first)
			return *ret_err = "a published port is [ADDR:]HOSTPORT:GUESTPORT (e.g. 8080:80)", -EINVAL;
		if (first != last) {
			/* ADDR:HOST:GUEST; a bare IPv6 address has more colons */
			if (strchr(first + 1, ':') != last)
				return *ret_err = "an IPv6 address is written in brackets: [ADDR]:HOSTPORT:GUESTPORT", -EINVAL;
			if ((size_t)(first - buf) > INET6_ADDRSTRLEN - 1 || first == buf)
				return *ret_err = "the address must be an IP address (e.g. 127.0.0.1)", -EINVAL;
			memcpy(addr, buf, (size_t)(first - buf));
			addr[first - buf] = 0;
			ports = first + 1;
		}
	}
	if (p.family == AF_INET6 ? inet_pton(AF_INET6, addr, p.addr) != 1 : inet_pton(AF_INET, addr, p.addr) != 1)
		return *ret_err = p.family == AF_INET6 ? "not an IPv6 address in the brackets"
						       : "the address must be an IP address (e.g. 127.0.0.1)",
		       -EINVAL;
	colon = strchr(ports, ':');
	if (!colon || strchr(colon + 1, ':'))
		return *ret_err = "a published port is [ADDR:]HOSTPORT:GUESTPORT (e.g. 8080:80)", -EINVAL;
	*colon = 0;
	if (port_parse(ports, &p.host_port) < 0 || port_parse(colon + 1, &p.guest_port) < 0)
		return *ret_err = "ports are numbers from 1 to 65535", -EINVAL;
	*ret = p;
	return 0;
}

int portspec_parse_unpublish(const char *text, struct portspec *ret, const char **ret_err)
{
	struct portspec p = { 0 };
	char buf[PORTSPEC_TEXT_MAX + 3];
	size_t len;

	if (portspec_parse_host_port(text, &p.host_port) == 0) {
		*ret = p;
		return 0;
	}
	if (portspec_parse(text, ret, ret_err) == 0)
		return 0;
	len = strlen(text);
	if (len > PORTSPEC_TEXT_MAX - 2)
		return *ret_err = "unpublish wants [ADDR:]HOSTPORT[:GUESTPORT]", -EINVAL;
	memcpy(buf, text, len);
	memcpy(buf + len, ":1", 3);   /* ADDR:HOSTPORT, any guest port */
	if (!strchr(text, ':') || portspec_parse(buf, &p, ret_err) < 0) {
		*ret_err = "unpublish wants [ADDR:]HOSTPORT[:GUESTPORT]";
		return -EINVAL;
	}
	p.guest_port = 0;
	*ret = p;
	return 0;
}

static void addr_text(const struct portspec *p, char *buf, size_t n)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(p->family, p->addr, a, sizeof(a));
	snprintf(buf, n, p->family == AF_INET6 ? "[%s]" : "%s", a);
}

void portspec_format(const struct portspec *p, char *buf, size_t n)
{
	char a[INET6_ADDRSTRLEN + 2];

	addr_text(p, a, sizeof(a));
	snprintf(buf, n, "%s:%u:%u", a, (unsigned)p->host_port, (unsigned)p->guest_port);
}

void portspec_format_host(const struct portspec *p, char *buf, size_t n)
{
	char a[INET6_ADDRSTRLEN + 2];

	addr_text(p, a, sizeof(a));
	snprintf(buf, n, "%s:%u", a, (unsigned)p->host_port);
}

socklen_t portspec_sockaddr(const struct portspec *p, struct sockaddr_storage *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (p->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ret;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(p->host_port);
		memcpy(&s6->sin6_addr, p->addr, 16);
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ret;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(p->host_port);
	memcpy(&s4->sin_addr, p->addr, 4);
	return sizeof(*s4);
}

bool portspec_same_host(const struct portspec *a, const struct portspec *b)
{
	return a->family == b->family && a->host_port == b->host_port &&
	       !memcmp(a->addr, b->addr, a->family == AF_INET6 ? 16 : 4);
}

bool portspec_equal(const struct portspec *a, const struct portspec *b)
{
	return portspec_same_host(a, b) && a->guest_port == b->guest_port;
}

bool portspec_is_wildcard(const struct portspec *p)
{
	static const uint8_t zero[16];

	return !memcmp(p->addr, zero, p->family == AF_INET6 ? 16 : 4);
}

int portspec_list_check(const struct portspec *list, size_t n, const char **ret_err)
{
	if (n > PORTSPEC_MAX)
		return *ret_err = "too many published ports (32 at most)", -EINVAL;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			/* one port on a wildcard and on a specific address of the same family
			 * cannot both listen either; bind() says so */
			if (list[i].host_port == list[j].host_port &&
			    (portspec_same_host(&list[i], &list[j]) ||
			     (list[i].family == list[j].family &&
			      (portspec_is_wildcard(&list[i]) || portspec_is_wildcard(&list[j])))))
				return *ret_err = "a host port is published twice", -EINVAL;
	return 0;
}

int port_parse(const char *s, uint16_t *ret)
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
