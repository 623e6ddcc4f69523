// SPDX-License-Identifier: MIT
/* sshagent.c: the guest's SSH_AUTH_SOCK listener; connections go to egress's relays. */
#include "sshagent.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "egress.h"
#include "guest.h"
#include "loop.h"
#include "util.h"

#define ACCEPT_BATCH 32
#define LISTEN_BACKLOG 64

static const char profile_text[] =
	"# Written by sbx-guest: the host's ssh-agent, filtered by sbx (list and sign only).\n"
	": \"${SSH_AUTH_SOCK:=" SSHAGENT_SOCK "}\"\n"
	"export SSH_AUTH_SOCK\n";

static int profile_write(void)
{
	_cleanup_free_ char *old = NULL;
	int r;

	if (file_read_all(SSHAGENT_PROFILE, 4096, &old, NULL) == 0 && !strcmp(old, profile_text))
		return 0;
	r = mkdir_p("/etc/profile.d", 0755);
	if (r < 0)
		return r;
	return file_write_atomic(SSHAGENT_PROFILE, profile_text, strlen(profile_text), 0644);
}

/* Bind with the final owner and mode set before listen(): nobody else can connect in
 * between (the umask leaves the fresh socket writable by root only). */
static int listen_sock(uint32_t uid, uint32_t gid, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	r = mkdir_p(SSHAGENT_DIR, 0755);
	if (r < 0)
		return r;
	if (lstat(SSHAGENT_DIR, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if ((st.st_uid != 0 || (st.st_mode & 07777) != 0755) &&
	    (lchown(SSHAGENT_DIR, 0, 0) < 0 || chmod(SSHAGENT_DIR, 0755) < 0))
		return -errno;
	if (unlink(SSHAGENT_SOCK) < 0 && errno != ENOENT)
		return -errno;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path, SSHAGENT_SOCK, sizeof(SSHAGENT_SOCK));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (lchown(SSHAGENT_SOCK, uid, gid) < 0 || chmod(SSHAGENT_SOCK, 0600) < 0 ||
	    listen(fd, LISTEN_BACKLOG) < 0) {
		r = -errno;
		(void)unlink(SSHAGENT_SOCK);
		return r;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static void agent_stop(struct guest *g)
{
	if (g->ssh_agent.fd >= 0) {
		watch_close(g, &g->ssh_agent);
		log_debug("ssh-agent: no longer serving %s", SSHAGENT_SOCK);
	}
	if (unlink(SSHAGENT_SOCK) < 0 && errno != ENOENT)
		log_warn("ssh-agent: unlink %s: %m", SSHAGENT_SOCK);
	if (unlink(SSHAGENT_PROFILE) < 0 && errno != ENOENT)
		log_warn("ssh-agent: unlink %s: %m", SSHAGENT_PROFILE);
}

void sshagent_configure(struct guest *g, bool on, uint32_t uid, uint32_t gid)
{
	int fd = -1, r;

	if (!on) {
		agent_stop(g);
		return;
	}
	if (g->ssh_agent.fd >= 0) {
		/* already serving: the agent's ids may have changed */
		if (lchown(SSHAGENT_SOCK, uid, gid) < 0)
			log_warn("ssh-agent: chown %s: %m", SSHAGENT_SOCK);
	} else {
		r = listen_sock(uid, gid, &fd);
		if (r < 0) {
			log_err("ssh-agent: cannot serve %s: %s", SSHAGENT_SOCK, strerror(-r));
			agent_stop(g);
			return;
		}
		g->ssh_agent = (struct watch){ .fd = fd, .kind = WATCH_SSH_AGENT_LISTEN, .owner = g };
		if (watch_set(g, &g->ssh_agent, EPOLLIN) < 0) {
			log_err("ssh-agent: epoll: %m");
			agent_stop(g);
			return;
		}
		log_debug("ssh-agent: serving %s for uid %u", SSHAGENT_SOCK, uid);
	}
	r = profile_write();
	if (r < 0)
		log_warn("ssh-agent: %s: %s", SSHAGENT_PROFILE, strerror(-r));
}

const char *sshagent_env(struct guest *g)
{
	return g->ssh_agent.fd >= 0 ? SSHAGENT_ENV : NULL;
}

void sshagent_on_event(struct guest *g, struct watch *w, uint32_t events)
{
	for (int i = 0; i < ACCEPT_BATCH && w->fd >= 0; i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				log_debug("ssh-agent: accept: %m");
			return;
		}
		egress_agent_accept(g, fd);
	}
}
