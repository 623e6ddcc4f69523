// SPDX-License-Identifier: MIT
/* sandbox.c: sbxd's per-sandbox lifecycle: create, start, adopt, stop, remove, and the
 * VM's processes and state files; the guest channel is guestchan.c's. */
#include "sandbox.h"
#include "sandbox_int.h"

#include <dirent.h>
#include <pwd.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>

#include "egress_streams.h"
#include "guestchan.h"
#include "idle.h"
#include "image.h"
#include "jail.h"
#include "names.h"
#include "pool.h"
#include "ports.h"
#include "proc.h"
#include "exec_relay.h"
#include "review.h"
#include "secrets.h"
#include "settings.h"
#include "util.h"
#include "wsync_host.h"
#include "vm_bootfiles.h"

#define STOP_TIMEOUT_MS 20000

static void sandbox_relaunch(struct sandbox *sb);

const char *sandbox_state_name(enum sb_state s)
{
	switch (s) {
	case SB_STOPPED: return "stopped";
	case SB_STARTING: return "starting";
	case SB_RUNNING: return "running";
	case SB_STOPPING: return "stopping";
	}
	return "unknown";
}

struct sandbox *sandbox_find(struct sbxd *d, const char *name)
{
	for (struct sandbox *sb = d->sandboxes; sb; sb = sb->next)
		if (!sb->dead && !strcmp(sb->spec.name, name))
			return sb;
	return NULL;
}

struct sandbox *sandbox_alloc(struct sbxd *d, struct spec *spec)
{
	struct sandbox *sb = xcalloc(1, sizeof(*sb));

	sb->d = d;
	sb->spec = *spec;
	memset(spec, 0, sizeof(*spec));
	sb->dir = xasprintf("%s/%s", d->p->sandboxes, sb->spec.name);
	sb->run_dir = xasprintf("%s/%s", d->p->vms, sb->spec.name);
	sb->qemu_ev = (struct evsrc){ .kind = EV_QEMU, .fd = -1, .obj = sb };
	sb->chan.ev = (struct evsrc){ .kind = EV_CHAN, .fd = -1, .obj = sb };
	sb->next = d->sandboxes;
	d->sandboxes = sb;
	return sb;
}

void sandbox_free(struct sandbox *sb)
{
	while (sb->relays)
		relay_free(sb->relays);
	ports_close(sb);
	guestchan_drop(sb);
	ev_del(sb->d->epfd, &sb->qemu_ev);
	if (sb->qemu_ev.fd >= 0)
		close(sb->qemu_ev.fd);
	spec_free(&sb->spec);
	secrets_env_free(sb->cred_env);
	free(sb->agent_sock);
	free(sb->dir);
	free(sb->run_dir);
	free(sb->error);
	free(sb);
}

void sandbox_take_cred_env(struct sandbox *sb, struct json_object *req, bool have_cred, char ***cred_env)
{
	{
		struct json_object *sock;
		if (json_object_object_get_ex(req, "ssh_auth_sock", &sock)) {
			const char *path = json_object_get_string(sock);
			free(sb->agent_sock);
			sb->agent_sock = path && path[0] == '/' && strlen(path) < 4096 ? xstrdup(path) : NULL;
		}
	}
	if (!have_cred)
		return;
	secrets_env_free(sb->cred_env);
	sb->cred_env = TAKE_PTR(*cred_env);
}

static void sandbox_set_state(struct sandbox *sb, enum sb_state st)
{
	if (sb->state == st)
		return;
	log_debug("%s: %s -> %s", sb->spec.name, sandbox_state_name(sb->state), sandbox_state_name(st));
	sb->state = st;
	/* Published ports listen exactly while the sandbox runs. */
	if (st == SB_RUNNING)
		ports_listen(sb);
	else if (st == SB_STOPPING || st == SB_STOPPED)
		ports_close(sb);
	if (sb->d->sandbox_changed)
		sb->d->sandbox_changed(sb->d, sb);
}

