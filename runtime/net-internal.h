/* runtime/net-internal.h: the container network's pieces (private to
 * runtime/): docker's -p syntax (net_ports.c) and the user-mode helper that
 * connects a private network namespace to the host's (net.c: slirp4netns,
 * net_pasta.c: pasta from passt). */
#ifndef KILN_NET_INTERNAL_H
#define KILN_NET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime-internal.h"

/* --- -p/--publish (net_ports.c) ---------------------------------------------- */
/* One port of a -p entry as docker's nat.ParsePortSpec reads it. A
 * container port range gives one entry per port; a host port range with a
 * single container port ("8080-8085:80") is kept as a range to pick a free
 * port from; no host port (or 0) means any free port. */
struct rt_port_spec {
	char *host_ip; /* "0.0.0.0" when not given; IPv6 without brackets */
	int host_lo, host_hi;
	int ctr_port;
	bool udp;
};
/* Appends the ports of s ("[IP:][HOSTPORT[-END]:]CTRPORT[-END][/tcp|udp]",
 * IPv6 addresses in brackets) to *v. Errors carry docker's messages
 * ("invalid containerPort: abc", "invalid proto: xyz", ...). */
int rt_port_spec_parse(const char *s, struct rt_port_spec **v, size_t *n, struct kiln_err *err);
void rt_port_specs_free(struct rt_port_spec *v, size_t n);
/* Chooses the host port of p (fixed, the first free one of its range, or
 * one the kernel picks) into out (host_ip allocated). A fixed port is not
 * probed: the helper's bind reports it. */
int rt_port_spec_resolve(const struct rt_port_spec *p, struct rt_port *out, struct kiln_err *err);
/* Adds -p s to spec->ports (KILN_E_INVALID / docker's messages). */
int rt_publish_add(struct rt_spec *spec, const char *s, struct kiln_err *err);
/* -P: adds an image ExposedPorts entry ("80/tcp") unless -p published it. */
int rt_publish_exposed(struct rt_spec *spec, const char *exposed, struct kiln_err *err);
/* True when p's host port cannot be bound now. */
bool rt_port_busy(const struct rt_port *p);
/* docker's message for a host port that cannot be bound. */
int rt_port_taken_err(struct kiln_err *err, const char *id, const struct rt_port *p);

/* --- the user-mode network helper ------------------------------------------------ */
/* The slirp4netns options every container network of kiln's starts with
 * (a run's, net.c, and a build RUN's made ahead, net_prep.c), so both see
 * the same network: eth0 configured (10.0.2.100/24), the host's loopback
 * not reachable through the gateway, readiness written to fd 3, exit when
 * fd 4 reaches end of file. Each caller appends how slirp4netns finds the
 * namespace and the interface name. */
#define RT_SLIRP_COMMON_ARGS                                                                       \
	"--configure", "--mtu=65520", "--disable-host-loopback", "--ready-fd=3", "--exit-fd=4"

enum rt_net_helper {
	RT_NET_HELPER_NONE,
	RT_NET_HELPER_PASTA,       /* pasta (passt) */
	RT_NET_HELPER_SLIRP4NETNS, /* slirp4netns */
};
/* Which helper the default network uses: $KILN_NET_HELPER ("pasta",
 * "slirp4netns") when set, else slirp4netns when installed, else pasta
 * (see net_pasta.c for why not pasta first); *path receives the binary
 * (allocated). NONE when the one wanted is not there. */
enum rt_net_helper rt_net_helper_pick(char **path);
const char *rt_net_helper_name(enum rt_net_helper h);

/* net_pasta.c: starts pasta for l->pid's network namespace: eth0 with
 * 10.0.2.100/24, gateway 10.0.2.2, DNS forwarded from 10.0.2.3 (the
 * addresses slirp4netns uses, so the container sees the same network
 * whichever helper runs), no automatic port forwarding either way, the
 * gateway not mapped to the host's loopback, l->spec->ports published.
 * Returns once pasta is ready (its pid in l->net_pid, a child of this
 * process that dies with it: PR_SET_PDEATHSIG), or with why it failed
 * (docker's message for a taken port), leaving no pasta behind. */
int rt_net_pasta_start(struct rt_launch *l, const char *bin, struct kiln_err *err);

/* The helper's pid file (ROOT/containers/<id>/net.pid: "PID STARTTIME"),
 * so that a later kiln can stop a helper whose launcher vanished without
 * taking it along. Written by the launcher, removed by rt_net_release. */
void rt_net_pid_write(const struct rt_launch *l);
void rt_net_pid_remove(const char *files_dir);
/* Stops (SIGKILL) the helper recorded in files_dir, if it still runs. */
void rt_net_reap_recorded(const char *files_dir);
/* Waits (up to 2 s, then SIGKILL) for the helper pid to exit and reaps it;
 * kill_first: SIGKILL it first (pasta has no exit pipe). */
void rt_net_wait_exit(pid_t pid, bool kill_first);
/* Waits (up to 20 s) for slirp4netns's ready byte on *ready_fd, then
 * closes it (-1); false when it never came. */
bool rt_net_await_ready(int *ready_fd);

#endif
