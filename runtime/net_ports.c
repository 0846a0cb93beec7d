/* docker's -p/--publish and -P syntax (go-connections' nat.ParsePortSpec,
 * with its messages), and the choice of a host port for a published
 * container port. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net-internal.h"

/* "80" or "8000-8010" (decimal, 0..65535, end >= start). */
static int parse_range(const char *s, int *lo, int *hi)
{
	const char *dash = strchr(s, '-');
	size_t len[2] = {dash ? (size_t)(dash - s) : strlen(s), dash ? strlen(dash + 1) : 0};
	const char *part[2] = {s, dash ? dash + 1 : NULL};
	int v[2] = {0, 0};
	for (int k = 0; k < (dash ? 2 : 1); k++) {
		if (len[k] == 0 || len[k] > 5)
			return -1;
		for (size_t i = 0; i < len[k]; i++) {
			if (!isdigit((unsigned char)part[k][i]))
				return -1;
			v[k] = v[k] * 10 + (part[k][i] - '0');
		}
		if (v[k] > 65535)
			return -1;
	}
	*lo = v[0];
	*hi = dash ? v[1] : v[0];
	return *hi < *lo ? -1 : 0;
}

int rt_parse_expose(const char *s, struct kiln_strv *out, struct kiln_err *err)
{
	if (strchr(s, ':'))
		return kiln_err_set(err, KILN_E_INVALID, "invalid port format for --expose: %s", s);
	const char *slash = strchr(s, '/'); /* nat.SplitProtoPort: any protocol */
	_cleanup_free_ char *port = slash ? xstrndup(s, (size_t)(slash - s)) : xstrdup(s);
	const char *proto = slash && slash[1] ? slash + 1 : "tcp";
	int lo, hi;
	if (parse_range(port, &lo, &hi) < 0)
		return kiln_err_set(err, KILN_E_INVALID, "invalid range format for --expose: %s",
		                    s);
	for (int p = lo; p <= hi; p++)
		kiln_strv_pushf(out, "%d/%s", p, proto);
	return 0;
}

static bool valid_ip(const char *ip)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, ip, buf) == 1 || inet_pton(AF_INET6, ip, buf) == 1;
}

/* IP "[::1]" -> "::1"; NULL (err set) when it is no address. */
static char *host_ip(const char *ip, struct kiln_err *err)
{
	if (!*ip)
		return xstrdup("0.0.0.0");
	size_t n = strlen(ip);
	char *out =
	    ip[0] == '[' && n > 2 && ip[n - 1] == ']' ? xstrndup(ip + 1, n - 2) : xstrdup(ip);
	if (valid_ip(out))
		return out;
	free(out);
	kiln_err_set(err, KILN_E_INVALID, "invalid IP address: %s", ip);
	return NULL;
}

/* Splits "[IP:][HOST:]CTR" at its last two colons (an IPv6 address keeps
 * the others), as nat.ParsePortSpec's splitParts. */
static void split_parts(char *s, const char **ip, const char **host, char **ctr)
{
	char *last = strrchr(s, ':');
	*ip = "";
	*host = "";
	*ctr = s;
	if (!last)
		return;
	*last = 0;
	*ctr = last + 1;
	char *prev = strrchr(s, ':');
	if (!prev) {
		*host = s;
		return;
	}
	*prev = 0;
	*host = prev + 1;
	*ip = s;
}

static int parse_proto(char *ctr, bool *udp, struct kiln_err *err)
{
	char *slash = strchr(ctr, '/');
	*udp = false;
	if (!slash)
		return 0;
	*slash = 0;
	char *proto = slash + 1;
	for (char *p = proto; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!*proto || !strcmp(proto, "tcp"))
		return 0;
	if (!strcmp(proto, "udp")) {
		*udp = true;
		return 0;
	}
	if (!strcmp(proto, "sctp"))
		return kiln_err_set(err, KILN_E_UNSUPPORTED,
		                    "sctp ports cannot be published: the user-mode network "
		                    "forwards tcp and udp");
	return kiln_err_set(err, KILN_E_INVALID, "invalid proto: %s", proto);
}

