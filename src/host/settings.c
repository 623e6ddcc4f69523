// SPDX-License-Identifier: MIT
/* settings.c: load, validate and store config/settings.json. */
#include "settings.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "duration.h"
#include "netaddr.h"
#include "portspec.h"
#include "util.h"

#define SETTINGS_FILE_MAX (256u << 10)
#define SETTINGS_VALUE_MAX (16u << 10)
#define RESOLVE_MAX 256
#define DNS_SERVERS_MAX 8
#define CA_FILE_MAX (4u << 20)

enum {
	K_RESOLVE, K_DNS, K_CA, K_INSPECT, K_AGENT, K_ACCEL, K_SECRETS, K_GITRO, K_IDLE, K_POOL, K__N
};

static const struct settings_key keys[K__N] = {
	[K_RESOLVE] = { "proxy.resolve", NULL,
			"host-side name overrides: host:port=ip:port,... (trusted; may point at internal addresses)" },
	[K_DNS] = { "proxy.dnsServers", NULL, "resolvers sbxd asks instead of the system's: ip[:port],..." },
	[K_CA] = { "proxy.upstreamCA", NULL, "PEM file of extra CA certificates trusted for upstream TLS" },
	[K_INSPECT] = { "proxy.inspect", "auto",
			"TLS interception: auto (only hosts with injected credentials) or all" },
	[K_AGENT] = { "ssh.agentForwardingEnabled", "true", "relay the host's ssh-agent into sandboxes: true|false" },
	[K_ACCEL] = { "vm.accel", "auto", "VM accelerator: auto|kvm|tcg" },
	[K_SECRETS] = { "secrets.backend", "auto",
			"where `sbx secret` keeps values: auto|secret-service|file (auto: the file if it exists, else "
			"the Secret Service if one runs at the first set, recorded here)" },
	[K_GITRO] = { "workspace.protectGit", "true",
		      "serve the workspace's git hooks and config (which git on the host runs and obeys) "
		      "read-only to sandboxes: true|false" },
	[K_IDLE] = { "sandbox.idleStop", SETTINGS_IDLE_STOP_DEFAULT,
		     "stop a running sandbox after this long with no exec session, no egress and no busy CPU "
		     "(the next exec or run starts it again; sandboxes publishing ports are kept): minutes, "
		     "or N with s, m, h or d, or off" },
	[K_POOL] = { "pool.size", "1",
		     "booted, unclaimed VMs sbxd keeps ready for new sandboxes of the default template "
		     "(docs/warm-pool.md): 0-" SBX_STR(SETTINGS_POOL_MAX) ", 0 turns the pool off" },
};

struct resolve_entry {
	char *host;
	uint16_t port;
	struct sockaddr_storage ss;
	socklen_t len;
};

struct settings {
	char *vals[K__N];
	struct resolve_entry *resolve;
	size_t n_resolve;
	char *dns_csv;
	bool have_stat;
	struct stat st;
};

const struct settings_key *settings_keys(size_t *ret_n)
{
	*ret_n = K__N;
	return keys;
}

static int key_index(const char *key)
{
	for (int i = 0; key && i < K__N; i++)
		if (!strcmp(keys[i].key, key))
			return i;
	return -1;
}

bool settings_key_known(const char *key)
{
	return key_index(key) >= 0;
}

