/* The parent side of a container start (crun/runc's approach): prepare the
 * hosts files, capabilities and seccomp filter, clone the init into new
 * mount, PID, UTS, IPC (and network) namespaces, make the cgroup and place
 * the init in it while it builds its rootfs and then waits on a sync pipe,
 * let it go, and learn over a close-on-exec error pipe whether its exec
 * happened. Then wait for it, forwarding signals. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime-internal.h"

static const char hosts_default[] = "127.0.0.1\tlocalhost\n"
                                    "::1\tlocalhost ip6-localhost ip6-loopback\n"
                                    "fe00::0\tip6-localnet\n"
                                    "ff00::0\tip6-mcastprefix\n"
                                    "ff02::1\tip6-allnodes\n"
                                    "ff02::2\tip6-allrouters\n";

/* docker's resolv.conf for a private network: the host's, without
 * loopback nameservers (unreachable from the container); Google's when none
 * is left. The host network gets the host's file as it is. */
static char *resolv_conf(bool host_net, bool slirp)
{
	char *data = NULL;
	size_t len;
	if (kiln_read_file("/etc/resolv.conf", 1u << 20, &data, &len, NULL) < 0)
		data = xstrdup("");
	if (host_net)
		return data;
	struct kiln_buf out;
	kiln_buf_init(&out, KILN_BUF_NOLIMIT, NULL);
	bool any_ns = false;
	char *save = NULL;
	for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char addr[128];
		if (sscanf(line, " nameserver %127s", addr) == 1) {
			if (slirp || !strncmp(addr, "127.", 4) || !strcmp(addr, "::1"))
				continue;
			any_ns = true;
		}
		kiln_buf_addf(&out, NULL, "%s\n", line);
	}
	if (slirp) /* slirp4netns forwards to the host's resolver */
		kiln_buf_addstr(&out, "nameserver 10.0.2.3\n", NULL);
	else if (!any_ns)
		kiln_buf_addstr(&out, "\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n", NULL);
	free(data);
	return kiln_buf_detach(&out, NULL);
}

/* The hosts file of a container: the host's with the host network, else
 * docker's (the container's address added on the default network); a
 * build's RUN gets BuildKit's two lines naming its hostname, whatever
 * the network. */
static char *hosts_file(const struct rt_launch *l)
{
	const struct rt_spec *s = l->spec;
	const char *name = s->hostname ? s->hostname : l->id;
	if (s->build_sandbox)
		return xasprintf(
		    "127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost ip6-loopback\n", name);
	char *hosts = NULL;
	if (s->network == RT_NET_HOST &&
	    kiln_read_file("/etc/hosts", 1u << 20, &hosts, &(size_t){0}, NULL) < 0)
		hosts = NULL;
	if (!hosts)
		hosts = xstrdup(hosts_default);
	if (s->network == RT_NET_DEFAULT) { /* the container's address, as docker adds it */
		char *h = xasprintf("%s10.0.2.100\t%s\n", hosts, name);
		free(hosts);
		hosts = h;
	}
	return hosts;
}

static int write_files(const struct rt_launch *l, struct kiln_err *err)
{
	const struct rt_spec *s = l->spec;
	bool host_net = s->network == RT_NET_HOST;
	_cleanup_free_ char *hosts = hosts_file(l);
	char hostbuf[256] = "";
	if (host_net)
		gethostname(hostbuf, sizeof(hostbuf) - 1);
	_cleanup_free_ char *hostname = xasprintf("%s\n", host_net      ? hostbuf
	                                                  : s->hostname ? s->hostname
	                                                                : l->id);
	_cleanup_free_ char *resolv = resolv_conf(host_net, s->network == RT_NET_DEFAULT);
	const char *names[] = {"hosts", "hostname", "resolv.conf"};
	const char *data[] = {hosts, hostname, resolv};
	for (size_t i = 0; i < 3; i++) {
		_cleanup_free_ char *p = kiln_path_join(l->files_dir, names[i]);
		if (rt_write_file_replace(p, data[i], strlen(data[i]), 0644, err) < 0)
			return -1;
	}
	return 0;
}

int rt_launch_caps(const struct rt_spec *s, uint64_t *caps, struct kiln_err *err)
{
	if (s->privileged) {
		*caps = rt_caps_all();
		return 0;
	}
	return rt_caps_adjust(rt_caps_default(), s->cap_add, rt_strv_len(s->cap_add), s->cap_drop,
	                      rt_strv_len(s->cap_drop), caps, err);
}

/* Compiled seccomp programs are kept in ROOT/seccomp/ (libseccomp costs
 * about 10 ms of CPU per start otherwise). files_dir is two levels under
 * the store root for every launch: ROOT/containers/<id>, ROOT/tmp/run-<id>. */
