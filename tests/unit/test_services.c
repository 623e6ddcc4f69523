// SPDX-License-Identifier: MIT
/* test_services.c: service table lookups, header building and auth-header recognition. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "services.h"
#include "testlib.h"
#include "util.h"

static void test_find(void)
{
	size_t n;
	const struct service *s = service_list(&n);

	CHECK_EQ(n, 8);
	for (size_t i = 0; i < n; i++) {
		CHECK(service_find(s[i].name) == &s[i]);
		CHECK(s[i].n_hosts > 0);
		CHECK(s[i].env[0] != NULL);
		CHECK(strstr(service_names(), s[i].name) != NULL);
		for (size_t j = 0; j < s[i].n_hosts; j++)
			CHECK(s[i].hosts[j].service == &s[i]);
	}
	CHECK(service_find("nope") == NULL);
	CHECK(service_find("Anthropic") == NULL);
	CHECK(service_find(NULL) == NULL);
	CHECK_STR(service_find("github")->env[0], "GH_TOKEN");
	CHECK_STR(service_find("github")->env[1], "GITHUB_TOKEN");
	CHECK_STR(service_find("google")->env[0], "GEMINI_API_KEY");
	CHECK_STR(service_find("google")->env[1], "GOOGLE_API_KEY");
	CHECK_STR(service_find("anthropic")->env[0], "ANTHROPIC_API_KEY");
	CHECK_STR(SERVICE_SENTINEL, "proxy-managed");
}

static void test_for_host(void)
{
	const struct service *s = NULL;
	const struct service_host *h = NULL;
	static const struct {
		const char *host, *service;
	} yes[] = {
		{ "api.anthropic.com", "anthropic" }, { "api.openai.com", "openai" },
		{ "api.github.com", "github" }, { "uploads.github.com", "github" },
		{ "github.com", "github" }, { "api.githubcopilot.com", "github" },
		{ "generativelanguage.googleapis.com", "google" }, { "api.groq.com", "groq" },
		{ "api.mistral.ai", "mistral" }, { "openrouter.ai", "openrouter" }, { "api.x.ai", "xai" },
	};
	static const char *const no[] = {
		"a.api.anthropic.com", "anthropic.com", "api.anthropic.com.evil.example", "xapi.anthropic.com",
		"www.github.com", "gist.github.com", "api.openai.co", "", "api.anthropic.com.", "x.ai",
		"evil-openrouter.ai", "googleapis.com",
	};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		s = NULL;
		h = NULL;
		CHECK_EQ(service_for_host(yes[i].host, &s, &h), 0);
		CHECK(s && !strcmp(s->name, yes[i].service));
		CHECK(h && !strcmp(h->host, yes[i].host) && h->service == s);
	}
	for (size_t i = 0; i < ARRAY_SIZE(no); i++) {
		s = NULL;
		h = NULL;
		CHECK_EQ(service_for_host(no[i], &s, &h), -ENOENT);
		CHECK(s == NULL && h == NULL);
	}
	CHECK_EQ(service_for_host(NULL, NULL, NULL), -ENOENT);
	CHECK_EQ(service_for_host("API.Anthropic.COM", NULL, NULL), 0);
}

static void check_header(const char *host, const char *key, const char *want_name, const char *want_value)
{
	const struct service_host *h = NULL;
	char *name = NULL, *value = NULL;

	CHECK_EQ(service_for_host(host, NULL, &h), 0);
	if (!h)
		return;
	CHECK_EQ(service_header(h, key, &name, &value), 0);
	CHECK(name && !strcmp(name, want_name));
	CHECK(value && !strcmp(value, want_value));
	if (value && strcmp(value, want_value))
		fprintf(stderr, "  %s: got '%s', want '%s'\n", host, value, want_value);
	free(name);
	free(value);
}

static void test_header(void)
{
	const struct service_host *h = NULL;
	char *name = NULL, *value = NULL;

	check_header("api.anthropic.com", "sk-ant-123", "x-api-key", "sk-ant-123");
	check_header("api.openai.com", "sk-proj-abc", "Authorization", "Bearer sk-proj-abc");
	check_header("api.github.com", "ghp_X", "Authorization", "Bearer ghp_X");
	check_header("generativelanguage.googleapis.com", "AIzaK", "x-goog-api-key", "AIzaK");
	check_header("api.groq.com", "gsk_1", "Authorization", "Bearer gsk_1");
	check_header("api.x.ai", "xai-1", "Authorization", "Bearer xai-1");
	/* base64("x-access-token:ghp_abc") and the three padding cases */
	check_header("github.com", "ghp_abc", "Authorization", "Basic eC1hY2Nlc3MtdG9rZW46Z2hwX2FiYw==");
	check_header("github.com", "ghp_ab", "Authorization", "Basic eC1hY2Nlc3MtdG9rZW46Z2hwX2Fi");
	check_header("github.com", "ghp_abcd", "Authorization", "Basic eC1hY2Nlc3MtdG9rZW46Z2hwX2FiY2Q=");

	CHECK_EQ(service_for_host("api.openai.com", NULL, &h), 0);
	CHECK_EQ(service_header(h, "", &name, &value), -EINVAL);
	CHECK_EQ(service_header(h, "a\r\nX-Evil: 1", &name, &value), -EINVAL);
	CHECK_EQ(service_header(h, "a\nb", &name, &value), -EINVAL);
	CHECK_EQ(service_header(h, "caf\xc3\xa9", &name, &value), -EINVAL);
	CHECK_EQ(service_header(h, NULL, &name, &value), -EINVAL);
	CHECK(name == NULL && value == NULL);
}

static void test_auth_header(void)
{
	const struct service_host *a = NULL, *g = NULL, *o = NULL, *gg = NULL;

	service_for_host("api.anthropic.com", NULL, &a);
	service_for_host("github.com", NULL, &g);
	service_for_host("api.openai.com", NULL, &o);
	service_for_host("generativelanguage.googleapis.com", NULL, &gg);
	CHECK(a && g && o && gg);
	if (!a || !g || !o || !gg)
		return;
	CHECK(service_is_auth_header(a, "x-api-key"));
	CHECK(service_is_auth_header(a, "X-Api-Key"));
	CHECK(service_is_auth_header(a, "authorization"));
	CHECK(service_is_auth_header(a, "AUTHORIZATION"));
	CHECK(!service_is_auth_header(a, "x-api-keys"));
	CHECK(!service_is_auth_header(a, "anthropic-version"));
	CHECK(!service_is_auth_header(a, "Proxy-Authorization"));
	CHECK(service_is_auth_header(g, "Authorization"));
	CHECK(!service_is_auth_header(g, "x-api-key"));
	CHECK(service_is_auth_header(o, "authorization"));
	CHECK(!service_is_auth_header(o, "OpenAI-Organization"));
	CHECK(service_is_auth_header(gg, "x-goog-api-key"));
	CHECK(service_is_auth_header(gg, "Authorization"));
	CHECK(!service_is_auth_header(NULL, "Authorization"));
	CHECK(!service_is_auth_header(a, NULL));
}

int main(void)
{
	test_find();
	test_for_host();
	test_header();
	test_auth_header();
	TEST_DONE();
}
