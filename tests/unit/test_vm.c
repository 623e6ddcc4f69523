// SPDX-License-Identifier: MIT
/* test_vm.c: unit tests for the VM launcher's pure parts (argv, cmdline, accel, id maps) and sock/proc. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "accel.h"
#include "proc.h"
#include "sock.h"
#include "testlib.h"
#include "util.h"
#include "vm.h"

static struct vm_config base_config(void)
{
	struct vm_config c = {
		.name = "box",
		.vmlinux = "/cache/vmlinux",
		.initramfs = "/cache/initramfs.cpio",
		.disk = "/state/box/disk.qcow2",
		.workspace = "/home/u/proj",
		.run_dir = "/run/vms/box",
		.console_log = "/state/box/console.log",
		.cpus = 2,
		.mem_mib = 1024,
		.accel = ACCEL_TCG,
		.ws_uid = 1000,
		.ws_gid = 1000,
	};
	return c;
}

static int argv_find(char **argv, const char *s)
{
	for (int i = 0; argv[i]; i++) {
		if (!strcmp(argv[i], s))
			return i;
	}
	return -1;
}

/* The value following option opt whose text starts with prefix. */
static const char *argv_opt(char **argv, const char *opt, const char *prefix)
{
	for (int i = 0; argv[i] && argv[i + 1]; i++) {
		if (!strcmp(argv[i], opt) && !strncmp(argv[i + 1], prefix, strlen(prefix)))
			return argv[i + 1];
	}
	return NULL;
}

static void test_cmdline(void)
{
	struct vm_config c = base_config();
	char big[3000];
	char *s = NULL;

	CHECK_EQ(vm_build_cmdline(&c, 2596122, &s), 0);
	CHECK(strstr(s, "console=ttyS0 quiet panic=-1 ") == s);
	CHECK(strstr(s, " rdinit=/init") != NULL);
	CHECK(strstr(s, " pci=off") != NULL);
	CHECK(strstr(s, " tsc_early_khz=2596122 tsc=reliable") != NULL);
	CHECK(strstr(s, " norandmaps") != NULL); /* TCG: translated blocks reused across processes */
	free(s);

	c.accel = ACCEL_KVM;
	c.extra_cmdline = "sbx.ws=/home/u/proj";
	CHECK_EQ(vm_build_cmdline(&c, 2596122, &s), 0);
	CHECK(strstr(s, "tsc_early_khz") == NULL);
	CHECK(strstr(s, "norandmaps") == NULL);
	CHECK(strlen(s) > 20 && !strcmp(s + strlen(s) - 20, " sbx.ws=/home/u/proj"));
	free(s);

	c.accel = ACCEL_TCG;
	c.extra_cmdline = NULL;
	CHECK_EQ(vm_build_cmdline(&c, 0, &s), 0); /* unknown rate: left out */
	CHECK(strstr(s, "tsc_early_khz") == NULL);
	free(s);

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	c.extra_cmdline = big;
	s = NULL;
	CHECK_EQ(vm_build_cmdline(&c, 1, &s), -E2BIG);
	CHECK(s == NULL);
}

