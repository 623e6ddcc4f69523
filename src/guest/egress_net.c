// SPDX-License-Identifier: MIT
/* egress_net.c: in-VM egress plumbing (a child at boot): modules, sbx0, nftables, resolv.conf, proxy variables. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "egress.h"
#include "modules.h"
#include "util.h"

#define NET_IF EGRESS_NET_IF
#define CMD_TIMEOUT_MS 10000u
#define ETC_FILE_MAX (1024u * 1024u)

/* What the plumbing needs from Debian's 6.1 cloud kernel (dependencies come from
 * modules.dep): the dummy device for sbx0, then nf_tables with NAT chains, redirect,
 * reject in the inet family, and fib (prerouting: "would this leave through sbx0?"). */
static const char *const link_modules[] = { "dummy" };
static const char *const nft_modules[] = {
	"nf_tables", "nft_chain_nat", "nft_redir", "nft_reject_inet", "nft_fib_inet",
};

/* What egress_nl.c makes over netlink, as the commands that make it when that fails
 * (sbx0 only carries the default routes). */
static const char ip_batch[] =
	"link add " NET_IF " type dummy\n"
	"addr add " EGRESS_NET_ADDR4 "/32 dev " NET_IF "\n"
	"addr add " EGRESS_NET_ADDR6 "/128 dev " NET_IF " nodad\n"
	"link set " NET_IF " up\n"
	"route replace default dev " NET_IF "\n"
	"route replace ::/0 dev " NET_IF "\n";

/*
 * Every TCP connection routed out through sbx0 (from the VM itself, or forwarded
 * from a nested container's bridge) goes to the transparent listener instead.
 * Anything else that would leave through sbx0 is rejected, so clients fail at once
 * (a locally sent UDP datagram or ping fails in sendmsg with EPERM). The filter
 * output chain still sees oifname sbx0 for the redirected packets (the hook's output
 * device is fixed before NAT reroutes them), hence the accept on the new destination.
 * DNS that arrives from a nested container (sent to whatever resolver Docker gave it)
 * is redirected to the VM's stub, which asks the host like every other question.
 */
#define STR_(x) #x
#define STR(x) STR_(x)
#define TPORT STR(EGRESS_TPROXY_PORT)
static const char nft_ruleset[] =
	"table inet sbx\n"
	"delete table inet sbx\n"
	"table inet sbx {\n"
	"\tchain nat_output {\n"
	"\t\ttype nat hook output priority -100; policy accept;\n"
	"\t\toifname \"" NET_IF "\" meta l4proto tcp redirect to :" TPORT "\n"
	"\t}\n"
	"\tchain nat_prerouting {\n"
	"\t\ttype nat hook prerouting priority -100; policy accept;\n"
	"\t\tmeta nfproto ipv4 meta l4proto tcp th dport 53 redirect to :53\n"
	"\t\tmeta nfproto ipv4 meta l4proto udp th dport 53 redirect to :53\n"
	"\t\tfib daddr oifname \"" NET_IF "\" meta l4proto tcp redirect to :" TPORT "\n"
	"\t}\n"
	"\tchain filter_output {\n"
	"\t\ttype filter hook output priority 0; policy accept;\n"
	"\t\toifname != \"" NET_IF "\" accept\n"
	"\t\tip daddr 127.0.0.1 tcp dport " TPORT " accept\n"
	"\t\tip6 daddr ::1 tcp dport " TPORT " accept\n"
	"\t\tmeta l4proto tcp reject with tcp reset\n"
	"\t\treject with icmpx admin-prohibited\n"
	"\t}\n"
	"\tchain filter_forward {\n"
	"\t\ttype filter hook forward priority 0; policy accept;\n"
	"\t\toifname != \"" NET_IF "\" accept\n"
	"\t\tmeta l4proto tcp reject with tcp reset\n"
	"\t\treject with icmpx admin-prohibited\n"
	"\t}\n"
	"}\n";

static const char resolv_conf[] =
	"# Written by sbx-guest at boot: DNS goes to the sandbox's stub, which asks the host.\n"
	"nameserver 127.0.0.1\n"
	"options edns0 trust-ad\n";

/* ---- commands from the root disk ---- */

static const char *tool_find(const char *name, char *buf, size_t size)
{
	static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(buf, size, "%s/%s", dirs[i], name);
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return NULL;
}

/* Start argv (argv[0] a bare name looked up in the usual sbin/bin directories) with
 * input on stdin (small: it must fit in the pipe); stderr stays on the console. */
