// SPDX-License-Identifier: MIT
/* test_initramfs.c: cpio newc writer (round trip, alignment, name checks) and modules.dep resolution. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "image.h"
#include "testlib.h"
#include "util.h"

struct entry {
	char name[256];
	unsigned int mode, nlink, size, rmajor, rminor, ino;
	char data[2048];
};

static unsigned int hex8(const char *p)
{
	char b[9];

	memcpy(b, p, 8);
	b[8] = 0;
	return (unsigned int)strtoul(b, NULL, 16);
}

/* Parse a newc archive; returns the number of entries (trailer included) or -1. */
static int parse(const char *buf, size_t len, struct entry *out, int max)
{
	size_t off = 0;
	int n = 0;

	while (off + 110 <= len && n < max) {
		struct entry *e = &out[n++];
		unsigned int namesize;
		const char *h = buf + off;

		if (memcmp(h, "070701", 6) || off % 4)
			return -1;
		e->ino = hex8(h + 6);
		e->mode = hex8(h + 14);
		e->nlink = hex8(h + 38);
		e->size = hex8(h + 54);
		e->rmajor = hex8(h + 78);
		e->rminor = hex8(h + 86);
		namesize = hex8(h + 94);
		if (namesize == 0 || namesize > sizeof(e->name) || off + 110 + namesize > len)
			return -1;
		memcpy(e->name, h + 110, namesize);
		if (e->name[namesize - 1] != 0)
			return -1;
		off += 110 + namesize;
		/* Padding after the name must be zeros up to a multiple of 4. */
		while (off % 4) {
			if (buf[off++] != 0)
				return -1;
		}
		if (off + e->size > len)
			return -1;
		memcpy(e->data, buf + off, MIN(e->size, sizeof(e->data)));
		off += e->size;
		while (off % 4) {
			if (buf[off++] != 0)
				return -1;
		}
		if (!strcmp(e->name, "TRAILER!!!"))
			return off == len ? n : -1;
	}
	return -1;
}

static char *tmpdir;

static void test_cpio_roundtrip(void)
{
	_cleanup_free_ char *path = xasprintf("%s/a.cpio", tmpdir);
	_cleanup_free_ char *buf = NULL;
	struct cpio_writer *w = NULL;
	struct entry e[16];
	size_t len = 0;
	int fd, n;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(cpio_open(fd, &w), 0);
	CHECK_EQ(cpio_add_dir(w, "etc", 0755), 0);
	CHECK_EQ(cpio_add_dir(w, "etc/sbx", 0700), 0);
	CHECK_EQ(cpio_add_file(w, "etc/sbx/a", 0644, "hello", 5), 0);      /* 5: needs padding */
	CHECK_EQ(cpio_add_file(w, "init", 0755, "12345678", 8), 0);         /* aligned */
	CHECK_EQ(cpio_add_file(w, "empty", 0600, NULL, 0), 0);
	CHECK_EQ(cpio_add_symlink(w, "etc/link", "sbx/a"), 0);
	CHECK_EQ(cpio_add_node(w, "console", S_IFCHR | 0600, 5, 1), 0);
	CHECK_EQ(cpio_finish(w), 0);
	close(fd);

	CHECK_EQ(file_read_all(path, 1 << 20, &buf, &len), 0);
	CHECK_EQ(len % 4, 0);
	n = parse(buf, len, e, 16);
	CHECK_EQ(n, 8);
	if (n != 8)
		return;
	CHECK_STR(e[0].name, "etc");
	CHECK_EQ(e[0].mode, S_IFDIR | 0755);
	CHECK_EQ(e[0].nlink, 2);
	CHECK_STR(e[1].name, "etc/sbx");
	CHECK_EQ(e[1].mode, S_IFDIR | 0700);
	CHECK_STR(e[2].name, "etc/sbx/a");
	CHECK_EQ(e[2].mode, S_IFREG | 0644);
	CHECK_EQ(e[2].size, 5);
	CHECK(!memcmp(e[2].data, "hello", 5));
	CHECK_STR(e[3].name, "init");
	CHECK_EQ(e[3].mode, S_IFREG | 0755);
	CHECK_EQ(e[3].size, 8);
	CHECK(!memcmp(e[3].data, "12345678", 8));
	CHECK_STR(e[4].name, "empty");
	CHECK_EQ(e[4].size, 0);
	CHECK_STR(e[5].name, "etc/link");
	CHECK_EQ(e[5].mode, S_IFLNK | 0777);
	CHECK_EQ(e[5].size, 5);
	CHECK(!memcmp(e[5].data, "sbx/a", 5));
	CHECK_STR(e[6].name, "console");
	CHECK_EQ(e[6].mode, S_IFCHR | 0600);
	CHECK_EQ(e[6].rmajor, 5);
	CHECK_EQ(e[6].rminor, 1);
	CHECK_STR(e[7].name, "TRAILER!!!");
	CHECK_EQ(e[7].size, 0);
	/* Inode numbers are distinct. */
	for (int i = 0; i < 7; i++)
		for (int j = i + 1; j < 7; j++)
			CHECK(e[i].ino != e[j].ino);
}

