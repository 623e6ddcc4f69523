// SPDX-License-Identifier: MIT
/* secrets_file.h: the secret store's file backend (config/secrets.json, 0600) and the
 * in-memory table both backends list through. Private to secrets.c and secrets_file.c. */
#ifndef SBX_SECRETS_FILE_H
#define SBX_SECRETS_FILE_H

#include <stdbool.h>
#include <sys/types.h>

#include "paths.h"

struct secret_rec {
	char *sandbox;   /* NULL: global */
	char *service;
	char *value;
};

struct secret_db {
	struct secret_rec *v;
	size_t n, cap;
};

void secret_db_free(struct secret_db *db);
/* Index of (sandbox or NULL for global, service), or -1. */
ssize_t secret_db_find(const struct secret_db *db, const char *sandbox, const char *service);
/* Add or replace; takes value (a secrets_dup'd string). */
void secret_db_put(struct secret_db *db, const char *sandbox, const char *service, char *value);
void secret_db_remove(struct secret_db *db, size_t i);
/* Global first, then by sandbox, then by service. */
int secret_scope_cmp(const char *sandbox_a, const char *service_a, const char *sandbox_b, const char *service_b);
/* qsort order of struct secret_rec: secret_scope_cmp. */
int secret_rec_cmp(const void *a, const void *b);
/* A value copy that secret_free() zeroes (secrets.c). */
char *secrets_dup(const char *s, size_t len);

char *secrets_file_path(const struct sbx_paths *p);
/* Read and check config/secrets.json (mode, owner, size, strict JSON subset); a
 * missing file is an empty table. Errors name the file. */
int secrets_file_load(const struct sbx_paths *p, struct secret_db *db, char **ret_err);
/* Write the table sorted, 0600, atomically (temp file, fsync, rename). */
int secrets_file_save(const struct sbx_paths *p, struct secret_db *db, char **ret_err);
/* The store's lock; returns the fd. */
int secrets_file_lock(const struct sbx_paths *p, char **ret_err);
/* The start of every change to the file: its lock (into *ret_lock, for the caller to
 * close after saving) and its contents. */
int secrets_file_begin(const struct sbx_paths *p, int *ret_lock, struct secret_db *db, char **ret_err);

#endif
