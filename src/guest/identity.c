// SPDX-License-Identifier: MIT
/* identity.c: the guest's seed, machine-id and SSH host keys, made new per sandbox. */
#include "identity.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

int identity_seed(const uint8_t *seed, size_t len)
{
	struct {
		struct rand_pool_info info;
		uint8_t buf[64];
	} e;
	_cleanup_close_ int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (len > sizeof(e.buf))
		return -EINVAL;
	e.info.entropy_count = (int)(len * 8);
	e.info.buf_size = (int)len;
	memcpy(e.buf, seed, len);
	if (ioctl(fd, RNDADDENTROPY, &e) < 0) {
		int r = -errno;
		/* at least mixed in, uncredited */
		(void)!write(fd, seed, len);
		explicit_bzero(&e, sizeof(e));
		return r;
	}
	explicit_bzero(&e, sizeof(e));
	return 0;
}

static void ssh_host_keys_remove(void)
{
	DIR *d = opendir("/etc/ssh");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "ssh_host_", 9))
			(void)unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

int identity_apply(const char *hostname)
{
	_cleanup_free_ char *old = NULL, *rec = xasprintf("%s\n", hostname);
	static const char hex[] = "0123456789abcdef";
	uint8_t id[16];
	char text[34];
	struct stat st;
	int r;

	if (file_read_all(IDENTITY_FILE, 4096, &old, NULL) >= 0 && !strcmp(old, rec))
		return 0;
	if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id))
		return -EIO;
	/* a version 4 UUID, as systemd-machine-id-setup writes it */
	id[6] = (id[6] & 0x0f) | 0x40;
	id[8] = (id[8] & 0x3f) | 0x80;
	for (size_t i = 0; i < sizeof(id); i++) {
		text[2 * i] = hex[id[i] >> 4];
		text[2 * i + 1] = hex[id[i] & 15];
	}
	text[32] = '\n';
	text[33] = 0;
	r = file_write_atomic("/etc/machine-id", text, 33, 0444);
	if (r < 0)
		return r;
	if (lstat("/var/lib/dbus/machine-id", &st) == 0 && S_ISREG(st.st_mode))
		(void)file_write_atomic("/var/lib/dbus/machine-id", text, 33, 0444);
	ssh_host_keys_remove();
	(void)mkdir("/var/lib/sbx", 0755);
	return file_write_atomic(IDENTITY_FILE, rec, strlen(rec), 0644);
}
