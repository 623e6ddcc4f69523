// SPDX-License-Identifier: MIT
/* sandbox_pool.c: a warm pool VM's lifecycle (docs/warm-pool.md): its boot, its claim
 * by a new sandbox, its discard. Which VMs to keep, and when, is pool.c's. */
#include "sandbox.h"
#include "sandbox_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "guestchan.h"
#include "image.h"
#include "review.h"
#include "settings.h"
#include "util.h"
#include "vm_bootfiles.h"
#include "vm_stage.h"

static void sandbox_on_pool_ready(struct sandbox *sb)
{
	int r;

	log_info("%s: pool VM booted in %llu ms", sb->spec.name, (unsigned long long)(now_ms() - sb->started_ms));
	/* a waiting pool VM need not hold its kernel either (vm_bootfiles.h); the claim's
	 * READY releases them again, which is harmless */
	if ((r = vm_bootfiles_release(sb->run_dir)) < 0)
		log_warn("%s: cannot empty QEMU's copies of the kernel and initramfs: %s", sb->spec.name, strerror(-r));
	sb->pool_ready = true;
	sb->d->pool_failures = 0;
}

const struct guestchan_events sandbox_pool_chan_events = {
	.ready = sandbox_on_guest_ready,
	.failed = sandbox_fail_start,
	.pool_ready = sandbox_on_pool_ready,
};

int sandbox_pool_boot(struct sbxd *d, struct spec *spec, char **ret_err, struct sandbox **ret)
{
	_cleanup_free_ char *dir = xasprintf("%s/pool/%s", d->p->state, spec->name);
	_cleanup_free_ char *disk = xasprintf("%s/disk.qcow2", dir);
	_cleanup_free_ char *pooldir = xasprintf("%s/pool", d->p->state);
	_cleanup_free_ char *base = NULL;
	struct sandbox *sb;
	int r;

	r = template_image(d->p, spec->template_name, &base);
	if (r < 0) {
		*ret_err = xstrdup("the template is not built");
		return r;
	}
	(void)mkdir(pooldir, 0700);
	if (mkdir(dir, 0700) < 0) {
		r = -errno;
		*ret_err = xasprintf("cannot create %s: %s", dir, strerror(-r));
		return r;
	}
	r = vm_disk_create(base, disk);
	if (r < 0) {
		*ret_err = disk_error(dir);
		rm_rf(dir);
		return r;
	}
	free(spec->base);
	spec->base = TAKE_PTR(base);
	sb = sandbox_alloc(d, spec);
	/* off the sandboxes' list (sandbox_alloc put it first), onto the pool's */
	d->sandboxes = sb->next;
	sb->next = d->pool;
	d->pool = sb;
	free(sb->dir);
	free(sb->run_dir);
	sb->dir = TAKE_PTR(dir);
	sb->run_dir = xasprintf("%s/pool/%s", d->p->run, sb->spec.name);
	sb->pooled = true;
	r = sandbox_launch(sb, ret_err);
	if (r < 0) {
		rm_rf(sb->dir);
		sb->pool_ready = true;   /* the caller counts this failure, not pool.c's sweep */
		sb->dead = true;
		return r;
	}
	*ret = sb;
	return 0;
}

/* Make a ready pool VM the new sandbox of spec (docs/warm-pool.md, "Claim"). On
 * failure the pool VM is discarded with its files; the caller boots as without one. */
int sandbox_claim(struct sandbox *pv, struct spec *spec, struct sandbox **ret)
{
	struct sbxd *d = pv->d;
	_cleanup_free_ char *dir = xasprintf("%s/%s", d->p->sandboxes, spec->name);
	_cleanup_free_ char *run_dir = xasprintf("%s/%s", d->p->vms, spec->name);
	_cleanup_free_ char *specp = xasprintf("%s/spec.json", dir), *err = NULL;
	_cleanup_free_ char *pool_dir = xstrdup(pv->dir);
	bool protect_git = true;
	uint64_t t0 = now_ms();
	int r;

	{
		struct settings *set = NULL;
		if (settings_load(d->p, &set) == 0)
			protect_git = settings_protect_git(set);
		settings_free(set);
	}
	if (rename(pv->dir, dir) < 0) {
		log_warn("%s: pool VM not claimed: rename %s: %m", spec->name, pv->dir);
		goto discard;
	}
	free(pv->dir);
	pv->dir = xstrdup(dir);
	spec->created = (int64_t)time(NULL);
	free(spec->base);
	spec->base = xstrdup(pv->spec.base);
	r = spec_save(spec, specp);
	if (r < 0) {
		log_warn("%s: pool VM not claimed: cannot write %s: %s", spec->name, specp, strerror(-r));
		goto undo_dir;
	}
	r = vm_stage_attach(&pv->procs, spec->workspace, spec->git_dir, spec->uid, spec->gid, protect_git, &err);
	if (r < 0) {
		log_warn("%s: pool VM not claimed: %s", spec->name, err ? err : strerror(-r));
		goto undo_dir;
	}
	if (mkdir_p(d->p->vms, 0700) < 0 || rename(pv->run_dir, run_dir) < 0) {
		log_warn("%s: pool VM not claimed: rename %s: %m", spec->name, pv->run_dir);
		goto undo_dir;
	}
	free(pv->run_dir);
	pv->run_dir = xstrdup(run_dir);
	log_info("%s: claimed pool VM %s in %llu ms (workspace %s)", spec->name, pv->spec.name,
		 (unsigned long long)(now_ms() - t0), spec->workspace);
	/* off the pool's list, onto the sandboxes' */
	for (struct sandbox **pp = &d->pool; *pp; pp = &(*pp)->next)
		if (*pp == pv) {
			*pp = pv->next;
			break;
		}
	pv->next = d->sandboxes;
	d->sandboxes = pv;
	spec_free(&pv->spec);
	pv->spec = *spec;
	memset(spec, 0, sizeof(*spec));
	pv->pooled = false;
	pv->staged = true;
	(void)cgroup_set_low_priority(&pv->cg, false);
	pv->claim_config = true;
	pv->started_ms = now_ms();
	pv->deadline_ms = now_ms() + d->boot_timeout_ms;
	pv->chan_events = &sandbox_chan_events;
	if (write_vm_json(pv) < 0)
		log_warn("%s: cannot rewrite %s/vm.json", pv->spec.name, pv->run_dir);
	r = review_baseline_take(pv->dir, pv->spec.workspace, pv->spec.git_dir, NULL);
	if (r < 0)
		log_warn("%s: no review baseline (%s)", pv->spec.name, strerror(-r));
	*ret = pv;
	return 0;

undo_dir:
	/* its files went with the name: the pool VM is discarded with them, and the
	 * caller makes the directory afresh (which pool.c, freeing this VM, must not
	 * remove: it gets its old path back) */
	rm_rf(dir);
	free(pv->dir);
	pv->dir = TAKE_PTR(pool_dir);
discard:
	vm_teardown(pv, 1000);
	pv->dead = true;
	return -EAGAIN;
}

void sandbox_pool_discard(struct sandbox *sb, const char *why)
{
	log_info("%s: pool VM discarded (%s)", sb->spec.name, why);
	vm_teardown(sb, 1000);
	rm_rf(sb->dir);
	sb->pool_ready = true;   /* not a failed boot */
	sb->dead = true;
}

void sandbox_claim_configure(struct sandbox *sb)
{
	if (!sb->claim_config)
		return;
	sb->claim_config = false;
	guestchan_configure(sb);
}
