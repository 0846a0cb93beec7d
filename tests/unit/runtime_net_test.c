/* The default network's helpers (pasta, slirp4netns) against network
 * namespaces this test makes (a child that unshares its network namespace):
 * eth0 and the default route inside, a TCP server inside reached from the
 * host through the published 127.0.0.1 port, a taken host port refused with
 * docker's message and nothing left, release and the launcher's death
 * stopping the helper, and the namespace gone at the end. As root only. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net-internal.h"
#include "tap.h"

#define CTR_PORT 8080

struct ns_child {
	pid_t pid;
	int go;     /* parent -> child */
	int report; /* child -> parent: lines */
	ino_t ino;  /* its network namespace */
};

/* eth0's IPv4 address and the default gateway, as the child sees them. */
static void describe(char *out, size_t len)
{
	char addr[INET_ADDRSTRLEN] = "none", gw[INET_ADDRSTRLEN] = "none";
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "eth0");
	if (s >= 0 && ioctl(s, SIOCGIFADDR, &ifr) == 0)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr, addr,
		          sizeof(addr));
	if (s >= 0)
		close(s);
	FILE *f = fopen("/proc/net/route", "re");
	char line[256], ifname[32];
	unsigned dst, gate;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%31s %x %x", ifname, &dst, &gate) == 3 && dst == 0) {
			struct in_addr a = {.s_addr = gate};
			inet_ntop(AF_INET, &a, gw, sizeof(gw));
		}
	if (f)
		fclose(f);
	snprintf(out, len, "eth0=%s gw=%s\n", addr, gw);
}

__attribute__((noreturn)) static void child_main(int go, int report)
{
	char c;
	if (unshare(CLONE_NEWNET) < 0 || write(report, "u", 1) != 1 || read(go, &c, 1) != 1)
		_exit(1);
	char line[128];
	describe(line, sizeof(line));
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(CTR_PORT)};
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 4) < 0)
		_exit(2);
	if (write(report, line, strlen(line)) < 0)
		_exit(3);
	for (;;) {
		int c2 = accept(l, NULL, NULL);
		if (c2 >= 0) {
			if (write(c2, "hello-netns", 11) < 0)
				_exit(4);
			close(c2);
		}
	}
}

static int ns_start(struct ns_child *ch)
{
	int go[2], rep[2];
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0)
		return -1;
	ch->pid = fork();
	if (ch->pid == 0) {
		close(go[1]);
		close(rep[0]);
		child_main(go[0], rep[1]);
	}
	close(go[0]);
	close(rep[1]);
	ch->go = go[1];
	ch->report = rep[0];
	char c = 0;
	if (ch->pid < 0 || read(ch->report, &c, 1) != 1 || c != 'u')
		return -1;
	char p[64];
	struct stat st;
	snprintf(p, sizeof(p), "/proc/%d/ns/net", (int)ch->pid);
	ch->ino = stat(p, &st) == 0 ? st.st_ino : 0;
	return 0;
}

static void ns_stop(struct ns_child *ch)
{
	if (ch->pid > 0) {
		kill(ch->pid, SIGKILL);
		waitpid(ch->pid, NULL, 0);
		ch->pid = 0;
	}
	if (ch->go >= 0)
		close(ch->go);
	if (ch->report >= 0)
		close(ch->report);
	ch->go = ch->report = -1;
}

