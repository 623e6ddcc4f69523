// SPDX-License-Identifier: MIT
/* cmd_diagnose.c: `sbx diagnose`: check the host's setup and say how to fix it. */
#include "cmd.h"
#include "cmd_doc.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "accel.h"
#include "idmap.h"
#include "image.h"
#include "progress.h"
#include "util.h"

static bool check(const char *what, bool ok, const char *detail, const char *fix)
{
	printf("%-12s %s%s%s  %s\n", what, term_sgr(STDOUT_FILENO, ok ? TERM_GREEN : TERM_RED), ok ? "ok  " : "FAIL",
	       term_sgr(STDOUT_FILENO, TERM_RESET), detail);
	if (!ok && fix)
		printf("%-12s       fix: %s\n", "", fix);
	return ok;
}

/* Can we make a user namespace (virtiofsd and QEMU start in one)? */
static int userns_probe(void)
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(unshare(CLONE_NEWUSER) == 0 ? 0 : errno);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? -WEXITSTATUS(st) : -EIO;
}

/* Whether our systemd user manager's cgroup is delegated to us, with which controllers;
 * a per-sandbox cgroup with limits needs that. Informational. */
static void check_cgroup(void)
{
	_cleanup_free_ char *self = NULL, *ctl = NULL, *dir = NULL, *want = xasprintf("/user@%u.service", (unsigned)getuid());
	char *path, *end;
	struct stat st;

	if (file_read_all("/proc/self/cgroup", 65536, &self, NULL) < 0 || !(path = strstr(self, "0::/"))) {
		check("cgroup", true, "no cgroup v2 (per-sandbox limits will need it)", NULL);
		return;
	}
	path += 3;
	end = strchr(path, '\n');
	if (end)
		*end = '\0';
	if (getuid() == 0) {
		check("cgroup", true, "cgroup v2; root can make sbx's own subtree", NULL);
		return;
	}
	end = strstr(path, want);
	if (end)
		end[strlen(want)] = '\0';
	dir = xasprintf("/sys/fs/cgroup%s", path);
	if (!end || stat(dir, &st) < 0 || st.st_uid != getuid()) {
		printf("%-12s %swarn%s  not delegated to you (%s); per-sandbox limits will need it\n", "cgroup",
		       term_sgr(STDOUT_FILENO, TERM_YELLOW), term_sgr(STDOUT_FILENO, TERM_RESET), path);
		printf("%-12s       fix: run sbx from a systemd-logind session (ssh or a desktop login), not su/sudo\n", "");
		return;
	}
	{
		_cleanup_free_ char *f = xasprintf("%s/cgroup.controllers", dir);
		_cleanup_free_ char *d = NULL;
		if (file_read_all(f, 4096, &ctl, NULL) < 0)
			ctl = xstrdup("");
		strtok(ctl, "\n");
		d = xasprintf("delegated: %s (controllers: %s)", dir, *ctl ? ctl : "none");
		check("cgroup", true, d, NULL);
	}
}

/* An ordinary user's prerequisites: user namespaces, subordinate ids, /dev/kvm. */
static bool check_user(void)
{
	bool all = true;
	int r = userns_probe();

	{
		_cleanup_free_ char *d = r == 0 ? xstrdup("unprivileged user namespaces work")
						: xasprintf("cannot create a user namespace: %s", strerror(-r));
		all &= check("userns", r == 0, d,
			     "sudo sysctl -w kernel.unprivileged_userns_clone=1 user.max_user_namespaces=15000 "
			     "(and the same in /etc/sysctl.d/)");
	}
	if (getuid() == 0) {
		_cleanup_free_ char *d = xasprintf("root: each running sandbox's QEMU and virtiofsd run as ids of "
						   "their own, from %u-%u, which sbx reserves (%u slots of %u)",
						   IDMAP_JAIL_BASE, IDMAP_JAIL_BASE + IDMAP_JAIL_ROOT_SLOTS * IDMAP_SLOT_MAX - 1,
						   IDMAP_JAIL_ROOT_SLOTS, IDMAP_SLOT_MAX);
		check("subids", true, d, NULL);
	} else {
		struct subid_range u, g;
		_cleanup_free_ char *err = NULL, *d = NULL, *fix = NULL;
		bool ok = idmap_user_ranges(&u, &g, &err) == 0;

		if (ok && MIN(idmap_slot_count(u), idmap_slot_count(g)) == 0) {
			ok = false;
			d = xasprintf("subordinate uids %u-%u, gids %u-%u: too few for %u sandboxes of %u ids", u.start,
				      u.start + u.count - 1, g.start, g.start + g.count - 1, IDMAP_MIN_SLOTS, IDMAP_SLOT_MIN);
			fix = xstrdup("give yourself 65536 more: sudo usermod --add-subuids N-M --add-subgids N-M $USER");
		} else if (ok) {
			unsigned n = MIN(idmap_slot_count(u), idmap_slot_count(g));
			d = xasprintf("subordinate uids %u-%u, gids %u-%u: %u sandboxes can run at once, each with ids of its own",
				      u.start, u.start + u.count - 1, g.start, g.start + g.count - 1, n);
		} else {
			/* the message ends in "fix: COMMAND" */
			char *f = strstr(err, " fix: ");
			if (f) {
				fix = xstrdup(f + 6);
				f[0] = '\0';
			}
			d = xstrdup(err);
		}
		all &= check("subids", ok, d, fix);
	}
	if (access("/dev/kvm", F_OK) == 0 && access("/dev/kvm", R_OK | W_OK) < 0) {
		struct passwd *pw = getpwuid(getuid());
		_cleanup_free_ char *fix = xasprintf("sudo usermod -aG kvm %s, then log in again (TCG works meanwhile)",
						     pw ? pw->pw_name : "$USER");
		check("kvm", false, "/dev/kvm exists but you may not open it (not in group kvm)", fix);
	}
	return all;
}

