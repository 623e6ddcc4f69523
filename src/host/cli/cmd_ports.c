// SPDX-License-Identifier: MIT
/* cmd_ports.c: `sbx ports`: list, publish and unpublish a sandbox's published ports. */
#include "cmd.h"
#include "cmd_doc.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "names.h"
#include "portspec.h"
#include "sbxd_conn.h"
#include "util.h"

/* HOST -> GUEST, and why a port does not listen. */
static void ports_print(struct json_object *arr)
{
	size_t n = json_object_array_length(arr);

	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(arr, i), *v;
		bool on = json_object_object_get_ex(o, "listening", &v) && json_object_get_boolean(v);

		printf("%s -> %s%s%s%s\n", cmd_json_str(o, "host"), cmd_json_str(o, "guest_port"), on ? "" : " (",
		       on ? "" : cmd_json_str(o, "reason"), on ? "" : ")");
	}
}

void cmd_port_warn(const char *cmd, const struct portspec *p)
{
	char h[PORTSPEC_TEXT_MAX];

	if (!portspec_is_wildcard(p))
		return;
	portspec_format_host(p, h, sizeof(h));
	/* not a cmd_note: --quiet does not hide that a port is open to the network */
	fprintf(stderr, "sbx %s: warning: %s listens on every address of this host: the port is exposed to "
		"the network, not only to this machine\n", cmd, h);
}

int cmd_ports(struct sbx_paths *p, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "publish", required_argument, NULL, 'p' },
		{ "unpublish", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct json_object *req, *resp = NULL, *arr, *add = json_object_new_array(), *del = json_object_new_array();
	struct sbxd_conn *c;
	bool json = false;
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
		struct portspec ps;
		const char *err = NULL;

		switch (opt) {
		case 'p':
			if (portspec_parse(optarg, &ps, &err) < 0) {
				fprintf(stderr, "sbx ports: --publish '%s': %s\n", optarg, err);
				goto usage;
			}
			cmd_port_warn("ports", &ps);
			json_object_array_add(add, json_object_new_string(optarg));
			break;
		case 'u':
			if (portspec_parse_unpublish(optarg, &ps, &err) < 0) {
				fprintf(stderr, "sbx ports: --unpublish '%s': %s\n", optarg, err);
				goto usage;
			}
			json_object_array_add(del, json_object_new_string(optarg));
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			json_object_put(add);
			json_object_put(del);
			return cmd_help_print(stdout, "ports"), 0;
		default:
			cmd_usage_error("ports", "unknown option");
			goto usage;
		}
	}
	if (optind != argc - 1) {
		cmd_usage_error("ports", "ports takes one sandbox NAME");
		goto usage;
	}
	if (json_object_array_length(add) > PORTSPEC_MAX || json_object_array_length(del) > PORTSPEC_MAX) {
		cmd_usage_error("ports", "at most 32 ports at once");
		goto usage;
	}
	if (!name_valid(argv[optind])) {
		fprintf(stderr, "sbx ports: invalid sandbox name '%s'\n", argv[optind]);
		goto usage;
	}
	c = cmd_connect(p);
	if (!c) {
		json_object_put(add);
		json_object_put(del);
		return 1;
	}
	req = cmd_request("ports", argv[optind]);
	json_object_object_add(req, "publish", add);
	json_object_object_add(req, "unpublish", del);
	rc = sbxd_call(c, req, &resp) < 0 ? 1 : 0;
	sbxd_conn_free(c);
	if (rc)
		return rc;
	if (!json_object_object_get_ex(resp, "ports", &arr) || !json_object_is_type(arr, json_type_array)) {
		fprintf(stderr, "sbx: malformed answer from sbxd\n");
		json_object_put(resp);
		return 1;
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		ports_print(arr);
	json_object_put(resp);
	return 0;
usage:
	json_object_put(add);
	json_object_put(del);
	return 2;
}