static void test_argv(void)
{
	struct vm_config c = base_config();
	char **a = NULL;
	const char *v;
	int i;

	CHECK_EQ(vm_build_argv(&c, 7, 9, &a), 0);
	CHECK_STR(a[0], "qemu-system-x86_64");
	CHECK(argv_find(a, "-nodefaults") > 0);
	CHECK(argv_find(a, "-no-user-config") > 0);
	CHECK(argv_find(a, "-no-reboot") > 0);
	CHECK(argv_opt(a, "-display", "none") != NULL);
	CHECK(argv_opt(a, "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny") != NULL);
	CHECK(argv_opt(a, "-runas", "") == NULL);
	CHECK(argv_opt(a, "-accel", "tcg,thread=multi,tb-size=128") != NULL);
	CHECK(argv_find(a, "-enable-kvm") < 0);
	CHECK(argv_opt(a, "-cpu", "max") != NULL);   /* AVX2 for agent CLIs under TCG */
	CHECK(argv_opt(a, "-smp", "2") != NULL);
	CHECK(argv_opt(a, "-m", "1024M") != NULL);
	CHECK(argv_opt(a, "-object", "memory-backend-memfd,id=mem,size=1024M,share=on") != NULL);
	CHECK(argv_opt(a, "-M", "microvm,x-option-roms=off,memory-backend=mem") != NULL);
	CHECK(argv_opt(a, "-global", "virtio-mmio.force-legacy=false") != NULL);
	CHECK(argv_opt(a, "-kernel", "/cache/vmlinux") != NULL);
	CHECK(argv_opt(a, "-initrd", "/cache/initramfs.cpio") != NULL);
	v = argv_opt(a, "-append", "console=ttyS0");
	CHECK(v && strstr(v, "tsc_early_khz="));
	CHECK(argv_opt(a, "-chardev", "socket,id=ctl,fd=7,server=on,wait=off") != NULL);
	CHECK(argv_opt(a, "-device", "virtserialport,chardev=ctl,name=sbx.ctl") != NULL);
	CHECK(argv_opt(a, "-device", "virtio-serial-device") != NULL);
	CHECK(argv_opt(a, "-device", "virtio-balloon-device,free-page-reporting=on") != NULL);
	CHECK(argv_opt(a, "-chardev", "socket,id=vfs,fd=9") != NULL);
	CHECK(argv_opt(a, "-device", "vhost-user-fs-device,chardev=vfs,tag=sbxws,queue-size=1024") != NULL);
	CHECK(argv_opt(a, "-drive",
		       "if=none,id=root,file=/state/box/disk.qcow2,format=qcow2,cache=writeback,discard=unmap,aio=threads") != NULL);
	CHECK(argv_opt(a, "-device", "virtio-blk-device,drive=root") != NULL);
	CHECK(argv_opt(a, "-chardev", "file,id=con,path=/state/box/console.log,append=on") != NULL);
	CHECK(argv_opt(a, "-serial", "chardev:con") != NULL);
	/* Never a NIC, never a monitor on the public argv. */
	for (i = 0; a[i]; i++) {
		CHECK(strcmp(a[i], "-netdev") && strcmp(a[i], "-nic") && strcmp(a[i], "-net") && strcmp(a[i], "-mon"));
		CHECK(strstr(a[i], "virtio-net") == NULL);
	}
	vm_argv_free(a);

	/* KVM, no workspace, a custom binary, commas in paths doubled for QEMU. */
	c.accel = ACCEL_KVM;
	c.qemu_bin = "/opt/qemu/bin/qemu-system-x86_64";
	c.disk = "/state/a,b/disk.qcow2";
	CHECK_EQ(vm_build_argv(&c, 3, -1, &a), 0);
	CHECK_STR(a[0], "/opt/qemu/bin/qemu-system-x86_64");
	CHECK(argv_find(a, "-enable-kvm") > 0);
	CHECK(argv_opt(a, "-cpu", "host") != NULL);
	CHECK(argv_opt(a, "-accel", "tcg") == NULL);
	CHECK(argv_opt(a, "-M", "microvm,x-option-roms=off") != NULL);
	CHECK(argv_opt(a, "-object", "memory-backend") == NULL);
	CHECK(argv_opt(a, "-chardev", "socket,id=vfs") == NULL);
	CHECK(argv_opt(a, "-drive", "if=none,id=root,file=/state/a,,b/disk.qcow2,format=qcow2") != NULL);
	v = argv_opt(a, "-append", "console=ttyS0");
	CHECK(v && !strstr(v, "tsc_early_khz"));
	vm_argv_free(a);

	/* The backing file named by sbx: -blockdev nodes, never -drive (whose qcow2
	 * header would choose it); commas doubled there too. */
	c.disk_base = "/cache/templates/min,imal/base-1.raw";
	CHECK_EQ(vm_build_argv(&c, 3, -1, &a), 0);
	CHECK(argv_opt(a, "-drive", "") == NULL);
	CHECK(argv_opt(a, "-blockdev", "driver=file,node-name=basefile,filename=/cache/templates/min,,imal/base-1.raw,"
				       "read-only=on,aio=threads") != NULL);
	CHECK(argv_opt(a, "-blockdev", "driver=raw,node-name=base,file=basefile,read-only=on") != NULL);
	CHECK(argv_opt(a, "-blockdev", "driver=file,node-name=diskfile,filename=/state/a,,b/disk.qcow2,") != NULL);
	CHECK(argv_opt(a, "-blockdev", "driver=qcow2,node-name=root,file=diskfile,backing=base,discard=unmap") != NULL);
	CHECK(argv_opt(a, "-device", "virtio-blk-device,drive=root") != NULL);
	vm_argv_free(a);

	/* Bad configs. */
	a = NULL;
	c = base_config();
	c.disk = "relative.qcow2";
	CHECK_EQ(vm_build_argv(&c, 3, -1, &a), -EINVAL);
	c = base_config();
	c.cpus = 0;
	CHECK_EQ(vm_build_argv(&c, 3, -1, &a), -EINVAL);
	c = base_config();
	CHECK_EQ(vm_build_argv(&c, -1, -1, &a), -EINVAL);
	CHECK(a == NULL);
}