int cmd_diagnose(struct sbx_paths *p, int argc, char **argv)
{
	enum accel a;
	_cleanup_free_ char *reason = NULL;
	_cleanup_free_ char *img = NULL;
	struct kernel_info k = { 0 };
	bool all = true;
	int r;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		cmd_help_print(stdout, "diagnose");
		return 0;
	}
	r = accel_detect("auto", &a, &reason);
	{
		_cleanup_free_ char *d = xasprintf("%s: %s", a == ACCEL_KVM ? "KVM" : "TCG (software emulation, slower)",
						   reason ? reason : "");
		check("accel", r >= 0, d, "load kvm_intel/kvm_amd and give your user access to /dev/kvm; TCG works meanwhile");
	}
	all &= check_user();
	check_cgroup();
	all &= check("qemu", access("/usr/bin/qemu-system-x86_64", X_OK) == 0, "/usr/bin/qemu-system-x86_64",
		     "sudo apt-get install qemu-system-x86 qemu-utils");
	all &= check("qemu-img", access("/usr/bin/qemu-img", X_OK) == 0, "/usr/bin/qemu-img", "sudo apt-get install qemu-utils");
	all &= check("virtiofsd", access("/usr/lib/qemu/virtiofsd", X_OK) == 0, "/usr/lib/qemu/virtiofsd",
		     "sudo apt-get install qemu-system-common");
	all &= check("sbx-guest", access(p->guest_bin, R_OK) == 0, p->guest_bin, "run 'make' (or make install)");
	{
		_cleanup_free_ char *rel = xasprintf("%s/kernel/release", p->cache);
		_cleanup_free_ char *txt = NULL;
		bool ok = file_read_all(rel, 256, &txt, NULL) == 0;
		_cleanup_free_ char *d = ok ? xasprintf("cloud kernel %s", strtok(txt, "\n")) : xstrdup("not downloaded yet");
		all &= check("kernel", ok, d, "sbx template build minimal (downloads it with apt-get)");
	}
	(void)k;
	{
		bool ok = template_image(p, "minimal", &img) == 0;
		all &= check("template", ok, ok ? img : "minimal is not built", "sbx template build minimal");
	}
	{
		/* optional: the agents template is built on the first `sbx run claude` */
		_cleanup_free_ char *aimg = NULL;
		bool ok = template_image(p, "agents", &aimg) == 0, stale = ok && template_stale(p, "agents");
		bool npm = access("/usr/bin/npm", X_OK) == 0 || access("/usr/local/bin/npm", X_OK) == 0;
		check("agents", ok && !stale,
		      ok ? (stale ? "built from an older recipe (rebuilt on next use)" : aimg)
			 : npm ? "not built (built on the first sbx run claude)" : "not built, and npm is missing",
		      npm ? "sbx template build agents" : "sudo apt-get install npm; then sbx template build agents");
	}
	all &= check("daemon", true, cmd_daemon_status(p, true) == 0 ? "running" : "not running (starts on demand)", NULL);
	return all ? 0 : 1;
}