/* "1.2.3.4[:port]", "[v6][:port]" or bare "v6" (only when the port is optional). */
static int sockaddr_parse(const char *in, bool port_required, uint16_t def_port, struct sockaddr_storage *ret,
			  socklen_t *ret_len)
{
	_cleanup_free_ char *s = xstrdup(in);
	char *addr = s, *portstr = NULL;
	uint16_t port = def_port;

	memset(ret, 0, sizeof(*ret));
	if (s[0] == '[') {
		char *close = strchr(s, ']');
		if (!close || (close[1] && close[1] != ':'))
			return -EINVAL;
		*close = 0;
		addr = s + 1;
		if (close[1] == ':')
			portstr = close + 2;
		if (!strchr(addr, ':'))
			return -EINVAL;
	} else {
		char *c1 = strchr(s, ':');
		if (c1 && strchr(c1 + 1, ':')) {
			if (port_required)
				return -EINVAL;   /* bare IPv6: write [ip]:port */
		} else if (c1) {
			*c1 = 0;
			portstr = c1 + 1;
		}
	}
	if (portstr) {
		if (port_parse(portstr, &port) < 0)
			return -EINVAL;
	} else if (port_required) {
		return -EINVAL;
	}
	if (strchr(addr, '%'))
		return -EINVAL;
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ret;
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*ret_len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ret;
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			return -EINVAL;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*ret_len = sizeof(*s4);
	}
	return 0;
}

static char *sockaddr_text(const struct sockaddr_storage *ss)
{
	char buf[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf));
		return xasprintf("[%s]:%u", buf, ntohs(s6->sin6_port));
	}
	inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, sizeof(buf));
	return xasprintf("%s:%u", buf, ntohs(((const struct sockaddr_in *)ss)->sin_port));
}

/* Split a comma list into trimmed items (NULL-terminated; the text they point into
 * hides in the slot after the NULL). NULL, with "too many WHAT" in *ret_err, when
 * there are more than max. */
static char **csv_split(const char *value, size_t max, const char *what, size_t *ret_n, char **ret_err)
{
	size_t n = 1;
	char **v, *copy;

	for (const char *c = value; *c; c++)
		n += *c == ',';
	if (n > max) {
		*ret_err = xasprintf("too many %s (at most %zu)", what, max);
		return NULL;
	}
	v = xcalloc(n + 2, sizeof(*v));
	copy = xstrdup(value);
	v[n + 1] = copy;
	n = 0;
	for (char *item = copy, *next; item; item = next) {
		size_t l;
		next = strchr(item, ',');
		if (next)
			*next++ = 0;
		item += strspn(item, " \t");
		l = strlen(item);
		while (l > 0 && (item[l - 1] == ' ' || item[l - 1] == '\t'))
			item[--l] = 0;
		v[n++] = item;
	}
	*ret_n = n;
	return v;
}

static void csv_free(char **v)
{
	size_t n = 0;

	if (!v)
		return;
	while (v[n])
		n++;
	free(v[n + 1]);
	free(v);
}

static void resolve_free(struct resolve_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].host);
	free(e);
}

static int resolve_parse(const char *value, struct resolve_entry **ret, size_t *ret_n, char **ret_norm,
			 char **ret_err)
{
	char **items;
	size_t n;
	struct resolve_entry *e;
	char *norm = NULL;
	size_t normlen = 0;
	FILE *f;

	items = csv_split(value, RESOLVE_MAX, "entries", &n, ret_err);
	if (!items)
		return -EINVAL;
	e = xcalloc(n, sizeof(*e));
	f = open_memstream(&norm, &normlen);
	if (!f)
		die("out of memory");
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *left = NULL, *ip = NULL;
		char *eq = strchr(items[i], '='), *colon, *hostpart;
		bool is_ip = false;
		int r;

		if (!*items[i]) {
			*ret_err = xstrdup("empty entry (stray comma?)");
			goto fail;
		}
		if (!eq || strchr(eq + 1, '=')) {
			*ret_err = xasprintf("'%s': expected host:port=ip:port", items[i]);
			goto fail;
		}
		left = strndup(items[i], (size_t)(eq - items[i]));
		if (!left)
			die("out of memory");
		for (size_t l = strlen(left); l > 0 && (left[l - 1] == ' ' || left[l - 1] == '\t');)
			left[--l] = 0;
		eq += strspn(eq + 1, " \t");
		colon = strrchr(left, ':');
		if (!colon || port_parse(colon + 1, &e[i].port) < 0) {
			*ret_err = xasprintf("'%s': the name needs a port (host:port=ip:port)", items[i]);
			goto fail;
		}
		*colon = 0;
		hostpart = left;
		r = host_normalize(hostpart, &e[i].host, &is_ip);
		if (r < 0) {
			*ret_err = xasprintf("'%s': invalid host name '%s'", items[i], hostpart);
			goto fail;
		}
		if (sockaddr_parse(eq + 1, true, 0, &e[i].ss, &e[i].len) < 0) {
			*ret_err = xasprintf("'%s': target must be IPv4:port or [IPv6]:port", items[i]);
			goto fail;
		}
		for (size_t j = 0; j < i; j++)
			if (e[j].port == e[i].port && !strcmp(e[j].host, e[i].host)) {
				*ret_err = xasprintf("'%s': %s:%u is mapped twice", items[i], e[i].host, e[i].port);
				goto fail;
			}
		ip = sockaddr_text(&e[i].ss);
		if (strchr(e[i].host, ':'))
			fprintf(f, "%s[%s]:%u=%s", i ? "," : "", e[i].host, e[i].port, ip);
		else
			fprintf(f, "%s%s:%u=%s", i ? "," : "", e[i].host, e[i].port, ip);
	}
	fclose(f);
	csv_free(items);
	if (ret_norm)
		*ret_norm = norm;
	else
		free(norm);
	if (ret) {
		*ret = e;
		*ret_n = n;
	} else {
		resolve_free(e, n);
	}
	return 0;
