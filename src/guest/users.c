// SPDX-License-Identifier: MIT
/* users.c: passwd/group lookups and the "agent" account, parsed by hand (no NSS in a static binary). */
#include "users.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "util.h"

#define USERS_FILE_MAX (4u * 1024u * 1024u)
#define USERS_CHOWN_MAX 200000

/* A database being rebuilt: a bounded buffer (common/buf.h) and the first failure,
 * after which appends stop. */
struct dbout {
	struct buf b;
	int err;
};
#define USERS_OUT_MAX (USERS_FILE_MAX + 64u * 1024u)

static struct dbout out_new(void)
{
	struct dbout o = { .err = 0 };

	buf_init(&o.b, USERS_OUT_MAX);
	return o;
}

static void out_add(struct dbout *o, const char *s, size_t n)
{
	if (!o->err)
		o->err = buf_append(&o->b, s, n);
}

static void out_str(struct dbout *o, const char *s)
{
	out_add(o, s, strlen(s));
}

static void out_fmt(struct dbout *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_fmt(struct dbout *o, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		if (!o->err)
			o->err = -ENAMETOOLONG;
		return;
	}
	out_add(o, tmp, (size_t)n);
}

void user_info_done(struct user_info *u)
{
	free(u->name);
	free(u->home);
	free(u->shell);
	*u = (struct user_info){ 0 };
}

/* Split line (no newline) at ':' into at most max fields, in place. Returns the count. */
static int split_fields(char *line, char **f, int max)
{
	int n = 0;

	f[n++] = line;
	for (char *s = line; *s && n < max; s++) {
		if (*s == ':') {
			*s = 0;
			f[n++] = s + 1;
		}
	}
	return n;
}

static int parse_id(const char *s, uint32_t *ret)
{
	unsigned long long v = 0;

	if (!*s || strlen(s) > 10)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v >= UINT32_MAX) /* (uid_t)-1 means "no change" to setuid and friends */
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

/* Next line of buf (modifies it: the newline becomes NUL). NULL at the end. */
static char *next_line(char **cursor)
{
	char *s = *cursor, *nl;

	if (!s || !*s)
		return NULL;
	nl = strchr(s, '\n');
	if (nl) {
		*nl = 0;
		*cursor = nl + 1;
	} else {
		*cursor = s + strlen(s);
	}
	return s;
}

static int read_db(const char *root, const char *name, char **ret)
{
	_cleanup_free_ char *path = xasprintf("%s/etc/%s", root, name);

	return file_read_all(path, USERS_FILE_MAX, ret, NULL);
}

static bool valid_spec(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 256)
		return false;
	for (; *s; s++)
		if (*s == ':' || *s == '\n' || *s == ',' || *s == '/')
			return false;
	return true;
}

int user_lookup(const char *root, const char *spec, struct user_info *ret)
{
	_cleanup_free_ char *db = NULL;
	uint32_t want_uid = 0;
	bool by_uid;
	char *cur, *line;
	int r;

	if (!valid_spec(spec))
		return -EINVAL;
	by_uid = parse_id(spec, &want_uid) == 0;
	r = read_db(root, "passwd", &db);
	if (r < 0 && !(r == -ENOENT && by_uid))
		return r;
	cur = db;
	while ((line = next_line(&cur))) {
		char *f[7];
		uint32_t uid, gid;

		if (split_fields(line, f, 7) != 7)
			continue;
		if (parse_id(f[2], &uid) < 0 || parse_id(f[3], &gid) < 0)
			continue;
		if (by_uid ? uid != want_uid : strcmp(f[0], spec) != 0)
			continue;
		*ret = (struct user_info){
			.name = xstrdup(f[0]),
			.uid = uid,
			.gid = gid,
			.home = xstrdup(f[5][0] == '/' ? f[5] : "/"),
			.shell = xstrdup(f[6][0] == '/' ? f[6] : "/bin/sh"),
		};
		return 0;
	}
	if (!by_uid)
		return -ENOENT;
	*ret = (struct user_info){
		.name = xstrdup(spec),
		.uid = want_uid,
		.gid = want_uid,
		.home = xstrdup("/"),
		.shell = xstrdup("/bin/sh"),
	};
	return 0;
}

