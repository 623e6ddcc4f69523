// SPDX-License-Identifier: MIT
/* vm_qmp.c: the little of QMP sbx speaks: waiting until QEMU's main loop answers,
 * which is when every device was realized. */
#include "vm_int.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define VM_QMP_MAX 65536

/* Read one '\n'-terminated line into buf (QMP lines), waiting until deadline. */
static int qmp_read_line(int fd, char *buf, size_t size, size_t *len, uint64_t deadline, char **ret_line)
{
	for (;;) {
		char *nl = memchr(buf, '\n', *len);
		int64_t left;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int r;

		if (nl) {
			*nl = '\0';
			*ret_line = buf;
			return (int)(nl - buf) + 1;
		}
		if (*len + 1 >= size)
			return -EMSGSIZE;
		left = (int64_t)(deadline - now_ms());
		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		n = read(fd, buf + *len, size - 1 - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		*len += (size_t)n;
		buf[*len] = '\0';
	}
}

static void qmp_consume(char *buf, size_t *len, int used)
{
	memmove(buf, buf + used, *len - (size_t)used);
	*len -= (size_t)used;
}

/* QEMU answers a QMP command only from its main loop, after every device was
 * realized: that is "started". EOF means it exited (bad option, device error). */
int qmp_wait_ready(int fd, int timeout_ms)
{
	_cleanup_free_ char *buf = xmalloc(VM_QMP_MAX);
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	static const char cmd[] = "{\"execute\":\"qmp_capabilities\"}\n";
	size_t len = 0;
	char *line;
	int r;

	r = qmp_read_line(fd, buf, VM_QMP_MAX, &len, deadline, &line);
	if (r < 0)
		return r;
	if (!strstr(line, "\"QMP\""))
		return -EPROTO;
	qmp_consume(buf, &len, r);
	r = write_all(fd, cmd, sizeof(cmd) - 1);
	if (r < 0)
		return r;
	for (;;) {
		r = qmp_read_line(fd, buf, VM_QMP_MAX, &len, deadline, &line);
		if (r < 0)
			return r;
		if (strstr(line, "\"return\""))
			return 0;
		if (strstr(line, "\"error\""))
			return -EPROTO;
		qmp_consume(buf, &len, r); /* an event; keep reading */
	}
}
