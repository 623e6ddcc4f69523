// SPDX-License-Identifier: MIT
/* idmap.c: subordinate id ranges and the id maps of virtiofsd's user namespace (see idmap.h). */
#include "idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

/* A decimal u32 of [s, end), digits only. */
static bool parse_u32(const char *s, const char *end, uint32_t *ret)
{
	uint64_t v = 0;

	if (s == end || end - s > 10)
		return false;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*ret = (uint32_t)v;
	return true;
}

/* The range of one line "owner:start:count"; false when it does not have that shape. */
static bool subid_line(const char *line, const char *eol, struct subid_range *ret)
{
	const char *c1 = memchr(line, ':', (size_t)(eol - line)), *c2;

	if (!c1)
		return false;
	c2 = memchr(c1 + 1, ':', (size_t)(eol - c1 - 1));
	if (!c2 || !parse_u32(c1 + 1, c2, &ret->start) || !parse_u32(c2 + 1, eol, &ret->count))
		return false;
	return ret->count > 0 && (uint64_t)ret->start + ret->count <= (uint64_t)UINT32_MAX + 1;
}

/* The line at *pos ([*pos, *ret_eol), without "\r\n"), advancing *pos; NULL at the end. */
static const char *line_next(const char **pos, const char *end, const char **ret_eol)
{
	const char *line = *pos, *eol;

	if (line >= end)
		return NULL;
	eol = memchr(line, '\n', (size_t)(end - line));
	*pos = eol ? eol + 1 : end;
	if (!eol)
		eol = end;
	if (eol > line && eol[-1] == '\r')
		eol--;
	*ret_eol = eol;
	return line;
}

int subid_parse(const char *text, size_t len, const char *name, uint32_t id, struct subid_range *ret)
{
	const char *end = text + len;
	char idtxt[16];
	struct subid_range best = { 0 };
	bool bad = false;

	snprintf(idtxt, sizeof(idtxt), "%u", id);
	for (const char *pos = text, *line, *eol; (line = line_next(&pos, end, &eol));) {
		struct subid_range r;
		bool mine;

		if (line < eol && *line != '#') {
			const char *c = memchr(line, ':', (size_t)(eol - line));
			size_t n = c ? (size_t)(c - line) : 0;

			mine = c && ((name && n == strlen(name) && !memcmp(line, name, n)) ||
				     (n == strlen(idtxt) && !memcmp(line, idtxt, n)));
			if (mine && !subid_line(line, eol, &r))
				bad = true;
			else if (mine && r.count > best.count)
				best = r;
		}
	}
	if (best.count) {
		*ret = best;
		return 0;
	}
	return bad ? -EINVAL : -ENOENT;
}

uint32_t subid_free_start(const char *text, size_t len)
{
	const char *end = text + len;
	uint64_t next = 0;

	for (const char *pos = text, *line, *eol; (line = line_next(&pos, end, &eol));) {
		struct subid_range r;

		if (subid_line(line, eol, &r) && (uint64_t)r.start + r.count > next)
			next = (uint64_t)r.start + r.count;
	}
	/* after IDMAP_ROOT_BASE, on a multiple of 65536 like useradd's ranges */
	next = next <= IDMAP_ROOT_BASE ? IDMAP_ROOT_BASE : (next + 65535) / 65536 * 65536;
	return next > UINT32_MAX - IDMAP_ROOT_COUNT ? 0 : (uint32_t)next;
}

int subid_lookup(const char *file, const char *name, uint32_t id, struct subid_range *ret)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = file_read_all(file, IDMAP_FILE_MAX, &text, &len);

	if (r < 0)
		return r;
	return subid_parse(text, len, name, id, ret);
}

static uint32_t slot_size(struct subid_range pool)
{
	uint32_t z = pool.count / IDMAP_MIN_SLOTS;

	if (z > IDMAP_SLOT_MAX)
		z = IDMAP_SLOT_MAX;
	z &= ~(IDMAP_SLOT_MIN - 1);
	return z;
}

