/* seccomp: the built-in profile denies what docker's default denies (with
 * EPERM, clone3 with ENOSYS) and lets ordinary programs run; capabilities
 * open the calls docker ties to them; docker-format JSON profiles compile
 * (names/name, errnoRet, kill actions, unknown syscalls skipped) and bad
 * ones are errors naming what is wrong. Filters are loaded in forked
 * children (as root, without no_new_privs, the way runc loads docker's). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sys-internal.h"
#include "tap.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

#define CAP_SYS_ADMIN_BIT (1ULL << 21)

static int res(long r)
{
	return r < 0 ? errno : 0;
}

/* Each probe: a name and the errno it ended with (0: success). */
static void probe_all(int fd)
{
	struct utsname u;
	int st;
	pid_t p;
	dprintf(fd, "mount %d\n", res(mount("none", "/nonexistent-kiln", "tmpfs", 0, NULL)));
	dprintf(fd, "umount2 %d\n", res(umount2("/nonexistent-kiln", 0)));
	dprintf(fd, "unshare_user %d\n", res(unshare(CLONE_NEWUSER)));
	dprintf(fd, "keyctl %d\n", res(syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -1, 0)));
	dprintf(fd, "bpf %d\n", res(syscall(SYS_bpf, -1, NULL, 0)));
	/* a wrong magic: EINVAL if the call were allowed, never a reboot */
	dprintf(fd, "reboot %d\n", res(syscall(SYS_reboot, 0, 0, 0, NULL)));
	dprintf(fd, "clone3 %d\n", res(syscall(SYS_clone3, NULL, 0)));
	long c = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, NULL, NULL, 0);
	if (c == 0)
		_exit(0);
	if (c > 0)
		waitpid((pid_t)c, &st, 0);
	dprintf(fd, "clone_newuser %d\n", c < 0 ? errno : 0);
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);
	dprintf(fd, "socket_vsock %d\n", s < 0 ? errno : 0);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	dprintf(fd, "socket_unix %d\n", s < 0 ? errno : 0);
	dprintf(fd, "personality_query %d\n", res(personality(0xffffffff)));
	dprintf(fd, "personality_norandom %d\n", res(personality(ADDR_NO_RANDOMIZE)));
	dprintf(fd, "getpid %d\n", getpid() > 0 ? 0 : errno);
	/* newer than any call the profile names: ENOSYS, so libc falls back */
	dprintf(fd, "fchmodat2 %d\n", res(syscall(452, AT_FDCWD, "/", 0755, 0)));
	dprintf(fd, "nr_1000 %d\n", res(syscall(1000)));
	dprintf(fd, "uname %d\n", res(uname(&u)));
	char cwd[256];
	dprintf(fd, "getcwd %d\n", getcwd(cwd, sizeof(cwd)) ? 0 : errno);
	p = fork();
	if (p == 0)
		_exit(7);
	dprintf(fd, "fork %d\n",
	        p > 0 && waitpid(p, &st, 0) == p && WEXITSTATUS(st) == 7 ? 0 : errno);
	char buf[4096] = "";
	int sf = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n = sf >= 0 ? read(sf, buf, sizeof(buf) - 1) : -1;
	buf[n > 0 ? n : 0] = 0;
	char *sl = strstr(buf, "Seccomp:");
	dprintf(fd, "status_seccomp %d\n", sl ? atoi(sl + 8) : -1);
	dprintf(fd, "end 0\n");
}

/* Loads sc in a child and collects its probe lines into out. Returns the
 * child's wait status. */
static int run_child(const struct rt_seccomp *sc, void (*probe)(int), char *out, size_t size)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		struct kiln_err err = KILN_ERR_INIT;
		close(p[0]);
		if (rt_seccomp_load(sc, &err) < 0) {
			dprintf(p[1], "load %d\n", err.code);
			_exit(1);
		}
		probe(p[1]);
		_exit(0);
	}
	close(p[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < size && (r = read(p[0], out + n, size - n - 1)) > 0)
		n += (size_t)r;
	out[n] = 0;
	close(p[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	return st;
}

/* The errno a probe reported, -1000 when it did not report. */
static int probe_result(const char *out, const char *name)
{
	char key[64];
	snprintf(key, sizeof(key), "\n%s ", name);
	const char *p = strstr(out, key);
	if (!p && !strncmp(out, key + 1, strlen(key + 1)))
		p = out - 1;
	return p ? atoi(p + strlen(key)) : -1000;
}

#define EXPECT(out, name, want)                                                                    \
	T_INTEQ(probe_result(out, name), want, "%s: %s -> %s", what, name, #want)

#if defined(__x86_64__)
/* The other ABIs of an x86_64 kernel: i386 through int 0x80 and x32 (the
 * 0x40000000 bit) through syscall; both return -errno. docker's filter
 * covers them (archMap x86_64 -> x86, x32); without them a call from
 * either would be killed as a bad architecture. */
static long int80(long nr)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(0L), "c"(0L), "d"(0L) : "memory");
	return ret;
}

static long x32call(long nr)
{
	long ret;
	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"(nr | 0x40000000L), "D"(0L), "S"(0L), "d"(0L)
	                 : "rcx", "r11", "memory");
	return ret;
}

