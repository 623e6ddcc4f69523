// SPDX-License-Identifier: MIT
/* vm.c: build QEMU/virtiofsd command lines and start, check and stop one microVM. */
#include "vm.h"

#include <errno.h>
#include <linux/capability.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "idmap.h"
#include "image.h"
#include "proc.h"
#include "sock.h"
#include "vm_bootfiles.h"
#include "vm_error.h"
#include "vm_int.h"
#include "vm_stage.h"
#include "vmm_jail.h"
#include "util.h"
#include "wsguard.h"

#define VM_QEMU_DEFAULT "qemu-system-x86_64"
/* TCG's translation cache, MiB (-accel tcg,tb-size=). QEMU 7.2's default is 1 GiB, and
 * every page of it once written stays resident. Measured on 2 cores, 1 GiB guests,
 * 3 interleaved rounds (medians; docs/idle-memory.md has the method), agents template,
 * default / 128 / 64 / 32: PSS idle after boot 719 / 451 / 377 / 329 MiB, idle after a
 * workload 1523 / 537 / 459 / 430 MiB; that workload's warm times (ms), 20 python3
 * starts 3155 / 2447 / 3052 / 4827, 5 node starts 1816 / 1807 / 2008 / 3645, 30 git
 * commits 6731 / 6985 / 7486 / 9178, a node loop 952 / 940 / 1436 / 1468. 128 is the
 * smallest that did not slow the guest; 64 slowed git and node, 32 everything. */
#define VM_TCG_TB_MIB 128u

static const char vm_cmdline_base[] =
	"console=ttyS0 quiet panic=-1 no_timer_check mitigations=off audit=0 apparmor=0 security=none "
	"cryptomgr.notests random.trust_cpu=on i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd "
	"pci=off rdinit=/init";

/* ---- argv building ---- */

struct strv {
	char **v;
	size_t n, cap;
};

