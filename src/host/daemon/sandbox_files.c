// SPDX-License-Identifier: MIT
/* sandbox_files.c: a sandbox's VM record (run_dir/vm.json: the processes sbxd adopts
 * after a restart) and its console log's tail for error messages. */
#include "sandbox_int.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* The last lines of the console log, for error messages. */
char *console_tail(struct sandbox *sb, int lines)
{
	_cleanup_free_ char *path = xasprintf("%s/console.log", sb->dir);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[4096];
	off_t end;
	ssize_t n;
	char *p;

	if (fd < 0)
		return xstrdup("(no console output)");
	end = lseek(fd, 0, SEEK_END);
	n = pread(fd, buf, sizeof(buf) - 1, end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0);
	if (n <= 0)
		return xstrdup("(no console output)");
	buf[n] = 0;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] != '\n' && buf[i] != '\t' && ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f))
			buf[i] = ' ';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = 0;
	p = buf + n;
	while (p > buf && lines > 0) {
		p--;
		if (*p == '\n')
			lines--;
	}
	if (*p == '\n')
		p++;
	return xasprintf("\n--- last console lines (%s/console.log) ---\n%s", sb->dir, p);
}

int write_vm_json(struct sandbox *sb)
{
	_cleanup_free_ char *path = xasprintf("%s/vm.json", sb->run_dir);
	_cleanup_free_ char *txt = xasprintf(
		"{\"qemu_pid\":%d,\"qemu_start\":%llu,\"vfsd_pid\":%d,\"vfsd_start\":%llu,\"slot\":%d%s}\n",
		(int)sb->procs.qemu_pid, (unsigned long long)sb->procs.qemu_start,
		(int)sb->procs.vfsd_pid, (unsigned long long)sb->procs.vfsd_start, sb->procs.slot,
		sb->staged ? ",\"staged\":true" : "");
	return file_write_atomic(path, txt, strlen(txt), 0600);
}

/* -ENOENT: no VM recorded; other errors: a record that cannot be read or makes no sense
 * (*ret_err, when given, names the file). */
int read_vm_json(const char *run_dir, struct vm_procs *ret, char **ret_err)
{
	_cleanup_free_ char *path = xasprintf("%s/vm.json", run_dir);
	_cleanup_free_ char *txt = NULL;
	struct json_object *o, *v;
	struct vm_procs p = { .slot = -1 };
	int r = file_read_all(path, 4096, &txt, NULL);

	if (r < 0) {
		if (r != -ENOENT && ret_err)
			*ret_err = xasprintf("cannot read %s: %s", path, strerror(-r));
		return r;
	}
	o = json_tokener_parse(txt);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		if (ret_err)
			*ret_err = xasprintf("%s is not valid JSON", path);
		return -EINVAL;
	}
	if (json_object_object_get_ex(o, "qemu_pid", &v))
		p.qemu_pid = (pid_t)json_object_get_int(v);
	if (json_object_object_get_ex(o, "qemu_start", &v))
		p.qemu_start = (uint64_t)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "vfsd_pid", &v))
		p.vfsd_pid = (pid_t)json_object_get_int(v);
	if (json_object_object_get_ex(o, "vfsd_start", &v))
		p.vfsd_start = (uint64_t)json_object_get_int64(v);
	/* a VM from before jail slots holds none; a slot out of range counts as none */
	if (json_object_object_get_ex(o, "slot", &v) && json_object_is_type(v, json_type_int))
		p.slot = json_object_get_int(v) >= 0 && json_object_get_int(v) < 65536 ? json_object_get_int(v) : -1;
	json_object_put(o);
	if (p.qemu_pid <= 1 || p.vfsd_pid < 0) {
		if (ret_err)
			*ret_err = xasprintf("%s does not name the VM's processes", path);
		return -EINVAL;
	}
	*ret = p;
	return 0;
}
