// SPDX-License-Identifier: MIT
/* services.c: the one table of credential services and the headers built from it. */
#include "services.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static const struct service services[];

#define HOST(svc_idx, h, hdr, a) { .host = (h), .header = (hdr), .auth = (a), .service = &services[svc_idx] }

enum { S_ANTHROPIC, S_OPENAI, S_GITHUB, S_GOOGLE, S_GROQ, S_MISTRAL, S_OPENROUTER, S_XAI };

static const struct service_host anthropic_hosts[] = {
	HOST(S_ANTHROPIC, "api.anthropic.com", "x-api-key", SERVICE_AUTH_RAW),
};
static const struct service_host openai_hosts[] = {
	HOST(S_OPENAI, "api.openai.com", "Authorization", SERVICE_AUTH_BEARER),
};
/* api.githubcopilot.com takes a PAT as Bearer (Copilot CLI with GH_TOKEN, the remote
 * MCP server); github.com is git over HTTPS, which only speaks Basic. */
static const struct service_host github_hosts[] = {
	HOST(S_GITHUB, "api.github.com", "Authorization", SERVICE_AUTH_BEARER),
	HOST(S_GITHUB, "uploads.github.com", "Authorization", SERVICE_AUTH_BEARER),
	HOST(S_GITHUB, "api.githubcopilot.com", "Authorization", SERVICE_AUTH_BEARER),
	HOST(S_GITHUB, "github.com", "Authorization", SERVICE_AUTH_BASIC_TOKEN),
};
static const struct service_host google_hosts[] = {
	HOST(S_GOOGLE, "generativelanguage.googleapis.com", "x-goog-api-key", SERVICE_AUTH_RAW),
};
static const struct service_host groq_hosts[] = {
	HOST(S_GROQ, "api.groq.com", "Authorization", SERVICE_AUTH_BEARER),
};
static const struct service_host mistral_hosts[] = {
	HOST(S_MISTRAL, "api.mistral.ai", "Authorization", SERVICE_AUTH_BEARER),
};
static const struct service_host openrouter_hosts[] = {
	HOST(S_OPENROUTER, "openrouter.ai", "Authorization", SERVICE_AUTH_BEARER),
};
static const struct service_host xai_hosts[] = {
	HOST(S_XAI, "api.x.ai", "Authorization", SERVICE_AUTH_BEARER),
};

static const char *const anthropic_env[] = { "ANTHROPIC_API_KEY", NULL };
static const char *const openai_env[] = { "OPENAI_API_KEY", NULL };
/* COPILOT_GITHUB_TOKEN is what the Copilot CLI reads first. */
static const char *const github_env[] = { "GH_TOKEN", "GITHUB_TOKEN", "COPILOT_GITHUB_TOKEN", NULL };
static const char *const google_env[] = { "GEMINI_API_KEY", "GOOGLE_API_KEY", NULL };
static const char *const groq_env[] = { "GROQ_API_KEY", NULL };
static const char *const mistral_env[] = { "MISTRAL_API_KEY", NULL };
static const char *const openrouter_env[] = { "OPENROUTER_API_KEY", NULL };
static const char *const xai_env[] = { "XAI_API_KEY", NULL };

#define SVC(n, d, h, e) { .name = (n), .desc = (d), .hosts = (h), .n_hosts = ARRAY_SIZE(h), .env = (e) }

static const struct service services[] = {
	[S_ANTHROPIC] = SVC("anthropic", "Anthropic API (Claude)", anthropic_hosts, anthropic_env),
	[S_OPENAI] = SVC("openai", "OpenAI API (Codex)", openai_hosts, openai_env),
	[S_GITHUB] = SVC("github", "GitHub API, Copilot and git over HTTPS", github_hosts, github_env),
	[S_GOOGLE] = SVC("google", "Google Gemini API", google_hosts, google_env),
	[S_GROQ] = SVC("groq", "Groq API", groq_hosts, groq_env),
	[S_MISTRAL] = SVC("mistral", "Mistral API", mistral_hosts, mistral_env),
	[S_OPENROUTER] = SVC("openrouter", "OpenRouter API", openrouter_hosts, openrouter_env),
	[S_XAI] = SVC("xai", "xAI API (Grok)", xai_hosts, xai_env),
};

