// SPDX-License-Identifier: MIT
/* cgroup.c: a cgroup per running sandbox with its limits, v2 or v1 (cgroup.h). */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define CG_FS "/sys/fs/cgroup"
#define CG_TEXT_MAX 65536

static const char *const v1_ctrl[CG_FILES_MAX] = { "memory", "cpu", "pids" };

uint64_t cgroup_memory_for(unsigned mem_mib, unsigned extra_mib)
{
	return ((uint64_t)mem_mib + mem_mib / 4 + 512 + extra_mib) << 20;
}

static int put(const char *dir, const char *file, const char *text)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		r = -errno ? -errno : -EIO;
	close(fd);
	return r;
}

static int get_u64(const char *dir, const char *file, const char *key, uint64_t *ret)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, file), *text = NULL;
	const char *p;

	if (file_read_all(path, CG_TEXT_MAX, &text, NULL) < 0)
		return -ENOENT;
	p = text;
	if (key) {
		size_t k = strlen(key);
		for (p = text; p && (strncmp(p, key, k) || p[k] != ' '); p = strchr(p, '\n'), p = p ? p + 1 : NULL)
			;
		if (!p)
			return -ENOENT;
		p += k + 1;
	}
	*ret = strtoull(p, NULL, 10);
	return 0;
}

