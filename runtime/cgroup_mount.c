/* /sys/fs/cgroup inside a container, as docker 20.10 (runc) shows it: on
 * cgroup v1 and the hybrid layout a tmpfs with one read-only mount per v1
 * hierarchy of the host (the container's own group, through its cgroup
 * namespace; no unified mount, as runc in hybrid mode); on pure v2 a
 * read-only cgroup2 mount. The host's hierarchies are read from
 * mountinfo before pivot_root (rt_cgroup_mounts_collect), mounted after
 * the init entered its cgroup namespace (rt_cgroup_mounts_apply). Best
 * effort: a hierarchy that cannot be mounted is left out. */
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "runtime-internal.h"

#define MAX_HIER 32
static struct {
	char name[64];  /* directory under /sys/fs/cgroup */
	char opts[256]; /* "cpu", "name=systemd" */
} hier[MAX_HIER];
static size_t n_hier;
static bool pure_v2;

/* "rw,cpu,cpuacct" -> "cpu,cpuacct" (no rw/ro, no release_agent) */
static void subsystems(const char *super, char *out, size_t size)
{
	char copy[256], *save = NULL;
	snprintf(copy, sizeof(copy), "%s", super);
	out[0] = 0;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!strcmp(t, "rw") || !strcmp(t, "ro") || !strncmp(t, "release_agent=", 14))
			continue;
		size_t len = strlen(out);
		snprintf(out + len, size - len, "%s%s", len ? "," : "", t);
	}
}

void rt_cgroup_mounts_collect(void)
{
	n_hier = 0;
	pure_v2 = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	while (f && fgets(line, sizeof(line), f)) {
		char mnt[1024], type[64], super[256];
		const char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1 ||
		    sscanf(dash + 3, "%63s %*s %255s", type, super) != 2)
			continue;
		if (!strcmp(type, "cgroup2") && !strcmp(mnt, "/sys/fs/cgroup"))
			pure_v2 = true;
		if (strcmp(type, "cgroup") || strncmp(mnt, "/sys/fs/cgroup/", 15) ||
		    strchr(mnt + 15, '/') || n_hier >= MAX_HIER)
			continue;
		snprintf(hier[n_hier].name, sizeof(hier[n_hier].name), "%.63s", mnt + 15);
		subsystems(super, hier[n_hier].opts, sizeof(hier[n_hier].opts));
		n_hier++;
	}
	if (f)
		fclose(f);
}

void rt_cgroup_mounts_apply(bool privileged)
{
	unsigned long ro = privileged ? 0 : MS_RDONLY;
	unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	if (pure_v2) {
		mount("cgroup2", "/sys/fs/cgroup", "cgroup2", flags | ro, NULL);
		return;
	}
	if (!n_hier || mount("tmpfs", "/sys/fs/cgroup", "tmpfs", flags, "mode=755") < 0)
		return;
	for (size_t i = 0; i < n_hier; i++) {
		char path[128];
		snprintf(path, sizeof(path), "/sys/fs/cgroup/%.63s", hier[i].name);
		if (mkdir(path, 0755) == 0 &&
		    mount("cgroup", path, "cgroup", flags | ro, hier[i].opts) < 0)
			rmdir(path);
	}
}