static int cmd_start(const char *const *argv, const char *input, pid_t *ret_pid)
{
	static const char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };
	char path[64];
	int in[2] = { -1, -1 };
	pid_t pid;

	if (!tool_find(argv[0], path, sizeof(path)))
		return -ENOENT;
	if (pipe2(in, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(in[0]);
		close(in[1]);
		return -errno;
	}
	if (pid == 0) {
		sigset_t none;
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);

		sigemptyset(&none);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		(void)signal(SIGPIPE, SIG_DFL);
		if (dup2(in[0], STDIN_FILENO) < 0 || (nul >= 0 && dup2(nul, STDOUT_FILENO) < 0))
			_exit(126);
		execve(path, (char *const *)argv, (char *const *)envp);
		_exit(127);
	}
	close(in[0]);
	if (input && write_all(in[1], input, strlen(input)) < 0)
		log_debug("egress: %s: stdin: %m", argv[0]);
	close(in[1]);
	*ret_pid = pid;
	return 0;
}

/* Wait (bounded) for a command: its exit status, or -errno. */
static int cmd_wait(pid_t pid, const char *name)
{
	uint64_t deadline = now_ms() + CMD_TIMEOUT_MS;
	int st = 0;

	for (;;) {
		pid_t p = waitpid(pid, &st, WNOHANG);

		if (p == pid)
			break;
		if (p < 0 && errno != EINTR)
			return -errno;
		if (now_ms() >= deadline) {
			log_err("egress: %s did not finish in %u ms; killed", name, CMD_TIMEOUT_MS);
			(void)kill(pid, SIGKILL);
			(void)waitpid(pid, &st, 0);
			return -ETIMEDOUT;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 1000 * 1000 }, NULL);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static int net_cmd_run(const char *const *argv, const char *input)
{
	pid_t pid = -1;
	int r = cmd_start(argv, input, &pid);

	return r < 0 ? r : cmd_wait(pid, argv[0]);
}

/* ---- kernel modules ---- */

static bool modules_present(const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!module_present(names[i]))
			return false;
	return true;
}

/* Through modules.dep first (modules.c), the rest with one modprobe. */
static int net_modules_load(const struct moddep *m, const char *const *names, size_t n)
{
	const char *argv[8] = { "modprobe", "-a", "-q" };
	size_t argc = 3;
	int r;

	for (size_t i = 0; i < n; i++) {
		if (module_present(names[i]))
			continue;
		r = moddep_load(m, names[i]);
		if (r < 0) {
			log_debug("egress: module %s: %s; trying modprobe", names[i], strerror(-r));
			if (argc < ARRAY_SIZE(argv) - 1)
				argv[argc++] = names[i];
		}
	}
	if (argc == 3)
		return 0;
	r = net_cmd_run(argv, NULL);
	if (r != 0) {
		log_err("egress: modprobe %s... failed (%s)", argv[3], r < 0 ? strerror(-r) : "exit status");
		return -EIO;
	}
	return 0;
}

/* ---- files in /etc ---- */

static int file_update(const char *path, const char *content, mode_t mode)
{
	_cleanup_free_ char *old = NULL;

	if (file_read_all(path, ETC_FILE_MAX, &old, NULL) == 0 && !strcmp(old, content))
		return 0;
	return file_write_atomic(path, content, strlen(content), mode);
}

static bool env_line_ours(const char *line, size_t len)
{
	const char *const *env;
	size_t n = egress_default_env(&env);

	if (len > 7 && !strncmp(line, "export ", 7)) {
		line += 7;
		len -= 7;
	}
	for (size_t i = 0; i < n; i++) {
		size_t k = strcspn(env[i], "=");

		if (len > k && line[k] == '=' && !strncmp(line, env[i], k))
			return true;
	}
	return false;
}

/* /etc/environment (pam_env: login, su, sudo): keep other lines, set ours. */
static int etc_environment_update(void)
{
	_cleanup_free_ char *old = NULL, *out = NULL;
	const char *const *env;
	size_t n = egress_default_env(&env), len = 0, cap;
	int r;

	r = file_read_all("/etc/environment", ETC_FILE_MAX, &old, NULL);
	if (r < 0 && r != -ENOENT)
		return r;
	cap = (old ? strlen(old) : 0) + 1024;
	out = xmalloc(cap);
	for (const char *line = old; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t l = end ? (size_t)(end - line) : strlen(line);

		if (!env_line_ours(line, l)) {
			memcpy(out + len, line, l);
			len += l;
			out[len++] = '\n';
		}
		line = end ? end + 1 : NULL;
	}
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, cap - len, "%s\n", env[i]);
	out[len] = 0;
	return file_update("/etc/environment", out, 0644);
}

