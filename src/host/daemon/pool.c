// SPDX-License-Identifier: MIT
/* pool.c: the warm pool's policy: how many VMs, when to boot one, which to discard,
 * which one a new sandbox takes (docs/warm-pool.md); the VMs' lifecycle is sandbox.c's. */
#include "pool.h"

#include <dirent.h>
#include <json-c/json.h>
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "names.h"
#include "proc.h"
#include "sandbox.h"
#include "cgroup.h"
#include "image.h"
#include "settings.h"
#include "util.h"

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

static bool shape_is(const struct pool_shape *sh, const struct spec *s)
{
	return !strcmp(sh->template_name, s->template_name) && sh->cpus == s->cpus &&
	       sh->memory_mib == s->memory_mib && sh->uid == s->uid && sh->gid == s->gid;
}

void pool_note(struct sbxd *d, const struct spec *spec, int64_t when)
{
	struct pool_shape sh;
	unsigned i;

	if (!spec->template_name || when < (int64_t)time(NULL) - POOL_SHAPE_TTL_S)
		return;
	for (i = 0; i < d->pool_nshapes && !shape_is(&d->pool_shapes[i], spec); i++)
		;
	if (i < d->pool_nshapes) {
		sh = d->pool_shapes[i];
		if (when < sh.used)
			return;   /* seeding: a later one is known already */
	} else {
		/* new: the least recently used kind makes room */
		if (d->pool_nshapes == POOL_SHAPES_MAX) {
			if (when < d->pool_shapes[POOL_SHAPES_MAX - 1].used)
				return;
			free(d->pool_shapes[--d->pool_nshapes].template_name);
		}
		i = d->pool_nshapes++;
		sh = (struct pool_shape){ .template_name = xstrdup(spec->template_name), .cpus = spec->cpus,
					  .memory_mib = spec->memory_mib, .uid = spec->uid, .gid = spec->gid };
	}
	sh.used = when;
	/* keep the list sorted, most recent first */
	for (; i > 0 && d->pool_shapes[i - 1].used < when; i--)
		d->pool_shapes[i] = d->pool_shapes[i - 1];
	d->pool_shapes[i] = sh;
}

void pool_seed(struct sbxd *d)
{
	for (struct sandbox *sb = d->sandboxes; sb; sb = sb->next)
		if (!sb->dead)
			pool_note(d, &sb->spec, sb->spec.created);
	if (d->pool_nshapes == 0) {
		/* the agent's ids a new sandbox of ours gets (cmd_run.c's run_owner): known
		 * now for an ordinary user; as root, those of a root-owned workspace */
		struct spec s = { .template_name = (char *)POOL_TEMPLATE, .cpus = POOL_CPUS,
				  .memory_mib = POOL_MEMORY_MIB, .uid = getuid() ? getuid() : 1000,
				  .gid = getuid() ? getgid() : 1000 };
		pool_note(d, &s, (int64_t)time(NULL));
	}
}

static void pool_shapes_expire(struct sbxd *d)
{
	int64_t old = (int64_t)time(NULL) - POOL_SHAPE_TTL_S;

	while (d->pool_nshapes && d->pool_shapes[d->pool_nshapes - 1].used < old)
		free(d->pool_shapes[--d->pool_nshapes].template_name);
}

static struct spec pool_spec(struct sbxd *d, const struct pool_shape *sh)
{
	uint32_t id = 0;
	struct spec s = { 0 };

	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != (ssize_t)sizeof(id))
		id = (uint32_t)now_ms();
	/* unique across sbxd restarts too: the name is also its cgroup's */
	s.name = xasprintf("pool-%u-%08x", ++d->pool_seq, id);
	s.agent = xstrdup("shell");
	s.template_name = xstrdup(sh->template_name);
	s.workspace = xstrdup("/");
	s.cpus = sh->cpus;
	s.memory_mib = sh->memory_mib;
	s.uid = sh->uid;
	s.gid = sh->gid;
	return s;
}

