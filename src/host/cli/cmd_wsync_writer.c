// SPDX-License-Identifier: MIT
/* cmd_wsync_writer.c: `sbx __wsync-writer SOCK ROOT`, the sync-mode writer process that
 * sbxd starts (wswriter.h); hidden, not for people. */
#include <stdlib.h>

#include "cmd.h"
#include "util.h"
#include "wswriter.h"

int cmd_wsync_writer(struct sbx_paths *p, int argc, char **argv)
{
	char *end1 = NULL, *end2 = NULL;
	long sock, root;

	if (argc != 3)
		return 2;
	sock = strtol(argv[1], &end1, 10);
	root = strtol(argv[2], &end2, 10);
	if (*end1 || *end2 || sock < 3 || root < 3 || sock > 65535 || root > 65535)
		return 2;
	log_setup("sbx-wsync-writer", getenv("SBX_DEBUG") ? LOG_DEBUG : LOG_INFO, true);
	return wswriter_main((int)sock, (int)root);
}
