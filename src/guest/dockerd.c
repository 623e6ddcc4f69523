// SPDX-License-Identifier: MIT
/* dockerd.c: the sandbox's own Docker Engine, started when the root disk has one. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dockerd.h"
#include "egress.h"
#include "guest.h"
#include "util.h"

#define DOCKERD "/usr/sbin/dockerd"
#define DOCKERD_LOG "/var/log/sbx-dockerd.log"
#define DOCKERD_ENV_MAX 32

/*
 * Started once, after the first configuration (the egress plumbing is up by then, so
 * image pulls go through the proxy: dockerd gets the proxy variables). It runs as
 * root in the VM with the kernel of the VM, and its socket (/var/run/docker.sock,
 * group docker) is the only Docker the sandbox has: the host's daemon is not
 * reachable from here. Its log goes to /var/log/sbx-dockerd.log.
 */
void dockerd_start(struct guest *g)
{
	const char *const *def;
	size_t ndef = egress_default_env(&def), n = 0;
	char *env[DOCKERD_ENV_MAX + 1];
	pid_t pid;

	if (g->dockerd_pid > 0 || access(DOCKERD, X_OK) < 0)
		return;
	env[n++] = (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	env[n++] = (char *)"HOME=/root";
	for (size_t i = 0; i < ndef && n < DOCKERD_ENV_MAX; i++)
		env[n++] = (char *)def[i];
	env[n] = NULL;
	pid = fork();
	if (pid < 0) {
		log_err("dockerd: fork: %m");
		return;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		int log = open(DOCKERD_LOG, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
		sigset_t none;
		char *const argv[] = { (char *)"dockerd", NULL };

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int s = 1; s < NSIG; s++)
			if (s != SIGKILL && s != SIGSTOP)
				(void)signal(s, SIG_DFL);
		setsid();
		if (nul < 0 || log < 0 || dup2(nul, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
			_exit(127);
		execve(DOCKERD, argv, env);
		_exit(127);
	}
	g->dockerd_pid = pid;
	log_info("dockerd started (pid %d, log %s)", (int)pid, DOCKERD_LOG);
}

bool dockerd_exited(struct guest *g, pid_t pid, int wstatus)
{
	if (g->dockerd_pid <= 0 || pid != g->dockerd_pid)
		return false;
	g->dockerd_pid = 0;
	if (WIFEXITED(wstatus))
		log_warn("dockerd exited with status %d (see %s)", WEXITSTATUS(wstatus), DOCKERD_LOG);
	else
		log_warn("dockerd killed by signal %d", WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
	return true;
}