unsigned idmap_slot_count(struct subid_range pool)
{
	uint32_t z = slot_size(pool);

	if (z < IDMAP_SLOT_MIN || (uint64_t)pool.start + pool.count > (uint64_t)UINT32_MAX + 1)
		return 0;
	return pool.count / z;
}

int idmap_slot_get(struct subid_range pool, unsigned k, struct idmap_slot *ret)
{
	uint32_t z = slot_size(pool);

	if (k >= idmap_slot_count(pool))
		return -ERANGE;
	ret->fs = (struct subid_range){ pool.start + k * z, z - 1 };
	ret->vmm = pool.start + k * z + z - 1;
	return 0;
}

unsigned subid_overlap(const char *text, size_t len, struct subid_range r)
{
	const char *end = text + len;
	unsigned n = 0;

	for (const char *pos = text, *line, *eol; (line = line_next(&pos, end, &eol));) {
		struct subid_range l;

		n++;
		if (line < eol && *line != '#' && subid_line(line, eol, &l) &&
		    (uint64_t)l.start < (uint64_t)r.start + r.count && (uint64_t)r.start < (uint64_t)l.start + l.count)
			return n;
	}
	return 0;
}

int idmap_build(uint32_t ws_id, uint32_t ws_host, struct subid_range range, struct idmap *ret)
{
	struct idmap m = { .n = 0 };
	uint64_t end = (uint64_t)range.start + range.count;

	if (ws_id == 0 || range.count == 0 || end > (uint64_t)UINT32_MAX + 1)
		return -EINVAL;
	if (ws_host >= range.start && ws_host < end)
		return -EINVAL;
	if (ws_id < range.count) {
		/* ns i -> start + i; ws_id's own slot of the range stays unused */
		m.e[m.n++] = (struct idmap_extent){ 0, range.start, ws_id };
		m.e[m.n++] = (struct idmap_extent){ ws_id, ws_host, 1 };
		if (range.count - ws_id - 1 > 0)
			m.e[m.n++] = (struct idmap_extent){ ws_id + 1, range.start + ws_id + 1, range.count - ws_id - 1 };
	} else {
		m.e[m.n++] = (struct idmap_extent){ 0, range.start, range.count };
		m.e[m.n++] = (struct idmap_extent){ ws_id, ws_host, 1 };
	}
	*ret = m;
	return 0;
}

int idmap_format(const struct idmap *m, char *buf, size_t size)
{
	size_t off = 0;

	if (!size)
		return -ENOBUFS;
	buf[0] = '\0';
	for (unsigned i = 0; i < m->n; i++) {
		int w = snprintf(buf + off, size - off, "%u %u %u\n", m->e[i].inside, m->e[i].outside, m->e[i].count);

		if (w < 0 || (size_t)w >= size - off)
			return -ENOBUFS;
		off += (size_t)w;
	}
	return (int)off;
}

/* ---- entering a namespace (after fork: plain syscalls) ---- */

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t len = (ssize_t)strlen(text), n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, (size_t)len);
	if (n != len) {
		int r = n < 0 ? -errno : -EIO;
		close(fd);
		return r;
	}
	close(fd);
	return 0;
}

/* As a privileged helper in the parent user namespace, write the maps of pid. */
static int write_maps(pid_t pid, const char *uid_map, const char *gid_map)
{
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	r = write_file(path, uid_map);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
	return write_file(path, gid_map);
}

/* newuidmap/newgidmap PID inside outside count...: a setuid helper that maps the
 * caller's own id and its subordinate ids (and allows setgroups then). */
