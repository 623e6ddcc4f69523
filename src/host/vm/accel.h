// SPDX-License-Identifier: MIT
/* accel.h: choose KVM or TCG for the VMs, and the host TSC rate TCG guests need. */
#ifndef SBX_ACCEL_H
#define SBX_ACCEL_H

#include <stdbool.h>

enum accel { ACCEL_TCG = 0, ACCEL_KVM = 1 };

/*
 * want is "auto", "kvm" or "tcg" (NULL = auto). KVM only when /proc/cpuinfo has
 * vmx or svm AND /dev/kvm opens read-write AND KVM_GET_API_VERSION is 12: a PVM
 * /dev/kvm (software nested virtualization, no vmx/svm) cannot boot a stock kernel.
 * *ret_reason (malloc'd, one line) says why, also on -ENODEV (want=kvm but KVM is
 * unusable). -EINVAL for an unknown want.
 */
int accel_detect(const char *want, enum accel *ret, char **ret_reason);
const char *accel_name(enum accel a);

/* Host TSC rate in kHz (TCG's rdtsc is the host's); 0 if unknown. */
unsigned host_tsc_khz(void);

/* The pure parts, for tests. */
struct accel_probe {
	const char *hw_flag;    /* "vmx", "svm" or NULL (from /proc/cpuinfo) */
	bool pvm;               /* the kvm_pvm module is loaded */
	int kvm_err;            /* 0: /dev/kvm usable; -errno of open/ioctl; -EPROTO: bad API version */
	int kvm_api;            /* KVM_GET_API_VERSION when it answered */
};
/* The hardware virtualization flag in cpuinfo text: "vmx", "svm" or NULL. */
const char *accel_cpuinfo_hw_flag(const char *cpuinfo);
/* "cpu MHz : 2596.122" of the first CPU as kHz (2596122); 0 if absent. */
unsigned accel_cpuinfo_khz(const char *cpuinfo);
int accel_decide(const char *want, const struct accel_probe *p, enum accel *ret, char **ret_reason);

#endif