static const char cpuinfo_pvm[] =
	"processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz\n"
	"cpu MHz\t\t: 2596.122\nflags\t\t: fpu vme de pse tsc msr pae hypervisor lahf_lm abm vmxx svmx\n\n"
	"processor\t: 1\ncpu MHz\t\t: 1.000\nflags\t\t: fpu vmx\n";
static const char cpuinfo_vmx[] = "processor\t: 0\ncpu MHz\t\t: 3000\nflags\t\t: fpu vme vmx ept\n";
static const char cpuinfo_svm[] = "processor\t: 0\ncpu MHz\t: 2445.4267\nflags\t: fpu svm\n";

static void test_accel(void)
{
	struct accel_probe p = { 0 };
	enum accel a = ACCEL_KVM;
	char *why = NULL;

	CHECK(accel_cpuinfo_hw_flag(cpuinfo_pvm) == NULL); /* only the first CPU's flags, whole words */
	CHECK_STR(accel_cpuinfo_hw_flag(cpuinfo_vmx), "vmx");
	CHECK_STR(accel_cpuinfo_hw_flag(cpuinfo_svm), "svm");
	CHECK(accel_cpuinfo_hw_flag("") == NULL);
	CHECK_EQ(accel_cpuinfo_khz(cpuinfo_pvm), 2596122);
	CHECK_EQ(accel_cpuinfo_khz(cpuinfo_vmx), 3000000);
	CHECK_EQ(accel_cpuinfo_khz(cpuinfo_svm), 2445426);
	CHECK_EQ(accel_cpuinfo_khz("processor : 0\n"), 0);

	/* This project's machines: /dev/kvm works but is PVM, no vmx/svm. */
	p.hw_flag = accel_cpuinfo_hw_flag(cpuinfo_pvm);
	p.pvm = true;
	p.kvm_err = 0;
	p.kvm_api = 12;
	CHECK_EQ(accel_decide("auto", &p, &a, &why), 0);
	CHECK_EQ(a, ACCEL_TCG);
	CHECK_STR(why, "no hardware virtualization (vmx/svm) in /proc/cpuinfo; /dev/kvm is PVM");
	free(why);
	CHECK_EQ(accel_decide(NULL, &p, &a, &why), 0);
	CHECK_EQ(a, ACCEL_TCG);
	free(why);
	why = NULL;
	CHECK_EQ(accel_decide("kvm", &p, &a, &why), -ENODEV);
	CHECK(why && strstr(why, "vm.accel=kvm") && strstr(why, "PVM"));
	free(why);

	/* Hardware virtualization and a working /dev/kvm. */
	p.hw_flag = accel_cpuinfo_hw_flag(cpuinfo_vmx);
	p.pvm = false;
	CHECK_EQ(accel_decide("auto", &p, &a, &why), 0);
	CHECK_EQ(a, ACCEL_KVM);
	CHECK(strstr(why, "vmx") != NULL);
	free(why);
	CHECK_EQ(accel_decide("kvm", &p, &a, &why), 0);
	CHECK_EQ(a, ACCEL_KVM);
	free(why);
	CHECK_EQ(accel_decide("tcg", &p, &a, &why), 0);
	CHECK_EQ(a, ACCEL_TCG);
	CHECK(strstr(why, "requested") != NULL);
	free(why);

	/* PVM loaded but no /dev/kvm: no word about PVM */
	{
		struct accel_probe q = { .hw_flag = NULL, .pvm = true, .kvm_err = -ENOENT };
		CHECK_EQ(accel_decide("auto", &q, &a, &why), 0);
		CHECK_STR(why, "no hardware virtualization (vmx/svm) in /proc/cpuinfo; no /dev/kvm");
		free(why);
	}

	/* vmx, but /dev/kvm unusable. */
	p.kvm_err = -EACCES;
	CHECK_EQ(accel_decide("auto", &p, &a, &why), 0);
	CHECK_EQ(a, ACCEL_TCG);
	CHECK(strstr(why, "/dev/kvm") && strstr(why, "Permission denied"));
	free(why);
	p.kvm_err = -EPROTO;
	p.kvm_api = 11;
	CHECK_EQ(accel_decide("kvm", &p, &a, &why), -ENODEV);
	CHECK(strstr(why, "API 11") != NULL);
	free(why);

	why = NULL;
	CHECK_EQ(accel_decide("fast", &p, &a, &why), -EINVAL);
	CHECK(why == NULL);
	CHECK_STR(accel_name(ACCEL_KVM), "kvm");
	CHECK_STR(accel_name(ACCEL_TCG), "tcg");
}