const struct service *service_list(size_t *ret_n)
{
	*ret_n = ARRAY_SIZE(services);
	return services;
}

const struct service *service_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(services); i++)
		if (!strcmp(services[i].name, name))
			return &services[i];
	return NULL;
}

const char *service_names(void)
{
	return "anthropic, openai, github, google, groq, mistral, openrouter, xai";
}

int service_for_host(const char *host_normalized, const struct service **ret, const struct service_host **ret_host)
{
	if (!host_normalized)
		return -ENOENT;
	for (size_t i = 0; i < ARRAY_SIZE(services); i++)
		for (size_t j = 0; j < services[i].n_hosts; j++) {
			const struct service_host *h = &services[i].hosts[j];
			/* Exact match: case-insensitive in case a caller skipped
			 * normalisation, but never a suffix. */
			if (strcasecmp(h->host, host_normalized))
				continue;
			if (ret)
				*ret = &services[i];
			if (ret_host)
				*ret_host = h;
			return 0;
		}
	return -ENOENT;
}

/* Printable ASCII only: no CR/LF/NUL/controls that could split or smuggle headers. */
static bool header_value_ok(const char *s)
{
	if (!*s)
		return false;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c < 0x20 || *c >= 0x7f)
			return false;
	return true;
}

static void base64_encode(const unsigned char *in, size_t len, char *out)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned v = in[i] << 16 | in[i + 1] << 8 | in[i + 2];
		*out++ = tbl[v >> 18 & 63];
		*out++ = tbl[v >> 12 & 63];
		*out++ = tbl[v >> 6 & 63];
		*out++ = tbl[v & 63];
	}
	if (i < len) {
		unsigned v = in[i] << 16 | (i + 1 < len ? in[i + 1] << 8 : 0);
		*out++ = tbl[v >> 18 & 63];
		*out++ = tbl[v >> 12 & 63];
		*out++ = i + 1 < len ? tbl[v >> 6 & 63] : '=';
		*out++ = '=';
	}
	*out = 0;
}

int service_header(const struct service_host *h, const char *key, char **ret_name, char **ret_value)
{
	static const char user[] = "x-access-token:";
	size_t klen, n;
	char *v;

	if (!h || !key || !header_value_ok(key))
		return -EINVAL;
	klen = strlen(key);
	if (klen > 65536)
		return -EINVAL;
	switch (h->auth) {
	case SERVICE_AUTH_RAW:
		v = xstrdup(key);
		break;
	case SERVICE_AUTH_BEARER:
		n = strlen("Bearer ") + klen + 1;
		v = xmalloc(n);
		memcpy(v, "Bearer ", 7);
		memcpy(v + 7, key, klen + 1);
		break;
	case SERVICE_AUTH_BASIC_TOKEN: {
		size_t plen = sizeof(user) - 1 + klen;
		char *plain = xmalloc(plen + 1);

		memcpy(plain, user, sizeof(user) - 1);
		memcpy(plain + sizeof(user) - 1, key, klen + 1);
		n = strlen("Basic ") + (plen + 2) / 3 * 4 + 1;
		v = xmalloc(n);
		memcpy(v, "Basic ", 6);
		base64_encode((const unsigned char *)plain, plen, v + 6);
		explicit_bzero(plain, plen);
		free(plain);
		break;
	}
	default:
		return -EINVAL;
	}
	*ret_name = xstrdup(h->header);
	*ret_value = v;
	return 0;
}

bool service_is_auth_header(const struct service_host *h, const char *header_name)
{
	if (!h || !header_name)
		return false;
	return !strcasecmp(header_name, h->header) || !strcasecmp(header_name, "Authorization");
}
