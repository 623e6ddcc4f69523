// SPDX-License-Identifier: MIT
/* ctl.c: control messages on stream 0: apply the host's configuration, power off. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "chan.h"
#include "console.h"
#include "ctl.h"
#include "dockerd.h"
#include "egress.h"
#include "guest.h"
#include "identity.h"
#include "localdir.h"
#include "mounts.h"
#include "mux.h"
#include "power.h"
#include "proto.h"
#include "sshagent.h"
#include "tlv.h"
#include "trust.h"
#include "users.h"
#include "util.h"
#include "wsync.h"

#define CFG_MSG_MAX 2048u

int ctl_send(struct guest *g, uint32_t id, uint32_t op, const char *msg)
{
	uint8_t buf[CFG_MSG_MAX + 64];
	struct tlv_writer w;

	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_u32(&w, CTRL_OP, op);
	if (msg)
		tlv_put(&w, CTRL_MSG, msg, (uint32_t)MIN(strlen(msg), (size_t)CFG_MSG_MAX));
	if (w.err)
		return w.err;
	return mux_send_ctrl(g->mux, id, buf, w.len);
}

/* /etc/hosts: keep the file, replace the 127.0.1.1 line, make sure localhost resolves. */
static int hosts_update(const char *hostname)
{
	_cleanup_free_ char *old = NULL, *work = NULL;
	char *out, *cur, *line;
	size_t cap, len = 0;
	bool have_v4 = false, have_v6 = false;
	int r;

	r = file_read_all("/etc/hosts", 1024 * 1024, &old, NULL);
	if (r < 0 && r != -ENOENT)
		return r;
	cap = (old ? strlen(old) : 0) + strlen(hostname) + 128;
	out = xmalloc(cap);
	out[0] = 0;
	work = old ? xstrdup(old) : NULL; /* strsep cuts it up; old is compared below */
	for (cur = work; cur && (line = strsep(&cur, "\n"));) {
		char first[64] = "";

		if (!*line && !cur)
			break;
		(void)sscanf(line, " %63s", first);
		if (!strcmp(first, "127.0.1.1"))
			continue;
		have_v4 |= !strcmp(first, "127.0.0.1");
		have_v6 |= !strcmp(first, "::1");
		len += (size_t)snprintf(out + len, cap - len, "%s\n", line);
	}
	if (!have_v4)
		len += (size_t)snprintf(out + len, cap - len, "127.0.0.1\tlocalhost\n");
	if (!have_v6)
		len += (size_t)snprintf(out + len, cap - len, "::1\t\tlocalhost ip6-localhost ip6-loopback\n");
	len += (size_t)snprintf(out + len, cap - len, "127.0.1.1\t%s\n", hostname);
	r = 0;
	if (!old || strcmp(old, out) != 0)
		r = file_write_atomic("/etc/hosts", out, len, 0644);
	free(out);
	return r;
}

static int hostname_apply(const char *h)
{
	_cleanup_free_ char *old = NULL;
	_cleanup_free_ char *line = xasprintf("%s\n", h);
	int r;

	if (sethostname(h, strlen(h)) < 0)
		return -errno;
	if (file_read_all("/etc/hostname", 4096, &old, NULL) < 0 || strcmp(old, line) != 0) {
		r = file_write_atomic("/etc/hostname", line, strlen(line), 0644);
		if (r < 0)
			return r;
	}
	return hosts_update(h);
}