/* The channel, QEMU (given qemu_grace_ms to exit) and virtiofsd gone, run/ removed. */
void vm_teardown(struct sandbox *sb, int qemu_grace_ms)
{
	guestchan_drop(sb);
	ev_del(sb->d->epfd, &sb->qemu_ev);
	if (sb->qemu_ev.fd >= 0)
		close(sb->qemu_ev.fd);
	sb->qemu_ev.fd = -1;
	if (sb->procs.qemu_pid > 0)
		(void)proc_terminate(sb->procs.qemu_pid, sb->procs.qemu_start, qemu_grace_ms);
	if (sb->procs.vfsd_pid > 0)
		(void)proc_terminate(sb->procs.vfsd_pid, sb->procs.vfsd_start, 1000);
	memset(&sb->procs, 0, sizeof(sb->procs));
	sb->procs.slot = -1;
	sb->staged = false;
	cgroup_remove(&sb->cg);
	rm_rf(sb->run_dir);
}

/* The time its VM last stopped, in spec.json: what `sbx prune` ages it by. */
static void sandbox_record_stop(struct sandbox *sb)
{
	_cleanup_free_ char *specp = xasprintf("%s/spec.json", sb->dir);
	int64_t was = sb->spec.stopped;
	int r;

	sb->spec.stopped = (int64_t)time(NULL);
	r = spec_save(&sb->spec, specp);
	if (r < 0) {
		sb->spec.stopped = was;
		log_warn("%s: cannot record its stop time in %s: %s", sb->spec.name, specp, strerror(-r));
	}
}

/* Everything that depends on a live VM goes away; the sandbox is stopped. */
static void sandbox_vm_gone(struct sandbox *sb, const char *why)
{
	struct relay *r;
	bool booting = sb->state == SB_STARTING;

	if (booting && !sb->error) {
		_cleanup_free_ char *tail = console_tail(sb, 12);
		sb->error = xasprintf("%s%s", why, tail);
	}
	while ((r = sb->relays))
		relay_fail(r, sb->error ? sb->error : why);
	vm_teardown(sb, 2000);
	sb->deadline_ms = 0;
	if (sb->pooled) {
		/* a pool VM is not kept stopped: pool.c removes its files and frees it */
		sb->state = SB_STOPPED;
		sb->dead = true;
		return;
	}
	if (!sb->dead)
		sandbox_record_stop(sb);
	sandbox_set_state(sb, SB_STOPPED);
}

void sandbox_fail_start(struct sandbox *sb, char *error /* taken */)
{
	free(sb->error);
	sb->error = error;
	log_warn("%s: start failed: %s", sb->spec.name, error);
	sandbox_vm_gone(sb, "the sandbox failed to start");
}

void sandbox_on_guest_ready(struct sandbox *sb)
{
	int r;

	log_info("%s: ready in %llu ms", sb->spec.name, (unsigned long long)(now_ms() - sb->started_ms));
	/* QEMU read its kernel and initramfs long ago: their pages leave it (vm_bootfiles.h) */
	if ((r = vm_bootfiles_release(sb->run_dir)) < 0)
		log_warn("%s: cannot empty QEMU's copies of the kernel and initramfs: %s", sb->spec.name, strerror(-r));
	sb->deadline_ms = 0;
	free(sb->error);
	sb->error = NULL;
	idle_start(sb, now_ms());
	sandbox_set_state(sb, SB_RUNNING);
}

const struct guestchan_events sandbox_chan_events = {
	.ready = sandbox_on_guest_ready,
	.failed = sandbox_fail_start,
};

static int chan_connect(struct sandbox *sb)
{
	return guestchan_connect(sb, sb->pooled ? &sandbox_pool_chan_events : &sandbox_chan_events);
}


void sandbox_on_qemu_exit(struct sandbox *sb)
{
	struct cg_stat st;

	/* the kernel killed it for its cgroup's memory limit: say so, not "stopped" */
	if (cgroup_stat(&sb->cg, 0, &st) == 0 && st.oom_kills > 0) {
		free(sb->error);
		sb->error = xasprintf("the VM was killed: its QEMU and virtiofsd used their cgroup's memory limit "
				      "(%llu MiB); give it less memory or more headroom",
				      (unsigned long long)(sb->cg.memory_max >> 20));
		log_warn("%s: %s", sb->spec.name, sb->error);
	}
	log_info("%s: VM exited", sb->spec.name);
	sandbox_vm_gone(sb, sb->state == SB_STARTING ? "the VM exited during boot" : "the sandbox stopped");
}

#define CONSOLE_MAX (4u * 1024u * 1024u)

/* A guest can write to its serial console without end: keep the log bounded. QEMU
 * appends (O_APPEND), so truncating in place is safe. */