fail:
	fclose(f);
	free(norm);
	csv_free(items);
	resolve_free(e, n);
	return -EINVAL;
}

static int dns_parse(const char *value, char **ret_csv, char **ret_err)
{
	char **items;
	size_t n;
	char *csv = NULL;
	size_t csvlen = 0;
	FILE *f;

	items = csv_split(value, DNS_SERVERS_MAX, "servers", &n, ret_err);
	if (!items)
		return -EINVAL;
	f = open_memstream(&csv, &csvlen);
	if (!f)
		die("out of memory");
	for (size_t i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		_cleanup_free_ char *t = NULL;

		if (!*items[i] || sockaddr_parse(items[i], false, 53, &ss, &len) < 0) {
			*ret_err = *items[i] ? xasprintf("'%s': expected ip[:port] (IPv6 as [ip]:port)", items[i])
					     : xstrdup("empty entry (stray comma?)");
			fclose(f);
			free(csv);
			csv_free(items);
			return -EINVAL;
		}
		t = sockaddr_text(&ss);
		fprintf(f, "%s%s", i ? "," : "", t);
	}
	fclose(f);
	csv_free(items);
	*ret_csv = csv;
	return 0;
}

static int ca_validate(const char *value, char **ret_norm, char **ret_err)
{
	_cleanup_free_ char *real = NULL, *buf = NULL;
	struct stat st;
	int r;

	real = realpath(value, NULL);
	if (!real) {
		*ret_err = xasprintf("'%s': %s", value, strerror(errno));
		return -EINVAL;
	}
	if (stat(real, &st) < 0 || !S_ISREG(st.st_mode)) {
		*ret_err = xasprintf("'%s' is not a regular file", value);
		return -EINVAL;
	}
	r = file_read_all(real, CA_FILE_MAX, &buf, NULL);
	if (r < 0) {
		*ret_err = xasprintf("cannot read '%s': %s", value, r == -EFBIG ? "file too large" : strerror(-r));
		return -EINVAL;
	}
	if (!strstr(buf, "-----BEGIN CERTIFICATE-----")) {
		*ret_err = xasprintf("'%s' holds no PEM certificate (-----BEGIN CERTIFICATE-----)", value);
		return -EINVAL;
	}
	*ret_norm = TAKE_PTR(real);
	return 0;
}

