// SPDX-License-Identifier: MIT
/* test_portspec.c: published ports: the [ADDR:]HOSTPORT:GUESTPORT parser, its canonical
 * text, list checks, and the ports of a spec.json. */
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <string.h>

#include "portspec.h"
#include "spec.h"
#include "testlib.h"
#include "util.h"

static bool parses_to(const char *in, const char *canon)
{
	struct portspec p;
	const char *err = NULL;
	char t[PORTSPEC_TEXT_MAX];

	if (portspec_parse(in, &p, &err) < 0)
		return false;
	portspec_format(&p, t, sizeof(t));
	return !strcmp(t, canon);
}

static bool refused(const char *in)
{
	struct portspec p = { 0 };
	const char *err = NULL;

	return portspec_parse(in, &p, &err) == -EINVAL && err && *err;
}

static void test_parse(void)
{
	struct portspec p;
	const char *err = NULL;
	char t[PORTSPEC_TEXT_MAX];

	CHECK(parses_to("8080:80", "127.0.0.1:8080:80"));
	CHECK(parses_to("1:65535", "127.0.0.1:1:65535"));
	CHECK(parses_to("0.0.0.0:8080:80", "0.0.0.0:8080:80"));
	CHECK(parses_to("192.168.1.10:443:8443", "192.168.1.10:443:8443"));
	CHECK(parses_to("[::1]:8080:80", "[::1]:8080:80"));
	CHECK(parses_to("[::]:8080:80", "[::]:8080:80"));
	CHECK(parses_to("[0:0:0:0:0:0:0:1]:8080:80", "[::1]:8080:80"));
	CHECK(portspec_parse("8080:3000", &p, &err) == 0);
	CHECK_EQ(p.family, AF_INET);
	CHECK_EQ(p.host_port, 8080);
	CHECK_EQ(p.guest_port, 3000);
	CHECK(!portspec_is_wildcard(&p));
	portspec_format_host(&p, t, sizeof(t));
	CHECK_STR(t, "127.0.0.1:8080");
	CHECK(portspec_parse("[::]:1:2", &p, &err) == 0 && portspec_is_wildcard(&p) && p.family == AF_INET6);
	portspec_format_host(&p, t, sizeof(t));
	CHECK_STR(t, "[::]:1");
	CHECK(portspec_parse("0.0.0.0:1:2", &p, &err) == 0 && portspec_is_wildcard(&p));
}

static void test_refusals(void)
{
	static const char *const bad[] = {
		"", "80", ":", "8080:", ":80", "8080:80:", "0:80", "8080:0", "65536:80", "8080:65536", "-1:80",
		"+80:80", " 80:80", "80:80 ", "8080:80/tcp", "8080-8090:80", "localhost:8080:80", "example.com:1:2",
		"1.2.3:8080:80", "0x7f.1:8080:80", "127.0.0.1::80", "::1:8080:80", "[::1:8080:80", "[::1]8080:80",
		"[]:8080:80", "[127.0.0.1]:8080:80", "[fe80::1%eth0]:8080:80", "1.2.3.4:5:6:7", "00000080:80",
		"8080:80\n", "a:b",
	};
	char big[PORTSPEC_TEXT_MAX + 8];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		bool r = refused(bad[i]);
		if (!r)
			fprintf(stderr, "accepted: '%s'\n", bad[i]);
		CHECK(r);
	}
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	CHECK(refused(big));
}

static void test_host_port(void)
{
	uint16_t hp = 0;

	CHECK(portspec_parse_host_port("8080", &hp) == 0 && hp == 8080);
	CHECK(portspec_parse_host_port("0", &hp) < 0);
	CHECK(portspec_parse_host_port("8080:80", &hp) < 0);
	CHECK(portspec_parse_host_port("", &hp) < 0);
}

static void test_unpublish(void)
{
	struct portspec p;
	const char *err = NULL;

	CHECK(portspec_parse_unpublish("8080", &p, &err) == 0 && p.family == 0 && p.host_port == 8080 &&
	      p.guest_port == 0);
	CHECK(portspec_parse_unpublish("8080:80", &p, &err) == 0 && p.family == AF_INET && p.host_port == 8080 &&
	      p.guest_port == 80);
	CHECK(portspec_parse_unpublish("127.0.0.1:8080", &p, &err) == 0 && p.family == AF_INET &&
	      p.host_port == 8080 && p.guest_port == 0);
	CHECK(portspec_parse_unpublish("[::1]:8080", &p, &err) == 0 && p.family == AF_INET6 && p.host_port == 8080 &&
	      p.guest_port == 0);
	CHECK(portspec_parse_unpublish("[::1]:8080:81", &p, &err) == 0 && p.guest_port == 81);
	CHECK(portspec_parse_unpublish("", &p, &err) == -EINVAL);
	CHECK(portspec_parse_unpublish("0", &p, &err) == -EINVAL);
	CHECK(portspec_parse_unpublish("localhost:8080", &p, &err) == -EINVAL);
	CHECK(portspec_parse_unpublish("1.2.3.4", &p, &err) == -EINVAL);
	CHECK(portspec_parse_unpublish("[::1]", &p, &err) == -EINVAL);
}

