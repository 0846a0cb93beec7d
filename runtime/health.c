/* HEALTHCHECK, run by the monitor every interval (docker 20.10's rules):
 * the test exec'd in the container in a child of its own process group,
 * killed with everything it started when it outlives the timeout; the
 * result appended to State.Health.Log (the last 5 kept); failures during
 * the start period do not count while the container is still starting,
 * a success makes it healthy at once; FailingStreak consecutive failures
 * reaching the retries make it unhealthy. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime-internal.h"

#define HEALTH_OUTPUT_MAX 4096 /* docker's maxOutputLen */

int64_t rt_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* n units and the fraction of one (frac_digits digits), trailing zeros cut. */
static int put_units(char *buf, size_t size, int64_t whole, int64_t frac, int frac_digits,
                     const char *unit)
{
	if (!frac)
		return snprintf(buf, size, "%lld%s", (long long)whole, unit);
	char f[16];
	snprintf(f, sizeof(f), "%0*lld", frac_digits, (long long)frac);
	for (size_t n = strlen(f); n > 0 && f[n - 1] == '0'; n--)
		f[n - 1] = 0;
	return snprintf(buf, size, "%lld.%s%s", (long long)whole, f, unit);
}

void rt_go_duration(int64_t ns, char *buf, size_t size)
{
	if (ns == 0) {
		snprintf(buf, size, "0s");
	} else if (ns < 1000) {
		snprintf(buf, size, "%lldns", (long long)ns);
	} else if (ns < 1000000) {
		put_units(buf, size, ns / 1000, ns % 1000, 3, "\xc2\xb5s");
	} else if (ns < 1000000000) {
		put_units(buf, size, ns / 1000000, ns % 1000000, 6, "ms");
	} else {
		int64_t h = ns / 3600000000000LL, m = ns / 60000000000LL % 60;
		int64_t s = ns % 60000000000LL;
		int n = h   ? snprintf(buf, size, "%lldh%lldm", (long long)h, (long long)m)
		        : m ? snprintf(buf, size, "%lldm", (long long)m)
		            : 0;
		if (n >= 0 && (size_t)n < size)
			put_units(buf + n, size - (size_t)n, s / 1000000000, s % 1000000000, 9,
			          "s");
	}
}

struct check_result {
	int ran;    /* the command ran: status is its exit code */
	int status; /* docker's exit code */
	char msg[512];
};

/* The checker: a child of the monitor, leader of its own process group,
 * that the exec helper and the command join. */
static _Noreturn void checker(const char *root, const struct rt_container *c, int out_fd,
                              int result_fd)
{
	setpgid(0, 0);
	char *shell[] = {(char *)"/bin/sh", (char *)"-c", c->health_test[1], NULL};
	bool is_shell = !strcmp(c->health_test[0], "CMD-SHELL") && c->health_test[1];
	struct rt_exec_opts o = {.args = is_shell ? shell : c->health_test + 1};
	struct rt_run_io io = {-1, out_fd, out_fd};
	struct check_result r = {.status = -1};
	struct kiln_err e = KILN_ERR_INIT;
	if (!o.args[0])
		snprintf(r.msg, sizeof(r.msg), "no health check command");
	else if (rt_container_exec(root, c, &o, &io, &r.status, &e) < 0)
		snprintf(r.msg, sizeof(r.msg), "%s", e.msg ? e.msg : "exec failed");
	else
		r.ran = 1;
	kiln_write_all(result_fd, &r, sizeof(r), NULL);
	_exit(0);
}

/* Runs the test with its output in out_fd; fills r (r->ran 0 and a
 * message when it could not run or timed out). */
