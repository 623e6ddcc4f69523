// SPDX-License-Identifier: MIT
/* test_settings.c: settings validation, storage, proxy.resolve lookups and DNS servers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "settings.h"
#include "testlib.h"
#include "util.h"

static char root[64];
static struct sbx_paths paths;

static void setup(void)
{
	strcpy(root, "/tmp/sbx-test-settings-XXXXXX");
	if (!mkdtemp(root))
		abort();
	paths.config = xasprintf("%s/config", root);
	paths.state = xasprintf("%s/state", root);
	mkdir_p(paths.config, 0700);
	mkdir_p(paths.state, 0700);
}

static void teardown(void)
{
	rm_rf(root);
	free(paths.config);
	free(paths.state);
}

/* Validate: 0 and the normalised value, or <0 and an error message. */
static int val(const char *key, const char *value, const char *want_norm)
{
	char *norm = NULL, *err = NULL;
	int r = settings_validate(key, value, &norm, &err);

	if (r == 0 && want_norm && strcmp(norm, want_norm)) {
		fprintf(stderr, "%s=%s normalised to '%s', want '%s'\n", key, value, norm, want_norm);
		r = -EPROTO;
	}
	if (r < 0 && r != -EPROTO && !err) {
		fprintf(stderr, "%s=%s: no error message\n", key, value);
		r = -EPROTO;
	}
	free(norm);
	free(err);
	return r;
}

/* sandbox.idleStop: off, or a duration (bare = minutes), stored normalised. */
static void test_idle_stop(void)
{
	CHECK_EQ(val("sandbox.idleStop", "off", "off"), 0);
	CHECK_EQ(val("sandbox.idleStop", "30", "30m"), 0);
	CHECK_EQ(val("sandbox.idleStop", "90", "90m"), 0);
	CHECK_EQ(val("sandbox.idleStop", "120", "2h"), 0);
	CHECK_EQ(val("sandbox.idleStop", "3s", "3s"), 0);
	CHECK_EQ(val("sandbox.idleStop", "1d", "1d"), 0);
	CHECK(val("sandbox.idleStop", "0", NULL) == -EINVAL);
	CHECK(val("sandbox.idleStop", "0s", NULL) == -EINVAL);
	CHECK(val("sandbox.idleStop", "on", NULL) == -EINVAL);
	CHECK(val("sandbox.idleStop", "-5", NULL) == -EINVAL);
	CHECK(val("sandbox.idleStop", "5 m", NULL) == -EINVAL);
	CHECK_EQ(settings_idle_stop_s(NULL), 30 * 60);   /* the default */
}

/* pool.size: 0 to SETTINGS_POOL_MAX VMs, stored as a plain number. */
static void test_pool_size(void)
{
	CHECK_EQ(val("pool.size", "0", "0"), 0);
	CHECK_EQ(val("pool.size", "1", "1"), 0);
	CHECK_EQ(val("pool.size", "08", "8"), 0);
	CHECK(val("pool.size", "9", NULL) == -EINVAL);
	CHECK(val("pool.size", "-1", NULL) == -EINVAL);
	CHECK(val("pool.size", "", NULL) == -EINVAL);
	CHECK(val("pool.size", "1x", NULL) == -EINVAL);
	CHECK(val("pool.size", "99999999999999999999", NULL) == -EINVAL);
	CHECK_EQ(settings_pool_size(NULL), 1);   /* the default */
}