static void console_bound(struct sandbox *sb)
{
	_cleanup_free_ char *path = xasprintf("%s/console.log", sb->dir);
	struct stat st;

	if (stat(path, &st) == 0 && st.st_size > (off_t)CONSOLE_MAX && truncate(path, 0) == 0) {
		_cleanup_close_ int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
		static const char note[] = "[sbx: console log exceeded 4 MiB and was truncated]\n";
		if (fd >= 0)
			(void)write_all(fd, note, sizeof(note) - 1);
	}
}

void sandbox_tick(struct sandbox *sb, uint64_t now)
{
	egress_tick(sb, now);
	ports_tick(sb, now);
	wsync_host_tick(sb, now);
	if ((sb->state == SB_RUNNING || sb->state == SB_STARTING) && now / 1000 != sb->last_console_check_s) {
		sb->last_console_check_s = now / 1000;
		console_bound(sb);
	}
	if (sb->state == SB_STARTING && sb->relaunch_ms && now > sb->relaunch_ms &&
	    (!sb->deadline_ms || now < sb->deadline_ms)) {
		sandbox_relaunch(sb);
		return;
	}
	if (sb->state == SB_STARTING && sb->deadline_ms && now > sb->deadline_ms) {
		_cleanup_free_ char *tail = console_tail(sb, 12);
		sandbox_fail_start(sb, xasprintf("the guest did not come up within %u s%s",
						 sb->d->boot_timeout_ms / 1000, tail));
		return;
	}
	if (sb->state == SB_STOPPING && sb->deadline_ms && now > sb->deadline_ms) {
		log_warn("%s: guest did not power off in time; killing the VM", sb->spec.name);
		sandbox_vm_gone(sb, "the sandbox stopped");
		return;
	}
	if (sb->state == SB_RUNNING && idle_due(sb, now, sb->d->idle_stop_ms)) {
		log_info("%s: idle for %llu s (sandbox.idleStop); stopping it", sb->spec.name,
			 (unsigned long long)((now - sb->last_active_ms) / 1000));
		(void)sandbox_stop(sb);
		return;
	}
	/* Lost the channel while QEMU lives (should not happen): reconnect. */
	if ((sb->state == SB_RUNNING || sb->state == SB_STARTING) && sb->chan.ev.fd < 0 &&
	    proc_alive(sb->procs.qemu_pid, sb->procs.qemu_start)) {
		if (chan_connect(sb) == 0 && sb->state == SB_RUNNING) {
			sb->state = SB_STARTING;
			sb->started_ms = now;
			sb->deadline_ms = now + sb->d->boot_timeout_ms;
		}
	}
}

/* ---- lifecycle ---- */

static int watch_qemu(struct sandbox *sb)
{
	int fd = (int)syscall(SYS_pidfd_open, sb->procs.qemu_pid, 0);

	if (fd < 0)
		return -errno;
	fd_set_cloexec(fd, true);
	sb->qemu_ev.fd = fd;
	return ev_set(sb->d->epfd, &sb->qemu_ev, EPOLLIN);
}

static void sandbox_adopt(struct sandbox *sb)
{
	struct vm_procs p;

	if (read_vm_json(sb->run_dir, &p, NULL) < 0) {
		rm_rf(sb->run_dir);
		return;
	}
	if (!proc_alive(p.qemu_pid, p.qemu_start)) {
		if (p.vfsd_pid > 0)
			(void)proc_terminate(p.vfsd_pid, p.vfsd_start, 1000);
		rm_rf(sb->run_dir);
		return;
	}
	sb->procs = p;
	{
		/* a claimed pool VM's virtiofsd serves a stage until it stops */
		_cleanup_free_ char *path = xasprintf("%s/vm.json", sb->run_dir), *txt = NULL;
		sb->staged = file_read_all(path, 4096, &txt, NULL) >= 0 && strstr(txt, "\"staged\":true");
	}
	cgroup_find(p.qemu_pid, &sb->cg);
	if (watch_qemu(sb) < 0) {
		sandbox_vm_gone(sb, "cannot watch the VM process");
		return;
	}
	sb->state = SB_STARTING;
	sb->started_ms = now_ms();
	sb->deadline_ms = now_ms() + sb->d->boot_timeout_ms;
	if (chan_connect(sb) < 0)
		log_warn("%s: cannot reconnect the channel yet; retrying", sb->spec.name);
	log_info("%s: re-adopted running VM (qemu pid %d)", sb->spec.name, (int)p.qemu_pid);
}