static void probe_abis(int fd)
{
	dprintf(fd, "i386_getpid %d\n", int80(20) == getpid() ? 0 : -1);
	dprintf(fd, "i386_mount %ld\n", -int80(21));
	dprintf(fd, "i386_unshare %ld\n", -int80(310));
	dprintf(fd, "i386_nr_1000 %ld\n", -int80(1000));
	long r = x32call(39); /* getpid: the pid, or ENOSYS where x32 is off */
	dprintf(fd, "x32_getpid %d\n", r == getpid() || r == -ENOSYS ? 0 : (int)-r);
	dprintf(fd, "x32_mount %ld\n", -x32call(165));
	dprintf(fd, "x32_nr_600 %ld\n", -x32call(600));
	dprintf(fd, "end 0\n");
}

static void probe_int80(int fd)
{
	dprintf(fd, "i386_getpid %d\n", int80(20) == getpid() ? 0 : -1);
}

static void test_abis(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_seccomp *sc = NULL, *allow = NULL;
	static char out[4096];
	const char *what = "default profile, i386 and x32 calls";
	const char *all = "{\"defaultAction\":\"SCMP_ACT_ALLOW\","
	                  "\"architectures\":[\"SCMP_ARCH_X86\"]}";
	/* is there an i386 ABI (IA32_EMULATION) at all? */
	if (rt_seccomp_compile(all, strlen(all), 0, &allow, &err) < 0)
		return kiln_err_release(&err);
	int st = run_child(allow, probe_int80, out, sizeof(out));
	rt_seccomp_free(allow);
	if (!WIFEXITED(st) || probe_result(out, "i386_getpid") != 0) {
		tap_diag("no i386 syscall ABI here: %s skipped", what);
		return;
	}
	if (!T_OK(rt_seccomp_compile(NULL, 0, rt_caps_default(), &sc, &err) == 0, "%s: compile",
	          what))
		return kiln_err_release(&err);
	st = run_child(sc, probe_abis, out, sizeof(out));
	T_OK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: not killed as a bad architecture", what);
	EXPECT(out, "i386_getpid", 0);
	EXPECT(out, "i386_mount", EPERM);
	EXPECT(out, "i386_unshare", EPERM);
	EXPECT(out, "i386_nr_1000", ENOSYS);
	EXPECT(out, "x32_getpid", 0);
	EXPECT(out, "x32_mount", EPERM);
	EXPECT(out, "x32_nr_600", ENOSYS);
	rt_seccomp_free(sc);
}
#endif

static void test_default(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_seccomp *sc = NULL;
	static char out[8192];
	const char *what = "default profile, default caps";
	if (!T_OK(rt_seccomp_compile(NULL, 0, rt_caps_default(), &sc, &err) == 0, "%s compiles: %s",
	          what, err.msg ? err.msg : "")) {
		kiln_err_release(&err);
		return;
	}
	int st = run_child(sc, probe_all, out, sizeof(out));
	T_OK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: child ran to the end", what);
	EXPECT(out, "mount", EPERM);
	EXPECT(out, "umount2", EPERM);
	EXPECT(out, "unshare_user", EPERM);
	EXPECT(out, "keyctl", EPERM);
	EXPECT(out, "bpf", EPERM);
	EXPECT(out, "reboot", EPERM);
	EXPECT(out, "clone3", ENOSYS);
	EXPECT(out, "clone_newuser", EPERM);
	EXPECT(out, "socket_vsock", EPERM);
	EXPECT(out, "socket_unix", 0);
	EXPECT(out, "personality_query", 0);
	EXPECT(out, "personality_norandom", EPERM);
	EXPECT(out, "getpid", 0);
	EXPECT(out, "uname", 0);
	EXPECT(out, "fork", 0);
	EXPECT(out, "status_seccomp", 2);
	EXPECT(out, "fchmodat2", ENOSYS);
	EXPECT(out, "nr_1000", ENOSYS);
	rt_seccomp_free(sc);

	/* CAP_SYS_ADMIN opens mount, unshare and clone3 as in docker */
	what = "default profile, +SYS_ADMIN";
	sc = NULL;
	if (!T_OK(rt_seccomp_compile(NULL, 0, rt_caps_default() | CAP_SYS_ADMIN_BIT, &sc, &err) ==
	              0,
	          "%s compiles", what))
		return;
	run_child(sc, probe_all, out, sizeof(out));
	EXPECT(out, "mount", ENOENT);
	EXPECT(out, "umount2", ENOENT);
	T_OK(probe_result(out, "clone3") != ENOSYS && probe_result(out, "clone3") != EPERM,
	     "%s: clone3 reaches the kernel (errno %d)", what, probe_result(out, "clone3"));
	EXPECT(out, "keyctl", EPERM);
	EXPECT(out, "reboot", EPERM);
	EXPECT(out, "getpid", 0);
	rt_seccomp_free(sc);
}