int rt_port_spec_parse(const char *s, struct rt_port_spec **v, size_t *n, struct kiln_err *err)
{
	_cleanup_free_ char *copy = xstrdup(s);
	const char *ip, *host;
	char *ctr;
	split_parts(copy, &ip, &host, &ctr);
	bool udp;
	if (ctr[0] == '/' || !*ctr)
		return kiln_err_set(err, KILN_E_INVALID, "no port specified: %s<empty>", s);
	if (parse_proto(ctr, &udp, err) < 0)
		return -1;
	_cleanup_free_ char *addr = host_ip(ip, err);
	if (!addr)
		return -1;
	int clo, chi, hlo = 0, hhi = 0;
	if (parse_range(ctr, &clo, &chi) < 0 || clo == 0)
		return kiln_err_set(err, KILN_E_INVALID, "invalid containerPort: %s", ctr);
	if (*host && parse_range(host, &hlo, &hhi) < 0)
		return kiln_err_set(err, KILN_E_INVALID, "invalid hostPort: %s", host);
	/* a host range for one container port is a range to pick from */
	if (*host && chi - clo != hhi - hlo && chi != clo)
		return kiln_err_set(
		    err, KILN_E_INVALID,
		    "invalid ranges specified for container and host Ports: %s and %s", ctr, host);
	int count = chi - clo + 1;
	*v = xreallocarray(*v, *n + (size_t)count, sizeof(**v));
	for (int i = 0; i < count; i++) {
		struct rt_port_spec *p = &(*v)[(*n)++];
		p->host_ip = xstrdup(addr);
		p->ctr_port = clo + i;
		p->udp = udp;
		p->host_lo = hlo ? hlo + i : 0;
		p->host_hi = hlo && count == 1 ? hhi : p->host_lo;
	}
	return 0;
}

void rt_port_specs_free(struct rt_port_spec *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].host_ip);
	free(v);
}

int rt_publish_check(const char *s, struct kiln_err *err)
{
	struct rt_port_spec *v = NULL;
	size_t n = 0;
	int r = rt_port_spec_parse(s, &v, &n, err);
	rt_port_specs_free(v, n);
	return r;
}

/* Binds ip:port (0: the kernel's pick) and lets it go; the port, or 0. */
static int probe_port(const char *ip, int port, bool udp)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		len = sizeof(*a4);
	} else if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		len = sizeof(*a6);
	} else {
		return 0;
	}
	int fd = socket(ss.ss_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int one = 1; /* as a server binds: connections in TIME_WAIT do not count */
	if (!udp)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	int got = 0;
	if (bind(fd, (struct sockaddr *)&ss, len) == 0 &&
	    getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		got = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
	close(fd);
	return got;
}

bool rt_port_busy(const struct rt_port *p)
{
	return probe_port(p->host_ip, p->host_port, p->udp) == 0;
}

int rt_port_taken_err(struct kiln_err *err, const char *id, const struct rt_port *p)
{
	return kiln_err_set(err, KILN_E_CONFLICT,
	                    "driver failed programming external connectivity on endpoint %.12s: "
	                    "Bind for %s:%d failed: port is already allocated",
	                    id ? id : "", p->host_ip, p->host_port);
}

int rt_port_spec_resolve(const struct rt_port_spec *p, struct rt_port *out, struct kiln_err *err)
{
	memset(out, 0, sizeof(*out));
	out->udp = p->udp;
	out->ctr_port = p->ctr_port;
	if (p->host_lo && p->host_lo == p->host_hi) {
		out->host_port = p->host_lo;
	} else if (!p->host_lo) {
		out->host_port = probe_port(p->host_ip, 0, p->udp);
		if (!out->host_port)
			return kiln_err_set(err, KILN_E_CONFLICT, "no free %s port on %s",
			                    p->udp ? "udp" : "tcp", p->host_ip);
	} else {
		for (int port = p->host_lo; port <= p->host_hi && !out->host_port; port++)
			out->host_port = probe_port(p->host_ip, port, p->udp);
		if (!out->host_port)
			return kiln_err_set(err, KILN_E_CONFLICT,
			                    "Bind for %s:%d-%d failed: port is already allocated",
			                    p->host_ip, p->host_lo, p->host_hi);
	}
	out->host_ip = xstrdup(p->host_ip);
	return 0;
}

static bool published(const struct rt_spec *spec, int ctr_port, bool udp)
{
	for (size_t i = 0; i < spec->n_ports; i++)
		if (spec->ports[i].ctr_port == ctr_port && spec->ports[i].udp == udp)
			return true;
	return false;
}

static int add_specs(struct rt_spec *spec, const char *s, bool skip_published, struct kiln_err *err)
{
	struct rt_port_spec *v = NULL;
	size_t n = 0;
	int r = rt_port_spec_parse(s, &v, &n, err);
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (skip_published && published(spec, v[i].ctr_port, v[i].udp))
			continue;
		if (strchr(v[i].host_ip, ':')) {
			r = kiln_err_set(err, KILN_E_UNSUPPORTED,
			                 "publishing on `%s`: the user-mode network publishes on "
			                 "IPv4 addresses only",
			                 v[i].host_ip);
			break;
		}
		struct rt_port p;
		r = rt_port_spec_resolve(&v[i], &p, err);
		if (r == 0) {
			spec->ports =
			    xreallocarray(spec->ports, spec->n_ports + 1, sizeof(*spec->ports));
			spec->ports[spec->n_ports++] = p;
		}
	}
	rt_port_specs_free(v, n);
	return r;
}

int rt_publish_add(struct rt_spec *spec, const char *s, struct kiln_err *err)
{
	return add_specs(spec, s, false, err);
}

int rt_publish_exposed(struct rt_spec *spec, const char *exposed, struct kiln_err *err)
{
	return add_specs(spec, exposed, true, err);
}