static void test_cpio_bad_names(void)
{
	_cleanup_free_ char *path = xasprintf("%s/b.cpio", tmpdir);
	_cleanup_free_ char *longname = xmalloc(CPIO_NAME_MAX + 2);
	struct cpio_writer *w = NULL;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	memset(longname, 'a', CPIO_NAME_MAX + 1);
	longname[CPIO_NAME_MAX + 1] = 0;
	CHECK(fd >= 0);
	CHECK_EQ(cpio_open(fd, &w), 0);
	CHECK_EQ(cpio_add_file(w, "/abs", 0644, "x", 1), -EINVAL);
	CHECK_EQ(cpio_add_file(w, "", 0644, "x", 1), -EINVAL);
	CHECK_EQ(cpio_add_file(w, "..", 0644, "x", 1), -EINVAL);
	CHECK_EQ(cpio_add_file(w, "a/../b", 0644, "x", 1), -EINVAL);
	CHECK_EQ(cpio_add_file(w, "a/./b", 0644, "x", 1), -EINVAL);
	CHECK_EQ(cpio_add_file(w, "a//b", 0644, "x", 1), -EINVAL);
	CHECK_EQ(cpio_add_file(w, "a/", 0644, "x", 1), -EINVAL);
	CHECK_EQ(cpio_add_file(w, "TRAILER!!!", 0644, "x", 1), -EINVAL);
	CHECK_EQ(cpio_add_file(w, longname, 0644, "x", 1), -EINVAL);
	CHECK_EQ(cpio_add_file(w, NULL, 0644, "x", 1), -EINVAL);
	CHECK_EQ(cpio_add_file(w, "nodata", 0644, NULL, 3), -EINVAL);
	CHECK_EQ(cpio_add_dir(w, "../up", 0755), -EINVAL);
	CHECK_EQ(cpio_add_symlink(w, "l", ""), -EINVAL);
	CHECK_EQ(cpio_add_node(w, "dev/x", S_IFREG | 0600, 1, 3), -EINVAL);
	CHECK_EQ(cpio_add_file(w, "a..b", 0644, "x", 1), 0); /* ".." inside a component is fine */
	longname[CPIO_NAME_MAX] = 0;
	CHECK_EQ(cpio_add_file(w, longname, 0644, "x", 1), 0);
	CHECK_EQ(cpio_finish(w), 0);
	close(fd);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, name);

	CHECK_EQ(file_write_atomic(p, text, strlen(text), 0644), 0);
}

static int count(char **v)
{
	int n = 0;

	while (v && v[n])
		n++;
	return n;
}

