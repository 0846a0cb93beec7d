/* Capabilities: names, docker's defaults and --cap-add/--cap-drop, and the
 * final identity switch of a container process as runc 1.1 does it for
 * docker 20.10 (bounding set first, keep-caps across setuid, then capset).
 * Raw capget/capset syscalls: no libcap. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys-internal.h"

/* Index = capability number (linux/capability.h), names without "CAP_". */
static const char *const cap_names[] = {
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
};

/* The same strings with the prefix, for rt_cap_name's static results. */
static const char *const cap_full_names[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

_Static_assert(KILN_ARRAY_SIZE(cap_names) == KILN_ARRAY_SIZE(cap_full_names), "cap tables");

#define BIT(c) (UINT64_C(1) << (c))

uint64_t rt_caps_default(void)
{
	return BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_FSETID) | BIT(CAP_FOWNER) |
	       BIT(CAP_MKNOD) | BIT(CAP_NET_RAW) | BIT(CAP_SETGID) | BIT(CAP_SETUID) |
	       BIT(CAP_SETFCAP) | BIT(CAP_SETPCAP) | BIT(CAP_NET_BIND_SERVICE) |
	       BIT(CAP_SYS_CHROOT) | BIT(CAP_KILL) | BIT(CAP_AUDIT_WRITE);
}

/* The kernel's highest capability number; the table's when unreadable.
 * open/read only: it may first run in a forked child, where malloc could
 * hold a lock another thread of the parent took. */
static int cap_last(void)
{
	static int last = -1;
	if (last < 0) {
		char buf[16] = "";
		int v = -1, fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n > 0)
				v = atoi(buf);
		}
		if (v <= 0 || v > 63)
			v = (int)KILN_ARRAY_SIZE(cap_names) - 1;
		last = v;
	}
	return last;
}

uint64_t rt_caps_all(void)
{
	int last = cap_last();
	return last >= 63 ? UINT64_MAX : BIT(last + 1) - 1;
}

const char *rt_cap_name(int cap)
{
	if (cap < 0 || (size_t)cap >= KILN_ARRAY_SIZE(cap_full_names))
		return NULL;
	return cap_full_names[cap];
}

/* docker's normalization: upper case, "CAP_" prefixed, known to this kernel. */
int rt_cap_from_name(const char *name, int *cap, struct kiln_err *err)
{
	char up[64];
	size_t n = strlen(name), off = 0;
	if (n + 5 > sizeof(up))
		return kiln_err_set(err, KILN_E_INVALID, "unknown capability: \"%.40s...\"", name);
	if (strncasecmp(name, "CAP_", 4) != 0) {
		memcpy(up, "CAP_", 4);
		off = 4;
	}
	for (size_t i = 0; i <= n; i++)
		up[off + i] = (char)toupper((unsigned char)name[i]);
	for (int c = 0; c <= cap_last() && (size_t)c < KILN_ARRAY_SIZE(cap_names); c++) {
		if (!strcmp(up + 4, cap_names[c])) {
			*cap = c;
			return 0;
		}
	}
	return kiln_err_set(err, KILN_E_INVALID, "unknown capability: \"%s\"", up);
}

/* Normalizes a --cap-add/--cap-drop list into a mask; "ALL" sets *all. */
static int caps_list(char *const *names, size_t n, const char *what, uint64_t *mask, bool *all,
                     struct kiln_err *err)
{
	*mask = 0;
	*all = false;
	for (size_t i = 0; i < n; i++) {
		int c;
		if (!strcasecmp(names[i], "ALL")) {
			*all = true;
			continue;
		}
		if (rt_cap_from_name(names[i], &c, err) < 0)
			return kiln_err_wrap(err, "invalid %s", what);
		*mask |= BIT(c);
	}
	return 0;
}

/* docker's TweakCapabilities: "ALL" added wins (minus the drops), "ALL"
 * dropped leaves only the adds, else drops then adds on base. */