const char *sandbox_broken(struct sbxd *d, const char *name)
{
	for (struct broken_sandbox *b = d->broken; b; b = b->next)
		if (!strcmp(b->name, name))
			return b->error;
	return NULL;
}

static void sandbox_mark_broken(struct sbxd *d, const char *name, char *why)
{
	struct broken_sandbox *b = xcalloc(1, sizeof(*b));

	b->name = xstrdup(name);
	b->error = xasprintf("sandbox '%s' is broken: %s; fix the file (or move the sandbox's directory away)",
			     name, why);
	log_err("%s", b->error);
	free(why);
	b->next = d->broken;
	d->broken = b;
}

void sandbox_broken_free_all(struct sbxd *d)
{
	while (d->broken) {
		struct broken_sandbox *b = d->broken;
		d->broken = b->next;
		free(b->name);
		free(b->error);
		free(b);
	}
}

int sandbox_load_all(struct sbxd *d)
{
	DIR *dir = opendir(d->p->sandboxes);
	struct dirent *de;

	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		_cleanup_free_ char *path = NULL, *run_dir = NULL;
		char *err = NULL;
		struct spec spec = { 0 };
		struct vm_procs vp;
		struct sandbox *sb;
		int r;

		if (!name_valid(de->d_name))
			continue;
		path = xasprintf("%s/%s/spec.json", d->p->sandboxes, de->d_name);
		if (access(path, F_OK) < 0 && errno == ENOENT) {
			/* A directory without a spec: not a sandbox (sandbox_create writes it first). */
			log_warn("ignoring %s/%s: no spec.json", d->p->sandboxes, de->d_name);
			continue;
		}
		if (spec_load_ex(path, &spec, &err) < 0 || strcmp(spec.name, de->d_name)) {
			if (!err)
				err = xasprintf("%s names another sandbox ('%s')", path, spec.name);
			sandbox_mark_broken(d, de->d_name, err);
			spec_free(&spec);
			continue;
		}
		/* A VM record that exists but cannot be read: its VM may still run. Forgetting
		 * it would orphan that VM and show the sandbox stopped while it runs. */
		run_dir = xasprintf("%s/%s", d->p->vms, de->d_name);
		r = read_vm_json(run_dir, &vp, &err);
		if (r < 0 && r != -ENOENT) {
			sandbox_mark_broken(d, de->d_name, err);
			spec_free(&spec);
			continue;
		}
		sb = sandbox_alloc(d, &spec);
		sandbox_adopt(sb);
	}
	closedir(dir);
	{
		unsigned gone = cgroup_sweep();
		if (gone)
			log_info("removed %u cgroup%s of VMs that ended while no sbxd ran", gone, gone == 1 ? "" : "s");
	}
	return 0;
}

/* qemu-img reports on the daemon's log, not to us: when its create failed, say whether
 * the file system is (nearly) full, the usual reason. */
char *disk_error(const char *dir)
{
	struct statvfs sv;

	if (statvfs(dir, &sv) == 0 && (uint64_t)sv.f_bavail * sv.f_frsize < 1024 * 1024)
		return xasprintf("cannot create its disk in %s: %s", dir, strerror(ENOSPC));
	return xasprintf("cannot create its disk in %s (qemu-img failed; see the daemon log)", dir);
}