static void strv_push(struct strv *s, char *str)
{
	if (s->n + 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		char **v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			die("out of memory");
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
}

#define strv_pushf(s, ...) strv_push((s), xasprintf(__VA_ARGS__))

static void strv_pair(struct strv *s, const char *opt, char *val)
{
	strv_push(s, xstrdup(opt));
	strv_push(s, val);
}

void vm_argv_free(char **argv)
{
	image_strv_free(argv);
}

/* QEMU option-list values: a ',' is written as ",,". */
static char *qemu_escape(const char *s)
{
	size_t n = strlen(s), extra = 0;
	char *out, *d;

	for (size_t i = 0; i < n; i++)
		extra += s[i] == ',';
	out = xmalloc(n + extra + 1);
	d = out;
	for (size_t i = 0; i < n; i++) {
		*d++ = s[i];
		if (s[i] == ',')
			*d++ = ',';
	}
	*d = '\0';
	return out;
}

bool vm_path_ok(const char *p)
{
	return p && p[0] == '/' && !strchr(p, '\n');
}

static int vm_config_check(const struct vm_config *c)
{
	if (!c->name || !vm_path_ok(c->vmlinux) || !vm_path_ok(c->initramfs) || !vm_path_ok(c->disk) ||
	    !vm_path_ok(c->console_log) || !c->run_dir)
		return -EINVAL;
	if (c->workspace && !vm_path_ok(c->workspace))
		return -EINVAL;
	if (c->cpus < 1 || c->cpus > 64 || c->mem_mib < 64 || c->mem_mib > 1024 * 1024)
		return -EINVAL;
	return 0;
}

int vm_build_cmdline(const struct vm_config *c, unsigned tsc_khz, char **ret)
{
	_cleanup_free_ char *s = NULL;
	_cleanup_free_ char *tsc = NULL;

	/* Under TCG the guest cannot calibrate its TSC against the emulated PIT
	 * reliably (a third of boots hang): tell it the host rate, which TCG's rdtsc uses. */
	if (c->accel == ACCEL_TCG && tsc_khz)
		tsc = xasprintf(" tsc_early_khz=%u tsc=reliable", tsc_khz);
	/* Under TCG, no address space randomization in the guest: QEMU finds a translated
	 * block by its virtual address too, so every process whose libc and binary sit at
	 * new addresses is translated again (10 x /bin/true: 297 -> 117 ms, and 14 MiB of
	 * translation cache -> 0.7 MiB that never came back; docs/idle-memory.md). The VM
	 * is the boundary; ASLR between an agent's own processes guards little. */
	s = xasprintf("%s%s%s%s%s", vm_cmdline_base, tsc ? tsc : "", c->accel == ACCEL_TCG ? " norandmaps" : "",
		      c->extra_cmdline && *c->extra_cmdline ? " " : "", c->extra_cmdline ? c->extra_cmdline : "");
	if (strlen(s) >= VM_CMDLINE_MAX)
		return -E2BIG;
	*ret = TAKE_PTR(s);
	return 0;
}

/* What sbxd opened for QEMU and passes on (-1: none). disk, base and con are
 * handed over as fd sets (-add-fd, /dev/fdset/N): QEMU, which runs under its
 * sandbox's own ids, never opens them by path. */
struct vm_fds {
	int ctl, vfs, qmp, disk, base, con;
};

#define VM_FDSET_DISK 1
#define VM_FDSET_BASE 2
#define VM_FDSET_CON 3

/* A file QEMU opens: /dev/fdset/SET when we hold an fd for it, else its path (escaped). */
static char *qemu_file(struct strv *a, int fd, int set, const char *path)
{
	if (fd < 0)
		return qemu_escape(path);
	strv_pair(a, "-add-fd", xasprintf("fd=%d,set=%d", fd, set));
	return xasprintf("/dev/fdset/%d", set);
}

static int vm_build_argv_full(const struct vm_config *c, const struct vm_fds *fds, unsigned tsc_khz,
			      char ***ret_argv)
{
	const int ctl_fd = fds->ctl, vfs_fd = fds->vfs, qmp_fd = fds->qmp;
	struct strv a = { 0 };
	_cleanup_free_ char *cmdline = NULL, *disk = NULL, *con = NULL, *name = NULL;
	int r;

	r = vm_config_check(c);
	if (r < 0)
		return r;
	if (ctl_fd < 0)
		return -EINVAL;
	r = vm_build_cmdline(c, tsc_khz, &cmdline);
	if (r < 0)
		return r;

	strv_push(&a, xstrdup(c->qemu_bin ? c->qemu_bin : VM_QEMU_DEFAULT));
	name = qemu_escape(c->name);
	strv_pair(&a, "-name", xasprintf("sbx-%s", name));
	strv_push(&a, xstrdup("-nodefaults"));
	strv_push(&a, xstrdup("-no-user-config"));
	strv_pair(&a, "-display", xstrdup("none"));
	strv_push(&a, xstrdup("-no-reboot"));
	/* QEMU starts as the ids it keeps (sbx switched to them), so no setuid of its own */
	strv_pair(&a, "-sandbox", xstrdup("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"));
	disk = qemu_file(&a, fds->disk, VM_FDSET_DISK, c->disk);
	con = qemu_file(&a, fds->con, VM_FDSET_CON, c->console_log);
	if (c->accel == ACCEL_KVM) {
		strv_push(&a, xstrdup("-enable-kvm"));
		strv_pair(&a, "-cpu", xstrdup("host"));
	} else {
		strv_pair(&a, "-accel", xasprintf("tcg,thread=multi,tb-size=%u", VM_TCG_TB_MIB));
		/* every instruction set extension TCG emulates (AVX2 among them): agent CLIs
		 * built for x86-64-v3 die with SIGILL on the default qemu64 */
		strv_pair(&a, "-cpu", xstrdup("max"));
	}
	strv_pair(&a, "-smp", xasprintf("%u", c->cpus));
	strv_pair(&a, "-m", xasprintf("%uM", c->mem_mib));
	if (vfs_fd >= 0) {
		/* vhost-user needs guest RAM in shared memory that virtiofsd can map. */
		strv_pair(&a, "-object", xasprintf("memory-backend-memfd,id=mem,size=%uM,share=on", c->mem_mib));
		strv_pair(&a, "-M", xstrdup("microvm,x-option-roms=off,memory-backend=mem"));
	} else {
		strv_pair(&a, "-M", xstrdup("microvm,x-option-roms=off"));
	}
	/* virtio 1.0 over mmio: libvhost-user refuses legacy devices. */
	strv_pair(&a, "-global", xstrdup("virtio-mmio.force-legacy=false"));
	strv_pair(&a, "-kernel", xstrdup(c->vmlinux));
	strv_pair(&a, "-initrd", xstrdup(c->initramfs));
	strv_pair(&a, "-append", TAKE_PTR(cmdline));

	strv_pair(&a, "-chardev", xasprintf("file,id=con,path=%s,append=on", con));
	strv_pair(&a, "-serial", xstrdup("chardev:con"));

	if (c->disk_base) {
		/* The backing file by name, read-only: what the qcow2 header names is never
		 * opened (a VMM that broke out can rewrite that header). */
		_cleanup_free_ char *base = qemu_file(&a, fds->base, VM_FDSET_BASE, c->disk_base);
		strv_pair(&a, "-blockdev",
			  xasprintf("driver=file,node-name=basefile,filename=%s,read-only=on,aio=threads", base));
		strv_pair(&a, "-blockdev", xstrdup("driver=raw,node-name=base,file=basefile,read-only=on"));
		strv_pair(&a, "-blockdev",
			  xasprintf("driver=file,node-name=diskfile,filename=%s,aio=threads,discard=unmap", disk));
		strv_pair(&a, "-blockdev", xstrdup("driver=qcow2,node-name=root,file=diskfile,backing=base,discard=unmap"));
	} else {
		strv_pair(&a, "-drive",
			  xasprintf("if=none,id=root,file=%s,format=qcow2,cache=writeback,discard=unmap,aio=threads", disk));
	}
	strv_pair(&a, "-device", xstrdup("virtio-blk-device,drive=root"));

	strv_pair(&a, "-chardev", xasprintf("socket,id=ctl,fd=%d,server=on,wait=off", ctl_fd));
	/* free page reporting: memory the guest frees goes back to the host */
	strv_pair(&a, "-device", xstrdup("virtio-balloon-device,free-page-reporting=on"));
	strv_pair(&a, "-device", xstrdup("virtio-serial-device"));
	strv_pair(&a, "-device", xstrdup("virtserialport,chardev=ctl,name=" VM_CTL_PORT));

	if (vfs_fd >= 0) {
		strv_pair(&a, "-chardev", xasprintf("socket,id=vfs,fd=%d", vfs_fd));
		strv_pair(&a, "-device", xstrdup("vhost-user-fs-device,chardev=vfs,tag=" VM_FS_TAG ",queue-size=1024"));
	}
	if (qmp_fd >= 0) {
		strv_pair(&a, "-chardev", xasprintf("socket,id=qmp,fd=%d", qmp_fd));
		strv_pair(&a, "-mon", xstrdup("chardev=qmp,mode=control"));
	}
	*ret_argv = a.v;
	return 0;
}

int vm_build_argv(const struct vm_config *c, int ctl_fd, int vfs_fd, char ***ret_argv)
{
	const struct vm_fds fds = { .ctl = ctl_fd, .vfs = vfs_fd, .qmp = -1, .disk = -1, .base = -1, .con = -1 };

	return vm_build_argv_full(c, &fds, c->accel == ACCEL_TCG ? host_tsc_khz() : 0, ret_argv);
}

struct qemu_setup {
	bool root;
	bool jail;              /* an id of its own (vm_config.vmm_uid), switched to before exec */
	struct idmap_ns ns;     /* an ordinary user's jail: the user as ns 0, the id as ns 1 */
	struct vmm_jail fs;     /* its root: only the files it opens (vmm_jail.h) */
	char *const *cgroup_procs;
	uid_t uid;              /* jail: the ids QEMU runs as (in its namespace) */
	gid_t gid;
	bool keep_groups;       /* an ordinary user's QEMU with KVM: /dev/kvm is the user's group's */
	gid_t kvm_gid;          /* as root with KVM: /dev/kvm's group, QEMU's only other group; 0: none */
};

/* Become the sandbox's own ids for good: the bounding set is already empty, and
 * leaving uid 0 (of the host, or of QEMU's namespace) clears the permitted and
 * effective sets, so QEMU starts with no capability and no way back. */
static int qemu_drop_ids(const struct qemu_setup *s)
{
	if (!s->keep_groups && setgroups(s->kvm_gid ? 1 : 0, &s->kvm_gid) < 0)
		return -errno;
	if (setresgid(s->gid, s->gid, s->gid) < 0 || setresuid(s->uid, s->uid, s->uid) < 0)
		return -errno;
	return 0;
}

static int qemu_child_setup(void *arg)
{
	const struct qemu_setup *s = arg;
	int r;

	/* its sandbox's cgroup first, as we are; then an empty network namespace: QEMU
	 * has no NIC, and gets no way to the network */
	r = cgroup_join(s->cgroup_procs);
	if (r < 0)
		return r;
	if (s->root)
		r = unshare(CLONE_NEWNET) < 0 ? -errno : 0;
	else if (s->jail)
		r = idmap_enter(&s->ns) < 0 ? -EPERM : unshare(CLONE_NEWNET) < 0 ? -errno : 0;
	else
		r = idmap_enter_self(CLONE_NEWNET);
	if (r == 0 && s->fs.mountpoint) {
		r = vmm_jail_enter(&s->fs);
		/* and its own pid namespace, whose pid 1 it is (proc.h) */
		if (r == 0 && unshare(CLONE_NEWPID) < 0)
			r = -errno;
	}
	if (r < 0)
		return r;
	/* no capability at all, bounding set included, not even in its own namespace */
	r = vmm_lockdown(0);
	if (r == 0 && s->jail)
		r = qemu_drop_ids(s);
	/* QEMU holds a few dozen fds (disk, sockets, an eventfd per queue), not sbxd's
	 * raised limit; threads and processes are bounded by its cgroup's pids.max and,
	 * where it has an id of its own (which nothing else counts against), by
	 * RLIMIT_NPROC too, which holds without a cgroup */
	if (r == 0) {
		const struct rlimit nofile = { VM_QEMU_NOFILE, VM_QEMU_NOFILE };
		const struct rlimit nproc = { VM_QEMU_NPROC, VM_QEMU_NPROC };
		if (setrlimit(RLIMIT_NOFILE, &nofile) < 0 || (s->jail && setrlimit(RLIMIT_NPROC, &nproc) < 0))
			r = -errno;
	}
	return r == 0 && s->fs.mountpoint ? PROC_SETUP_FORK : r;
}

/* ---- launch ---- */

static int close_fd(int fd)
{
	if (fd >= 0)
		close(fd);
	return -1;
}

/* The ids QEMU switches to and the groups it keeps (qemu_setup). */
static int qemu_ids(const struct vm_config *c, struct qemu_setup *qs, char **ret_err)
{
	struct stat st;
	int r;

	if ((r = vmm_readable(c->vmlinux, ret_err)) < 0 || (r = vmm_readable(c->initramfs, ret_err)) < 0)
		return r;
	if (qs->root) {
		qs->uid = c->vmm_uid;
		qs->gid = c->vmm_gid;
		/* /dev/kvm is root:kvm 0660 on Debian: its group, and no other */
		if (c->accel == ACCEL_KVM && stat("/dev/kvm", &st) == 0 && !(st.st_mode & S_IROTH))
			qs->kvm_gid = st.st_gid;
		return 0;
	}
	/* ns 1 of a namespace where ns 0 is us (idmap.h); with KVM it keeps our groups:
	 * the kvm group is not mapped there, so it cannot be named alone */
	idmap_ns_vmm((uint32_t)geteuid(), (uint32_t)getegid(), c->vmm_uid, c->vmm_gid, &qs->ns);
	qs->uid = 1;
	qs->gid = 1;
	qs->keep_groups = c->accel == ACCEL_KVM;
	return 0;
}

int vm_launch(const struct vm_config *c, struct vm_procs *ret, char **ret_err)
{
	_cleanup_close_ int log_fd = -1, ctl_fd = -1, vfs_listen = -1, vfs_fd = -1, qmp_fd = -1, qmp_peer = -1,
			    disk_fd = -1, base_fd = -1, con_fd = -1;
	struct qemu_setup qs = { .root = geteuid() == 0, .jail = c->vmm_uid != 0, .cgroup_procs = c->cgroup_procs };
	struct vm_procs p = { 0 };
	_cleanup_free_ char *jail_root = NULL, *boot_vmlinux = NULL, *boot_initrd = NULL;
	struct vm_config boot_cfg;
	char **argv = NULL;
	const char *qemu;
	int keep[6], sv[2], r;
	size_t nkeep = 0;

	r = vm_config_check(c);
	if (r < 0)
		return r;
	/* QEMU reaches run_dir's files through its jail's binds, or as us */
	if ((!qs.jail || c->disk_base) && mkdir_p(c->run_dir, 0700) == 0) {
		if (vm_bootfile_copy(c->run_dir, VM_BOOT_VMLINUX, c->vmlinux, &boot_vmlinux) < 0 ||
		    vm_bootfile_copy(c->run_dir, VM_BOOT_INITRD, c->initramfs, &boot_initrd) < 0) {
			log_debug("vm %s: no copies of the kernel and initramfs; QEMU maps the cache's", c->name);
		} else {
			boot_cfg = *c;
			boot_cfg.vmlinux = boot_vmlinux;
			boot_cfg.initramfs = boot_initrd;
			c = &boot_cfg;
		}
	}
	if (qs.jail) {
		r = qemu_ids(c, &qs, ret_err);
		if (r < 0)
			return r;
	}
	r = mkdir_p(c->run_dir, 0700);
	if (r == 0 && c->disk_base) {
		/* QEMU's root (vmm_jail.h) is mounted on run_dir/root in its own namespace */
		jail_root = xasprintf("%s/root", c->run_dir);
		if (mkdir(jail_root, 0700) < 0 && errno != EEXIST)
			r = -errno;
		qs.fs = (struct vmm_jail){
			.mountpoint = jail_root,
			.exe = c->qemu_bin ? c->qemu_bin : VM_QEMU_DEFAULT,
			.kvm = c->accel == ACCEL_KVM,
			/* QEMU reads these by path (its disks and console come as fds) */
			.files = { c->vmlinux, c->initramfs },
			.rw = { false, false },
			.n = 2,
		};
	}
	if (r < 0)
		return r;
	log_fd = open(c->console_log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log_fd < 0)
		return -errno;

	if (qs.jail) {
		/* opened here, as us: QEMU's own ids could not, and never see the paths */
		disk_fd = open(c->disk, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		base_fd = c->disk_base ? open(c->disk_base, O_RDONLY | O_CLOEXEC) : -1;
		con_fd = fcntl(log_fd, F_DUPFD_CLOEXEC, 3);
		if (disk_fd < 0 || (c->disk_base && base_fd < 0) || con_fd < 0)
			return -errno;
	}

	r = sock_listen_at(c->run_dir, VM_CTL_SOCK, 4, 0600, &ctl_fd);
	if (r < 0)
		return r;

	if (c->workspace || c->pool_stage) {
		r = sock_listen_at(c->run_dir, VM_VFS_SOCK, 1, 0600, &vfs_listen);
		if (r < 0)
			return r;
		/* Connect QEMU's end now (it queues until virtiofsd accepts); the path is
		 * not needed after that. */
		r = sock_connect_at(c->run_dir, VM_VFS_SOCK, &vfs_fd);
		if (r >= 0) {
			int dfd = open(c->run_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (dfd >= 0) {
				(void)unlinkat(dfd, VM_VFS_SOCK, 0);
				close(dfd);
			}
			r = vfsd_spawn(c, vfs_listen, log_fd, &p.vfsd_pid, ret_err);
		}
		if (r < 0) {
			log_debug("vm %s: starting virtiofsd failed: %s", c->name, strerror(-r));
			vm_start_error(c->console_log, "virtiofsd", c->virtiofsd_bin ? c->virtiofsd_bin : VM_VIRTIOFSD_DEFAULT,
					vm_spawn_cause(r), r, ret_err);
			return r;
		}
		p.vfsd_start = proc_start_time(p.vfsd_pid);
		vfs_listen = close_fd(vfs_listen);
	}

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		goto fail;
	}
	qmp_fd = sv[0];
	qmp_peer = sv[1];

	{
		const struct vm_fds fds = {
			.ctl = ctl_fd, .vfs = vfs_fd, .qmp = qmp_peer, .disk = disk_fd, .base = base_fd, .con = con_fd,
		};
		r = vm_build_argv_full(c, &fds, c->accel == ACCEL_TCG ? host_tsc_khz() : 0, &argv);
	}
	qemu = c->qemu_bin ? c->qemu_bin : VM_QEMU_DEFAULT;
	if (r < 0)
		goto fail;
	keep[nkeep++] = ctl_fd;
	keep[nkeep++] = qmp_peer;
	if (vfs_fd >= 0)
		keep[nkeep++] = vfs_fd;
	if (disk_fd >= 0)
		keep[nkeep++] = disk_fd;
	if (base_fd >= 0)
		keep[nkeep++] = base_fd;
	if (con_fd >= 0)
		keep[nkeep++] = con_fd;
	r = proc_spawn_detached(argv, log_fd, keep, nkeep, qemu_child_setup, &qs, &p.qemu_pid);
	vm_argv_free(argv);
	if (r < 0) {
		log_debug("vm %s: starting qemu failed: %s", c->name, strerror(-r));
		vm_start_error(c->console_log, "QEMU", qemu, vm_spawn_cause(r), r, ret_err);
		goto fail;
	}
	p.qemu_start = proc_start_time(p.qemu_pid);
	/* Only QEMU holds these now. */
	qmp_peer = close_fd(qmp_peer);
	vfs_fd = close_fd(vfs_fd);
	disk_fd = close_fd(disk_fd);
	base_fd = close_fd(base_fd);
	con_fd = close_fd(con_fd);

	r = qmp_wait_ready(qmp_fd, VM_START_TIMEOUT_MS);
	if (r < 0) {
		log_debug("vm %s: qemu did not come up: %s (see %s)", c->name, strerror(-r), c->console_log);
		r = r == -ETIMEDOUT ? r : -EIO;
		/* it exited (EOF on QMP) or never answered: by now it has said why, if at all */
		vm_start_error(c->console_log, "QEMU", qemu,
				r == -ETIMEDOUT ? "it did not answer on its control socket in time" : "it exited at once",
				r, ret_err);
		goto fail;
	}
	*ret = p;
	return 0;

fail:
	(void)vm_kill(&p, 1000);
	return r;
}

int vm_kill(const struct vm_procs *p, int grace_ms)
{
	int r = 0, q;

	if (p->qemu_pid > 0)
		r = proc_terminate(p->qemu_pid, p->qemu_start, grace_ms);
	/* virtiofsd exits by itself once QEMU is gone; it waits forever if QEMU never came. */
	if (p->vfsd_pid > 0) {
		q = proc_terminate(p->vfsd_pid, p->vfsd_start, grace_ms);
		if (r == 0)
			r = q;
	}
	return r;
}