static void test_validate(void)
{
	static const struct {
		const char *key, *value, *norm;
	} good[] = {
		{ "proxy.resolve", "example.com:443=127.0.0.1:8443", "example.com:443=127.0.0.1:8443" },
		{ "proxy.resolve", " Example.COM.:443 = 127.0.0.1:8443 ", NULL },
		{ "proxy.resolve", "Example.COM.:443=127.0.0.1:8443,api.test:80=[::1]:8080",
		  "example.com:443=127.0.0.1:8443,api.test:80=[::1]:8080" },
		{ "proxy.resolve", "bücher.example:80=10.0.0.1:80", "xn--bcher-kva.example:80=10.0.0.1:80" },
		{ "proxy.resolve", "[::1]:80=127.0.0.1:8080", "[::1]:80=127.0.0.1:8080" },
		{ "proxy.resolve", "a.test:80=[0:0::1]:80", "a.test:80=[::1]:80" },
		{ "proxy.dnsServers", "127.0.0.1", "127.0.0.1:53" },
		{ "proxy.dnsServers", "127.0.0.1:5353, 1.1.1.1 ,[2606:4700::1111]:53,::1",
		  "127.0.0.1:5353,1.1.1.1:53,[2606:4700::1111]:53,[::1]:53" },
		{ "proxy.dnsServers", "[::1]", "[::1]:53" },
		{ "proxy.inspect", "auto", "auto" },
		{ "proxy.inspect", "all", "all" },
		{ "ssh.agentForwardingEnabled", "false", "false" },
		{ "ssh.agentForwardingEnabled", "true", "true" },
		{ "vm.accel", "auto", "auto" },
		{ "vm.accel", "kvm", "kvm" },
		{ "vm.accel", "tcg", "tcg" },
	};
	static const struct {
		const char *key, *value;
	} bad[] = {
		{ "proxy.resolve", "" },
		{ "proxy.resolve", "example.com=1.2.3.4:80" },
		{ "proxy.resolve", "example.com:80=1.2.3.4" },
		{ "proxy.resolve", "example.com:80=example.org:80" },
		{ "proxy.resolve", "example.com:80=::1:80" },
		{ "proxy.resolve", "example.com:0=1.2.3.4:80" },
		{ "proxy.resolve", "example.com:80=1.2.3.4:65536" },
		{ "proxy.resolve", "example.com:80=1.2.3.4:80=5" },
		{ "proxy.resolve", "a..b:80=1.2.3.4:80" },
		{ "proxy.resolve", "a@b:80=1.2.3.4:80" },
		{ "proxy.resolve", "x.test:80=1.2.3.4:80," },
		{ "proxy.resolve", "x.test:80=1.2.3.4:80,X.test:80=1.2.3.5:80" },   /* mapped twice */
		{ "proxy.resolve", "x.test:80=[fe80::1%eth0]:80" },
		{ "proxy.resolve", "x.test:80=1.2.3.4:80\n" },
		{ "proxy.dnsServers", "dns.google" },
		{ "proxy.dnsServers", "1.1.1.1:0" },
		{ "proxy.dnsServers", "1.1.1.1:53:53" },
		{ "proxy.dnsServers", "1.1.1.1," },
		{ "proxy.dnsServers", "[::1" },
		{ "proxy.dnsServers", "1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,1.1.1.7,1.1.1.8,1.1.1.9" },
		{ "proxy.inspect", "some" },
		{ "proxy.inspect", "" },
		{ "ssh.agentForwardingEnabled", "yes" },
		{ "ssh.agentForwardingEnabled", "TRUE" },
		{ "vm.accel", "hvf" },
		{ "proxy.upstreamCA", "/nonexistent/ca.pem" },
		{ "proxy.upstreamCA", "/" },
		{ "proxy.upstreamCA", "/etc/hostname" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		int r = val(good[i].key, good[i].value, good[i].norm);
		if (r < 0)
			fprintf(stderr, "valid %s='%s' refused (%d)\n", good[i].key, good[i].value, r);
		CHECK_EQ(r, 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = val(bad[i].key, bad[i].value, NULL);
		if (r != -EINVAL)
			fprintf(stderr, "invalid %s='%s' gave %d\n", bad[i].key, bad[i].value, r);
		CHECK_EQ(r, -EINVAL);
	}
	CHECK_EQ(val("no.such.key", "1", NULL), -ENOENT);
	CHECK(settings_key_known("proxy.resolve"));
	CHECK(!settings_key_known("proxy"));
	CHECK(!settings_key_known(NULL));
	{
		char big[20000];
		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = 0;
		CHECK_EQ(val("proxy.resolve", big, NULL), -EINVAL);
	}
}

static void test_ca(void)
{
	_cleanup_free_ char *pem = xasprintf("%s/ca.pem", root);
	_cleanup_free_ char *notpem = xasprintf("%s/notpem.txt", root);
	_cleanup_free_ char *link = xasprintf("%s/link.pem", root);
	const char text[] = "junk\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
	char *norm = NULL, *err = NULL;
	char cwd[4096];

	file_write_atomic(pem, text, sizeof(text) - 1, 0600);
	file_write_atomic(notpem, "hello\n", 6, 0600);
	CHECK(symlink(pem, link) == 0);
	CHECK_EQ(settings_validate("proxy.upstreamCA", pem, &norm, &err), 0);
	CHECK(norm && !strcmp(norm, pem));
	free(norm);
	norm = NULL;
	/* Stored as an absolute path, symlinks resolved. */
	CHECK_EQ(settings_validate("proxy.upstreamCA", link, &norm, &err), 0);
	CHECK(norm && !strcmp(norm, pem));
	free(norm);
	norm = NULL;
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK(chdir(root) == 0);
	CHECK_EQ(settings_validate("proxy.upstreamCA", "ca.pem", &norm, &err), 0);
	CHECK(norm && norm[0] == '/' && !strcmp(norm, pem));
	free(norm);
	norm = NULL;
	CHECK(chdir(cwd) == 0);
	CHECK_EQ(settings_validate("proxy.upstreamCA", notpem, &norm, &err), -EINVAL);
	CHECK(err && strstr(err, "CERTIFICATE"));
	free(err);
	err = NULL;
	CHECK_EQ(settings_validate("proxy.upstreamCA", root, &norm, &err), -EINVAL);   /* a directory */
	free(err);
}

static void test_store(void)
{
	struct settings *s, *s2;
	char *err = NULL;
	struct stat st;
	_cleanup_free_ char *path = xasprintf("%s/settings.json", paths.config);
	struct sockaddr_storage ss;
	socklen_t len;
	char *csv = NULL;
	char buf[INET6_ADDRSTRLEN];

	/* No file: everything unset, defaults apply. */
	CHECK_EQ(settings_load(&paths, &s), 0);
	CHECK(settings_get(s, "proxy.resolve") == NULL);
	CHECK(settings_get(s, "vm.accel") == NULL);
	CHECK_STR(settings_get_or_default(s, "vm.accel"), "auto");
	CHECK_STR(settings_get_or_default(s, "ssh.agentForwardingEnabled"), "true");
	CHECK(settings_agent_forwarding(s));
	CHECK_EQ(settings_resolve_lookup(s, "example.com", 443, &ss, &len), -ENOENT);
	CHECK_EQ(settings_dns_servers(s, &csv), 0);
	CHECK(csv == NULL);
	CHECK(!settings_stale(&paths, s));

	CHECK_EQ(settings_set(&paths, "proxy.resolve", "Example.COM:443=127.0.0.1:8443,v6.test:80=[::1]:8080", &err), 0);
	CHECK_EQ(settings_set(&paths, "proxy.dnsServers", "127.0.0.1:5353", &err), 0);
	CHECK_EQ(settings_set(&paths, "ssh.agentForwardingEnabled", "false", &err), 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(settings_stale(&paths, s));
	/* A refused value leaves the file alone. */
	CHECK_EQ(settings_set(&paths, "vm.accel", "warp", &err), -EINVAL);
	CHECK(err != NULL);
	free(err);
	err = NULL;
	CHECK_EQ(settings_set(&paths, "bogus", "1", &err), -ENOENT);
	free(err);
	err = NULL;
	settings_free(s);

	CHECK_EQ(settings_load(&paths, &s), 0);
	CHECK(!settings_stale(&paths, s));
	CHECK_STR(settings_get(s, "proxy.resolve"), "example.com:443=127.0.0.1:8443,v6.test:80=[::1]:8080");
	CHECK(settings_get(s, "vm.accel") == NULL);
	CHECK(!settings_agent_forwarding(s));
	/* Lookups normalise the name; the port must match. */
	CHECK_EQ(settings_resolve_lookup(s, "EXAMPLE.com.", 443, &ss, &len), 0);
	CHECK_EQ(ss.ss_family, AF_INET);
	CHECK_EQ(len, sizeof(struct sockaddr_in));
	inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, sizeof(buf));
	CHECK_STR(buf, "127.0.0.1");
	CHECK_EQ(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8443);
	CHECK_EQ(settings_resolve_lookup(s, "example.com", 80, &ss, &len), -ENOENT);
	CHECK_EQ(settings_resolve_lookup(s, "a.example.com", 443, &ss, &len), -ENOENT);
	CHECK_EQ(settings_resolve_lookup(s, "v6.test", 80, &ss, &len), 0);
	CHECK_EQ(ss.ss_family, AF_INET6);
	CHECK_EQ(len, sizeof(struct sockaddr_in6));
	CHECK_EQ(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 8080);
	CHECK(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr));
	CHECK_EQ(settings_resolve_lookup(s, "bad..name", 80, &ss, &len), -ENOENT);
	CHECK(settings_resolve_has_name(s, "Example.com."));
	CHECK(settings_resolve_has_name(s, "v6.test"));
	CHECK(!settings_resolve_has_name(s, "a.example.com"));
	CHECK_EQ(settings_dns_servers(s, &csv), 0);
	CHECK(csv && !strcmp(csv, "127.0.0.1:5353"));
	free(csv);

	/* Unset, and unset again. */
	CHECK_EQ(settings_unset(&paths, "proxy.resolve", NULL), 0);
	CHECK_EQ(settings_unset(&paths, "proxy.resolve", NULL), 0);
	CHECK_EQ(settings_unset(&paths, "nope", NULL), -ENOENT);
	CHECK(settings_stale(&paths, s));
	CHECK_EQ(settings_load(&paths, &s2), 0);
	CHECK(settings_get(s2, "proxy.resolve") == NULL);
	CHECK_STR(settings_get(s2, "proxy.dnsServers"), "127.0.0.1:5353");
	settings_free(s2);
	settings_free(s);

	/* Hand-edited files: unknown keys are ignored; invalid values refuse the load
	 * (with a message), and set still works to repair them. */
	file_write_atomic(path, "{\"future.key\":\"x\",\"vm.accel\":\"tcg\"}", 36, 0600);
	CHECK_EQ(settings_load(&paths, &s), 0);
	CHECK_STR(settings_get(s, "vm.accel"), "tcg");
	settings_free(s);
	{
		const char *broken[] = { "{\"vm.accel\":\"warp\"}", "{\"vm.accel\":3}", "[1]", "nope",
					 "{\"proxy.resolve\":\"x:80=y\"}", "{\"proxy.upstreamCA\":\"relative.pem\"}" };
		for (size_t i = 0; i < ARRAY_SIZE(broken); i++) {
			file_write_atomic(path, broken[i], strlen(broken[i]), 0600);
			err = NULL;
			CHECK_EQ(settings_load_ex(&paths, &s, &err), -EINVAL);
			CHECK(err != NULL);
			free(err);
		}
	}
	file_write_atomic(path, "{\"vm.accel\":\"warp\"}", 19, 0600);
	CHECK_EQ(settings_set(&paths, "vm.accel", "kvm", &err), 0);
	CHECK_EQ(settings_load(&paths, &s), 0);
	CHECK_STR(settings_get(s, "vm.accel"), "kvm");
	settings_free(s);
	/* The file vanishing makes a loaded copy stale. */
	CHECK_EQ(settings_load(&paths, &s), 0);
	unlink(path);
	CHECK(settings_stale(&paths, s));
	settings_free(s);
}

int main(void)
{
	size_t n;
	const struct settings_key *k = settings_keys(&n);

	CHECK(n >= 6);
	for (size_t i = 0; i < n; i++)
		CHECK(k[i].key && k[i].desc);
	setup();
	test_validate();
	test_idle_stop();
	test_pool_size();
	test_ca();
	test_store();
	teardown();
	TEST_DONE();
}