/* Login shells: defaults that keep whatever the session already has (the host's CFG_ENV). */
static int profile_update(void)
{
	const char *const *env;
	size_t n = egress_default_env(&env), len = 0;
	char out[2048];
	int r;

	len += (size_t)snprintf(out + len, sizeof(out) - len,
				"# Written by sbx-guest at boot: the sandbox's egress proxy.\n");
	for (size_t i = 0; i < n; i++) {
		int k = (int)strcspn(env[i], "=");

		len += (size_t)snprintf(out + len, sizeof(out) - len, ": \"${%.*s:=%s}\"\n", k, env[i], env[i] + k + 1);
	}
	len += (size_t)snprintf(out + len, sizeof(out) - len, "export");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, sizeof(out) - len, " %.*s", (int)strcspn(env[i], "="), env[i]);
	snprintf(out + len, sizeof(out) - len, "\n");
	r = mkdir_p("/etc/profile.d", 0755);
	if (r < 0)
		return r;
	return file_update("/etc/profile.d/sbx-proxy.sh", out, 0644);
}

/* sbx0 and the capture rules with the `ip` and `nft` tools from the root disk. */
static int net_plumb_tools(void)
{
	static const char *const ip_argv[] = { "ip", "-force", "-batch", "-", NULL };
	static const char *const nft_argv[] = { "nft", "-f", "-", NULL };
	int failed = 0, r;

	r = net_cmd_run(ip_argv, ip_batch);
	if (r != 0) {
		log_err("egress: ip: setting up %s failed (%s)", NET_IF, r < 0 ? strerror(-r) : "exit status");
		failed++;
	}
	r = net_cmd_run(nft_argv, nft_ruleset);
	if (r != 0) {
		log_err("egress: nft: loading the capture rules failed (%s)", r < 0 ? strerror(-r) : "exit status");
		failed++;
	}
	return failed;
}

/* The modules (the initramfs's, loading since boot; else from the root disk), then
 * sbx0 and the rules over netlink, else with the tools. */
static int net_plumb(enum egress_net how)
{
	struct moddep m = { 0 };
	uint64_t t0 = now_ms();
	int failed = 0, r;

	modules_later_wait();
	log_debug("egress: the initramfs's later modules are in after %llu ms", (unsigned long long)(now_ms() - t0));
	/* the root disk's modules.dep is read only when one is missing (not in the initramfs) */
	if (!modules_present(link_modules, ARRAY_SIZE(link_modules)) ||
	    !modules_present(nft_modules, ARRAY_SIZE(nft_modules))) {
		moddep_open(&m);
		if (net_modules_load(&m, link_modules, ARRAY_SIZE(link_modules)) < 0)
			failed++;
		if (net_modules_load(&m, nft_modules, ARRAY_SIZE(nft_modules)) < 0)
			failed++;
		moddep_close(&m);
	}
	log_debug("egress: modules loaded after %llu ms", (unsigned long long)(now_ms() - t0));
	if (how == EGRESS_NET_NETLINK) {
		r = egress_nl_plumb();
		if (r == 0) {
			log_debug("egress: %s and the capture rules made over netlink after %llu ms", NET_IF,
				  (unsigned long long)(now_ms() - t0));
			return failed;
		}
		log_warn("egress: making %s and the capture rules over netlink failed (%s); using ip and nft",
			 NET_IF, strerror(-r));
	}
	return failed + net_plumb_tools();
}

static int files_write(void)
{
	int failed = 0, r;

	if ((r = file_update("/etc/resolv.conf", resolv_conf, 0644)) < 0) {
		log_err("egress: /etc/resolv.conf: %s", strerror(-r));
		failed++;
	}
	if ((r = profile_update()) < 0) {
		log_err("egress: /etc/profile.d/sbx-proxy.sh: %s", strerror(-r));
		failed++;
	}
	if ((r = etc_environment_update()) < 0) {
		log_err("egress: /etc/environment: %s", strerror(-r));
		failed++;
	}
	return failed;
}

int egress_net_setup(enum egress_net net)
{
	uint64_t t0 = now_ms();
	int failed = 0, st;
	pid_t files;

	/* The files wait on the disk (fsync), the plumbing on the CPU: do both at once. */
	files = fork();
	if (files == 0)
		_exit(files_write());
	if (files < 0)
		failed += files_write();
	if (net != EGRESS_NET_NONE)
		failed += net_plumb(net);
	if (files > 0) {
		if (waitpid(files, &st, 0) == files && WIFEXITED(st))
			failed += WEXITSTATUS(st);
		else
			failed++;
	}
	log_debug("egress: plumbing took %llu ms (%d failed)", (unsigned long long)(now_ms() - t0), failed);
	return failed;
}