static void seccomp_cache_for(const char *files_dir)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static char *set; /* parallel build stages launch from several threads */
	_cleanup_free_ char *d = kiln_path_join(files_dir, "../../seccomp");
	pthread_mutex_lock(&mu);
	if (!set || strcmp(set, d)) {
		free(set);
		set = TAKE_PTR(d);
		rt_seccomp_set_cache_dir(set);
	}
	pthread_mutex_unlock(&mu);
}

int rt_launch_seccomp(const struct rt_spec *s, uint64_t caps, struct rt_seccomp **sc,
                      struct kiln_err *err)
{
	*sc = NULL;
	if (s->privileged || s->seccomp_unconfined)
		return 0;
	const char *p = s->seccomp_profile;
	if (rt_seccomp_compile(p, p ? strlen(p) : 0, caps, sc, err) < 0)
		return kiln_err_wrap(err, "seccomp profile");
	return 0;
}

static int prepare_cgroup(struct rt_launch *l, struct kiln_err *err)
{
	const struct rt_limits *x = &l->spec->limits;
	struct rt_resources r = {.memory = x->memory,
	                         .memory_swap = x->memory_swap,
	                         .cpu_quota = x->cpu_quota,
	                         .cpu_period = x->cpu_period,
	                         .cpu_shares = x->cpu_shares,
	                         .pids_limit = x->pids_limit};
	return rt_cgroup_create(l->id, &r, &l->cg, err);
}

/* The init is created fork-safely: kiln may have other threads (the
 * builder's stage workers, pulls, hashing), and a raw clone of a
 * multithreaded process copies glibc as it was, with locks other threads
 * held at that instant (a malloc arena, stdio, the set*id broadcast's
 * thread list) held forever in the child, which then hangs in malloc long
 * before its execve. So glibc's fork() makes an intermediate (glibc takes
 * its malloc locks around fork, resets the stdio ones and forgets the other
 * threads: a sane single-threaded process), and the intermediate clones the
 * init into its namespaces with CLONE_PARENT: the init is still kiln's
 * child (waitpid, SIGCHLD, PR_SET_PDEATHSIG unchanged). clone3 wants
 * exit_signal 0 with CLONE_PARENT and gives the init the intermediate's
 * own, SIGCHLD. A prepared network namespace (net_prep.c) is joined by
 * the intermediate first, so the init starts in it. The intermediate sends
 * the init's pid (or -errno) over a pipe and exits. Returns 0 in the init, its pid in kiln, -1 with
 * errno set. */
static pid_t clone_in_child(uint64_t flags, int netns_fd, int pid_fd)
{
	if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) < 0) {
		int msg = -errno;
		_exit(write(pid_fd, &msg, sizeof(msg)) == (ssize_t)sizeof(msg) ? 0 : 1);
	}
	struct clone_args args;
	memset(&args, 0, sizeof(args));
	args.flags = flags | CLONE_PARENT;
	args.exit_signal = 0;
	pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0)
		return 0;
	int msg = pid > 0 ? (int)pid : -errno;
	ssize_t w = write(pid_fd, &msg, sizeof(msg));
	_exit(w == (ssize_t)sizeof(msg) ? 0 : 1);
}

static pid_t clone_init(const struct rt_spec *s)
{
	uint64_t flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
	/* a prepared default network is joined (setns), not made */
	int netns_fd = s->network == RT_NET_DEFAULT && s->netns ? rt_netns_fd(s->netns) : -1;
	if (s->network != RT_NET_HOST && netns_fd < 0)
		flags |= CLONE_NEWNET;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t mid = fork();
	if (mid == 0) {
		close(p[0]);
		if (clone_in_child(flags, netns_fd, p[1]) == 0) {
			close(p[1]); /* the init */
			return 0;
		}
	}
	int saved = errno;
	close(p[1]);
	int msg = -EAGAIN;
	if (mid > 0) {
		ssize_t r;
		while ((r = read(p[0], &msg, sizeof(msg))) < 0 && errno == EINTR)
			;
		if (r != (ssize_t)sizeof(msg)) /* the intermediate died first */
			msg = -EPIPE;
		while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
			;
	} else {
		msg = -saved;
	}
	close(p[0]);
	if (msg < 0) {
		errno = -msg;
		return -1;
	}
	return (pid_t)msg;
}