static struct portspec ps(const char *t)
{
	struct portspec p = { 0 };
	const char *err;

	CHECK(portspec_parse(t, &p, &err) == 0);
	return p;
}

static void test_list(void)
{
	struct portspec l[PORTSPEC_MAX + 1];
	const char *err = NULL;

	l[0] = ps("8080:80");
	l[1] = ps("8081:80");
	l[2] = ps("[::1]:8080:80");
	CHECK(portspec_list_check(l, 3, &err) == 0);
	l[1] = ps("8080:81");   /* same address and host port */
	CHECK(portspec_list_check(l, 2, &err) == -EINVAL && err);
	l[1] = ps("0.0.0.0:8080:81");   /* the wildcard takes the port on every v4 address */
	CHECK(portspec_list_check(l, 2, &err) == -EINVAL);
	l[1] = ps("10.0.0.1:8080:81");   /* another address: fine */
	CHECK(portspec_list_check(l, 2, &err) == 0);
	CHECK(portspec_same_host(&l[0], &l[0]) && !portspec_same_host(&l[0], &l[1]));
	for (int i = 0; i <= PORTSPEC_MAX; i++) {
		l[i] = ps("1:1");
		l[i].host_port = (uint16_t)(1000 + i);
	}
	CHECK(portspec_list_check(l, PORTSPEC_MAX, &err) == 0);
	CHECK(portspec_list_check(l, PORTSPEC_MAX + 1, &err) == -EINVAL);
}

static const char spec_head[] = "{\"name\":\"pt\",\"agent\":\"shell\",\"template\":\"minimal\",\"workspace\":\"/w\","
				 "\"cpus\":1,\"memory_mib\":1024,\"uid\":1000,\"gid\":1000";

static int spec_with(const char *ports_json, struct spec *ret, const char **err)
{
	char *txt = xasprintf("%s%s%s}", spec_head, ports_json ? ",\"ports\":" : "", ports_json ? ports_json : "");
	struct json_object *o = json_tokener_parse(txt);
	int r;

	free(txt);
	if (!o)
		return -EBADMSG;
	r = spec_from_json(o, ret, err);
	json_object_put(o);
	return r;
}

static void test_spec(void)
{
	struct spec s = { 0 }, s2 = { 0 };
	const char *err = NULL;
	struct json_object *o;

	CHECK(spec_with(NULL, &s, &err) == 0 && s.n_ports == 0);
	o = spec_to_json(&s);
	CHECK(!json_object_object_get_ex(o, "ports", NULL));   /* older sbx reads what we write */
	json_object_put(o);
	spec_free(&s);
	CHECK(spec_with("[\"8080:80\",\"[::1]:9090:90\"]", &s, &err) == 0 && s.n_ports == 2);
	o = spec_to_json(&s);
	CHECK(spec_from_json(o, &s2, &err) == 0 && s2.n_ports == 2 && portspec_equal(&s.ports[0], &s2.ports[0]) &&
	      portspec_equal(&s.ports[1], &s2.ports[1]));
	CHECK_STR(json_object_get_string(json_object_array_get_idx(json_object_object_get(o, "ports"), 0)),
		  "127.0.0.1:8080:80");
	json_object_put(o);
	spec_free(&s);
	spec_free(&s2);
	CHECK(spec_with("\"8080:80\"", &s, &err) == -EINVAL);
	CHECK(spec_with("[80]", &s, &err) == -EINVAL);
	CHECK(spec_with("[\"8080\"]", &s, &err) == -EINVAL);
	CHECK(spec_with("[\"8080:80\",\"8080:81\"]", &s, &err) == -EINVAL);
	{
		/* 33 entries: refused before any is parsed */
		char *many = xstrdup("[");
		for (int i = 0; i < PORTSPEC_MAX + 1; i++) {
			char *n = xasprintf("%s%s\"%d:80\"", many, i ? "," : "", 2000 + i);
			free(many);
			many = n;
		}
		char *n = xasprintf("%s]", many);
		free(many);
		CHECK(spec_with(n, &s, &err) == -EINVAL);
		free(n);
	}
}

int main(void)
{
	test_parse();
	test_refusals();
	test_host_port();
	test_unpublish();
	test_list();
	test_spec();
	TEST_DONE();
}