static void test_modules_resolve(void)
{
	_cleanup_free_ char *md = xasprintf("%s/lib/modules/6.1.0-test", tmpdir);
	char **paths = NULL;

	CHECK_EQ(mkdir_p(md, 0755), 0);
	write_file(md, "modules.dep",
		   "kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n"
		   "kernel/drivers/virtio/virtio.ko:\n"
		   "kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko\n"
		   "kernel/fs/fuse/virtiofs.ko: kernel/fs/fuse/fuse.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n"
		   "kernel/fs/fuse/fuse.ko:\n"
		   "kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n"
		   "kernel/a/cyc1.ko: kernel/a/cyc2.ko\n"
		   "kernel/a/cyc2.ko: kernel/a/cyc1.ko\n"
		   "kernel/a/broken.ko: kernel/a/nowhere.ko\n"
		   "/abs/evil.ko:\n"
		   "kernel/../evil2.ko:\n");
	write_file(md, "modules.builtin", "kernel/fs/ext4/ext4.ko\n");

	{
		const char *names[] = { "virtio_mmio", "virtiofs", NULL };
		CHECK_EQ(modules_resolve(md, names, &paths), 0);
		CHECK_EQ(count(paths), 5);
		if (count(paths) == 5) {
			/* Dependencies first, each once. */
			CHECK_STR(paths[0], "kernel/drivers/virtio/virtio.ko");
			CHECK_STR(paths[1], "kernel/drivers/virtio/virtio_ring.ko");
			CHECK_STR(paths[2], "kernel/drivers/virtio/virtio_mmio.ko");
			CHECK_STR(paths[3], "kernel/fs/fuse/fuse.ko");
			CHECK_STR(paths[4], "kernel/fs/fuse/virtiofs.ko");
		}
		image_strv_free(paths);
		paths = NULL;
	}
	{
		/* '-' and '_' are the same; a module named twice comes once; built-ins are skipped. */
		const char *names[] = { "virtio_rng", "virtio-rng", "ext4", "virtio", NULL };
		CHECK_EQ(modules_resolve(md, names, &paths), 0);
		CHECK_EQ(count(paths), 3);
		if (count(paths) == 3)
			CHECK_STR(paths[2], "kernel/drivers/char/hw_random/virtio-rng.ko");
		image_strv_free(paths);
		paths = NULL;
	}
	{
		const char *missing[] = { "virtio_mmio", "nosuchmod", NULL };
		const char *cycle[] = { "cyc1", NULL };
		const char *broken[] = { "broken", NULL };
		const char *evil[] = { "evil", NULL };
		const char *evil2[] = { "evil2", NULL };
		CHECK_EQ(modules_resolve(md, missing, &paths), -ENOENT);
		CHECK_EQ(modules_resolve(md, cycle, &paths), -ELOOP);
		CHECK_EQ(modules_resolve(md, broken, &paths), -ENOENT);
		CHECK_EQ(modules_resolve(md, evil, &paths), -ENOENT);
		CHECK_EQ(modules_resolve(md, evil2, &paths), -ENOENT);
		CHECK(paths == NULL);
	}
	{
		_cleanup_free_ char *none = xasprintf("%s/nonexistent", tmpdir);
		const char *names[] = { "virtio", NULL };
		CHECK_EQ(modules_resolve(none, names, &paths), -ENOENT);
	}
}