/* "off", or a duration (a bare number is minutes), stored as duration_format() writes it. */
static int idle_parse(const char *value, char **ret_norm, char **ret_err)
{
	const char *err = NULL;
	char t[DURATION_TEXT_MAX];
	uint64_t secs;

	if (!strcmp(value, "off")) {
		*ret_norm = xstrdup(value);
		return 0;
	}
	if (duration_parse(value, 60, &secs, &err) < 0 || !secs) {
		*ret_err = xasprintf("'%s': %s", value, err ? err : "zero; to turn idle stops off: off");
		return -EINVAL;
	}
	duration_format(secs, t, sizeof(t));
	*ret_norm = xstrdup(t);
	return 0;
}

static int one_of(const char *value, const char *const *allowed, char **ret_norm, char **ret_err)
{
	for (const char *const *a = allowed; *a; a++)
		if (!strcmp(value, *a)) {
			*ret_norm = xstrdup(value);
			return 0;
		}
	{
		char list[128] = "";
		for (const char *const *a = allowed; *a; a++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", a == allowed ? "" : ", ", *a);
		*ret_err = xasprintf("'%s': expected one of %s", value, list);
	}
	return -EINVAL;
}

/* at_load: the file's content (no file checks for the CA: it may come and go). */
static int validate_idx(int k, const char *value, bool at_load, char **ret_norm, char **ret_err)
{
	static const char *const inspect[] = { "auto", "all", NULL };
	static const char *const boolean[] = { "true", "false", NULL };
	static const char *const accel[] = { "auto", "kvm", "tcg", NULL };
	static const char *const secrets[] = { "auto", "secret-service", "file", NULL };

	if (!value || !*value) {
		*ret_err = xstrdup("empty value (to remove a setting: sbx settings unset KEY)");
		return -EINVAL;
	}
	if (strlen(value) > SETTINGS_VALUE_MAX) {
		*ret_err = xstrdup("value too long");
		return -EINVAL;
	}
	for (const char *c = value; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			*ret_err = xstrdup("value contains control characters");
			return -EINVAL;
		}
	switch (k) {
	case K_RESOLVE:
		return resolve_parse(value, NULL, NULL, ret_norm, ret_err);
	case K_DNS:
		return dns_parse(value, ret_norm, ret_err);
	case K_CA:
		if (at_load) {
			if (value[0] != '/') {
				*ret_err = xstrdup("not an absolute path");
				return -EINVAL;
			}
			*ret_norm = xstrdup(value);
			return 0;
		}
		return ca_validate(value, ret_norm, ret_err);
	case K_INSPECT:
		return one_of(value, inspect, ret_norm, ret_err);
	case K_AGENT:
		return one_of(value, boolean, ret_norm, ret_err);
	case K_ACCEL:
		return one_of(value, accel, ret_norm, ret_err);
	case K_SECRETS:
		return one_of(value, secrets, ret_norm, ret_err);
	case K_GITRO:
		return one_of(value, boolean, ret_norm, ret_err);
	case K_IDLE:
		return idle_parse(value, ret_norm, ret_err);
	case K_POOL: {
		char *end;
		unsigned long v = strtoul(value, &end, 10);
		if (!*value || *end || value[0] == '-' || v > SETTINGS_POOL_MAX) {
			*ret_err = xasprintf("'%s': a number of VMs, 0-%u", value, SETTINGS_POOL_MAX);
			return -EINVAL;
		}
		*ret_norm = xasprintf("%lu", v);
		return 0;
	}
	}
	return -ENOENT;
}

int settings_validate(const char *key, const char *value, char **ret_norm, char **ret_err)
{
	int k = key_index(key);

	if (k < 0) {
		*ret_err = xasprintf("unknown setting '%s' (see: sbx settings ls)", key ? key : "");
		return -ENOENT;
	}
	return validate_idx(k, value, false, ret_norm, ret_err);
}

static char *settings_path(const struct sbx_paths *p)
{
	return xasprintf("%s/settings.json", p->config);
}

/* Parse the file into a JSON object; missing file = empty object. */
static int settings_read_json(const char *path, struct json_object **ret, struct stat *ret_st, bool *ret_exists,
			      char **ret_err)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct json_tokener *tok;
	struct json_object *root;
	size_t len;
	int r;

	*ret_exists = false;
	if (fd < 0) {
		if (errno != ENOENT)
			return -errno;
		*ret = json_object_new_object();
		return 0;
	}
	if (fstat(fd, ret_st) < 0)
		return -errno;
	*ret_exists = true;
	{
		_cleanup_free_ char *fdpath = xasprintf("/proc/self/fd/%d", fd);
		r = file_read_all(fdpath, SETTINGS_FILE_MAX, &buf, &len);
	}
	if (r < 0)
		return r;
	tok = json_tokener_new();
	root = json_tokener_parse_ex(tok, buf, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success || !json_object_is_type(root, json_type_object)) {
		if (ret_err)
			*ret_err = root && json_tokener_get_error(tok) == json_tokener_success
					   ? xasprintf("%s is not a JSON object; fix it, or remove it and set the settings again", path)
					   : xasprintf("%s is not valid JSON (%s); fix it, or remove it and set the settings again",
						       path, json_tokener_error_desc(json_tokener_get_error(tok)));
		json_tokener_free(tok);
		json_object_put(root);
		return -EINVAL;
	}
	json_tokener_free(tok);
	*ret = root;
	return 0;
}