static void probe_sync(int fd)
{
	dprintf(fd, "before 0\n");
	sync();
	dprintf(fd, "after 0\n");
}

static void test_json(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_seccomp *sc = NULL;
	static char out[8192];
	const char *what = "profile denying uname";
	const char *p1 =
	    "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86\"],"
	    "\"syscalls\":[{\"names\":[\"uname\",\"no_such_syscall\"],"
	    "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13},"
	    "{\"name\":\"getcwd\",\"action\":\"SCMP_ACT_ERRNO\"},"
	    "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ERRNO\","
	    "\"args\":[{\"index\":0,\"value\":4294967295,\"op\":\"SCMP_CMP_EQ\"}]},"
	    "{\"names\":[\"mount\"],\"action\":\"SCMP_ACT_ERRNO\","
	    "\"includes\":{\"caps\":[\"CAP_SYS_BOOT\"]}},"
	    "{\"names\":[\"umount2\"],\"action\":\"SCMP_ACT_ERRNO\","
	    "\"excludes\":{\"caps\":[\"CAP_CHOWN\"]}}]}";
	if (!T_OK(rt_seccomp_compile(p1, strlen(p1), rt_caps_default(), &sc, &err) == 0,
	          "%s compiles: %s", what, err.msg ? err.msg : ""))
		return kiln_err_release(&err);
	int st = run_child(sc, probe_all, out, sizeof(out));
	T_OK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: child ran to the end", what);
	EXPECT(out, "uname", EACCES);
	EXPECT(out, "getcwd", EPERM);
	EXPECT(out, "personality_query", EPERM);
	EXPECT(out, "personality_norandom", 0);
	EXPECT(out, "getpid", 0);
	EXPECT(out, "fork", 0);
	/* mount's rule needs CAP_SYS_BOOT (absent): not added, mount reaches the kernel */
	EXPECT(out, "mount", ENOENT);
	/* umount2's rule is excluded when CAP_CHOWN is held */
	EXPECT(out, "umount2", ENOENT);
	rt_seccomp_free(sc);

	what = "profile killing sync";
	const char *p2 =
	    "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"sync\"],"
	    "\"action\":\"SCMP_ACT_KILL_PROCESS\"}]}";
	sc = NULL;
	if (!T_OK(rt_seccomp_compile(p2, strlen(p2), 0, &sc, &err) == 0, "%s compiles", what))
		return kiln_err_release(&err);
	st = run_child(sc, probe_sync, out, sizeof(out));
	T_OK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "%s: child killed by SIGSYS", what);
	T_OK(probe_result(out, "before") == 0 && probe_result(out, "after") == -1000,
	     "%s: nothing after sync", what);
	rt_seccomp_free(sc);
}

