// SPDX-License-Identifier: MIT
/* names.h: validation of sandbox names and parsing of user-given sizes. Pure. */
#ifndef SBX_NAMES_H
#define SBX_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define NAME_MAX_LEN 63

/* [A-Za-z0-9][A-Za-z0-9_.-]{0,62}, not ending in '.', no "..". */
bool name_valid(const char *name);
/* Turn an arbitrary string into a valid name (invalid bytes become '-', trimmed,
 * truncated); returns a malloc'd string, "sandbox" when nothing usable is left. */
char *name_sanitize(const char *s);
/* "512", "512M", "2G", "2GiB", "1024m" -> MiB. 0 or -EINVAL. */
int size_parse_mib(const char *s, unsigned *ret_mib);
/* KEY=VALUE with KEY a shell-style identifier. */
bool env_assignment_valid(const char *s);

#endif