int settings_load_ex(const struct sbx_paths *p, struct settings **ret, char **ret_err)
{
	_cleanup_free_ char *path = settings_path(p);
	struct json_object *root = NULL;
	struct settings *s;
	struct stat st;
	bool exists;
	int r;

	r = settings_read_json(path, &root, &st, &exists, ret_err);
	if (r < 0)
		return r;
	s = xcalloc(1, sizeof(*s));
	if (exists) {
		s->st = st;
		s->have_stat = true;
	}
	json_object_object_foreach(root, key, val)
	{
		int k = key_index(key);
		char *norm = NULL, *err = NULL;
		if (k < 0) {
			log_debug("settings: ignoring unknown key '%s'", key);
			continue;
		}
		if (!json_object_is_type(val, json_type_string) ||
		    validate_idx(k, json_object_get_string(val), true, &norm, &err) < 0) {
			if (ret_err)
				*ret_err = xasprintf("%s: %s: %s", path, key, err ? err : "not a string");
			free(err);
			json_object_put(root);
			settings_free(s);
			return -EINVAL;
		}
		s->vals[k] = norm;
	}
	json_object_put(root);
	if (s->vals[K_RESOLVE]) {
		char *err = NULL;
		if (resolve_parse(s->vals[K_RESOLVE], &s->resolve, &s->n_resolve, NULL, &err) < 0) {
			free(err);   /* cannot happen: validated above */
			settings_free(s);
			return -EINVAL;
		}
	}
	if (s->vals[K_DNS])
		s->dns_csv = xstrdup(s->vals[K_DNS]);   /* already normalised to ip:port */
	*ret = s;
	return 0;
}

int settings_load(const struct sbx_paths *p, struct settings **ret)
{
	return settings_load_ex(p, ret, NULL);
}

void settings_free(struct settings *s)
{
	if (!s)
		return;
	for (int i = 0; i < K__N; i++)
		free(s->vals[i]);
	resolve_free(s->resolve, s->n_resolve);
	free(s->dns_csv);
	free(s);
}

bool settings_stale(const struct sbx_paths *p, const struct settings *s)
{
	_cleanup_free_ char *path = settings_path(p);

	return file_changed_since(path, s->have_stat, &s->st);
}

const char *settings_get(const struct settings *s, const char *key)
{
	int k = key_index(key);
	return k < 0 || !s ? NULL : s->vals[k];
}

const char *settings_get_or_default(const struct settings *s, const char *key)
{
	int k = key_index(key);

	if (k < 0)
		return NULL;
	return s && s->vals[k] ? s->vals[k] : keys[k].def;
}

