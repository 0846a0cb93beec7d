/* Capabilities: names as docker accepts them, --cap-add/--cap-drop as
 * docker's TweakCapabilities, and the identity switch: /proc/self/status of
 * a child after rt_identity_apply (and after it execs) reads as under docker
 * 20.10 + runc 1.1 (measured with docker.io 20.10.24 here:
 * `docker run -u 0|1000 ... grep Cap /proc/self/status`). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sys-internal.h"
#include "tap.h"

static void test_names(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	int c = -1;
	T_OK(rt_caps_default() == 0xa80425fbULL, "default mask is docker's a80425fb");
	T_OK(rt_cap_from_name("NET_ADMIN", &c, &err) == 0 && c == 12, "NET_ADMIN");
	T_OK(rt_cap_from_name("CAP_NET_ADMIN", &c, &err) == 0 && c == 12, "CAP_NET_ADMIN");
	T_OK(rt_cap_from_name("net_admin", &c, &err) == 0 && c == 12, "net_admin");
	T_OK(rt_cap_from_name("Cap_Chown", &c, &err) == 0 && c == 0, "Cap_Chown");
	T_OK(rt_cap_from_name("foo", &c, &err) < 0 && err.code == KILN_E_INVALID, "foo is unknown");
	T_STREQ(err.msg, "unknown capability: \"CAP_FOO\"", "docker's wording");
	kiln_err_release(&err);
	T_OK(rt_cap_from_name("ALL", &c, &err) < 0, "ALL is not one capability");
	kiln_err_release(&err);
	T_STREQ(rt_cap_name(21), "CAP_SYS_ADMIN", "name of 21");
	T_OK(rt_cap_name(64) == NULL && rt_cap_name(-1) == NULL, "no name out of range");
	T_OK((rt_caps_all() & rt_caps_default()) == rt_caps_default() && (rt_caps_all() & 1),
	     "all contains the defaults");
}

static void test_adjust(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	uint64_t d = rt_caps_default(), out = 0;
	char *a1[] = {"NET_ADMIN", "chown"}, *d1[] = {"CAP_NET_RAW"};
	T_OK(rt_caps_adjust(d, a1, 2, d1, 1, &out, &err) == 0 &&
	         out == ((d | (1ULL << 12)) & ~(1ULL << 13)),
	     "add NET_ADMIN, drop NET_RAW");
	char *all[] = {"all"}, *chown_[] = {"CHOWN"};
	T_OK(rt_caps_adjust(d, all, 1, chown_, 1, &out, &err) == 0 &&
	         out == (rt_caps_all() & ~1ULL),
	     "add ALL, drop CHOWN");
	T_OK(rt_caps_adjust(d, chown_, 1, all, 1, &out, &err) == 0 && out == 1,
	     "drop ALL, add CHOWN");
	T_OK(rt_caps_adjust(d, all, 1, all, 1, &out, &err) == 0 && out == rt_caps_all(),
	     "add ALL wins over drop ALL (docker)");
	T_OK(rt_caps_adjust(d, NULL, 0, NULL, 0, &out, &err) == 0 && out == d, "nothing: base");
	char *bad[] = {"foo"};
	T_OK(rt_caps_adjust(d, bad, 1, NULL, 0, &out, &err) < 0, "unknown add fails");
	T_STREQ(err.msg, "invalid CapAdd: unknown capability: \"CAP_FOO\"", "CapAdd message");
	T_OK(rt_caps_adjust(d, NULL, 0, bad, 1, &out, &err) < 0, "unknown drop fails");
	T_STREQ(err.msg, "invalid CapDrop: unknown capability: \"CAP_FOO\"", "CapDrop message");
	kiln_err_release(&err);
}

/* The Cap* lines of a status text, in a fixed order. */
static void cap_lines(const char *status, char *out, size_t size)
{
	static const char *const keys[] = {"CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"};
	out[0] = 0;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(keys); i++) {
		const char *p = strstr(status, keys[i]);
		unsigned long long v = 0;
		if (p)
			sscanf(p + strlen(keys[i]), " %llx", &v);
		size_t n = strlen(out);
		snprintf(out + n, size - n, "%s%s%016llx", i ? " " : "", keys[i], v);
	}
}

static size_t read_all(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;
	while (n + 1 < size && (r = read(fd, buf + n, size - n - 1)) > 0)
		n += (size_t)r;
	buf[n] = 0;
	return n;
}

/* Child: apply id, write the status it sees, then exec cat of its status
 * (the state after execve, what the container's command sees). The two
 * texts are separated by a line "--exec--". */