static void test_parse_stat(void)
{
	uint64_t st = 0;
	char state = 0;

	CHECK_EQ(proc_parse_stat("1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 "
				 "1000 100 18446744073709551615\n",
				 &state, &st),
		 0);
	CHECK_EQ(state, 'S');
	CHECK_EQ(st, 98765);
	CHECK_EQ(proc_parse_stat("1 (x) Z 0 0", &state, &st), -EINVAL);
	CHECK_EQ(proc_parse_stat("garbage", &state, &st), -EINVAL);
	CHECK(proc_start_time(getpid()) > 0);
	CHECK(proc_alive(getpid(), proc_start_time(getpid())));
	CHECK(!proc_alive(getpid(), proc_start_time(getpid()) + 1));
}

static void test_sock(void)
{
	char tmpl[] = "/tmp/sbx-test-vm-XXXXXX";
	char *dir = mkdtemp(tmpl), *deep;
	int l = -1, c = -1, a, r;
	struct stat st;

	CHECK(dir != NULL);
	if (!dir)
		return;
	/* Longer than sun_path (108). */
	deep = xasprintf("%s/%0150d", dir, 0);
	CHECK_EQ(mkdir(deep, 0700), 0);
	CHECK_EQ(sock_listen_at(deep, "ctl.sock", 4, 0600, &l), 0);
	CHECK(fcntl(l, F_GETFD) & FD_CLOEXEC);
	char *path = xasprintf("%s/ctl.sock", deep);
	CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0600);
	CHECK_EQ(sock_connect_at(deep, "ctl.sock", &c), 0);
	a = accept(l, NULL, NULL);
	CHECK(a >= 0);
	CHECK_EQ(write(c, "hi", 2), 2);
	char b[4] = { 0 };
	CHECK_EQ(read(a, b, sizeof(b)), 2);
	CHECK_STR(b, "hi");
	close(a);
	close(c);
	close(l);
	/* A stale socket is replaced; other files are not. */
	CHECK_EQ(sock_listen_at(deep, "ctl.sock", 4, 0600, &l), 0);
	close(l);
	r = sock_connect_at(deep, "ctl.sock", &c);
	CHECK_EQ(r, -ECONNREFUSED);
	char *reg = xasprintf("%s/file", deep);
	close(open(reg, O_CREAT | O_WRONLY, 0600));
	CHECK_EQ(sock_listen_at(deep, "file", 4, 0600, &l), -EEXIST);
	CHECK_EQ(sock_listen_at(deep, "a/b", 4, 0600, &l), -EINVAL);
	CHECK_EQ(sock_connect_at(deep, "missing.sock", &c), -ENOENT);
	unlink(reg);
	unlink(path);
	rmdir(deep);
	rmdir(dir);
	free(reg);
	free(path);
	free(deep);
}