static void run_test(const char *root, const struct rt_container *c, int out_fd,
                     struct check_result *r)
{
	*r = (struct check_result){.status = -1};
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(r->msg, sizeof(r->msg), "pipe: %s", strerror(errno));
		return;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		checker(root, c, out_fd, p[1]);
	}
	close(p[1]);
	if (pid < 0) {
		snprintf(r->msg, sizeof(r->msg), "fork: %s", strerror(errno));
		close(p[0]);
		return;
	}
	setpgid(pid, pid); /* both sides: no race with the kill below */
	int64_t timeout = c->health_timeout > 0 ? c->health_timeout : 30LL * 1000000000LL;
	int64_t deadline = rt_mono_ns() + timeout;
	struct pollfd pf = {.fd = p[0], .events = POLLIN};
	int pr;
	do {
		int64_t left = (deadline - rt_mono_ns()) / 1000000 + 1;
		pr = left <= 0 ? 0 : poll(&pf, 1, left > INT_MAX ? INT_MAX : (int)left);
	} while (pr < 0 && errno == EINTR);
	if (pr > 0) {
		if (read(p[0], r, sizeof(*r)) != (ssize_t)sizeof(*r))
			snprintf(r->msg, sizeof(r->msg), "the health check ended without a result");
	} else {
		kill(-pid, SIGKILL); /* checker, exec helper and the command */
		char d[32];
		rt_go_duration(timeout, d, sizeof(d));
		snprintf(r->msg, sizeof(r->msg), "Health check exceeded timeout (%s)", d);
	}
	r->msg[sizeof(r->msg) - 1] = 0;
	close(p[0]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* The output as docker keeps it: 4 KiB, "..." after a cut. */
static char *read_output(int fd)
{
	char buf[HEALTH_OUTPUT_MAX + 4];
	ssize_t n = fd >= 0 ? pread(fd, buf, HEALTH_OUTPUT_MAX + 1, 0) : 0;
	if (n < 0)
		n = 0;
	if (n > HEALTH_OUTPUT_MAX) {
		memcpy(buf + HEALTH_OUTPUT_MAX, "...", 3);
		n = HEALTH_OUTPUT_MAX + 3;
	}
	buf[n] = 0;
	return xstrdup(buf);
}

static void log_append(struct rt_container *c, char *start, int exit_code, char *output)
{
	if (c->n_health_log == RT_HEALTH_LOG_MAX) {
		struct rt_health_result *old = &c->health_log[0];
		free(old->start);
		free(old->end);
		free(old->output);
		memmove(c->health_log, c->health_log + 1,
		        sizeof(c->health_log[0]) * (RT_HEALTH_LOG_MAX - 1));
		c->n_health_log--;
	}
	c->health_log[c->n_health_log++] = (struct rt_health_result){
	    .start = start, .end = rt_now_rfc3339(), .exit_code = exit_code, .output = output};
	free(c->health_output);
	c->health_output = xstrdup(output);
}

/* docker's handleProbeResult: the status from this result. */
static void apply_result(struct rt_container *c, int exit_code, bool in_start_period)
{
	const char *st = c->health_status ? c->health_status : "starting";
	if (exit_code == 0) {
		c->failing_streak = 0;
		st = "healthy";
	} else if (!(in_start_period && !strcmp(st, "starting")) &&
	           ++c->failing_streak >= (c->health_retries > 0 ? c->health_retries : 3)) {
		st = "unhealthy";
	}
	char *keep = xstrdup(st);
	free(c->health_status);
	c->health_status = keep;
}

/* Records the health fields in state.json under the lock (the rest of the
 * state may have changed meanwhile: pause). */
static void save_health(const char *root, struct rt_container *c)
{
	int lock = rt_container_lock(root, c->id, NULL);
	struct rt_container *now = NULL;
	if (rt_container_read(root, c->id, &now, NULL) == 0) {
		/* the monitor's copy is the truth for the health fields */
		struct rt_container saved = *now;
		now->health_status = c->health_status;
		now->failing_streak = c->failing_streak;
		now->health_output = c->health_output;
		memcpy(now->health_log, c->health_log, sizeof(c->health_log));
		now->n_health_log = c->n_health_log;
		rt_state_save(root, now, NULL);
		now->health_status = saved.health_status;
		now->health_output = saved.health_output;
		memcpy(now->health_log, saved.health_log, sizeof(saved.health_log));
		now->n_health_log = saved.n_health_log;
		rt_container_free(now);
	}
	if (lock >= 0)
		close(lock);
}

void rt_health_check(const char *root, struct rt_container *c, int64_t started_ns)
{
	struct rt_container *disk = NULL;
	bool paused = rt_container_read(root, c->id, &disk, NULL) == 0 && disk->status == RT_PAUSED;
	rt_container_free(disk);
	if (paused)
		return;
	int64_t start_ns = rt_mono_ns();
	char *start = rt_now_rfc3339();
	_cleanup_free_ char *out_path =
	    xasprintf("%s/%s/%s/health.out", root, RT_CONTAINERS_DIR, c->id);
	int fd = open(out_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	struct check_result r;
	run_test(root, c, fd, &r);
	char *output = r.ran ? read_output(fd) : xstrdup(r.msg);
	if (fd >= 0)
		close(fd);
	unlink(out_path);
	int exit_code = r.ran ? r.status : -1;
	log_append(c, start, exit_code, output);
	apply_result(c, exit_code, start_ns - started_ns < c->health_start_period);
	save_health(root, c);
}