__attribute__((noreturn)) static void child(const struct rt_identity *id, uint64_t caps, int wfd)
{
	struct kiln_err err = KILN_ERR_INIT;
	char buf[8192];
	dup2(wfd, 1);
	if (rt_identity_apply(id, caps, &err) < 0) {
		dprintf(1, "ERROR %s (%d)\n", err.msg, err.code);
		_exit(1);
	}
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	size_t n = fd >= 0 ? read_all(fd, buf, sizeof(buf)) : 0;
	if (write(1, buf, n) < 0 || write(1, "--exec--\n", 9) < 0)
		_exit(1);
	execl("/bin/cat", "cat", "/proc/self/status", (char *)NULL);
	_exit(127);
}

static void check_identity(const char *name, const struct rt_identity *id, uint64_t caps,
                           const char *want)
{
	int p[2];
	static char out[32768];
	if (pipe2(p, O_CLOEXEC) < 0)
		return (void)T_OK(0, "%s: pipe", name);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		child(id, caps, p[1]);
	close(p[1]);
	read_all(p[0], out, sizeof(out));
	close(p[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	T_OK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: child applied the identity and ran cat",
	     name);
	char *sep = strstr(out, "--exec--");
	if (!sep) {
		T_OK(0, "%s: child output: %s", name, out);
		return;
	}
	*sep = 0;
	char before[256], after[256];
	cap_lines(out, before, sizeof(before));
	cap_lines(sep + 1, after, sizeof(after));
	T_STREQ(before, want, "%s: caps before execve", name);
	T_STREQ(after, want, "%s: caps after execve (as docker shows them)", name);
	char uidline[64];
	snprintf(uidline, sizeof(uidline), "Uid:\t%u\t%u\t%u\t%u", (unsigned)id->uid,
	         (unsigned)id->uid, (unsigned)id->uid, (unsigned)id->uid);
	T_OK(strstr(sep + 1, uidline) != NULL, "%s: %s", name, uidline);
	char gidline[64];
	snprintf(gidline, sizeof(gidline), "Gid:\t%u\t%u\t%u\t%u", (unsigned)id->gid,
	         (unsigned)id->gid, (unsigned)id->gid, (unsigned)id->gid);
	T_OK(strstr(sep + 1, gidline) != NULL, "%s: %s", name, gidline);
}

int main(void)
{
	test_names();
	test_adjust();
	if (geteuid() != 0) {
		printf("# identity tests need root (setuid, bounding set); skipped\n");
		tap_done();
		return 77;
	}
	if (access("/bin/cat", X_OK) != 0) {
		printf("# /bin/cat is missing; identity tests skipped\n");
		tap_done();
		return 77;
	}
	/* docker run -u 0: CapInh 0, CapPrm/CapEff/CapBnd a80425fb, CapAmb 0 */
	struct rt_identity root = {0, 0, (gid_t[]){0}, 1};
	check_identity("uid 0", &root, rt_caps_default(),
	               "CapInh:0000000000000000 CapPrm:00000000a80425fb CapEff:00000000a80425fb "
	               "CapBnd:00000000a80425fb CapAmb:0000000000000000");
	/* docker run -u 1000:1000: only the bounding set */
	struct rt_identity user = {1000, 1000, (gid_t[]){1000}, 1};
	check_identity("uid 1000", &user, rt_caps_default(),
	               "CapInh:0000000000000000 CapPrm:0000000000000000 CapEff:0000000000000000 "
	               "CapBnd:00000000a80425fb CapAmb:0000000000000000");
	/* docker run --cap-drop ALL --cap-add CHOWN */
	check_identity("uid 0, CHOWN only", &root, 1,
	               "CapInh:0000000000000000 CapPrm:0000000000000001 CapEff:0000000000000001 "
	               "CapBnd:0000000000000001 CapAmb:0000000000000000");
	/* docker run -u 1000 --cap-add NET_ADMIN, no supplementary groups */
	struct rt_identity nogroups = {1000, 0, NULL, 0};
	check_identity("uid 1000 gid 0, +NET_ADMIN", &nogroups, rt_caps_default() | (1ULL << 12),
	               "CapInh:0000000000000000 CapPrm:0000000000000000 CapEff:0000000000000000 "
	               "CapBnd:00000000a80435fb CapAmb:0000000000000000");
	/* --privileged / --cap-add ALL: what this host lets us keep (it lacks
	 * CAP_SYS_RESOURCE, where runc fails with "unable to apply caps") */
	char want[256], hex[20];
	uint64_t prm = 0;
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapPrm:", 7))
			prm = strtoull(line + 7, NULL, 16);
	if (f)
		fclose(f);
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)(prm & rt_caps_all()));
	snprintf(want, sizeof(want),
	         "CapInh:0000000000000000 CapPrm:%s CapEff:%s CapBnd:%s CapAmb:0000000000000000",
	         hex, hex, hex);
	check_identity("uid 0, ALL", &root, rt_caps_all(), want);
	return tap_done();
}
