// SPDX-License-Identifier: MIT
/* exec.h: exec sessions: a process the host started, its stdio and exit status as one stream. */
#ifndef SBX_GUEST_EXEC_H
#define SBX_GUEST_EXEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct guest;
struct watch;

int exec_open(struct guest *g, uint32_t id, const uint8_t *args, size_t len);
void exec_on_data(struct guest *g, uint32_t id, const uint8_t *data, size_t len);
void exec_on_ctrl(struct guest *g, uint32_t id, const uint8_t *data, size_t len);
void exec_on_window(struct guest *g, uint32_t id);
void exec_on_close(struct guest *g, uint32_t id);
void exec_on_reset(struct guest *g, uint32_t id);
void exec_on_event(struct guest *g, struct watch *w, uint32_t events);
void exec_child_exited(struct guest *g, pid_t pid, int wstatus);
/* Kill every session's process group and forget every session. */
void exec_kill_all(struct guest *g);
void exec_tick(struct guest *g, uint64_t now);
int exec_timeout(struct guest *g, uint64_t now);
/* Free sessions unlinked during this iteration. */
void exec_collect(struct guest *g);

#endif