int sandbox_create(struct sbxd *d, struct spec *spec, char **ret_err, struct sandbox **ret)
{
	_cleanup_free_ char *dir = xasprintf("%s/%s", d->p->sandboxes, spec->name);
	_cleanup_free_ char *disk = xasprintf("%s/disk.qcow2", dir);
	_cleanup_free_ char *specp = xasprintf("%s/spec.json", dir);
	_cleanup_free_ char *base = NULL;
	int r;

	r = template_image(d->p, spec->template_name, &base);
	if (r < 0) {
		*ret_err = xstrdup(template_known(d->p, spec->template_name)
					   ? "the template is not built yet (run 'sbx template build NAME')"
					   : "unknown template");
		return r;
	}
	{
		struct sandbox *pv;

		pool_note(d, spec, (int64_t)time(NULL));
		pv = spec->ws_sync ? NULL : pool_take(d, spec, base);  /* a pool VM mounts the share */
		if (pv && sandbox_claim(pv, spec, ret) == 0)
			return 0;
	}
	if (mkdir(dir, 0700) < 0) {
		r = -errno;
		*ret_err = r == -EEXIST ? xstrdup("a sandbox directory of that name already exists")
					: xasprintf("cannot create %s: %s", dir, strerror(-r));
		return r;
	}
	spec->created = (int64_t)time(NULL);
	free(spec->base);
	spec->base = xstrdup(base);
	r = vm_disk_create(base, disk);
	if (r < 0) {
		*ret_err = disk_error(dir);
		rm_rf(dir);
		return r;
	}
	r = spec_save(spec, specp);
	if (r < 0) {
		*ret_err = xasprintf("cannot write %s: %s", specp, strerror(-r));
		rm_rf(dir);
		return r;
	}
	/* Before the agent ever runs: what `sbx review` compares against. */
	r = review_baseline_take(dir, spec->workspace, spec->git_dir, NULL);
	if (r < 0)
		log_warn("%s: no review baseline (%s); 'sbx review --accept %s' takes one", spec->name, strerror(-r),
			 spec->name);
	*ret = sandbox_alloc(d, spec);
	log_info("%s: created (workspace %s)", (*ret)->spec.name, (*ret)->spec.workspace);
	return 0;
}


int sandbox_vm_record_read(const char *run_dir, struct vm_procs *ret)
{
	return read_vm_json(run_dir, ret, NULL);
}

/* Under TCG a rare early-boot hang leaves a VM that never says HELLO. Kill it and
 * boot once more, within the same overall boot deadline; clients waiting for the start
 * (and their exec sessions) keep waiting. */
static void sandbox_relaunch(struct sandbox *sb)
{
	_cleanup_free_ char *tail = console_tail(sb, 3);
	_cleanup_free_ char *err = NULL;
	uint64_t deadline = sb->deadline_ms;

	log_warn("%s: no sign of life from the guest after %llu ms; relaunching the VM once%s", sb->spec.name,
		 (unsigned long long)(now_ms() - sb->started_ms), tail);
	sb->relaunch_ms = 0;
	sb->relaunched = true;
	vm_teardown(sb, 1000);
	sb->state = SB_STOPPED;   /* quietly: waiting clients are not told */
	if (sandbox_launch(sb, &err) < 0) {
		sb->state = SB_STARTING;
		sandbox_fail_start(sb, xasprintf("relaunching the VM failed: %s", err ? err : "unknown error"));
		return;
	}
	sb->deadline_ms = deadline;
}

int sandbox_start(struct sandbox *sb, char **ret_err)
{
	int r;

	if (sb->state == SB_STOPPED) {
		sb->relaunched = false;
		/* A published port taken meanwhile: say so before booting anything. */
		r = ports_check_free(sb, sb->spec.ports, sb->spec.n_ports, ret_err);
		if (r < 0)
			return r;
	}
	return sandbox_launch(sb, ret_err);
}

/* The disk's backing file: sbx's record of it (the disk header's for sandboxes made
 * before sbx kept one), which must be an image of the sandbox's template; QEMU gets
 * it by name, so a header a broken-out VMM rewrote chooses nothing. */
static int sandbox_disk_base(struct sandbox *sb, const char *disk, char **ret, char **ret_err)
{
	_cleanup_free_ char *header = NULL;
	int r = disk_backing_name(disk, &header);
	const char *base = sb->spec.base ? sb->spec.base : header;

	if (r < 0 && !sb->spec.base) {
		*ret_err = xasprintf("cannot read the backing file of %s: %s", disk, strerror(-r));
		return r;
	}
	if (!base || template_base_ok(sb->d->p, sb->spec.template_name, base) < 0) {
		*ret_err = xasprintf("%s's backing file %s is not an image of template %s; not starting it", disk,
				     base ? base : "(none)", sb->spec.template_name);
		return -EPERM;
	}
	if (header && strcmp(header, base))
		log_warn("%s: the header of %s names backing file %s; sbx uses its record, %s", sb->spec.name, disk,
			 header, base);
	*ret = xstrdup(base);
	return 0;
}

/* Its cgroup with its limits; without one (none on this host, not delegated) it runs
 * anyway, and the daemon log says why, once per reason. */