/* initramfs_build on the fake tree: /init, device nodes, modules and their list. */
static void test_initramfs_build(void)
{
	_cleanup_free_ char *md = xasprintf("%s/lib/modules/6.1.0-test", tmpdir);
	_cleanup_free_ char *guest = xasprintf("%s/guest", tmpdir);
	_cleanup_free_ char *out = xasprintf("%s/initramfs.cpio", tmpdir);
	_cleanup_free_ char *buf = NULL;
	static const char *const mods[] = {
		"kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko",
		"kernel/drivers/virtio/virtio_mmio.ko", "kernel/drivers/virtio/virtio_pci.ko",
		"kernel/drivers/block/virtio_blk.ko", "kernel/drivers/char/virtio_console.ko",
		"kernel/fs/fuse/fuse.ko", "kernel/fs/fuse/virtiofs.ko",
		"kernel/drivers/virtio/virtio_balloon.ko", "kernel/drivers/net/dummy.ko", "kernel/net/netfilter/nf_tables.ko",
		"kernel/net/netfilter/nft_chain_nat.ko", "kernel/net/netfilter/nft_redir.ko",
		"kernel/net/netfilter/nft_reject_inet.ko", "kernel/net/netfilter/nft_fib_inet.ko",
	};
	struct entry *e = xcalloc(64, sizeof(*e));
	size_t len = 0;
	int n;
	bool saw_init = false, saw_console = false, saw_list = false;

	write_file(md, "modules.dep",
		   "kernel/drivers/virtio/virtio.ko:\n"
		   "kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko\n"
		   "kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n"
		   "kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n"
		   "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n"
		   "kernel/drivers/char/virtio_console.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n"
		   "kernel/fs/fuse/virtiofs.ko: kernel/fs/fuse/fuse.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n"
		   "kernel/fs/fuse/fuse.ko:\n"
		   "kernel/drivers/virtio/virtio_balloon.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n"
		   "kernel/drivers/net/dummy.ko:\n"
		   "kernel/net/netfilter/nf_tables.ko:\n"
		   "kernel/net/netfilter/nft_chain_nat.ko: kernel/net/netfilter/nf_tables.ko\n"
		   "kernel/net/netfilter/nft_redir.ko: kernel/net/netfilter/nf_tables.ko\n"
		   "kernel/net/netfilter/nft_reject_inet.ko: kernel/net/netfilter/nf_tables.ko\n"
		   "kernel/net/netfilter/nft_fib_inet.ko: kernel/net/netfilter/nf_tables.ko\n");
	for (size_t i = 0; i < ARRAY_SIZE(mods); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", md, mods[i]);
		_cleanup_free_ char *d = xstrdup(p);
		*strrchr(d, '/') = 0;
		CHECK_EQ(mkdir_p(d, 0755), 0);
		CHECK_EQ(file_write_atomic(p, "MOD", 3, 0644), 0);
	}
	CHECK_EQ(file_write_atomic(guest, "\177ELFguest", 9, 0755), 0);
	CHECK_EQ(initramfs_build(out, guest, md, "6.1.0-test", NULL), 0);
	CHECK_EQ(initramfs_build(out, guest, md, "../x", NULL), -EINVAL);
	CHECK_EQ(file_read_all(out, 1 << 20, &buf, &len), 0);
	n = parse(buf, len, e, 64);
	CHECK(n > 0);
	for (int i = 0; i < n; i++) {
		if (!strcmp(e[i].name, "init")) {
			saw_init = true;
			CHECK_EQ(e[i].mode, S_IFREG | 0755);
			CHECK(!memcmp(e[i].data, "\177ELFguest", 9));
		}
		if (!strcmp(e[i].name, "dev/console")) {
			saw_console = true;
			CHECK_EQ(e[i].mode, S_IFCHR | 0600);
			/* The parent directory came first. */
			CHECK(i > 0);
		}
		if (!strcmp(e[i].name, "etc/sbx/modules")) {
			const char *want = "/lib/modules/6.1.0-test/kernel/drivers/virtio/virtio.ko\n"
					   "/lib/modules/6.1.0-test/kernel/drivers/virtio/virtio_ring.ko\n"
					   "/lib/modules/6.1.0-test/kernel/drivers/virtio/virtio_mmio.ko\n";
			/* the boot set, then the later set, after its mark */
			const char *later = "/virtiofs.ko\n@later\n/lib/modules/6.1.0-test/kernel/drivers/virtio/virtio_balloon.ko\n";
			_cleanup_free_ char *text = strndup(e[i].data, MIN(e[i].size, sizeof(e[i].data)));
			saw_list = true;
			CHECK(e[i].size > strlen(want));
			CHECK(!strncmp(e[i].data, want, strlen(want)));
			CHECK(text && strstr(text, later));
			CHECK(text && !strstr(text, "virtio_pci")); /* microvm has no PCI bus */
		}
		/* Every entry's parent directory precedes it. */
		if (strchr(e[i].name, '/') && strcmp(e[i].name, "TRAILER!!!")) {
			char parent[256];
			bool found = false;
			snprintf(parent, sizeof(parent), "%s", e[i].name);
			*strrchr(parent, '/') = 0;
			for (int j = 0; j < i && !found; j++)
				found = !strcmp(e[j].name, parent) && S_ISDIR(e[j].mode);
			CHECK(found);
		}
	}
	CHECK(saw_init);
	CHECK(saw_console);
	CHECK(saw_list);
	free(e);
}

static void test_module_strip_sig(void)
{
	static const char magic[] = "~Module signature appended~\n";
	uint8_t buf[256];
	size_t body = 100, sig = 40, len;

	memset(buf, 'M', body);
	memset(buf + body, 'S', sig);
	memset(buf + body + sig, 0, 12);
	buf[body + sig + 8] = 0;
	buf[body + sig + 11] = (uint8_t)sig;   /* sig_len, big-endian, last field */
	memcpy(buf + body + sig + 12, magic, sizeof(magic) - 1);
	len = body + sig + 12 + sizeof(magic) - 1;
	CHECK_EQ(module_strip_sig(buf, len), body);
	/* unsigned: unchanged */
	CHECK_EQ(module_strip_sig(buf, body), body);
	/* a signature length larger than the file: unchanged */
	buf[body + sig + 10] = 0x7f;
	CHECK_EQ(module_strip_sig(buf, len), len);
	/* too short for the trailer */
	CHECK_EQ(module_strip_sig((const uint8_t *)magic, sizeof(magic) - 1), sizeof(magic) - 1);
}

int main(void)
{
	char tmpl[] = "/tmp/test_initramfs.XXXXXX";

	tmpdir = mkdtemp(tmpl);
	CHECK(tmpdir != NULL);
	if (!tmpdir)
		TEST_DONE();
	test_cpio_roundtrip();
	test_cpio_bad_names();
	test_modules_resolve();
	test_initramfs_build();
	test_module_strip_sig();
	rm_rf(tmpdir);
	TEST_DONE();
}
