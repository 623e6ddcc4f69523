// SPDX-License-Identifier: MIT
/* test_guest_modules.c: the guest's module list and modules.dep handling (src/guest/modules.c), without a kernel. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "modules.h"
#include "testlib.h"

static void test_list_next(void)
{
	char list[] = "# the initramfs's modules\n"
		      "/lib/modules/r/virtio_mmio.ko\n"
		      "\n"
		      "   \t/lib/modules/r/virtio_blk.ko\r\n"
		      "\t# indented comment\n"
		      "/lib/modules/r/dummy.ko";
	char *cur = list, *m;

	m = modules_list_next(&cur);
	CHECK(m && !strcmp(m, "/lib/modules/r/virtio_mmio.ko"));
	m = modules_list_next(&cur);
	CHECK(m && !strcmp(m, "/lib/modules/r/virtio_blk.ko")); /* leading blanks and CR gone */
	m = modules_list_next(&cur);
	CHECK(m && !strcmp(m, "/lib/modules/r/dummy.ko")); /* last line without newline */
	CHECK(modules_list_next(&cur) == NULL);
	CHECK(modules_list_next(&cur) == NULL);

	char empty[] = "\n# only comments\n\n";
	cur = empty;
	CHECK(modules_list_next(&cur) == NULL);
}

static void test_params(void)
{
	CHECK_STR(modules_params("/lib/modules/r/kernel/drivers/net/dummy.ko"), "numdummies=0");
	CHECK_STR(modules_params("kernel/drivers/net/dummy.ko"), "numdummies=0");
	CHECK_STR(modules_params("dummy.ko"), "numdummies=0");
	CHECK_STR(modules_params("/x/notdummy.ko"), "");
	CHECK_STR(modules_params("/x/dummy.ko.xz"), "");
	CHECK_STR(modules_params("/x/virtio_blk.ko"), "");
}

static const char dep[] =
	"kernel/drivers/net/dummy.ko:\n"
	"kernel/net/netfilter/nf_tables.ko: kernel/lib/libcrc32c.ko kernel/net/netfilter/nfnetlink.ko\n"
	"kernel/net/netfilter/nft_chain_nat.ko: kernel/net/netfilter/nf_nat.ko kernel/net/netfilter/nf_tables.ko\n"
	"kernel/net/netfilter/nft_redir.ko.xz: kernel/net/netfilter/nf_tables.ko\n"
	"kernel/net/netfilter/xnf_tables.ko:\n"
	"kernel/x/needs_xz.ko: kernel/x/dep.ko.xz\n"
	"kernel/fs/last.ko: kernel/fs/dep.ko";

static void test_dep_line(void)
{
	char *l;

	l = moddep_line(dep, "nf_tables");
	CHECK(l && !strcmp(l, "kernel/net/netfilter/nf_tables.ko: kernel/lib/libcrc32c.ko "
			      "kernel/net/netfilter/nfnetlink.ko"));
	free(l);
	l = moddep_line(dep, "dummy");
	CHECK(l && !strcmp(l, "kernel/drivers/net/dummy.ko:"));
	free(l);
	l = moddep_line(dep, "last"); /* last line without newline */
	CHECK(l && !strcmp(l, "kernel/fs/last.ko: kernel/fs/dep.ko"));
	free(l);
	/* the name must be the whole base name: no prefix or suffix matches */
	CHECK(moddep_line(dep, "tables") == NULL);
	CHECK(moddep_line(dep, "nf_table") == NULL);
	CHECK(moddep_line(dep, "netfilter") == NULL);
	CHECK(moddep_line(dep, "absent") == NULL);
	CHECK(moddep_line("", "dummy") == NULL);
}

static void test_dep_load_refusals(void)
{
	struct moddep none = { 0 };
	char dir[] = "/tmp/test_guest_modules.XXXXXX";
	struct moddep m;

	CHECK(mkdtemp(dir) != NULL);
	m = (struct moddep){ .dir = dir, .dep = (char *)dep };
	CHECK_EQ(moddep_load(&none, "dummy"), -ENOENT);    /* no modules.dep */
	CHECK_EQ(moddep_load(&m, "absent"), -ENOENT);      /* not listed */
	CHECK_EQ(moddep_load(&m, "nft_redir"), -ENOENT);   /* only NAME.ko is looked for */
	CHECK_EQ(moddep_load(&m, "needs_xz"), -EOPNOTSUPP); /* compressed: left to modprobe */
	CHECK_EQ(moddep_load(&m, "dummy"), -ENOENT);       /* listed, file missing */
	/* dependencies first: the missing dependency fails before the module itself */
	CHECK_EQ(moddep_load(&m, "nf_tables"), -ENOENT);
	/* a file that is no module: finit_module refuses it (-ENOEXEC, -EPERM...) */
	{
		char *sub = xasprintf("%s/kernel", dir), *sub2 = xasprintf("%s/kernel/drivers", dir),
		     *sub3 = xasprintf("%s/kernel/drivers/net", dir),
		     *f = xasprintf("%s/kernel/drivers/net/dummy.ko", dir);

		CHECK(mkdir(sub, 0700) == 0 && mkdir(sub2, 0700) == 0 && mkdir(sub3, 0700) == 0);
		CHECK(file_write_atomic(f, "not an ELF", 10, 0600) == 0);
		int r = moddep_load(&m, "dummy");
		CHECK(r < 0 && r != -ENOENT && r != -EOPNOTSUPP);
		unlink(f);
		rmdir(sub3);
		rmdir(sub2);
		rmdir(sub);
		free(f);
		free(sub3);
		free(sub2);
		free(sub);
	}
	rmdir(dir);
}

static void test_present(void)
{
	CHECK(!module_present("sbx_no_such_module"));
}

int main(void)
{
	test_list_next();
	test_params();
	test_dep_line();
	test_dep_load_refusals();
	test_present();
	TEST_DONE();
}
