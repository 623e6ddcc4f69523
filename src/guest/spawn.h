// SPDX-License-Identifier: MIT
/* spawn.h: the fork/exec side of exec sessions: environment vectors, ptys, the child's setup. */
#ifndef SBX_GUEST_SPAWN_H
#define SBX_GUEST_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SPAWN_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define SPAWN_MSG_MAX 512u
#define SPAWN_TTY_GID 5 /* group "tty" on Debian; devpts is mounted with gid=5 */

/* NULL-terminated string vectors of malloc'd strings. */
int strv_push(char ***v, size_t *n, char *s);
void strv_free(char **v, size_t n);
/* Set "K=V" in env, replacing K; "K" without '=' removes K. Takes ownership of s. */
int env_set(char ***env, size_t *n, char *s);
const char *env_get(char **env, size_t n, const char *key);

/* A pty pair for uid: non-blocking CLOEXEC master, CLOEXEC slave owned by uid:tty 0620;
 * winsz is rows << 16 | cols (0 = leave the default). */
int spawn_open_pty(uint32_t winsz, uid_t uid, int *ret_master, int *ret_slave);

/* Everything the forked child needs; prepared before fork(). */
struct child_args {
	char **argv;
	char **envp;
	size_t envc;
	const char *cwd;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	size_t ngroups;
	bool tty;
	int stdio[3];   /* tty: all three are the slave */
	int status_fd;
};

/* In the forked child: new session, stdio, groups/gid/uid, cwd, execvp-like search of PATH
 * from envp. A failure is written to status_fd ("exec argv0: strerror") and the child exits
 * 127 (not found) or 126. Never returns. */
void child_run(const struct child_args *a) __attribute__((noreturn));

#endif
