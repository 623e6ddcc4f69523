// SPDX-License-Identifier: MIT
/* vm_bootfiles.c: per-VM copies of the kernel and initramfs, emptied once the guest runs (vm_bootfiles.h). */
#include "vm_bootfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "vm_int.h"

int vm_bootfile_copy(const char *run_dir, const char *name, const char *src, char **ret_path)
{
	_cleanup_free_ char *dst = xasprintf("%s/%s", run_dir, name);
	_cleanup_close_ int in = -1, out = -1;
	struct stat st;
	off_t left;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0)
		return -errno;
	/* a leftover of an earlier start is replaced, never written through (QEMU may map it) */
	if (unlink(dst) < 0 && errno != ENOENT)
		return -errno;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0)
		return -errno;
	for (left = st.st_size; left > 0;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? -errno : -EIO;

			(void)unlink(dst);
			return e;
		}
		left -= n;
	}
	/* neither is a secret (a Debian kernel and sbx's init): QEMU's ids read it */
	if (fchmod(out, 0644) < 0) {
		int e = -errno;

		(void)unlink(dst);
		return e;
	}
	*ret_path = TAKE_PTR(dst);
	return 0;
}

static int bootfile_punch(const char *run_dir, const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", run_dir, name);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* the pages leave every mapping of the file, QEMU's private one included (pages it
	 * never wrote are still the file's) */
	if (st.st_size > 0 && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, st.st_size) < 0) {
		/* a file system without holes: a truncate frees them too, but a reset would
		 * then fault QEMU instead of loading zeros; still a VM that is gone either way */
		if ((errno != EOPNOTSUPP && errno != ENOSYS) || ftruncate(fd, 0) < 0)
			return -errno;
	}
	return 0;
}

int vm_bootfiles_release(const char *run_dir)
{
	int r = bootfile_punch(run_dir, VM_BOOT_VMLINUX);
	int q = bootfile_punch(run_dir, VM_BOOT_INITRD);

	return r < 0 ? r : q;
}

/* QEMU reads its kernel and initramfs by path under its own ids: they must be
 * readable by others (neither is a secret: a Debian kernel and sbx's init). We make
 * them so if we own them; otherwise say which file and how to fix it. */
int vmm_readable(const char *path, char **ret_err)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if ((st.st_mode & S_IROTH) || (st.st_uid == geteuid() && chmod(path, (st.st_mode & 07777) | 0444) == 0))
		return 0;
	*ret_err = xasprintf("QEMU runs under the sandbox's own ids and cannot read %s (mode %04o); fix: chmod a+r %s",
			     path, (unsigned)(st.st_mode & 07777), path);
	return -EACCES;
}