static void msg_add(char *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void msg_add(char *msg, const char *fmt, ...)
{
	size_t n = strlen(msg);
	va_list ap;

	if (n + 3 >= CFG_MSG_MAX)
		return;
	if (n)
		n += (size_t)snprintf(msg + n, CFG_MSG_MAX - n, "; ");
	va_start(ap, fmt);
	vsnprintf(msg + n, CFG_MSG_MAX - n, fmt, ap);
	va_end(ap);
}

/* The host's environment replaces the previous one, also when empty. The egress
 * defaults (proxy variables) and SSH_AUTH_SOCK come first, so that the host's entries
 * override them. */
static void env_apply(struct guest *g, struct cfg *c)
{
	const char *const *def;
	size_t ndef = egress_default_env(&def);
	const char *agent = sshagent_env(g);

	for (size_t i = 0; i < g->cfg_env_n; i++)
		free(g->cfg_env[i]);
	free(g->cfg_env);
	g->cfg_env = xcalloc(ndef + 1 + c->env_n + 1, sizeof(char *));
	for (size_t i = 0; i < ndef; i++)
		g->cfg_env[i] = xstrdup(def[i]);
	if (agent)
		g->cfg_env[ndef++] = xstrdup(agent);
	for (size_t i = 0; i < c->env_n; i++)
		g->cfg_env[ndef + i] = c->env[i];
	g->cfg_env_n = ndef + c->env_n;
	c->env_n = 0; /* the strings moved; cfg_done frees the array only */
}

/* Tests (sbx.poolprobe=URL): a warm pool VM, configured but no one's yet, tries the
 * network both ways (the proxy, and a direct connection caught by the transparent
 * path and DNS) and says on the console what came of it. sbxd must refuse both. */
static void pool_probe_run(const char *url)
{
	static const char script[] =
		"curl -sS -m 10 -o /dev/null -x http://127.0.0.1:3128 \"$0\"; echo SBX-POOL-PROBE proxy rc=$?; "
		"curl -sS -m 10 -o /dev/null --noproxy '*' \"$0\"; echo SBX-POOL-PROBE direct rc=$?";
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open("/dev/console", O_WRONLY | O_NOCTTY);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execl("/bin/sh", "sh", "-c", script, url, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		log_warn("pool probe: fork: %m");
}

static void ctl_config(struct guest *g, const uint8_t *data, size_t len)
{
	struct cfg c = { 0 };
	char msg[CFG_MSG_MAX] = "";
	uint64_t t0 = uptime_ms(), t1, t2;
	bool hostname;
	int r;

	r = cfg_parse(data, len, &c);
	if (r < 0) {
		cfg_done(&c);
		(void)ctl_send(g, 0, OP_ERROR, "sbx-guest: malformed OP_CONFIG");
		return;
	}
	if (c.has_seed && (r = identity_seed(c.seed, sizeof(c.seed))) < 0)
		log_warn("seed: %s", strerror(-r));
	explicit_bzero(c.seed, sizeof(c.seed));
	if (c.has_time) {
		struct timespec ts = { .tv_sec = (time_t)(c.time_ns / 1000000000u),
				       .tv_nsec = (long)(c.time_ns % 1000000000u) };
		if (clock_settime(CLOCK_REALTIME, &ts) < 0)
			msg_add(msg, "set clock: %m");
	}
	hostname = c.hostname != NULL;
	if (c.hostname) {
		if (!cfg_hostname_valid(c.hostname))
			msg_add(msg, "invalid hostname");
		else if ((r = hostname_apply(c.hostname)) < 0)
			msg_add(msg, "hostname %s: %s", c.hostname, strerror(-r));
		else if ((r = identity_apply(c.hostname)) < 0)
			msg_add(msg, "machine-id: %s", strerror(-r));
		if (g->fail_config)
			msg_add(msg, "refused, as sbx.failconfig=1 on the kernel command line asks (a test switch)");
	}
	if (c.has_uid || c.has_gid) {
		_cleanup_free_ char *err = NULL;
		uint32_t uid = c.uid, gid = c.has_gid ? c.gid : c.uid;

		if (!c.has_uid)
			msg_add(msg, "CFG_GID without CFG_UID");
		else if (users_ensure_agent("", uid, gid, &err) < 0)
			msg_add(msg, "user %s: %s", AGENT_USER, err ? err : "failed");
	}
	if (c.workspace) {
		bool listed = c.share_n == 0, paths_ok = true;

		for (size_t i = 0; i < c.share_n; i++) {
			paths_ok &= workspace_path_valid(c.share[i]);
			listed |= !strcmp(c.share[i], c.workspace);
		}
		if (!workspace_path_valid(c.workspace) || !paths_ok || !listed) {
			msg_add(msg, "invalid workspace path");
		} else if (c.ws_sync && c.share_n) {
			msg_add(msg, "workspace sync with a staged share is not supported");
		} else if (c.ws_sync && (!c.has_uid || (r = wsync_setup(g, c.workspace, c.uid, c.has_gid ? c.gid : c.uid, c.ws_writer)) < 0)) {
			msg_add(msg, "workspace sync for %s: %s", c.workspace, c.has_uid ? strerror(-r) : "no agent user");
		} else if (c.ws_sync) {
			free(g->workspace);
			g->workspace = TAKE_PTR(c.workspace);
		} else if (c.share_n && (r = mounts_share_paths(c.share, c.share_n)) < 0) {
			msg_add(msg, "mount workspace %s: %s", c.workspace, strerror(-r));
		} else if (!c.share_n && (r = mounts_workspace(c.workspace)) < 0) {
			msg_add(msg, "mount workspace %s: %s", c.workspace, strerror(-r));
		} else {
			free(g->workspace);
			g->workspace = TAKE_PTR(c.workspace);
			for (size_t i = 0; i < c.local_n; i++) {
				uid_t lu = c.has_uid ? c.uid : 0;
				gid_t lg = c.has_gid ? c.gid : lu;

				if ((r = localdir_mount(g->workspace, c.local[i], lu, lg)) < 0)
					msg_add(msg, "--local %s: %s%s", c.local[i], strerror(-r),
						r == -ELOOP ? " (a symbolic link in the workspace; sbx follows none)" : "");
			}
		}
	}
	/* Owned by the agent user when there is one, else root only. */
	sshagent_configure(g, c.ssh_agent, c.has_uid ? c.uid : 0, c.has_uid ? (c.has_gid ? c.gid : c.uid) : 0);
	env_apply(g, &c);
	cfg_done(&c);
	{
		/* CA certificates the host trusts for the guest (CFG_CA_PEM, repeated). */
		struct tlv_reader rd;
		const uint8_t *val;
		uint32_t vlen;
		uint16_t tag;
		char *pems[16];
		size_t npem = 0;

		tlv_reader_init(&rd, data, len);
		while (tlv_next(&rd, &tag, &val, &vlen) > 0)
			if (tag == CFG_CA_PEM && npem < ARRAY_SIZE(pems) && tlv_str(val, vlen, &pems[npem]) == 0)
				npem++;
		if (npem && (r = trust_apply((const char *const *)pems, npem)) < 0)
			msg_add(msg, "CA certificates: %s", strerror(-r));
		for (size_t i = 0; i < npem; i++)
			free(pems[i]);
	}
	/* The first exec must see the in-VM egress plumbing (started at boot). */
	t1 = uptime_ms();
	egress_configure(g);
	t2 = uptime_ms();
	dockerd_arm(g);
	log_debug("config at uptime %llu ms: %llu ms of its own, %llu waiting for the egress plumbing",
		  (unsigned long long)t0, (unsigned long long)(t1 - t0 + uptime_ms() - t2), (unsigned long long)(t2 - t1));

	if (msg[0]) {
		_cleanup_free_ char *full = xasprintf("sbx-guest: config: %s", msg);
		log_err("config: %s", msg);
		(void)ctl_send(g, 0, OP_ERROR, full);
	} else if (wsync_waiting(g)) {
		log_debug("config applied; READY once the workspace copy is compared");
	} else {
		log_debug("config applied");
		(void)ctl_send(g, 0, OP_READY, NULL);
		if (!hostname && g->pool_probe)
			pool_probe_run(g->pool_probe);
	}
}

void ctl_on_ctrl(struct guest *g, const uint8_t *data, size_t len)
{
	struct tlv_reader rd;
	const uint8_t *val;
	uint32_t vlen, op = 0;
	uint16_t tag;

	tlv_reader_init(&rd, data, len);
	while (tlv_next(&rd, &tag, &val, &vlen) > 0) {
		if (tag == CTRL_OP) {
			if (tlv_u32(val, vlen, &op) < 0)
				op = 0;
			break;
		}
	}
	switch (op) {
	case OP_CONFIG:
		ctl_config(g, data, len);
		break;
	case OP_WSYNC:
	case OP_WSYNC_PUT_DONE:
		wsync_from_host(g, data, len);
		break;
	case OP_POWEROFF:
		chan_flush(g);
		guest_poweroff(g, "requested by the host");
	default: {
		char m[64];

		snprintf(m, sizeof(m), "sbx-guest: unsupported control op %u", op);
		(void)ctl_send(g, 0, OP_ERROR, m);
		break;
	}
	}
}
