// SPDX-License-Identifier: MIT
/* accel.c: KVM-or-TCG decision from /proc/cpuinfo and /dev/kvm; host TSC rate. */
#include "accel.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define CPUINFO_MAX (4u << 20)
#define KVM_API_WANT 12

const char *accel_name(enum accel a)
{
	return a == ACCEL_KVM ? "kvm" : "tcg";
}

/* Value of the first "key<spaces/tabs>: value" line whose key matches exactly;
 * *ret_len is the value length up to the end of the line. */
static const char *cpuinfo_field(const char *text, const char *key, size_t *ret_len)
{
	size_t klen = strlen(key);

	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		const char *p = line, *eol;

		if (strncmp(p, key, klen) != 0)
			continue;
		p += klen;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != ':')
			continue;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		eol = strchr(p, '\n');
		*ret_len = eol ? (size_t)(eol - p) : strlen(p);
		return p;
	}
	return NULL;
}

static bool has_word(const char *s, size_t len, const char *w)
{
	size_t wl = strlen(w);

	for (size_t i = 0; i + wl <= len; i++) {
		if ((i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t') && memcmp(s + i, w, wl) == 0 &&
		    (i + wl == len || s[i + wl] == ' ' || s[i + wl] == '\t'))
			return true;
	}
	return false;
}

const char *accel_cpuinfo_hw_flag(const char *cpuinfo)
{
	size_t len;
	const char *flags = cpuinfo_field(cpuinfo, "flags", &len);

	if (!flags)
		return NULL;
	if (has_word(flags, len, "vmx"))
		return "vmx";
	if (has_word(flags, len, "svm"))
		return "svm";
	return NULL;
}

unsigned accel_cpuinfo_khz(const char *cpuinfo)
{
	size_t len;
	const char *p = cpuinfo_field(cpuinfo, "cpu MHz", &len), *end;
	unsigned long khz = 0;
	int frac = 0;

	if (!p)
		return 0;
	end = p + len;
	/* Integer arithmetic: "2596.122" -> 2596122, no float or locale involved. */
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		khz = khz * 10 + (unsigned)(*p - '0');
		if (khz > 100000000UL)
			return 0;
	}
	khz *= 1000;
	if (p < end && *p == '.') {
		unsigned long scale = 100;

		for (p++; p < end && *p >= '0' && *p <= '9' && frac < 3; p++, frac++, scale /= 10)
			khz += (unsigned)(*p - '0') * scale;
	}
	return khz > 0xffffffffUL ? 0 : (unsigned)khz;
}

int accel_decide(const char *want, const struct accel_probe *p, enum accel *ret, char **ret_reason)
{
	_cleanup_free_ char *why = NULL;
	bool want_kvm;

	if (!want || !strcmp(want, "auto"))
		want_kvm = false;
	else if (!strcmp(want, "kvm"))
		want_kvm = true;
	else if (!strcmp(want, "tcg")) {
		*ret = ACCEL_TCG;
		*ret_reason = xstrdup("TCG requested (vm.accel=tcg)");
		return 0;
	} else
		return -EINVAL;

	if (!p->hw_flag) {
		/* PVM only matters when its /dev/kvm is there to be mistaken for KVM */
		const char *kvm = p->kvm_err == -ENOENT ? "; no /dev/kvm" :
				  p->kvm_err == 0 && p->pvm ? "; /dev/kvm is PVM" :
				  p->kvm_err == 0 ? "; /dev/kvm is not hardware KVM" : "";
		why = xasprintf("no hardware virtualization (vmx/svm) in /proc/cpuinfo%s", kvm);
	} else if (p->kvm_err == -EPROTO) {
		why = xasprintf("/dev/kvm speaks KVM API %d, not %d", p->kvm_api, KVM_API_WANT);
	} else if (p->kvm_err < 0) {
		why = xasprintf("cannot use /dev/kvm: %s", strerror(-p->kvm_err));
	} else {
		*ret = ACCEL_KVM;
		*ret_reason = xasprintf("hardware virtualization (%s) and /dev/kvm usable", p->hw_flag);
		return 0;
	}
	if (want_kvm) {
		*ret_reason = xasprintf("vm.accel=kvm but KVM is unusable: %s", why);
		return -ENODEV;
	}
	*ret = ACCEL_TCG;
	*ret_reason = TAKE_PTR(why);
	return 0;
}

static int kvm_probe(int *ret_api)
{
	int fd, api;

	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	api = ioctl(fd, KVM_GET_API_VERSION, 0);
	close(fd);
	if (api < 0)
		return -errno;
	*ret_api = api;
	return api == KVM_API_WANT ? 0 : -EPROTO;
}

int accel_detect(const char *want, enum accel *ret, char **ret_reason)
{
	_cleanup_free_ char *cpuinfo = NULL;
	struct accel_probe p = { 0 };
	struct stat st;
	int r;

	if (want && !strcmp(want, "tcg"))
		return accel_decide(want, &p, ret, ret_reason); /* nothing to probe */
	r = file_read_all("/proc/cpuinfo", CPUINFO_MAX, &cpuinfo, NULL);
	if (r >= 0)
		p.hw_flag = accel_cpuinfo_hw_flag(cpuinfo);
	p.pvm = stat("/sys/module/kvm_pvm", &st) == 0;
	p.kvm_err = kvm_probe(&p.kvm_api);
	return accel_decide(want, &p, ret, ret_reason);
}

unsigned host_tsc_khz(void)
{
	_cleanup_free_ char *cpuinfo = NULL;

	if (file_read_all("/proc/cpuinfo", CPUINFO_MAX, &cpuinfo, NULL) < 0)
		return 0;
	return accel_cpuinfo_khz(cpuinfo);
}