static int settings_lock(const struct sbx_paths *p)
{
	_cleanup_free_ char *path = xasprintf("%s/settings.lock", p->config);

	return file_lock(path, LOCK_EX);
}

/* Read-modify-write under the lock; value NULL removes the key. */
static int settings_store(const struct sbx_paths *p, const char *key, const char *value, char **ret_err)
{
	_cleanup_free_ char *path = settings_path(p);
	_cleanup_close_ int lock = -1;
	struct json_object *root = NULL;
	const char *text;
	struct stat st;
	bool exists;
	int r;

	lock = settings_lock(p);
	if (lock < 0)
		return lock;
	r = settings_read_json(path, &root, &st, &exists, ret_err);
	if (r < 0)
		return r;
	if (value)
		json_object_object_add(root, key, json_object_new_string(value));
	else
		json_object_object_del(root, key);
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	r = file_write_atomic(path, text, strlen(text), 0600);
	json_object_put(root);
	if (r < 0 && ret_err)
		*ret_err = xasprintf("cannot write %s: %s", path, strerror(-r));
	return r;
}

int settings_set(const struct sbx_paths *p, const char *key, const char *value, char **ret_err)
{
	_cleanup_free_ char *norm = NULL;
	int r;

	r = settings_validate(key, value, &norm, ret_err);
	if (r < 0)
		return r;
	return settings_store(p, key, norm, ret_err);
}

int settings_unset(const struct sbx_paths *p, const char *key, char **ret_err)
{
	if (!settings_key_known(key))
		return -ENOENT;
	return settings_store(p, key, NULL, ret_err);
}

int settings_resolve_lookup(const struct settings *s, const char *host, uint16_t port, struct sockaddr_storage *ret,
			    socklen_t *ret_len)
{
	_cleanup_free_ char *norm = NULL;
	bool is_ip;

	if (!s || !s->n_resolve)
		return -ENOENT;
	if (host_normalize(host, &norm, &is_ip) < 0)
		return -ENOENT;
	for (size_t i = 0; i < s->n_resolve; i++)
		if (s->resolve[i].port == port && !strcmp(s->resolve[i].host, norm)) {
			*ret = s->resolve[i].ss;
			*ret_len = s->resolve[i].len;
			return 0;
		}
	return -ENOENT;
}

bool settings_resolve_has_name(const struct settings *s, const char *host)
{
	_cleanup_free_ char *norm = NULL;
	bool is_ip;

	if (!s || !s->n_resolve || host_normalize(host, &norm, &is_ip) < 0)
		return false;
	for (size_t i = 0; i < s->n_resolve; i++)
		if (!strcmp(s->resolve[i].host, norm))
			return true;
	return false;
}

int settings_dns_servers(const struct settings *s, char **ret_csv)
{
	*ret_csv = s && s->dns_csv ? xstrdup(s->dns_csv) : NULL;
	return 0;
}

bool settings_protect_git(const struct settings *s)
{
	const char *v = settings_get_or_default(s, "workspace.protectGit");
	return !v || strcmp(v, "false") != 0;
}

bool settings_agent_forwarding(const struct settings *s)
{
	const char *v = settings_get_or_default(s, "ssh.agentForwardingEnabled");
	return !v || strcmp(v, "false") != 0;
}

unsigned settings_pool_size(const struct settings *s)
{
	const char *v = settings_get_or_default(s, "pool.size");
	unsigned long n = v ? strtoul(v, NULL, 10) : 1;

	return n > SETTINGS_POOL_MAX ? SETTINGS_POOL_MAX : (unsigned)n;
}

uint64_t settings_idle_stop_s(const struct settings *s)
{
	const char *v = settings_get_or_default(s, "sandbox.idleStop");
	const char *err;
	uint64_t secs;

	if (!v || !strcmp(v, "off") || duration_parse(v, 60, &secs, &err) < 0)
		return 0;
	return secs;
}