static void sandbox_cgroup(struct sandbox *sb)
{
	static char *said;
	_cleanup_free_ char *why = NULL;

	cgroup_remove(&sb->cg);
	if (cgroup_make(sb->spec.name, sb->spec.cpus, sb->spec.memory_mib,
			sb->d->accel == ACCEL_TCG ? CG_TCG_EXTRA_MIB : 0, &sb->cg, &why) < 0 ||
	    !sb->cg.version) {
		if (why && (!said || strcmp(said, why))) {
			log_warn("sandboxes run without a cgroup (no memory, CPU or pids limits): %s", why);
			free(said);
			said = xstrdup(why);
		}
	}
}

int sandbox_launch(struct sandbox *sb, char **ret_err)
{
	struct kernel_info k = { 0 };
	_cleanup_free_ char *disk = xasprintf("%s/disk.qcow2", sb->dir);
	_cleanup_free_ char *console = xasprintf("%s/console.log", sb->dir), *why = NULL;
	struct vm_config cfg;
	struct stat st;
	bool protect_git;
	_cleanup_free_ char *base = NULL;
	struct jail_ids jail;
	int r;

	if (sb->state == SB_RUNNING || sb->state == SB_STARTING)
		return 0;
	if (sb->state == SB_STOPPING) {
		*ret_err = xstrdup("the sandbox is stopping; try again in a moment");
		return -EBUSY;
	}
	if (!sb->pooled && (stat(sb->spec.workspace, &st) < 0 || !S_ISDIR(st.st_mode))) {
		*ret_err = xasprintf("workspace %s is missing or not a directory", sb->spec.workspace);
		return -ENOENT;
	}
	{
		/* Settings that do not load stop the start: the defaults in their place could
		 * turn on what the user turned off (SSH agent forwarding) or drop the proxy's. */
		struct settings *set = NULL;
		r = settings_load_ex(sb->d->p, &set, ret_err);
		if (r < 0) {
			if (!*ret_err)
				*ret_err = xasprintf("cannot read %s/settings.json: %s", sb->d->p->config, strerror(-r));
			return r;
		}
		protect_git = settings_protect_git(set);
		sb->protect_git = protect_git;
		settings_free(set);
	}
	r = kernel_ensure(sb->d->p, TEMPLATE_QUIET, &k);
	if (r < 0) {
		*ret_err = xasprintf("guest kernel not available (%s); run 'sbx template build minimal'", strerror(-r));
		return r;
	}
	r = mkdir_p(sb->run_dir, 0700);
	if (r < 0) {
		kernel_info_free(&k);
		*ret_err = xasprintf("cannot create %s: %s", sb->run_dir, strerror(-r));
		return r;
	}
	if ((r = sandbox_disk_base(sb, disk, &base, ret_err)) < 0) {
		kernel_info_free(&k);
		return r;
	}
	if ((r = jail_ids_pick(sb->d, sb, &jail, ret_err)) < 0) {
		kernel_info_free(&k);
		return r;
	}
	cfg = (struct vm_config){
		.protect_git = protect_git,
		.share_uncached = sb->spec.ws_sync,
		.uid_range = jail.uid.fs,
		.gid_range = jail.gid.fs,
		.vmm_uid = jail.uid.vmm,
		.vmm_gid = jail.gid.vmm,
		.git_dir = sb->spec.git_dir,
		.name = sb->spec.name,
		.qemu_bin = getenv("SBX_QEMU"),
		.virtiofsd_bin = getenv("SBX_VIRTIOFSD"),
		.vmlinux = k.vmlinux,
		.initramfs = k.initramfs,
		.disk = disk,
		.disk_base = base,
		.workspace = sb->pooled ? NULL : sb->spec.workspace,
		.pool_stage = sb->pooled,
		.run_dir = sb->run_dir,
		.console_log = console,
		.cpus = sb->spec.cpus,
		.mem_mib = sb->spec.memory_mib,
		.accel = sb->d->accel,
		.ws_uid = sb->spec.uid,
		.ws_gid = sb->spec.gid,
		.extra_cmdline = getenv("SBX_GUEST_CMDLINE"),
	};
	free(sb->error);
	sb->error = NULL;
	sb->started_ms = now_ms();
	sandbox_cgroup(sb);
	if (sb->pooled)
		(void)cgroup_set_low_priority(&sb->cg, true);   /* before its processes join */
	cfg.cgroup_procs = sb->cg.version ? sb->cg.procs : NULL;
	r = vm_launch(&cfg, &sb->procs, &why);
	sb->procs.slot = jail.slot;
	kernel_info_free(&k);
	if (r < 0) {
		*ret_err = why ? TAKE_PTR(why) : xasprintf("cannot launch the VM: %s (see %s)", strerror(-r), console);
		cgroup_remove(&sb->cg);
		rm_rf(sb->run_dir);
		return r;
	}
	sb->state = SB_STARTING;
	r = write_vm_json(sb);
	if (r < 0) {
		/* Unrecorded, a restarted sbxd could not find this VM again: do not keep it. */
		*ret_err = xasprintf("cannot write %s/vm.json: %s", sb->run_dir, strerror(-r));
		sb->error = xstrdup(*ret_err);
		sandbox_vm_gone(sb, *ret_err);
		return r;
	}
	/* a pool VM boots at the lowest CPU priority: more time, and no relaunch (a
	 * failed pool boot is discarded and retried by pool.c) */
	sb->deadline_ms = now_ms() + sb->d->boot_timeout_ms * (sb->pooled ? 3 : 1);
	/* Watchdog for a boot that hangs early: a third of the boot timeout, only when
	 * that leaves time for a second boot (not with the short timeouts of tests). */
	sb->relaunch_ms = !sb->pooled && !sb->relaunched && sb->d->boot_timeout_ms >= 30000
				  ? now_ms() + sb->d->boot_timeout_ms / 3
				  : 0;
	if (watch_qemu(sb) < 0 || chan_connect(sb) < 0) {
		*ret_err = xstrdup("cannot attach to the new VM");
		sandbox_vm_gone(sb, "cannot attach to the new VM");
		return -EIO;
	}
	log_info("%s: starting (qemu pid %d, %s)", sb->spec.name, (int)sb->procs.qemu_pid,
		 sb->d->accel == ACCEL_KVM ? "kvm" : "tcg");
	return 0;
}