/* Does any process still use (or hold an fd of) network namespace ino? */
static bool netns_alive(ino_t ino)
{
	char want[64];
	snprintf(want, sizeof(want), "net:[%lu]", (unsigned long)ino);
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool found = false;
	while (d && !found && (e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char p[300], link[64];
		snprintf(p, sizeof(p), "/proc/%s/ns/net", e->d_name);
		ssize_t n = readlink(p, link, sizeof(link) - 1);
		if (n > 0 && (link[n] = 0, !strcmp(link, want)))
			found = true;
		snprintf(p, sizeof(p), "/proc/%s/fd", e->d_name);
		DIR *fd = found ? NULL : opendir(p);
		struct dirent *f;
		while (fd && !found && (f = readdir(fd))) {
			char q[600];
			snprintf(q, sizeof(q), "%s/%s", p, f->d_name);
			n = readlink(q, link, sizeof(link) - 1);
			if (n > 0 && (link[n] = 0, !strcmp(link, want)))
				found = true;
		}
		if (fd)
			closedir(fd);
	}
	if (d)
		closedir(d);
	return found;
}

static bool gone(pid_t pid)
{
	for (int i = 0; i < 200; i++) {
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return true;
		waitpid(pid, NULL, WNOHANG);
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	return false;
}

static int free_port(void)
{
	struct rt_port p = {.host_ip = "127.0.0.1"};
	struct rt_port_spec any = {.host_ip = "127.0.0.1", .ctr_port = CTR_PORT};
	if (rt_port_spec_resolve(&any, &p, NULL) < 0)
		return 0;
	free(p.host_ip);
	return p.host_port;
}

static char *fetch(int port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char buf[64] = "";
	size_t got = 0;
	if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0) {
		ssize_t n;
		while (got < sizeof(buf) - 1 && (n = read(s, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += (size_t)n;
	}
	if (s >= 0)
		close(s);
	buf[got] = 0;
	return xstrdup(buf);
}

static void read_line(int fd, char *buf, size_t len)
{
	size_t got = 0;
	char c;
	while (got < len - 1 && read(fd, &c, 1) == 1 && c != '\n')
		buf[got++] = c;
	buf[got] = 0;
}

static void test_helper(const char *name, const char *tmp)
{
	setenv("KILN_NET_HELPER", name, 1);
	_cleanup_free_ char *bin = NULL;
	enum rt_net_helper h = rt_net_helper_pick(&bin);
	if (h == RT_NET_HELPER_NONE) {
		T_OK(1, "# SKIP %s is not installed", name);
		return;
	}
	T_STREQ(rt_net_helper_name(h), name, "KILN_NET_HELPER picks %s", name);
	_cleanup_free_ char *dir = xasprintf("%s/net-%s-XXXXXX", tmp, name);
	_cleanup_free_ char *dir2 = NULL;
	if (!mkdtemp(dir)) {
		T_OK(0, "mkdtemp");
		return;
	}
	dir2 = xasprintf("%s/2", dir);
	mkdir(dir2, 0700);
	struct ns_child a = {.go = -1, .report = -1}, b = {.go = -1, .report = -1};
	T_OK(ns_start(&a) == 0 && a.ino, "%s: a process in a new network namespace", name);

	int port = free_port();
	struct rt_port ports[] = {
	    {.host_ip = "127.0.0.1", .host_port = port, .ctr_port = CTR_PORT}};
	struct rt_spec spec;
	memset(&spec, 0, sizeof(spec));
	spec.network = RT_NET_DEFAULT;
	spec.ports = ports;
	spec.n_ports = 1;
	struct rt_launch l = {
	    .spec = &spec, .id = "0123456789abcdef", .files_dir = dir, .pid = a.pid};
	struct kiln_err err = KILN_ERR_INIT;
	int r = rt_net_setup(&l, &err);
	T_OK(r == 0 && l.net_pid > 0, "%s: started for the namespace", name);
	if (r < 0)
		tap_diag("%s", err.msg);
	kiln_err_release(&err);
	pid_t helper = l.net_pid;
	_cleanup_free_ char *pidfile = xasprintf("%s/net.pid", dir);
	T_OK(access(pidfile, F_OK) == 0, "%s: its pid recorded", name);

	char line[128];
	T_OK(write(a.go, "g", 1) == 1, "the namespace's server starts");
	read_line(a.report, line, sizeof(line));
	T_STREQ(line, "eth0=10.0.2.100 gw=10.0.2.2", "%s: eth0 and the default route inside", name);
	_cleanup_free_ char *got = fetch(port);
	T_STREQ(got, "hello-netns", "%s: the server inside answers at 127.0.0.1:%d", name, port);

	/* the same host port for another namespace: refused, nothing left */
	T_OK(ns_start(&b) == 0, "a second network namespace");
	struct rt_launch l2 = {
	    .spec = &spec, .id = "fedcba9876543210", .files_dir = dir2, .pid = b.pid};
	r = rt_net_setup(&l2, &err);
	T_OK(r < 0 && l2.net_pid == 0 && err.code == KILN_E_CONFLICT, "%s: a taken host port fails",
	     name);
	_cleanup_free_ char *want =
	    xasprintf("Bind for 127.0.0.1:%d failed: port is already allocated", port);
	T_OK(err.msg && strstr(err.msg, want), "%s: docker's message names it (%s)", name,
	     err.msg ? err.msg : "");
	kiln_err_release(&err);
	T_OK(waitpid(-1, NULL, WNOHANG) == 0, "%s: no helper left behind by the failure", name);
	ns_stop(&b);
	T_OK(!netns_alive(b.ino), "%s: its namespace is gone", name);

	/* release stops the helper; the namespace goes with its last process */
	rt_net_release(&l);
	T_OK(gone(helper), "%s: release stops the helper", name);
	T_OK(access(pidfile, F_OK) < 0, "%s: and removes its record", name);
	got = (free(got), fetch(port));
	T_STREQ(got, "", "%s: the port is no longer served", name);
	ns_stop(&a);
	T_OK(!netns_alive(a.ino), "%s: no network namespace left", name);

	/* the launcher killed (a monitor's kill -9): the helper dies with it */
	struct ns_child c = {.go = -1, .report = -1};
	T_OK(ns_start(&c) == 0, "a third network namespace");
	int hp[2];
	T_OK(pipe2(hp, O_CLOEXEC) == 0, "pipe");
	pid_t launcher = fork();
	if (launcher == 0) {
		struct rt_launch l3 = {
		    .spec = &spec, .id = "0123456789abcdef", .files_dir = dir, .pid = c.pid};
		spec.n_ports = 0;
		if (rt_net_setup(&l3, NULL) < 0 ||
		    write(hp[1], &l3.net_pid, sizeof(l3.net_pid)) != sizeof(l3.net_pid))
			_exit(1);
		pause();
		_exit(0);
	}
	close(hp[1]);
	pid_t h3 = 0;
	T_OK(read(hp[0], &h3, sizeof(h3)) == sizeof(h3) && h3 > 0,
	     "%s: started by a launcher process", name);
	close(hp[0]);
	kill(launcher, SIGKILL);
	waitpid(launcher, NULL, 0);
	T_OK(h3 > 0 && gone(h3), "%s: the launcher's kill -9 takes the helper along", name);
	ns_stop(&c);
	T_OK(!netns_alive(c.ino), "%s: and the namespace goes with its process", name);
	rt_net_reap_recorded(dir);
	kiln_rm_rf(dir, NULL);
}

int main(void)
{
	if (geteuid() != 0)
		tap_skip_all("network namespaces need root");
	const char *tmp = getenv("KILN_TEST_TMP");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	kiln_mkdir_p(tmp, 0755, NULL);
	signal(SIGPIPE, SIG_IGN);
	test_helper("pasta", tmp);
	test_helper("slirp4netns", tmp);
	return tap_done();
}
