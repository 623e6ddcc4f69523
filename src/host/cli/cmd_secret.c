// SPDX-License-Identifier: MIT
/* cmd_secret.c: `sbx secret set|ls|rm`: credentials injected by the proxy, never shown. */
#include "cmd.h"
#include "cmd_doc.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "names.h"
#include "secrets.h"
#include "services.h"
#include "util.h"

static void secret_usage(FILE *f, const char *sub)
{
	cmd_help_print(f, "secret");
}

struct sopts {
	const char *sandbox;
	const char *service;
	bool global, json, help;
};

static int sopts_parse(const char *sub, int argc, char **argv, bool scope_opts, bool json_opt, int npos, struct sopts *o)
{
	int got = 0;

	memset(o, 0, sizeof(*o));
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			o->help = true;
		} else if (scope_opts && (!strcmp(a, "-g") || !strcmp(a, "--global"))) {
			o->global = true;
		} else if (scope_opts && !strcmp(a, "--sandbox")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "sbx secret %s: --sandbox needs a value\n", sub);
				return -EINVAL;
			}
			o->sandbox = argv[++i];
		} else if (scope_opts && !strncmp(a, "--sandbox=", 10)) {
			o->sandbox = a + 10;
		} else if (json_opt && !strcmp(a, "--json")) {
			o->json = true;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "sbx secret %s: unknown option '%s' (see: sbx secret %s --help)\n", sub, a, sub);
			return -EINVAL;
		} else {
			if (got++ >= npos) {
				fprintf(stderr, "sbx secret %s: unexpected argument '%s'\n", sub, a);
				return -EINVAL;
			}
			o->service = a;
		}
	}
	if (o->help)
		return 0;
	if (o->global && o->sandbox) {
		fprintf(stderr, "sbx secret %s: -g and --sandbox exclude each other\n", sub);
		return -EINVAL;
	}
	if (o->sandbox && !name_valid(o->sandbox)) {
		fprintf(stderr, "sbx secret %s: invalid sandbox name '%s'\n", sub, o->sandbox);
		return -EINVAL;
	}
	if (got < npos) {
		fprintf(stderr, "sbx secret %s: missing SERVICE (one of: %s)\n", sub, service_names());
		return -EINVAL;
	}
	if (o->service && !service_find(o->service)) {
		fprintf(stderr, "sbx secret %s: unknown service '%s' (known: %s)\n", sub, o->service, service_names());
		return -EINVAL;
	}
	return 0;
}

/* The prompt turns echo off; put it back if we are interrupted. */
static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;

static void restore_tty_and_exit(int sig)
{
	if (tio_saved)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	(void)!write(STDERR_FILENO, "\n", 1);
	_exit(128 + sig);
}

/* One line from the terminal without echo into buf (cap bytes); *ret_len without the
 * newline. -EFBIG when the line does not fit. */
static int read_tty_hidden(const char *service, char *buf, size_t cap, size_t *ret_len)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP };
	struct sigaction sa = { .sa_handler = restore_tty_and_exit }, old[ARRAY_SIZE(sigs)];
	struct termios tio;
	size_t len = 0;
	int r = 0;

	if (tcgetattr(STDIN_FILENO, &saved_tio) < 0)
		return -errno;
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, &old[i]);
	tio_saved = 1;
	tio = saved_tio;
	tio.c_lflag &= ~(tcflag_t)ECHO;
	tio.c_lflag |= ECHONL;
	fprintf(stderr, "%s secret (input hidden): ", service);
	fflush(stderr);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio) < 0) {
		r = -errno;
		goto out;
	}
	for (;;) {
		char c;
		ssize_t n = read(STDIN_FILENO, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0 || c == '\n')
			break;
		if (len + 1 >= cap) {
			r = -EFBIG;   /* keep reading to the end of the line, drop the rest */
			continue;
		}
		buf[len++] = c;
	}
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
out:
	tio_saved = 0;
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &old[i], NULL);
	explicit_bzero(&tio, sizeof(tio));
	*ret_len = len;
	return r;
}

/* All of stdin (a pipe or file), at most cap - 1 bytes; -EFBIG beyond. */
static int read_stdin_all(char *buf, size_t cap, size_t *ret_len)
{
	ssize_t n = read_full(STDIN_FILENO, buf, cap);

	if (n < 0)
		return (int)n;
	*ret_len = (size_t)n;
	return (size_t)n >= cap ? -EFBIG : 0;
}