int sandbox_exec(struct client *cl, uint32_t cid, struct sandbox *sb, struct json_object *req, char **ret_err)
{
	int r;

	/* Validate now, so a bad request fails before any VM starts. */
	r = relay_check(req, ret_err);
	if (r < 0) {
		json_object_put(req);
		return r;
	}
	if (sb->state == SB_STOPPING) {
		json_object_put(req);
		*ret_err = xasprintf("sandbox '%s' is stopping; try again in a moment", sb->spec.name);
		return -EBUSY;
	}
	if (sb->state == SB_STOPPED) {
		r = sandbox_start(sb, ret_err);
		if (r < 0) {
			json_object_put(req);
			return r;
		}
	}
	relay_new(cl, cid, sb, req);
	return 0;
}

int sandbox_stop(struct sandbox *sb)
{
	if (sb->state == SB_STOPPED || sb->state == SB_STOPPING)
		return 0;
	if (sb->state != SB_RUNNING || !sb->chan.mux) {
		sandbox_vm_gone(sb, "the sandbox was stopped");
		return 0;
	}
	guestchan_poweroff(sb);
	sb->deadline_ms = now_ms() + STOP_TIMEOUT_MS;
	sandbox_set_state(sb, SB_STOPPING);
	return 0;
}

int sandbox_remove(struct sandbox *sb, bool force, char **ret_err)
{
	int r;

	if (sb->state != SB_STOPPED) {
		if (!force) {
			*ret_err = xasprintf("sandbox '%s' is %s; stop it first or use 'sbx rm -f'", sb->spec.name,
					     sandbox_state_name(sb->state));
			return -EBUSY;
		}
		sandbox_vm_gone(sb, "the sandbox was removed");
	}
	rm_rf(sb->run_dir);
	r = rm_rf(sb->dir);
	if (r < 0) {
		*ret_err = xasprintf("cannot remove %s: %s", sb->dir, strerror(-r));
		return r;
	}
	log_info("%s: removed", sb->spec.name);
	{
		/* the sandbox is gone either way; a value left behind is said, not hidden */
		_cleanup_free_ char *err = NULL;
		if (secrets_rm_sandbox(sb->d->p, sb->spec.name, &err) < 0)
			log_warn("%s: its secrets could not be removed: %s (remove them with 'sbx secret rm --sandbox %s')",
				 sb->spec.name, err ? err : "unknown error", sb->spec.name);
	}
	if (sb->d->proxy)
		proxy_sandbox_gone(sb->d->proxy, sb->spec.name);
	sb->dead = true;
	return 0;
}
