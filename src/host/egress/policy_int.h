// SPDX-License-Identifier: MIT
/* policy_int.h: the policy's representation, shared by policy.c (rules, matching,
 * editing), policy_store.c (policy.json, presets) and policy_file*.c (policy files).
 * Not for other users: policy.h. */
#ifndef SBX_POLICY_INT_H
#define SBX_POLICY_INT_H

#include <sys/stat.h>

#include "policy.h"

#define POLICY_RULES_MAX 10000

enum rule_kind { RK_ANY, RK_HOST, RK_ONE, RK_DEEP, RK_NET, RK_LOCALHOST };

struct rule {
	int id;
	enum policy_action action;
	char *resource;   /* normalised text, as stored and shown */
	char *sandbox;    /* NULL: global */
	bool from_preset;
	enum rule_kind kind;
	char *name;       /* RK_HOST: the name; RK_ONE/RK_DEEP: the suffix */
	int family;       /* RK_NET */
	uint8_t net[16];
	unsigned prefix;
	uint16_t port;    /* 0: any */
};

struct policy {
	char *preset;
	int next_id;
	struct rule *rules;
	size_t n, cap;
	bool have_stat;
	struct stat st;
};

/* One rule's text -> r (normalised; r->resource set). ret_err: static text. */
int policy_rule_parse(const char *in, struct rule *r, const char **ret_err);
void policy_rule_clear(struct rule *r);
/* Append r (taken over) with the next id. */
int policy_push(struct policy *pol, struct rule *r);
void policy_delete_at(struct policy *pol, size_t i);

/* policy_file.c, for policy_file_apply.c: an allocated error message; printable ASCII
 * for quoting hostile text in one (at most 64 bytes, then "..."). */
char *policy_errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *policy_quote(const char *s);

#endif
