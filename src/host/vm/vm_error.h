// SPDX-License-Identifier: MIT
/* vm_error.h: why QEMU or virtiofsd did not start (the process, the cause, what it
 * said in the log its stderr shares with the console, and a fix). */
#ifndef SBX_VM_ERROR_H
#define SBX_VM_ERROR_H

/* The cause of a spawn that failed before or at exec (-errno from proc_spawn_detached). */
const char *vm_spawn_cause(int r);

/* *ret_err = "WHO (BIN) did not start: CAUSE; it said:\nLINES\nfix: ..." with the last
 * lines of log (at most 3 lines and 720 bytes, control bytes blanked) and a fix chosen by
 * their words or by r; kept as it is when *ret_err is set already. */
void vm_start_error(const char *log, const char *who, const char *bin, const char *cause, int r, char **ret_err);

#endif