static bool list_has(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *s = list; *s;) {
		const char *e = strchr(s, ',');
		size_t l = e ? (size_t)(e - s) : strlen(s);

		if (l == n && strncmp(s, name, n) == 0)
			return true;
		if (!e)
			break;
		s = e + 1;
	}
	return false;
}

int group_lookup(const char *root, const char *name, gid_t *ret_gid)
{
	_cleanup_free_ char *db = NULL;
	char *cur, *line;
	int r;

	r = read_db(root, "group", &db);
	if (r < 0)
		return r;
	cur = db;
	while ((line = next_line(&cur))) {
		char *f[4];
		uint32_t g;

		if (split_fields(line, f, 4) != 4 || strcmp(f[0], name) != 0)
			continue;
		if (parse_id(f[2], &g) < 0)
			return -EINVAL;
		*ret_gid = g;
		return 0;
	}
	return -ENOENT;
}

int user_groups(const char *root, const char *name, gid_t gid, gid_t **ret, size_t *ret_n)
{
	_cleanup_free_ char *db = NULL;
	_cleanup_free_ gid_t *v = xcalloc(USERS_MAX_GROUPS, sizeof(gid_t));
	size_t n = 0;
	char *cur, *line;
	int r;

	v[n++] = gid;
	r = read_db(root, "group", &db);
	if (r < 0 && r != -ENOENT)
		return r;
	cur = db;
	while (db && (line = next_line(&cur)) && n < USERS_MAX_GROUPS) {
		char *f[4];
		uint32_t g;
		bool dup = false;

		if (split_fields(line, f, 4) != 4 || parse_id(f[2], &g) < 0)
			continue;
		if (!list_has(f[3], name))
			continue;
		for (size_t i = 0; i < n; i++)
			dup |= v[i] == g;
		if (!dup)
			v[n++] = g;
	}
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

/* Replace path atomically, keeping the old file's owner and mode (shadow is root:shadow 0640). */
static int write_replace(const char *path, const char *buf, size_t len, mode_t defmode)
{
	_cleanup_free_ char *tmp = xasprintf("%s.sbx-tmp", path);
	_cleanup_close_ int fd = -1;
	struct stat st;
	bool have = stat(path, &st) == 0;
	int r;

	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, buf, len);
	if (r == 0 && have && fchown(fd, st.st_uid, st.st_gid) < 0)
		r = -errno;
	if (r == 0 && fchmod(fd, have ? st.st_mode & 07777 : defmode) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

struct agent_state {
	uint32_t uid, gid;
	bool found;
	char *home;
};

/* A database's text, or NULL when the file does not exist. */
static int db_read(const char *path, char **ret_db, char **ret_msg)
{
	int r = file_read_all(path, USERS_FILE_MAX, ret_db, NULL);

	if (r == -ENOENT) {
		*ret_db = NULL;
		return 0;
	}
	if (r < 0)
		*ret_msg = xasprintf("read %s: %s", path, strerror(-r));
	return r;
}

/* Write the rebuilt database over path when it changed; frees out. */
static int db_finish(const char *path, struct dbout *out, bool changed, mode_t mode, char **ret_msg)
{
	int r = out->err;

	if (!r && changed)
		r = write_replace(path, (const char *)buf_head(&out->b), out->b.len, mode);
	buf_free(&out->b);
	if (r < 0)
		*ret_msg = xasprintf("write %s: %s", path, strerror(-r));
	return r;
}

static int fix_passwd(const char *root, struct agent_state *a, char **ret_msg)
{
	_cleanup_free_ char *path = xasprintf("%s/etc/passwd", root);
	_cleanup_free_ char *db = NULL;
	struct dbout out = out_new();
	bool changed = false;
	char *cur, *line;
	int r;

	r = db_read(path, &db, ret_msg);
	if (r < 0)
		return r;
	cur = db;
	while (db && (line = next_line(&cur))) {
		_cleanup_free_ char *copy = xstrdup(line);
		char *f[7];
		uint32_t uid, gid;

		if (!a->found && split_fields(copy, f, 7) == 7 && strcmp(f[0], AGENT_USER) == 0) {
			a->found = true;
			a->home = xstrdup(f[5][0] == '/' ? f[5] : "/home/" AGENT_USER);
			if (parse_id(f[2], &uid) < 0 || parse_id(f[3], &gid) < 0 ||
			    uid != a->uid || gid != a->gid) {
				out_fmt(&out, "%s:%s:%u:%u:%s:%s:%s\n", f[0], f[1], a->uid, a->gid,
				       f[4], f[5], f[6]);
				changed = true;
				continue;
			}
		}
		out_str(&out, line);
		out_str(&out, "\n");
	}
	if (!a->found) {
		a->home = xstrdup("/home/" AGENT_USER);
		out_fmt(&out, "%s:x:%u:%u:%s:%s:/bin/bash\n", AGENT_USER, a->uid, a->gid, AGENT_USER, a->home);
		changed = true;
	}
	return db_finish(path, &out, changed, 0644, ret_msg);
}

static int fix_group(const char *root, struct agent_state *a, char **ret_msg)
{
	_cleanup_free_ char *path = xasprintf("%s/etc/group", root);
	_cleanup_free_ char *db = NULL;
	struct dbout out = out_new();
	bool changed = false, found = false;
	char *cur, *line;
	int r;

	r = db_read(path, &db, ret_msg);
	if (r < 0)
		return r;
	cur = db;
	while (db && (line = next_line(&cur))) {
		_cleanup_free_ char *copy = xstrdup(line);
		char *f[4];
		uint32_t gid;

		if (split_fields(copy, f, 4) == 4) {
			if (!found && strcmp(f[0], AGENT_USER) == 0) {
				found = true;
				if (parse_id(f[2], &gid) < 0 || gid != a->gid) {
					out_fmt(&out, "%s:%s:%u:%s\n", f[0], f[1], a->gid, f[3]);
					changed = true;
					continue;
				}
			} else if ((strcmp(f[0], "sudo") == 0 || strcmp(f[0], "docker") == 0) &&
				   !list_has(f[3], AGENT_USER)) {
				out_fmt(&out, "%s:%s:%s:%s%s%s\n", f[0], f[1], f[2], f[3],
				       f[3][0] ? "," : "", AGENT_USER);
				changed = true;
				continue;
			}
		}
		out_str(&out, line);
		out_str(&out, "\n");
	}
	if (!found) {
		out_fmt(&out, "%s:x:%u:\n", AGENT_USER, a->gid);
		changed = true;
	}
	return db_finish(path, &out, changed, 0644, ret_msg);
}

/* Add a locked shadow entry when the file exists and lacks one (login tools want it). */
static int fix_shadow(const char *root, char **ret_msg)
{
	_cleanup_free_ char *path = xasprintf("%s/etc/shadow", root);
	_cleanup_free_ char *db = NULL;
	struct dbout out = out_new();
	size_t len = 0;
	char *cur, *line;
	int r;

	r = file_read_all(path, USERS_FILE_MAX, &db, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		*ret_msg = xasprintf("read %s: %s", path, strerror(-r));
		return r;
	}
	cur = db;
	while ((line = next_line(&cur))) {
		if (strncmp(line, AGENT_USER ":", strlen(AGENT_USER) + 1) == 0)
			return db_finish(path, &out, false, 0640, ret_msg);   /* has one: frees out */
		out_str(&out, line);
		out_str(&out, "\n");
	}
	out_fmt(&out, "%s:*:%ld:0:99999:7:::\n", AGENT_USER, (long)(time(NULL) / 86400));
	return db_finish(path, &out, true, 0640, ret_msg);
}

/* nftw has no user pointer: the remap parameters live here during one walk. */
static struct {
	uid_t from_uid, to_uid;
	gid_t from_gid, to_gid;
	long count;
} remap;

static int remap_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	uid_t u = st->st_uid == remap.from_uid ? remap.to_uid : (uid_t)-1;
	gid_t g = st->st_gid == remap.from_gid ? remap.to_gid : (gid_t)-1;

	if (++remap.count > USERS_CHOWN_MAX)
		return 1;
	if (u != (uid_t)-1 || g != (gid_t)-1)
		(void)!lchown(path, u, g);
	return 0;
}

static void copy_skel(const char *root, const char *home, uid_t uid, gid_t gid)
{
	_cleanup_free_ char *skel = xasprintf("%s/etc/skel", root);
	DIR *d = opendir(skel);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		_cleanup_free_ char *src = NULL, *dst = NULL, *buf = NULL;
		size_t len;

		if (de->d_type != DT_REG)
			continue;
		src = xasprintf("%s/%s", skel, de->d_name);
		dst = xasprintf("%s/%s", home, de->d_name);
		if (file_read_all(src, 1024 * 1024, &buf, &len) < 0)
			continue;
		_cleanup_close_ int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd < 0)
			continue;
		(void)write_all(fd, buf, len);
		(void)!fchown(fd, uid, gid);
	}
	closedir(d);
}

