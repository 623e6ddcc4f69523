// SPDX-License-Identifier: MIT
/* json_get.h: reading fields of JSON objects that came from a file or a peer. */
#ifndef SBX_JSON_GET_H
#define SBX_JSON_GET_H

#include <json-c/json.h>
#include <stddef.h>

/* The string value of key, or NULL when it is missing or not a string. Owned by o. */
static inline const char *json_get_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

#endif
