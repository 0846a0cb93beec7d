/* The container's init is created fork-safely: containers launched from a
 * process whose other threads keep taking glibc's locks (malloc with one
 * shared arena, stdio, the set*id broadcast, NSS) all start and exit. With
 * a raw clone of the multithreaded process the init inherits a lock held
 * by another thread at that instant and hangs in malloc before its exec:
 * a watchdog then kills it and the launch fails. Needs root and a static
 * /bin/busybox (exit 77 otherwise). */
#include <errno.h>
#include <grp.h>
#include <malloc.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"
#include "tap.h"

#define LAUNCHES         50
#define WORKERS          4
#define LAUNCH_TIMEOUT_S 5
#define BUDGET_S         10 /* no new launch after that (sanitizer builds are slow) */

static atomic_bool stop;
static atomic_int launching = -1; /* the launch under way, -1 between */
static atomic_int timed_out;

/* Keeps glibc's locks busy: malloc/free in the one arena, stdio on a
 * FILE, NSS lookups, and setgroups with the current list (its setxid
 * broadcast interrupts every thread). */
static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	FILE *f = fopen("/dev/null", "we");
	while (!atomic_load(&stop)) {
		void *p[16];
		for (int i = 0; i < 16; i++)
			p[i] = malloc(16 + (size_t)(rand_r(&seed) % 4096));
		if (f)
			fprintf(f, "%p %u\n", p[0], seed);
		for (int i = 0; i < 16; i++)
			free(p[i]);
		if (rand_r(&seed) % 64 == 0) {
			struct passwd pw, *res = NULL;
			char buf[1024];
			getpwuid_r(0, &pw, buf, sizeof(buf), &res);
			gid_t g[64];
			int n = getgroups(64, g);
			if (n >= 0)
				setgroups((size_t)n, g);
		}
	}
	if (f)
		fclose(f);
	return NULL;
}

/* Kills this process's children (the hung init, an intermediate). */
static void kill_children(void)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)getpid(), (int)getpid());
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	int pid;
	while (fscanf(f, "%d", &pid) == 1)
		kill(pid, SIGKILL);
	fclose(f);
}

/* A launch that takes longer than LAUNCH_TIMEOUT_S has hung: its init is
 * killed, so that rt_run_process returns and cleans up. */
static void *watchdog(void *arg)
{
	(void)arg;
	int seen = -1;
	time_t since = time(NULL);
	while (!atomic_load(&stop)) {
		int cur = atomic_load(&launching);
		if (cur != seen) {
			seen = cur;
			since = time(NULL);
		} else if (cur >= 0 && time(NULL) - since > LAUNCH_TIMEOUT_S) {
			atomic_fetch_add(&timed_out, 1);
			kill_children();
			since = time(NULL);
		}
		usleep(100 * 1000);
	}
	return NULL;
}

static int make_lower(const char *lower)
{
	_cleanup_free_ char *bin = kiln_path_join(lower, "bin");
	_cleanup_free_ char *bb = kiln_path_join(bin, "busybox");
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (kiln_mkdir_p(bin, 0755, NULL) < 0 ||
	    kiln_read_file("/bin/busybox", 64u << 20, &data, &len, NULL) < 0)
		return -1;
	return kiln_write_file_replace(bb, data, len, 0755, NULL);
}

static int launch(const char *tmp, const char *lower, int i, int *status, struct kiln_err *err)
{
	_cleanup_free_ char *root = kiln_path_join(tmp, "root");
	_cleanup_free_ char *upper = xasprintf("%s/upper-%d", tmp, i);
	_cleanup_free_ char *work = xasprintf("%s/work-%d", tmp, i);
	if (kiln_mkdir_p(upper, 0755, err) < 0 || kiln_mkdir_p(work, 0755, err) < 0)
		return -1;
	char *args[] = {"/bin/busybox", "true", NULL};
	char *env[] = {"PATH=/bin", NULL};
	char *lowers[] = {(char *)lower, NULL};
	struct rt_spec s = {.args = args,
	                    .env = env,
	                    .cwd = "/",
	                    .lower_dirs = lowers,
	                    .upper_dir = upper,
	                    .work_dir = work,
	                    .network = RT_NET_NONE};
	int r = rt_run_process(root, &s, NULL, status, err);
	kiln_rm_rf(upper, NULL);
	kiln_rm_rf(work, NULL);
	return r;
}

int main(void)
{
	if (geteuid() != 0)
		tap_skip_all("needs root");
	if (access("/bin/busybox", X_OK) != 0)
		tap_skip_all("no /bin/busybox (apt-get install busybox-static)");
	const char *base = getenv("KILN_TEST_TMP");
	if (base)
		kiln_mkdir_p(base, 0755, NULL);
	_cleanup_free_ char *tmp = xasprintf("%s/clone-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(tmp))
		tap_skip_all("no temp dir");
	_cleanup_free_ char *lower = kiln_path_join(tmp, "lower");
	if (make_lower(lower) < 0) {
		kiln_rm_rf(tmp, NULL);
		tap_skip_all("cannot copy /bin/busybox");
	}
	mallopt(M_ARENA_MAX, 1); /* every thread in the arena the launcher uses */
	pthread_t w[WORKERS], dog;
	for (int i = 0; i < WORKERS; i++)
		pthread_create(&w[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	pthread_create(&dog, NULL, watchdog, NULL);
	int ok = 0, n = 0;
	time_t t0 = time(NULL);
	for (int i = 0; i < LAUNCHES && time(NULL) - t0 < BUDGET_S; i++) {
		struct kiln_err err = KILN_ERR_INIT;
		n++;
		int status = -1, before = atomic_load(&timed_out);
		atomic_store(&launching, i);
		int r = launch(tmp, lower, i, &status, &err);
		atomic_store(&launching, -1);
		if (r == 0 && status == 0 && atomic_load(&timed_out) == before)
			ok++;
		else {
			tap_diag("launch %d: r=%d status=%d hung=%d: %s", i, r, status,
			         atomic_load(&timed_out) - before, r < 0 ? err.msg : "");
			kiln_err_release(&err);
			break; /* one hang is enough: keep the test short */
		}
		kiln_err_release(&err);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(w[i], NULL);
	pthread_join(dog, NULL);
	T_INTEQ(atomic_load(&timed_out), 0, "no launch hung while %d threads took glibc's locks",
	        WORKERS);
	T_OK(n > 0, "launched %d containers", n);
	T_INTEQ(ok, n, "every one started and exited 0");
	kiln_rm_rf(tmp, NULL);
	return tap_done();
}
