// SPDX-License-Identifier: MIT
/* apt_mirror.h: the Debian mirror this machine's apt is configured with (template builds use it). */
#ifndef SBX_APT_MIRROR_H
#define SBX_APT_MIRROR_H

#include <stdbool.h>

struct apt_mirrors {
	char *main;     /* URI serving SUITE (or any Debian suite) */
	char *security; /* URI serving *-security */
	bool exact;     /* main serves our suite itself */
};

/* One file's text (changed in place): one-line "deb ..." style, or deb822 stanzas. */
void apt_mirrors_scan(struct apt_mirrors *m, char *text, bool deb822, const char *suite);
/* Scan /etc/apt/sources.list and sources.list.d (*.list, *.sources) for a mirror of suite
 * and its security archive; the caller frees m->main and m->security. */
void apt_mirrors_find(struct apt_mirrors *m, const char *suite);

#endif