static int fix_home(const char *root, struct agent_state *a, char **ret_msg)
{
	_cleanup_free_ char *home = xasprintf("%s%s", root, a->home);
	struct stat st;
	int r;

	if (lstat(home, &st) < 0) {
		if (errno != ENOENT) {
			*ret_msg = xasprintf("stat %s: %m", home);
			return -errno;
		}
		r = mkdir_p(home, 0755);
		if (r < 0) {
			*ret_msg = xasprintf("mkdir %s: %s", home, strerror(-r));
			return r;
		}
		if (chown(home, a->uid, a->gid) < 0) {
			*ret_msg = xasprintf("chown %s: %m", home);
			return -errno;
		}
		copy_skel(root, home, a->uid, a->gid);
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		*ret_msg = xasprintf("%s is not a directory", home);
		return -ENOTDIR;
	}
	if (st.st_uid == a->uid && st.st_gid == a->gid)
		return 0;
	/* The uid changed (template built with another one): hand the old files over. */
	remap.from_uid = st.st_uid;
	remap.to_uid = a->uid;
	remap.from_gid = st.st_gid;
	remap.to_gid = a->gid;
	remap.count = 0;
	(void)nftw(home, remap_one, 16, FTW_PHYS | FTW_MOUNT);
	if (chown(home, a->uid, a->gid) < 0) {
		*ret_msg = xasprintf("chown %s: %m", home);
		return -errno;
	}
	return 0;
}

int users_ensure_agent(const char *root, uint32_t uid, uint32_t gid, char **ret_msg)
{
	struct agent_state a = { .uid = uid, .gid = gid };
	char *msg = NULL;
	int r;

	if (uid == UINT32_MAX || gid == UINT32_MAX) {
		*ret_msg = xstrdup("invalid uid/gid");
		return -EINVAL;
	}
	r = fix_passwd(root, &a, &msg);
	if (r >= 0)
		r = fix_group(root, &a, &msg);
	if (r >= 0)
		r = fix_shadow(root, &msg);
	if (r >= 0)
		r = fix_home(root, &a, &msg);
	free(a.home);
	if (r < 0)
		*ret_msg = msg ? msg : xasprintf("agent user: %s", strerror(-r));
	return r < 0 ? r : 0;
}
