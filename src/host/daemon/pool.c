// SPDX-License-Identifier: MIT
/* pool.c: the warm pool's policy: how many VMs, when to boot one, which to discard,
 * which one a new sandbox takes (docs/warm-pool.md); the VMs' lifecycle is sandbox.c's. */
#include "pool.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "names.h"
#include "proc.h"
#include "sandbox.h"
#include "settings.h"
#include "util.h"

/* What `sbx run shell` gives a new sandbox by default (cmd_run.c), so that it hits. */
#define POOL_CPUS 2
#define POOL_MEMORY_MIB 1024

void pool_discard_stale(struct sbxd *d)
{
	_cleanup_free_ char *run = xasprintf("%s/pool", d->p->run), *state = xasprintf("%s/pool", d->p->state);
	DIR *dir = opendir(run);
	struct dirent *de;
	unsigned n = 0;

	while (dir && (de = readdir(dir))) {
		_cleanup_free_ char *rd = NULL;
		struct vm_procs p;

		if (de->d_name[0] == '.')
			continue;
		rd = xasprintf("%s/%s", run, de->d_name);
		if (sandbox_vm_record_read(rd, &p) == 0) {
			(void)proc_terminate(p.qemu_pid, p.qemu_start, 1000);
			if (p.vfsd_pid > 0)
				(void)proc_terminate(p.vfsd_pid, p.vfsd_start, 1000);
			n++;
		}
	}
	if (dir)
		closedir(dir);
	rm_rf(run);
	rm_rf(state);
	if (n)
		log_info("discarded %u pool VM%s a previous sbxd left", n, n == 1 ? "" : "s");
}

static struct spec pool_spec(struct sbxd *d)
{
	uint32_t id = 0;
	struct spec s = { 0 };

	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != (ssize_t)sizeof(id))
		id = (uint32_t)now_ms();
	/* unique across sbxd restarts too: the name is also its cgroup's */
	s.name = xasprintf("pool-%u-%08x", ++d->pool_seq, id);
	s.agent = xstrdup("shell");
	s.template_name = xstrdup(POOL_TEMPLATE);
	s.workspace = xstrdup("/");
	s.cpus = POOL_CPUS;
	s.memory_mib = POOL_MEMORY_MIB;
	/* the agent's ids a new sandbox of ours gets (cmd_run.c's run_owner): known now
	 * for an ordinary user; as root, those of a root-owned workspace */
	s.uid = getuid() ? getuid() : 1000;
	s.gid = getuid() ? getgid() : 1000;
	return s;
}

static void pool_failed(struct sbxd *d, uint64_t now)
{
	unsigned shift = d->pool_failures < 6 ? d->pool_failures : 6;
	uint64_t wait = (uint64_t)POOL_RETRY_MS << shift;

	d->pool_failures++;
	d->pool_retry_ms = now + (wait > POOL_RETRY_MAX_MS ? POOL_RETRY_MAX_MS : wait);
}

void pool_tick(struct sbxd *d, uint64_t now)
{
	_cleanup_free_ char *base = NULL;
	unsigned live = 0, booting = 0;
	bool user_starting = false;

	for (struct sandbox **pp = &d->pool; *pp;) {
		struct sandbox *sb = *pp;

		if (!sb->dead) {
			pp = &sb->next;
			continue;
		}
		if (!sb->pool_ready) {
			log_warn("%s: pool VM did not boot%s%s", sb->spec.name, sb->error ? ": " : "",
				 sb->error ? sb->error : "");
			pool_failed(d, now);
		}
		rm_rf(sb->dir);
		rm_rf(sb->run_dir);
		*pp = sb->next;
		sandbox_free(sb);
	}
	if (now - d->pool_check_ms < 1000)
		return;
	d->pool_check_ms = now;
	d->pool_size = d->settings ? settings_pool_size(d->settings) : 1;
	(void)template_image(d->p, POOL_TEMPLATE, &base);
	for (struct sandbox *sb = d->pool; sb; sb = sb->next) {
		if (sb->dead)
			continue;
		if (sb->pool_ready && (!base || strcmp(base, sb->spec.base))) {
			sandbox_pool_discard(sb, "its template was rebuilt");
			continue;
		}
		if (live >= d->pool_size) {
			sandbox_pool_discard(sb, "pool.size was lowered");
			continue;
		}
		live++;
		booting += !sb->pool_ready;
	}
	for (struct sandbox *sb = d->sandboxes; sb; sb = sb->next)
		user_starting |= !sb->dead && sb->state == SB_STARTING;
	if (!base || live >= d->pool_size || booting || user_starting || now < d->pool_retry_ms)
		return;
	{
		_cleanup_free_ char *err = NULL;
		struct spec s = pool_spec(d);
		struct sandbox *sb;

		if (sandbox_pool_boot(d, &s, &err, &sb) < 0) {
			log_warn("cannot boot a pool VM: %s", err ? err : "unknown error");
			pool_failed(d, now);
		}
		spec_free(&s);
	}
}

struct sandbox *pool_take(struct sbxd *d, const struct spec *spec, const char *base)
{
	for (struct sandbox *sb = d->pool; sb; sb = sb->next) {
		if (sb->dead || !sb->pooled || !sb->pool_ready || strcmp(sb->spec.template_name, spec->template_name) ||
		    strcmp(sb->spec.base, base) || sb->spec.cpus != spec->cpus ||
		    sb->spec.memory_mib != spec->memory_mib || sb->spec.uid != spec->uid || sb->spec.gid != spec->gid ||
		    spec->git_dir || !proc_alive(sb->procs.qemu_pid, sb->procs.qemu_start))
			continue;
		return sb;
	}
	return NULL;
}

void pool_shutdown(struct sbxd *d)
{
	while (d->pool) {
		struct sandbox *sb = d->pool;

		if (!sb->dead)
			sandbox_pool_discard(sb, "sbxd stops");
		d->pool = sb->next;
		rm_rf(sb->dir);
		rm_rf(sb->run_dir);
		sandbox_free(sb);
	}
}