int rt_caps_adjust(uint64_t base, char *const *add, size_t n_add, char *const *drop, size_t n_drop,
                   uint64_t *out, struct kiln_err *err)
{
	uint64_t add_mask, drop_mask;
	bool add_all, drop_all;
	if (caps_list(drop, n_drop, "CapDrop", &drop_mask, &drop_all, err) < 0 ||
	    caps_list(add, n_add, "CapAdd", &add_mask, &add_all, err) < 0)
		return -1;
	if (add_all)
		*out = rt_caps_all() & ~drop_mask;
	else if (drop_all)
		*out = add_mask;
	else
		*out = (base & ~drop_mask) | add_mask;
	return 0;
}

/* --- the identity switch (child side) ------------------------------------ */

static int caps_get(uint64_t *eff, uint64_t *prm, uint64_t *inh)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &hdr, d) < 0)
		return -1;
	*eff = d[0].effective | (uint64_t)d[1].effective << 32;
	*prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	*inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	return 0;
}

static int caps_set(uint64_t eff, uint64_t prm, uint64_t inh)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2] = {
	    {(uint32_t)eff, (uint32_t)prm, (uint32_t)inh},
	    {(uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32)},
	};
	return (int)syscall(SYS_capset, &hdr, d);
}

/* Drops from the bounding set every capability outside keep (EINVAL: a
 * number this kernel does not have). */
static int bounding_drop(uint64_t keep, struct kiln_err *err)
{
	for (int c = 0; c < 64; c++) {
		if (keep & BIT(c))
			continue;
		if (prctl(PR_CAPBSET_DROP, (unsigned long)c, 0L, 0L, 0L) < 0 && errno != EINVAL)
			return kiln_err_set(err, errno, "dropping `%s` from the bounding set",
			                    rt_cap_name(c) ? rt_cap_name(c) : "?");
	}
	return 0;
}

/* Raw syscalls, not glibc's wrappers: the container's init is a clone3 of
 * a process that may have other threads (the builder's stage workers), and
 * glibc's set*id wrappers then try to make every thread it remembers change
 * ids too (its setxid broadcast), waiting forever for threads that do not
 * exist in the child. The kernel calls change this thread only: the child's
 * only one. */
static int switch_user(const struct rt_identity *id, struct kiln_err *err)
{
	if (syscall(SYS_setgroups, id->n_groups, id->n_groups ? id->groups : NULL) < 0)
		return kiln_err_set(err, errno, "setgroups (%zu groups)", id->n_groups);
	if (syscall(SYS_setresgid, id->gid, id->gid, id->gid) < 0)
		return kiln_err_set(err, errno, "setgid `%u`", (unsigned)id->gid);
	if (syscall(SYS_setresuid, id->uid, id->uid, id->uid) < 0)
		return kiln_err_set(err, errno, "setuid `%u`", (unsigned)id->uid);
	return 0;
}

/* Steps as runc's finalizeNamespace: bounding set, keep caps while the ids
 * change, then the sets docker asks for: root gets caps as permitted and
 * effective; another uid keeps only the bounding set (docker 20.10 gives
 * non-root users no capabilities; file capabilities and setuid binaries
 * can still raise them up to the bounding set). Inheritable and ambient are
 * empty (docker >= 20.10.14, CVE-2022-24769). A capability the caller
 * itself lacks (this host has no CAP_SYS_RESOURCE) is left out instead of
 * failing the way runc does, so --privileged and --cap-add ALL work. */
int rt_identity_apply(const struct rt_identity *id, uint64_t caps, struct kiln_err *err)
{
	uint64_t eff, prm, inh;
	if (caps_get(&eff, &prm, &inh) < 0)
		return kiln_err_set(err, errno, "capget");
	caps &= prm;
	if (bounding_drop(caps, err) < 0)
		return -1;
	if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) < 0)
		return kiln_err_set(err, errno, "prctl PR_SET_KEEPCAPS");
	if (switch_user(id, err) < 0)
		return -1;
	if (prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) < 0)
		return kiln_err_set(err, errno, "prctl PR_SET_KEEPCAPS");
	uint64_t want = id->uid == 0 ? caps : 0;
	if (caps_set(want, want, 0) < 0)
		return kiln_err_set(err, errno, "capset (permitted %016llx)",
		                    (unsigned long long)want);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0L, 0L, 0L) < 0 && errno != EINVAL)
		return kiln_err_set(err, errno, "clearing the ambient capabilities");
	return 0;
}