static int idmap_tool(const char *tool, pid_t pid, const struct idmap *m)
{
	char num[1 + 3 * 3][16];
	char *argv[2 + 3 * 3 + 1];
	size_t n = 0, k = 0;
	pid_t c;
	int st;

	argv[n++] = (char *)tool;
	snprintf(num[k], sizeof(num[k]), "%d", (int)pid);
	argv[n++] = num[k++];
	for (unsigned i = 0; i < m->n && i < 3; i++) {
		const uint32_t v[3] = { m->e[i].inside, m->e[i].outside, m->e[i].count };
		for (int j = 0; j < 3; j++) {
			snprintf(num[k], sizeof(num[k]), "%u", v[j]);
			argv[n++] = num[k++];
		}
	}
	argv[n] = NULL;
	c = fork();
	if (c < 0)
		return -errno;
	if (c == 0) {
		execv(tool, argv);
		_exit(127);
	}
	while (waitpid(c, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EPERM;
}

int idmap_ns_make(uint32_t ws_uid, uint32_t host_uid, struct subid_range urange, uint32_t ws_gid, uint32_t host_gid,
		  struct subid_range grange, struct idmap_ns *ret)
{
	struct idmap_ns ns = { .self_write = geteuid() == 0 };
	int r = idmap_build(ws_uid, host_uid, urange, &ns.uid);

	if (r == 0)
		r = idmap_build(ws_gid, host_gid, grange, &ns.gid);
	if (r < 0)
		return r;
	if (idmap_format(&ns.uid, ns.uid_text, sizeof(ns.uid_text)) < 0 ||
	    idmap_format(&ns.gid, ns.gid_text, sizeof(ns.gid_text)) < 0)
		return -ENOBUFS;
	*ret = ns;
	return 0;
}

void idmap_ns_vmm(uint32_t host_uid, uint32_t host_gid, uint32_t vmm_uid, uint32_t vmm_gid, struct idmap_ns *ret)
{
	struct idmap_ns ns = { .self_write = false, .keep_groups = true };

	ns.uid = (struct idmap){ .e = { { 0, host_uid, 1 }, { 1, vmm_uid, 1 } }, .n = 2 };
	ns.gid = (struct idmap){ .e = { { 0, host_gid, 1 }, { 1, vmm_gid, 1 } }, .n = 2 };
	(void)idmap_format(&ns.uid, ns.uid_text, sizeof(ns.uid_text));
	(void)idmap_format(&ns.gid, ns.gid_text, sizeof(ns.gid_text));
	*ret = ns;
}

/* A helper left behind in our user namespace writes the maps of the new one (ids
 * other than our own need privilege there: ours as root, newuidmap's otherwise);
 * then we become ns root, an unprivileged id on the host. */
int idmap_enter(const struct idmap_ns *ns)
{
	int sync[2], st, r = 0;
	pid_t self = getpid(), h;
	char c = 0;

	/* newuidmap maps only a process its caller owns, and /proc of an undumpable one
	 * (a child of sbxd, until exec) belongs to root. */
	if (prctl(PR_SET_DUMPABLE, 1) < 0 || pipe2(sync, O_CLOEXEC) < 0)
		return -errno;
	h = fork();
	if (h < 0) {
		r = -errno;
		close(sync[0]);
		close(sync[1]);
		return r;
	}
	if (h == 0) {
		close(sync[1]);
		/* EOF instead of a byte: the parent failed to unshare. */
		if (read(sync[0], &c, 1) != 1)
			_exit(2);
		if (ns->self_write)
			_exit(write_maps(self, ns->uid_text, ns->gid_text) < 0 ? 1 : 0);
		_exit(idmap_tool(IDMAP_NEWUIDMAP, self, &ns->uid) < 0 || idmap_tool(IDMAP_NEWGIDMAP, self, &ns->gid) < 0
			      ? 1
			      : 0);
	}
	close(sync[0]);
	if (unshare(CLONE_NEWUSER) < 0)
		r = -errno;
	else if (write(sync[1], "x", 1) != 1)
		r = -EIO;
	close(sync[1]);
	while (waitpid(h, &st, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	if (r < 0)
		return r;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -EPERM;
	/* Drop the host's supplementary groups and become ns root: exec keeps full
	 * capabilities in the namespace only. */
	if ((!ns->keep_groups && setgroups(0, NULL) < 0) || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		return -errno;
	return 0;
}

int idmap_enter_self(int extra)
{
	char uid_text[32], gid_text[32];

	snprintf(uid_text, sizeof(uid_text), "%u %u 1\n", (unsigned)geteuid(), (unsigned)geteuid());
	snprintf(gid_text, sizeof(gid_text), "%u %u 1\n", (unsigned)getegid(), (unsigned)getegid());
	/* writing our own maps needs /proc/self to be ours: see idmap_enter */
	if (prctl(PR_SET_DUMPABLE, 1) < 0)
		return -errno;
	if (unshare(CLONE_NEWUSER | extra) < 0)
		return -errno;
	if (write_file("/proc/self/setgroups", "deny") < 0)
		return -EPERM;
	return write_maps(getpid(), uid_text, gid_text);
}

/* The fix for a missing range: a usermod line with a range nobody else has. */
static char *subid_fix(const char *user)
{
	_cleanup_free_ char *u = NULL, *g = NULL;
	size_t ul = 0, gl = 0;
	uint32_t start = IDMAP_ROOT_BASE, gs;

	if (file_read_all(IDMAP_SUBUID_FILE, IDMAP_FILE_MAX, &u, &ul) >= 0)
		start = subid_free_start(u, ul);
	if (file_read_all(IDMAP_SUBGID_FILE, IDMAP_FILE_MAX, &g, &gl) >= 0 && (gs = subid_free_start(g, gl)) > start)
		start = gs;
	if (!start)
		start = IDMAP_ROOT_BASE;
	return xasprintf("sudo usermod --add-subuids %u-%u --add-subgids %u-%u %s", start, start + 65535, start,
			 start + 65535, user);
}

int idmap_user_ranges(struct subid_range *ret_uid, struct subid_range *ret_gid, char **ret_err)
{
	struct passwd *pw = getpwuid(getuid());
	_cleanup_free_ char *name = NULL;
	struct subid_range ur, gr;
	int r, q;

	if (!pw || !pw->pw_name) {
		*ret_err = xasprintf("uid %u has no passwd entry; newuidmap needs one", (unsigned)getuid());
		return -ENOENT;
	}
	name = xstrdup(pw->pw_name);
	if (access(IDMAP_NEWUIDMAP, X_OK) < 0 || access(IDMAP_NEWGIDMAP, X_OK) < 0) {
		*ret_err = xasprintf("%s or %s is missing (the workspace share of an ordinary user needs them); "
				     "fix: sudo apt-get install uidmap",
				     IDMAP_NEWUIDMAP, IDMAP_NEWGIDMAP);
		return -ENOENT;
	}
	r = subid_lookup(IDMAP_SUBUID_FILE, name, (uint32_t)getuid(), &ur);
	q = subid_lookup(IDMAP_SUBGID_FILE, name, (uint32_t)getuid(), &gr);
	if (r < 0 || q < 0) {
		_cleanup_free_ char *fix = subid_fix(name);
		const char *what = r < 0 && q < 0 ? "subordinate uids and gids" : r < 0 ? "subordinate uids" : "subordinate gids";
		const char *file = r < 0 ? IDMAP_SUBUID_FILE : IDMAP_SUBGID_FILE;
		int e = r < 0 ? r : q;

		*ret_err = xasprintf("user %s has no %s (%s: %s); the workspace share runs under them. fix: %s", name, what,
				     file, e == -ENOENT ? "none" : e == -EINVAL ? "malformed entry" : strerror(-e), fix);
		return e == -EINVAL ? -EINVAL : -ENOENT;
	}
	*ret_uid = ur;
	*ret_gid = gr;
	return 0;
}

int idmap_user_ns(struct idmap_ns *ret, char **ret_err)
{
	struct subid_range ur, gr;
	int r = idmap_user_ranges(&ur, &gr, ret_err);

	if (r < 0)
		return r;
	r = idmap_ns_make(ur.count, (uint32_t)getuid(), ur, gr.count, (uint32_t)getgid(), gr, ret);
	if (r < 0)
		*ret_err = xasprintf("cannot map the subordinate ids %u-%u: %s", ur.start, ur.start + ur.count - 1,
				     strerror(-r));
	return r;
}

int idmap_run(const struct idmap_ns *ns, int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int st, r;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		r = idmap_enter(ns);
		if (r == 0)
			r = fn(arg);
		_exit(r < 0 ? (-r & 0xff) : 0);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(st))
		return -EINTR;
	return WEXITSTATUS(st) ? -WEXITSTATUS(st) : 0;
}