static void pool_failed(struct sbxd *d, uint64_t now)
{
	unsigned shift = d->pool_failures < 6 ? d->pool_failures : 6;
	uint64_t wait = (uint64_t)POOL_RETRY_MS << shift;

	d->pool_failures++;
	d->pool_retry_ms = now + (wait > POOL_RETRY_MAX_MS ? POOL_RETRY_MAX_MS : wait);
}

/* The shape a pool VM serves, or -1: no longer wanted. */
static int shape_of(struct sbxd *d, const struct sandbox *sb)
{
	for (unsigned i = 0; i < d->pool_nshapes; i++)
		if (shape_is(&d->pool_shapes[i], &sb->spec))
			return (int)i;
	return -1;
}

void pool_tick(struct sbxd *d, uint64_t now)
{
	_cleanup_free_ char *bases[POOL_SHAPES_MAX] = { NULL };
	unsigned live[POOL_SHAPES_MAX] = { 0 }, booting = 0;
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
	pool_shapes_expire(d);
	for (unsigned i = 0; i < d->pool_nshapes; i++)
		(void)template_image(d->p, d->pool_shapes[i].template_name, &bases[i]);
	for (struct sandbox *sb = d->pool; sb; sb = sb->next) {
		int k;

		if (sb->dead)
			continue;
		k = shape_of(d, sb);
		if (sb->pool_ready && k < 0) {
			sandbox_pool_discard(sb, "no sandbox of its kind was made lately");
			continue;
		}
		if (sb->pool_ready && (!bases[k] || strcmp(bases[k], sb->spec.base))) {
			sandbox_pool_discard(sb, "its template was rebuilt");
			continue;
		}
		if (k >= 0 && live[k] >= d->pool_size) {
			sandbox_pool_discard(sb, "pool.size was lowered");
			continue;
		}
		if (k >= 0)
			live[k]++;
		booting += !sb->pool_ready;
	}
	for (struct sandbox *sb = d->sandboxes; sb; sb = sb->next)
		user_starting |= !sb->dead && sb->state == SB_STARTING;
	if (booting || user_starting || now < d->pool_retry_ms)
		return;
	/* one boot at a time, for the most recently used kind that is short */
	for (unsigned i = 0; i < d->pool_nshapes; i++) {
		_cleanup_free_ char *err = NULL;
		struct spec s;
		struct sandbox *sb;

		if (!bases[i] || live[i] >= d->pool_size)
			continue;
		s = pool_spec(d, &d->pool_shapes[i]);
		if (sandbox_pool_boot(d, &s, &err, &sb) < 0) {
			log_warn("cannot boot a pool VM of %s: %s", d->pool_shapes[i].template_name,
				 err ? err : "unknown error");
			pool_failed(d, now);
		}
		spec_free(&s);
		break;
	}
}

struct sandbox *pool_take(struct sbxd *d, const struct spec *spec, const char *base)
{
	for (struct sandbox *sb = d->pool; sb; sb = sb->next) {
		if (sb->dead || !sb->pooled || !sb->pool_ready || strcmp(sb->spec.template_name, spec->template_name) ||
		    strcmp(sb->spec.base, base) || sb->spec.cpus != spec->cpus ||
		    sb->spec.memory_mib != spec->memory_mib || sb->spec.uid != spec->uid || sb->spec.gid != spec->gid ||
		    !proc_alive(sb->procs.qemu_pid, sb->procs.qemu_start))
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
	while (d->pool_nshapes)
		free(d->pool_shapes[--d->pool_nshapes].template_name);
}

struct json_object *pool_json(struct sbxd *d)
{
	struct json_object *arr = json_object_new_array();

	for (struct sandbox *sb = d->pool; sb; sb = sb->next) {
		struct json_object *o;
		struct cg_stat st;

		if (sb->dead)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(sb->spec.name));
		json_object_object_add(o, "template", json_object_new_string(sb->spec.template_name));
		json_object_object_add(o, "status", json_object_new_string(sb->pool_ready ? "ready" : "booting"));
		if (cgroup_stat(&sb->cg, sb->procs.qemu_pid, &st) == 0)
			json_object_object_add(o, "memory_bytes", json_object_new_int64((int64_t)st.memory_bytes));
		json_object_array_add(arr, o);
	}
	return arr;
}