/* Whether the comma-separated list names ctrl. */
static bool has_ctrl(const char *list, const char *ctrl)
{
	size_t n = strlen(ctrl);

	for (const char *p = list; p; p = strchr(p, ','), p = p ? p + 1 : NULL)
		if (!strncmp(p, ctrl, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

/* PID's cgroup path ("self" for ours) in the hierarchy whose /proc/PID/cgroup line
 * names ctrl ("" for v2); "" for the root. */
static char *proc_cg_path(const char *pid, const char *ctrl)
{
	_cleanup_free_ char *path = xasprintf("/proc/%s/cgroup", pid), *text = NULL;
	char *line, *save = NULL;

	if (file_read_all(path, CG_TEXT_MAX, &text, NULL) < 0)
		return NULL;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2 || c2[1] != '/' || strstr(c2, "/.."))
			continue;
		*c2 = '\0';
		if (!*ctrl ? !strcmp(line, "0") && c1[1] == '\0' : has_ctrl(c1 + 1, ctrl))
			return xstrdup(!strcmp(c2 + 1, "/") ? "" : c2 + 1);
	}
	return NULL;
}

static char *self_path(const char *ctrl)
{
	return proc_cg_path("self", ctrl);
}

static void fill_procs(struct sb_cgroup *cg, int n)
{
	for (int i = 0; i < n; i++)
		cg->procs[i] = xasprintf("%s/cgroup.procs", cg->dir[i]);
	cg->procs[n] = NULL;
}

/* cgroup v2: where sandboxes go. As root a subtree of our own at the top; an ordinary
 * user's own cgroup when it is delegated (writable), sbxd moved into a leaf of it. */
static char *v2_parent(char **ret_why)
{
	static char *parent;
	_cleanup_free_ char *self = NULL, *base = NULL;

	if (parent)
		return parent;
	if (geteuid() == 0) {
		base = xstrdup(CG_FS "/sbx.slice");
		if (mkdir(base, 0755) < 0 && errno != EEXIST) {
			*ret_why = xasprintf("cannot make %s: %s", base, strerror(errno));
			return NULL;
		}
		(void)put(CG_FS, "cgroup.subtree_control", "+memory");
		(void)put(CG_FS, "cgroup.subtree_control", "+cpu");
		(void)put(CG_FS, "cgroup.subtree_control", "+pids");
	} else {
		self = self_path("");
		if (!self) {
			*ret_why = xstrdup("no cgroup v2 entry in /proc/self/cgroup");
			return NULL;
		}
		base = xasprintf(CG_FS "%s", self);
		if (strlen(base) > 5 && !strcmp(base + strlen(base) - 5, "/sbxd"))
			base[strlen(base) - 5] = '\0';   /* we moved into our leaf before */
		else {
			_cleanup_free_ char *leaf = xasprintf("%s/sbxd", base);
			if (access(base, W_OK) < 0 || (mkdir(leaf, 0755) < 0 && errno != EEXIST) ||
			    put(leaf, "cgroup.procs", "0") < 0) {
				*ret_why = xasprintf("cgroup v2 is not delegated to you (%s); run sbx in a delegated "
						     "scope (systemd-run --user --scope -p Delegate=yes ...) or as root",
						     base);
				return NULL;
			}
		}
	}
	/* each on its own: one that is not there must not stop the others */
	(void)put(base, "cgroup.subtree_control", "+memory");
	(void)put(base, "cgroup.subtree_control", "+cpu");
	(void)put(base, "cgroup.subtree_control", "+pids");
	(void)put(base, "cgroup.subtree_control", "+io");
	parent = TAKE_PTR(base);
	return parent;
}

static int make_dir(const char *dir)
{
	return mkdir(dir, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

int cgroup_set_low_priority(const struct sb_cgroup *cg, bool low)
{
	if (cg->version == 2)
		return put(cg->dir[0], "cpu.weight", low ? "1" : "100");
	if (cg->version == 1)
		return put(cg->dir[1], "cpu.shares", low ? "2" : "1024");
	return -ENOENT;
}

int cgroup_make(const char *name, unsigned cpus, unsigned mem_mib, unsigned extra_mib, struct sb_cgroup *ret,
		char **ret_why)
{
	struct sb_cgroup cg = { .memory_max = cgroup_memory_for(mem_mib, extra_mib) };
	char leafname[96], num[64];
	int r = 0;

	*ret = (struct sb_cgroup){ 0 };
	/* unique: two SBX_HOMEs of one user may both run a sandbox of this name */
	snprintf(leafname, sizeof(leafname), "sbx-%s-%x", name, (unsigned)getpid());
	if (access(CG_FS "/cgroup.controllers", F_OK) == 0) {
		const char *parent = v2_parent(ret_why);
		if (!parent)
			return 0;
		cg.version = 2;
		cg.dir[0] = xasprintf("%s/%s", parent, leafname);
		if ((r = make_dir(cg.dir[0])) < 0)
			goto fail;
		snprintf(num, sizeof(num), "%llu", (unsigned long long)cg.memory_max);
		(void)put(cg.dir[0], "memory.max", num);
		(void)put(cg.dir[0], "memory.swap.max", "0");
		snprintf(num, sizeof(num), "%u 100000", cpus * 100000);
		(void)put(cg.dir[0], "cpu.max", num);
		snprintf(num, sizeof(num), "%d", CG_PIDS_MAX);
		(void)put(cg.dir[0], "pids.max", num);
		(void)put(cg.dir[0], "io.weight", "default 100");
		fill_procs(&cg, 1);
	} else if (access(CG_FS "/memory/memory.limit_in_bytes", F_OK) == 0 && geteuid() == 0) {
		cg.version = 1;
		for (int i = 0; i < CG_FILES_MAX; i++) {
			_cleanup_free_ char *self = self_path(v1_ctrl[i]);
			if (!self) {
				r = -ENOENT;
				goto fail;
			}
			cg.dir[i] = xasprintf(CG_FS "/%s%s/%s", v1_ctrl[i], self, leafname);
			if ((r = make_dir(cg.dir[i])) < 0)
				goto fail;
		}
		snprintf(num, sizeof(num), "%llu", (unsigned long long)cg.memory_max);
		if ((r = put(cg.dir[0], "memory.limit_in_bytes", num)) < 0)
			goto fail;
		(void)put(cg.dir[1], "cpu.cfs_period_us", "100000");
		snprintf(num, sizeof(num), "%u", cpus * 100000);
		if ((r = put(cg.dir[1], "cpu.cfs_quota_us", num)) < 0)
			goto fail;
		snprintf(num, sizeof(num), "%d", CG_PIDS_MAX);
		if ((r = put(cg.dir[2], "pids.max", num)) < 0)
			goto fail;
		fill_procs(&cg, CG_FILES_MAX);
	} else {
		*ret_why = xstrdup(geteuid() == 0 ? "no cgroup file system at " CG_FS
						  : "cgroup v1 only (needs root); sandboxes run without limits");
		return 0;
	}
	*ret = cg;
	return 0;
fail:
	*ret_why = xasprintf("cannot set up the sandbox's cgroup %s: %s", cg.dir[0] ? cg.dir[0] : CG_FS,
			     strerror(-r));
	cgroup_remove(&cg);
	return r;
}

/* A directory of ours: its last component is one cgroup_make names. */
static bool ours(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash && !strncmp(slash + 1, "sbx-", 4);
}

void cgroup_find(pid_t pid, struct sb_cgroup *ret)
{
	struct sb_cgroup cg = { 0 };
	char pidtxt[16];

	*ret = cg;
	snprintf(pidtxt, sizeof(pidtxt), "%d", (int)pid);
	if (access(CG_FS "/cgroup.controllers", F_OK) == 0) {
		_cleanup_free_ char *p = proc_cg_path(pidtxt, "");
		if (!p || !ours(p))
			return;
		cg.version = 2;
		cg.dir[0] = xasprintf(CG_FS "%s", p);
		fill_procs(&cg, 1);
	} else {
		for (int i = 0; i < CG_FILES_MAX; i++) {
			_cleanup_free_ char *p = proc_cg_path(pidtxt, v1_ctrl[i]);
			if (!p || !ours(p)) {
				cgroup_free(&cg);
				return;
			}
			cg.dir[i] = xasprintf(CG_FS "/%s%s", v1_ctrl[i], p);
		}
		cg.version = 1;
		fill_procs(&cg, CG_FILES_MAX);
	}
	*ret = cg;
}

int cgroup_join(char *const procs[])
{
	for (int i = 0; procs && procs[i]; i++) {
		int fd = open(procs[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (write(fd, "0", 1) != 1) {
			int r = -errno;
			close(fd);
			return r;
		}
		close(fd);
	}
	return 0;
}

uint64_t cgroup_proc_cpu_usec(pid_t pid)
{
	char path[32];
	_cleanup_free_ char *text = NULL;
	unsigned long long ut = 0, st = 0;
	char *p;
	long hz = sysconf(_SC_CLK_TCK);

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (pid <= 0 || file_read_all(path, 4096, &text, NULL) < 0 || !(p = strrchr(text, ')')))
		return 0;
	/* after "comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2 || hz <= 0)
		return 0;
	return (ut + st) * 1000000ULL / (unsigned long long)hz;
}

int cgroup_stat(const struct sb_cgroup *cg, pid_t pid, struct cg_stat *ret)
{
	*ret = (struct cg_stat){ 0 };
	if (cg->version == 2) {
		(void)get_u64(cg->dir[0], "memory.current", NULL, &ret->memory_bytes);
		(void)get_u64(cg->dir[0], "cpu.stat", "usage_usec", &ret->cpu_usec);
		(void)get_u64(cg->dir[0], "memory.events", "oom_kill", &ret->oom_kills);
		return 0;
	}
	if (cg->version == 1) {
		(void)get_u64(cg->dir[0], "memory.usage_in_bytes", NULL, &ret->memory_bytes);
		(void)get_u64(cg->dir[0], "memory.oom_control", "oom_kill", &ret->oom_kills);
		ret->cpu_usec = cgroup_proc_cpu_usec(pid);
		return 0;
	}
	return -ENOENT;
}

void cgroup_free(struct sb_cgroup *cg)
{
	for (int i = 0; i < CG_FILES_MAX; i++) {
		free(cg->dir[i]);
		free(cg->procs[i]);
	}
	*cg = (struct sb_cgroup){ 0 };
}

/* A VMM killed a moment ago may not be reaped yet (QEMU is pid 1 of its own pid
 * namespace, reaped by its parent), and its cgroup is busy until then: wait that
 * out, briefly. What is still busy after it the next sbxd removes (cgroup_sweep). */
#define CG_RMDIR_TRIES 50
#define CG_RMDIR_WAIT_US 10000

void cgroup_remove(struct sb_cgroup *cg)
{
	for (int i = 0; i < CG_FILES_MAX; i++) {
		int tries = 0, r;

		if (!cg->dir[i])
			continue;
		while ((r = rmdir(cg->dir[i]) < 0 ? -errno : 0) == -EBUSY && ++tries < CG_RMDIR_TRIES)
			usleep(CG_RMDIR_WAIT_US);
		if (r < 0 && r != -ENOENT)
			log_warn("cgroup %s not removed: %s", cg->dir[i], strerror(-r));
	}
	cgroup_free(cg);
}

/* Under parent, remove each empty sbx-NAME-HEX whose sbxd (pid HEX) is gone. A
 * cgroup with processes in it cannot be removed (EBUSY), so a running VM's stays. */
static unsigned sweep_dir(const char *parent)
{
	DIR *dir = opendir(parent);
	struct dirent *de;
	unsigned n = 0;

	if (!dir)
		return 0;
	while ((de = readdir(dir))) {
		const char *dash = strrchr(de->d_name, '-');
		char *end = NULL;
		unsigned long pid;

		if (de->d_type != DT_DIR || strncmp(de->d_name, "sbx-", 4) || !dash || dash == de->d_name + 3)
			continue;
		errno = 0;
		pid = strtoul(dash + 1, &end, 16);
		if (errno || !end || *end || pid == 0 || pid > INT32_MAX)
			continue;
		/* its sbxd (or whatever took its pid) lives: may be about to fill it */
		if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
			continue;
		_cleanup_free_ char *path = xasprintf("%s/%s", parent, de->d_name);
		if (rmdir(path) == 0)
			n++;
	}
	closedir(dir);
	return n;
}

unsigned cgroup_sweep(void)
{
	unsigned n = 0;

	if (access(CG_FS "/cgroup.controllers", F_OK) == 0) {
		char *why = NULL;
		const char *parent = v2_parent(&why);

		free(why);
		return parent ? sweep_dir(parent) : 0;
	}
	if (geteuid() != 0)
		return 0;
	for (int i = 0; i < CG_FILES_MAX; i++) {
		_cleanup_free_ char *self = self_path(v1_ctrl[i]), *parent = NULL;

		if (!self)
			continue;
		parent = xasprintf(CG_FS "/%s%s", v1_ctrl[i], self);
		n += sweep_dir(parent);
	}
	return n;
}