/* Reads the child's verdict: 0 when it exec'd (EOF), else its error. */
int rt_read_verdict(int fd, struct kiln_err *err)
{
	struct rt_child_error m;
	size_t got = 0;
	while (got < sizeof(m)) {
		ssize_t r = read(fd, (char *)&m + got, sizeof(m) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got == 0)
		return 0;
	if (got < sizeof(m))
		return kiln_err_set(err, 0, "container init failed before reporting why");
	m.msg[sizeof(m.msg) - 1] = 0;
	/* the child formatted the errno text already */
	return kiln_err_set(err, m.code > 0 && m.code < KILN_E_BASE ? 0 : m.code, "%s", m.msg);
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* GCC 12's AddressSanitizer has no fork interceptor: its allocator's locks
 * are not taken around fork(), so a child that mallocs before its execve
 * (the init's setup, the builder's output reader) hangs for good when
 * another thread held one at that instant (seen: two parallel stages
 * starting their RUNs together). In such builds these forks, and the whole
 * start of a container, are serialised, so no other launch or output
 * reader is mid-malloc when one forks. glibc's fork() takes its own malloc
 * locks: other builds need none of this. */
#if defined(__SANITIZE_ADDRESS__)
static pthread_mutex_t fork_mu = PTHREAD_MUTEX_INITIALIZER;
void rt_fork_lock(void)
{
	pthread_mutex_lock(&fork_mu);
}
void rt_fork_unlock(void)
{
	pthread_mutex_unlock(&fork_mu);
}
#else
void rt_fork_lock(void)
{
}
void rt_fork_unlock(void)
{
}
#endif

static int launch_start(struct rt_launch *l, struct kiln_err *err);

int rt_launch_start(struct rt_launch *l, struct kiln_err *err)
{
	rt_fork_lock();
	int r = launch_start(l, err);
	rt_fork_unlock();
	return r;
}

static int launch_start(struct rt_launch *l, struct kiln_err *err)
{
	uint64_t caps = 0;
	l->pid = 0;
	l->net_pid = 0;
	l->net_exit_fd = -1;
	l->net_ready_fd = -1;
	if (l->files_dir)
		seccomp_cache_for(l->files_dir);
	/* a prepared network (net_prep.c) is joined at the clone: up first
	 * (only that: a helper of this launch is started after the clone) */
	if (write_files(l, err) < 0 || rt_launch_caps(l->spec, &caps, err) < 0 ||
	    rt_launch_seccomp(l->spec, caps, &l->sc, err) < 0 || rt_net_ready(l, err) < 0)
		goto fail;
	int sync[2], errp[2];
	if (pipe2(sync, O_CLOEXEC) < 0) {
		kiln_err_set(err, errno, "pipe");
		goto fail;
	}
	if (pipe2(errp, O_CLOEXEC) < 0) {
		kiln_err_set(err, errno, "pipe");
		close(sync[0]), close(sync[1]);
		goto fail;
	}
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	fflush(NULL);
	pid_t pid = clone_init(l->spec);
	if (pid == 0) {
		close(sync[1]);
		close(errp[0]);
		struct rt_child c = {.l = l,
		                     .caps = caps,
		                     .sync_fd = sync[0],
		                     .error_fd = errp[1],
		                     .devnull_fd = devnull};
		rt_child_main(&c);
	}
	int saved = errno;
	close(sync[0]);
	close(errp[1]);
	if (devnull >= 0)
		close(devnull);
	if (pid < 0) {
		kiln_err_set(err, saved, "creating the container's namespaces");
		close(sync[1]), close(errp[0]);
		goto fail;
	}
	l->pid = pid;
	/* the init builds its rootfs and slirp4netns starts up while the
	 * cgroup is made and the init moved into it: the first move of a
	 * process into a cgroup waits for an RCU grace period (and so does a
	 * mkdir while another process's move waits: see cgroup_warm.c) */
	int r = rt_net_start(l, err);
	if (r == 0)
		r = prepare_cgroup(l, err);
	if (r == 0 && l->cg)
		r = rt_cgroup_add_pid(l->cg, pid, err);
	rt_launch_warm_end(); /* the warming child is done */
	if (r == 0)
		r = rt_net_ready(l, err);
	if (r == 0 && write(sync[1], "g", 1) != 1)
		r = kiln_err_set(err, errno, "starting the container's init");
	close(sync[1]);
	if (r == 0)
		r = rt_read_verdict(errp[0], err);
	close(errp[0]);
	if (r < 0) {
		reap(pid);
		l->pid = 0;
		goto fail;
	}
	l->pid_start = rt_pid_start_time(pid);
	return 0;
fail:
	rt_launch_release(l);
	return -1;
}

static volatile pid_t forward_pid;
static void forward_signal(int sig)
{
	if (forward_pid > 0)
		kill(forward_pid, sig);
}

static const int proxied[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT,  SIGUSR1,
                              SIGUSR2, SIGALRM, SIGPIPE, SIGWINCH, SIGCONT};

int rt_launch_wait(struct rt_launch *l, bool sig_proxy, int *status, struct kiln_err *err)
{
	struct sigaction old[KILN_ARRAY_SIZE(proxied)];
	if (sig_proxy) {
		forward_pid = l->pid;
		struct sigaction sa = {.sa_handler = forward_signal};
		sigemptyset(&sa.sa_mask);
		for (size_t i = 0; i < KILN_ARRAY_SIZE(proxied); i++)
			sigaction(proxied[i], &sa, &old[i]);
	}
	int st = 0;
	pid_t r;
	while ((r = waitpid(l->pid, &st, 0)) < 0 && errno == EINTR)
		;
	int saved = errno;
	if (sig_proxy) {
		for (size_t i = 0; i < KILN_ARRAY_SIZE(proxied); i++)
			sigaction(proxied[i], &old[i], NULL);
		forward_pid = 0;
	}
	if (r < 0)
		return kiln_err_set(err, saved, "waiting for the container");
	l->pid = 0;
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 0;
}

/* Several one-shot runs may wait at once (parallel build stages): each
 * holds a slot with its init's pid; the handlers are installed by the
 * first begin and restored by the last end. A signal stops them all. */
#define ONESHOT_SLOTS 64
static const int oneshot_sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
static volatile pid_t oneshot_pids[ONESHOT_SLOTS];
static volatile sig_atomic_t oneshot_got;
static volatile sig_atomic_t oneshot_cancel; /* rt_run_cancel */
static pthread_mutex_t oneshot_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned oneshot_users;
static struct sigaction oneshot_old[KILN_ARRAY_SIZE(oneshot_sigs)];

static void oneshot_signal(int sig)
{
	oneshot_got = sig;
	for (size_t i = 0; i < ONESHOT_SLOTS; i++)
		if (oneshot_pids[i] > 0)
			kill(oneshot_pids[i], SIGKILL);
}

void rt_oneshot_begin(struct rt_oneshot_signals *s)
{
	s->slot = -1;
	pthread_mutex_lock(&oneshot_mu);
	if (oneshot_users++ == 0) {
		oneshot_got = 0;
		struct sigaction sa = {.sa_handler = oneshot_signal};
		sigemptyset(&sa.sa_mask);
		for (size_t i = 0; i < KILN_ARRAY_SIZE(oneshot_sigs); i++)
			sigaction(oneshot_sigs[i], &sa, &oneshot_old[i]);
	}
	pthread_mutex_unlock(&oneshot_mu);
}

void rt_oneshot_pid(struct rt_oneshot_signals *s, pid_t pid)
{
	pthread_mutex_lock(&oneshot_mu);
	for (int i = 0; i < ONESHOT_SLOTS && s->slot < 0; i++)
		if (oneshot_pids[i] == 0) {
			oneshot_pids[i] = pid;
			s->slot = i;
		}
	pthread_mutex_unlock(&oneshot_mu);
	if ((oneshot_got || oneshot_cancel) && pid > 0)
		kill(pid, SIGKILL);
}

void rt_run_cancel(bool on)
{
	pthread_mutex_lock(&oneshot_mu);
	oneshot_cancel = on;
	for (size_t i = 0; on && i < ONESHOT_SLOTS; i++)
		if (oneshot_pids[i] > 0)
			kill(oneshot_pids[i], SIGKILL);
	pthread_mutex_unlock(&oneshot_mu);
}

bool rt_run_canceled(void)
{
	return oneshot_cancel;
}

int rt_oneshot_end(struct rt_oneshot_signals *s)
{
	pthread_mutex_lock(&oneshot_mu);
	if (s->slot >= 0)
		oneshot_pids[s->slot] = 0;
	int got = oneshot_got;
	if (--oneshot_users == 0)
		for (size_t i = 0; i < KILN_ARRAY_SIZE(oneshot_sigs); i++)
			sigaction(oneshot_sigs[i], &oneshot_old[i], NULL);
	pthread_mutex_unlock(&oneshot_mu);
	return got;
}

void rt_launch_release(struct rt_launch *l)
{
	rt_net_release(l);
	if (l->cg) {
		struct kiln_err e = KILN_ERR_INIT;
		if (rt_cgroup_destroy(l->cg, &e) < 0) {
			kiln_warn("removing the cgroup of `%s`: %s", l->id, e.msg);
			kiln_err_release(&e);
		}
		rt_cgroup_free(l->cg);
		l->cg = NULL;
	}
	rt_seccomp_free(l->sc);
	l->sc = NULL;
}