static int secret_set(const struct sbx_paths *p, const struct sopts *o)
{
	/* room for the value, "\r\n" and one byte to detect overlong input */
	char buf[SECRET_VALUE_MAX + 3];
	_cleanup_free_ char *err = NULL, *notice = NULL;
	const char *why;
	size_t len = 0;
	int r;

	if (isatty(STDIN_FILENO))
		r = read_tty_hidden(o->service, buf, sizeof(buf), &len);
	else
		r = read_stdin_all(buf, sizeof(buf), &len);
	if (r == -EFBIG) {
		fprintf(stderr, "sbx secret set: refused: the value is longer than %d bytes\n", SECRET_VALUE_MAX);
		goto out;
	}
	if (r < 0) {
		fprintf(stderr, "sbx secret set: cannot read the value: %s\n", strerror(-r));
		goto out;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	why = secret_value_check(buf, len);
	if (why) {
		fprintf(stderr, "sbx secret set: refused: %s\n", why);
		r = -EINVAL;
		goto out;
	}
	buf[len] = 0;
	r = secrets_set(p, o->sandbox, o->service, buf, &err);
	if (r < 0) {
		fprintf(stderr, "sbx secret set: %s\n", err ? err : strerror(-r));
		goto out;
	}
	notice = secrets_backend_notice(p, o->sandbox, o->service);
	cmd_note("sbx: %s\n", notice);
	if (o->sandbox)
		printf("stored the %s secret for sandbox %s\n", o->service, o->sandbox);
	else
		printf("stored the %s secret (global)\n", o->service);
out:
	explicit_bzero(buf, sizeof(buf));
	return r < 0 ? 1 : 0;
}

static int secret_ls(const struct sbx_paths *p, const struct sopts *o)
{
	_cleanup_free_ char *err = NULL, *where = NULL;
	enum secrets_backend b = SECRETS_BACKEND_NONE;
	struct secret_info *v = NULL;
	size_t n = 0;
	int r = secrets_backend_current(p, &b, &err);

	if (r >= 0)
		r = secrets_list(p, &v, &n, &err);
	if (r < 0) {
		fprintf(stderr, "sbx secret ls: %s\n", err ? err : strerror(-r));
		return 1;
	}
	where = secrets_backend_describe(p, b);
	if (o->json) {
		struct json_object *a = json_object_new_array();
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_new_object();
			json_object_object_add(e, "scope", json_object_new_string(v[i].sandbox ? "sandbox" : "global"));
			json_object_object_add(e, "sandbox", v[i].sandbox ? json_object_new_string(v[i].sandbox) : NULL);
			json_object_object_add(e, "service", json_object_new_string(v[i].service));
			json_object_object_add(e, "preview", json_object_new_string(v[i].preview));
			json_object_object_add(e, "backend", json_object_new_string(secrets_backend_id(b)));
			json_object_array_add(a, e);
		}
		printf("%s\n", json_object_to_json_string_ext(a, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(a);
	} else if (n == 0 && b == SECRETS_BACKEND_NONE) {
		cmd_note("no secrets stored (add one with: sbx secret set SERVICE; it goes to %s)\n", where);
	} else if (n == 0) {
		cmd_note("no secrets stored in %s (add one with: sbx secret set SERVICE)\n", where);
	} else {
		cmd_note("secrets kept in %s\n", where);
		printf("%-24s %-11s %s\n", "SCOPE", "SERVICE", "PREVIEW");
		for (size_t i = 0; i < n; i++) {
			_cleanup_free_ char *scope = v[i].sandbox ? xasprintf("sandbox:%s", v[i].sandbox) : xstrdup("global");
			printf("%-24s %-11s %s\n", scope, v[i].service, v[i].preview);
		}
	}
	secret_info_free(v, n);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int secret_rm(const struct sbx_paths *p, const struct sopts *o)
{
	_cleanup_free_ char *err = NULL;
	int r = secrets_rm(p, o->sandbox, o->service, &err);

	if (r < 0) {
		fprintf(stderr, "sbx secret rm: %s\n", err ? err : strerror(-r));
		return 1;
	}
	if (o->sandbox)
		printf("removed the %s secret of sandbox %s\n", o->service, o->sandbox);
	else
		printf("removed the %s secret (global)\n", o->service);
	return 0;
}

int cmd_secret(struct sbx_paths *p, int argc, char **argv)
{
	static const char *const with_value[] = { "--sandbox", NULL };
	const char *sub;
	struct sopts o;
	bool is_ls;

	cmd_sub_first(argc, argv, with_value); /* options may come first */
	sub = argc > 1 ? argv[1] : NULL;
	if (!sub) {
		secret_usage(stderr, NULL);
		return 2;
	}
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
		secret_usage(stdout, NULL);
		return 0;
	}
	is_ls = !strcmp(sub, "ls") || !strcmp(sub, "list");
	if (!is_ls && strcmp(sub, "set") && strcmp(sub, "rm")) {
		fprintf(stderr, "sbx secret: unknown command '%s'\n", sub);
		secret_usage(stderr, NULL);
		return 2;
	}
	if (sopts_parse(sub, argc, argv, !is_ls, is_ls, is_ls ? 0 : 1, &o) < 0)
		return 2;
	if (o.help) {
		secret_usage(stdout, is_ls ? "ls" : sub);
		return 0;
	}
	if (is_ls)
		return secret_ls(p, &o);
	if (!strcmp(sub, "set"))
		return secret_set(p, &o);
	return secret_rm(p, &o);
}
