// SPDX-License-Identifier: MIT
/* names.c: sandbox name validation and size parsing. */
#include "names.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static bool name_char(char c, bool first)
{
	if (isascii((unsigned char)c) && isalnum((unsigned char)c))
		return true;
	return !first && (c == '-' || c == '_' || c == '.');
}

bool name_valid(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strlen(name);
	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char(name[i], i == 0))
			return false;
	if (name[n - 1] == '.' || strstr(name, ".."))
		return false;
	return true;
}

char *name_sanitize(const char *s)
{
	char out[NAME_MAX_LEN + 1];
	size_t n = 0;

	for (; *s && n < NAME_MAX_LEN; s++) {
		char c = *s;
		if (!name_char(c, n == 0)) {
			if (n == 0)
				continue;
			c = '-';
		}
		if (c == '.' && n > 0 && out[n - 1] == '.')
			continue;
		out[n++] = c;
	}
	while (n > 0 && (out[n - 1] == '.' || out[n - 1] == '-'))
		n--;
	out[n] = 0;
	return xstrdup(n ? out : "sandbox");
}

int size_parse_mib(const char *s, unsigned *ret_mib)
{
	char *end;
	unsigned long long v;
	unsigned long long mult = 1;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v == 0)
		return -EINVAL;
	if (!strcasecmp(end, "") || !strcasecmp(end, "m") || !strcasecmp(end, "mb") || !strcasecmp(end, "mib"))
		mult = 1;
	else if (!strcasecmp(end, "g") || !strcasecmp(end, "gb") || !strcasecmp(end, "gib"))
		mult = 1024;
	else
		return -EINVAL;
	if (v > UINT32_MAX / mult)
		return -EINVAL;
	*ret_mib = (unsigned)(v * mult);
	return 0;
}

bool env_assignment_valid(const char *s)
{
	const char *eq = strchr(s, '=');

	if (!eq || eq == s || (size_t)(eq - s) > 255)
		return false;
	if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (const char *p = s; p < eq; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return false;
	return strlen(s) <= 128 * 1024;
}