static int setup_fail(void *arg)
{
	return -*(int *)arg;
}

static int setup_fail_at_step(void *arg)
{
	proc_setup_step(1);
	proc_setup_step(7);
	return -*(int *)arg;
}

static int setup_steps_ok(void *arg)
{
	proc_setup_step(3);
	return 0;
}

static void test_spawn(void)
{
	char *sleep_argv[] = { (char *)"sleep", (char *)"30", NULL };
	char *missing_argv[] = { (char *)"/nonexistent/sbx-test-binary", NULL };
	char *ls_argv[] = { (char *)"ls", (char *)"/proc/self/fd", NULL };
	int p[2], keep[2], err = EACCES, step;
	char out[512] = { 0 };
	pid_t pid = 0;
	uint64_t st;
	size_t len = 0;
	ssize_t n;

	CHECK_EQ(proc_spawn_detached(missing_argv, -1, NULL, 0, NULL, NULL, &pid), -ENOENT);
	CHECK_EQ(proc_spawn_detached(sleep_argv, -1, NULL, 0, setup_fail, &err, &pid), -EACCES);
	/* where it failed: child_setup's last step, or 0 for exec */
	step = -1;
	CHECK_EQ(proc_spawn_detached_step(sleep_argv, -1, NULL, 0, setup_fail_at_step, &err, &pid, &step), -EACCES);
	CHECK_EQ(step, 7);
	step = -1;
	CHECK_EQ(proc_spawn_detached_step(missing_argv, -1, NULL, 0, setup_steps_ok, NULL, &pid, &step), -ENOENT);
	CHECK_EQ(step, 0);
	keep[0] = 1;
	CHECK_EQ(proc_spawn_detached(sleep_argv, -1, keep, 1, NULL, NULL, &pid), -EINVAL);

	CHECK_EQ(proc_spawn_detached(sleep_argv, -1, NULL, 0, NULL, NULL, &pid), 0);
	CHECK(pid > 0);
	st = proc_start_time(pid);
	CHECK(st > 0);
	CHECK(proc_alive(pid, st));
	CHECK(waitpid(pid, NULL, WNOHANG) < 0 && errno == ECHILD); /* not our child */
	CHECK(getsid(pid) > 0 && getsid(pid) != getsid(0)); /* own session */
	CHECK_EQ(proc_terminate(pid, st, 2000), 0);
	CHECK(!proc_alive(pid, st));
	CHECK_EQ(proc_terminate(pid, st, 10), 0); /* already gone */

	/* Only 0-2 and the kept fds survive; kept fds keep their numbers. */
	CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	keep[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	keep[1] = fcntl(keep[0], F_DUPFD_CLOEXEC, 40);
	int stray = open("/dev/null", O_RDONLY); /* not CLOEXEC, not kept: must be closed */
	CHECK_EQ(proc_spawn_detached(ls_argv, p[1], keep, 2, NULL, NULL, &pid), 0);
	close(p[1]);
	while ((n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	char want1[16], want2[16], unwanted[16];
	snprintf(want1, sizeof(want1), "\n%d\n", keep[0]);
	snprintf(want2, sizeof(want2), "\n%d\n", keep[1]);
	snprintf(unwanted, sizeof(unwanted), "\n%d\n", stray);
	CHECK(!strncmp(out, "0\n1\n2\n", 6));
	CHECK(strstr(out, want1) != NULL);
	CHECK(strstr(out, want2) != NULL);
	CHECK(strstr(out, unwanted) == NULL);
	close(p[0]);
	close(keep[0]);
	close(keep[1]);
	close(stray);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_cmdline();
	test_argv();
	test_accel();
	test_parse_stat();
	test_sock();
	test_spawn();
	TEST_DONE();
}