/* profile text, words the error must contain */
static const char *const bad[][2] = {
    {"{\"defaultAction\": ", "invalid JSON at line 1"},
    {"[]", "must be a JSON object"},
    {"{}", "`defaultAction` is missing"},
    {"{\"defaultAction\":\"SCMP_ACT_FOO\"}", "unknown action `SCMP_ACT_FOO` in `defaultAction`"},
    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"uname\"],"
     "\"action\":\"SCMP_ACT_NOPE\"}]}",
     "unknown action `SCMP_ACT_NOPE` in `syscalls[0].action`"},
    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"uname\"]}]}",
     "`syscalls[0].action` is missing"},
    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_VAX\"]}",
     "unknown architecture `SCMP_ARCH_VAX`"},
    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86\"],"
     "\"archMap\":[{\"architecture\":\"SCMP_ARCH_X86_64\"}]}",
     "use either 'architectures' or 'archMap'"},
    {"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
     "\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":7,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
     "`syscalls[0].args[0].index` must be 0 to 5"},
    {"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
     "\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_XX\"}]}]}",
     "unknown operator `SCMP_CMP_XX`"},
    {"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"name\":\"read\",\"names\":[\"x\"],"
     "\"action\":\"SCMP_ACT_ALLOW\"}]}",
     "use either 'name' or 'names'"},
    {"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
     "\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"minKernel\":\"new\"}}]}",
     "`syscalls[0].includes.minKernel` `new` is not a kernel version"},
    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
     "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":\"x\"}]}",
     "`syscalls[0].errnoRet` must be an errno number"},
};

static void test_errors(void)
{
	for (size_t i = 0; i < KILN_ARRAY_SIZE(bad); i++) {
		struct kiln_err err = KILN_ERR_INIT;
		struct rt_seccomp *sc = NULL;
		int r =
		    rt_seccomp_compile(bad[i][0], strlen(bad[i][0]), rt_caps_default(), &sc, &err);
		T_OK(r < 0 && sc == NULL && err.msg && strstr(err.msg, bad[i][1]),
		     "bad profile %zu: error contains \"%s\"", i, bad[i][1]);
		if (err.msg && !strstr(err.msg, bad[i][1]))
			tap_diag("got: %s", err.msg);
		kiln_err_release(&err);
		rt_seccomp_free(sc);
	}
}

static size_t count_bpf(const char *dir, bool junk)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 4, ".bpf"))
			continue;
		n++;
		if (junk) {
			char path[512];
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			FILE *f = fopen(path, "w");
			if (f) {
				fputs("KSC1 torn", f);
				fclose(f);
			}
		}
	}
	if (d)
		closedir(d);
	return n;
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_name[0] != '.')
			unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

/* Compiled programs are cached per profile and caps; a torn cache file is
 * compiled again, never trusted. */
static void test_cache(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_seccomp *sc = NULL;
	static char out[8192];
	char dir[] = "/tmp/kiln-seccomp-cache-XXXXXX";
	const char *what = "cached default profile";
	if (!mkdtemp(dir))
		return (void)T_OK(0, "mkdtemp");
	rt_seccomp_set_cache_dir(dir);
	T_OK(rt_seccomp_compile(NULL, 0, rt_caps_default(), &sc, &err) == 0,
	     "compile with a cache");
	rt_seccomp_free(sc);
	T_INTEQ(count_bpf(dir, false), 1, "one program cached");
	T_OK(rt_seccomp_compile(NULL, 0, rt_caps_default() | CAP_SYS_ADMIN_BIT, &sc, &err) == 0,
	     "compile for other caps");
	rt_seccomp_free(sc);
	T_INTEQ(count_bpf(dir, true), 2, "other caps, another program (both now torn)");
	sc = NULL;
	T_OK(rt_seccomp_compile(NULL, 0, rt_caps_default(), &sc, &err) == 0,
	     "compile over a torn cache file");
	if (sc) {
		run_child(sc, probe_all, out, sizeof(out));
		EXPECT(out, "mount", EPERM);
		EXPECT(out, "clone3", ENOSYS);
		EXPECT(out, "getpid", 0);
		EXPECT(out, "status_seccomp", 2);
	}
	rt_seccomp_free(sc);
	sc = NULL;
	/* from memory now: the same behaviour */
	T_OK(rt_seccomp_compile(NULL, 0, rt_caps_default(), &sc, &err) == 0, "compile again");
	if (sc) {
		what = "default profile from the memory cache";
		run_child(sc, probe_all, out, sizeof(out));
		EXPECT(out, "mount", EPERM);
		EXPECT(out, "getpid", 0);
	}
	rt_seccomp_free(sc);
	rt_seccomp_set_cache_dir(NULL);
	rm_dir(dir);
	kiln_err_release(&err);
}

int main(void)
{
	test_errors();
	if (geteuid() != 0) {
		printf("# loading filters without no_new_privs needs root; skipped\n");
		tap_done();
		return 77;
	}
	test_default();
#if defined(__x86_64__)
	test_abis();
#endif
	test_json();
	test_cache();
	return tap_done();
}
