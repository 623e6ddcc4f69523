// SPDX-License-Identifier: MIT
/* daemon.h: sbxd's entry point (daemon.c: the event loop, control socket and request
 * dispatch); the state it shares with the rest of sbxd is in sbxd.h. */
#ifndef SBX_DAEMON_H
#define SBX_DAEMON_H

#include <stdbool.h>

#include "paths.h"
#include "sbxd.h"   /* for the files that still take the types from here */

int daemon_main(struct sbx_paths *p, bool foreground);

#endif
