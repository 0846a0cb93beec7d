/* docker's -p syntax (go-connections nat.ParsePortSpec, messages as the
 * docker CLI prints them) and the choice of host ports. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net-internal.h"
#include "tap.h"

struct good {
	const char *spec;
	size_t n; /* ports it expands to */
	const char *ip;
	int host_lo, host_hi, ctr; /* of the first */
	bool udp;
};

static void test_good(void)
{
	static const struct good cases[] = {
	    {"80", 1, "0.0.0.0", 0, 0, 80, false},
	    {"8080:80", 1, "0.0.0.0", 8080, 8080, 80, false},
	    {"127.0.0.1:8080:80", 1, "127.0.0.1", 8080, 8080, 80, false},
	    {"127.0.0.1::80", 1, "127.0.0.1", 0, 0, 80, false},
	    {":80", 1, "0.0.0.0", 0, 0, 80, false},
	    {"0:80", 1, "0.0.0.0", 0, 0, 80, false},
	    {"53:53/udp", 1, "0.0.0.0", 53, 53, 53, true},
	    {"53:53/UDP", 1, "0.0.0.0", 53, 53, 53, true},
	    {"80/tcp", 1, "0.0.0.0", 0, 0, 80, false},
	    {"80/", 1, "0.0.0.0", 0, 0, 80, false},
	    {"8000-8002:80-82", 3, "0.0.0.0", 8000, 8000, 80, false},
	    {"80-82", 3, "0.0.0.0", 0, 0, 80, false},
	    {"8080-8085:80", 1, "0.0.0.0", 8080, 8085, 80, false},
	    {"[::1]:8080:80", 1, "::1", 8080, 8080, 80, false},
	    {"::1:8080:80", 1, "::1", 8080, 8080, 80, false},
	    {"127.0.0.1:5000-5001:6000-6001/udp", 2, "127.0.0.1", 5000, 5000, 6000, true},
	};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		const struct good *c = &cases[i];
		struct rt_port_spec *v = NULL;
		size_t n = 0;
		struct kiln_err err = KILN_ERR_INIT;
		int r = rt_port_spec_parse(c->spec, &v, &n, &err);
		T_OK(r == 0 && n == c->n && !strcmp(v[0].host_ip, c->ip) &&
		         v[0].host_lo == c->host_lo && v[0].host_hi == c->host_hi &&
		         v[0].ctr_port == c->ctr && v[0].udp == c->udp,
		     "-p %s", c->spec);
		if (r < 0)
			tap_diag("%s", err.msg);
		kiln_err_release(&err);
		rt_port_specs_free(v, n);
	}
	/* a range maps port to port */
	struct rt_port_spec *v = NULL;
	size_t n = 0;
	T_OK(rt_port_spec_parse("8000-8002:80-82", &v, &n, NULL) == 0 && n == 3 &&
	         v[2].host_lo == 8002 && v[2].host_hi == 8002 && v[2].ctr_port == 82,
	     "a range maps each host port to its container port");
	/* entries append */
	T_OK(rt_port_spec_parse("90", &v, &n, NULL) == 0 && n == 4 && v[3].ctr_port == 90,
	     "a second -p appends");
	rt_port_specs_free(v, n);
}

static void test_bad(void)
{
	static const char *const cases[][2] = {
	    {"abc", "invalid containerPort: abc"},
	    {"80/xyz", "invalid proto: xyz"},
	    {"1.2.3:80:80", "invalid IP address: 1.2.3"},
	    {"a:b:c:d", "invalid IP address: a:b"},
	    {"8080:", "no port specified: 8080:<empty>"},
	    {"/tcp", "no port specified: /tcp<empty>"},
	    {"65536", "invalid containerPort: 65536"},
	    {"0", "invalid containerPort: 0"},
	    {"80-79", "invalid containerPort: 80-79"},
	    {"-1", "invalid containerPort: -1"},
	    {"8080-8081:80-82", "invalid ranges specified for container and host Ports: 80-82 and "
	                        "8080-8081"},
	    {"x:80", "invalid hostPort: x"},
	    {"70000:80", "invalid hostPort: 70000"},
	    {"1.2.3.4:80", "invalid hostPort: 1.2.3.4"},
	    {"[::1:8080:80", "invalid IP address: [::1"},
	    {"", "no port specified: <empty>"},
	};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		struct rt_port_spec *v = NULL;
		size_t n = 0;
		struct kiln_err err = KILN_ERR_INIT;
		int r = rt_port_spec_parse(cases[i][0], &v, &n, &err);
		T_OK(r < 0 && n == 0 && err.code == KILN_E_INVALID, "-p '%s' is refused",
		     cases[i][0]);
		T_STREQ(err.msg, cases[i][1], "  with docker's message");
		kiln_err_release(&err);
		rt_port_specs_free(v, n);
	}
	struct rt_port_spec *v = NULL;
	size_t n = 0;
	struct kiln_err err = KILN_ERR_INIT;
	T_OK(rt_port_spec_parse("80/sctp", &v, &n, &err) < 0 && err.code == KILN_E_UNSUPPORTED,
	     "sctp: not supported by the user-mode network");
	kiln_err_release(&err);
	rt_port_specs_free(v, n);
}

/* A TCP listener on 127.0.0.1 at a port the kernel picks. */
static int listener(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

static void test_resolve(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_port out;
	struct rt_port_spec any = {.host_ip = "127.0.0.1", .ctr_port = 80};
	T_OK(rt_port_spec_resolve(&any, &out, &err) == 0 && out.host_port > 0 &&
	         out.ctr_port == 80 && !strcmp(out.host_ip, "127.0.0.1"),
	     "no host port: one the kernel picks");
	free(out.host_ip);

	int taken = 0, fd = listener(&taken);
	T_OK(fd >= 0, "a port held by this test");
	struct rt_port_spec fixed = {
	    .host_ip = "127.0.0.1", .host_lo = taken, .host_hi = taken, .ctr_port = 80};
	T_OK(rt_port_spec_resolve(&fixed, &out, &err) == 0 && out.host_port == taken,
	     "a fixed port is taken as given (the helper's bind tells)");
	T_OK(rt_port_busy(&out), "rt_port_busy sees it held");
	T_OK(rt_port_taken_err(&err, "0123456789abcdef", &out) < 0 && err.code == KILN_E_CONFLICT,
	     "a taken port: conflict");
	_cleanup_free_ char *want =
	    xasprintf("driver failed programming external connectivity on "
	              "endpoint 0123456789ab: Bind for 127.0.0.1:%d failed: "
	              "port is already allocated",
	              taken);
	T_STREQ(err.msg, want, "  docker's message names the address and port");
	kiln_err_release(&err);
	free(out.host_ip);

	struct rt_port_spec range = {
	    .host_ip = "127.0.0.1", .host_lo = taken, .host_hi = taken + 20, .ctr_port = 80};
	T_OK(rt_port_spec_resolve(&range, &out, &err) == 0 && out.host_port > taken &&
	         out.host_port <= taken + 20,
	     "a host range: the first free port of it");
	free(out.host_ip);
	close(fd);
	struct rt_port freed = {.host_ip = "127.0.0.1", .host_port = taken};
	T_OK(!rt_port_busy(&freed), "released: free again");
}

static void test_publish(void)
{
	struct rt_spec spec;
	memset(&spec, 0, sizeof(spec));
	struct kiln_err err = KILN_ERR_INIT;
	T_OK(rt_publish_add(&spec, "127.0.0.1:18999:80", &err) == 0 && spec.n_ports == 1,
	     "-p adds a port to the spec");
	T_OK(rt_publish_exposed(&spec, "80/tcp", &err) == 0 && spec.n_ports == 1,
	     "-P skips a port -p published");
	T_OK(rt_publish_exposed(&spec, "53/udp", &err) == 0 && spec.n_ports == 2 &&
	         spec.ports[1].udp && spec.ports[1].host_port > 0 &&
	         !strcmp(spec.ports[1].host_ip, "0.0.0.0"),
	     "-P publishes another exposed port on a free host port");
	T_OK(rt_publish_add(&spec, "bad", &err) < 0 && spec.n_ports == 2, "a bad -p adds nothing");
	kiln_err_release(&err);
	T_OK(rt_publish_add(&spec, "[::1]:18998:80", &err) < 0 && err.code == KILN_E_UNSUPPORTED &&
	         spec.n_ports == 2,
	     "an IPv6 host address: refused (neither helper publishes on one here)");
	kiln_err_release(&err);
	rt_spec_release(&spec);
}

int main(void)
{
	test_good();
	test_bad();
	test_resolve();
	test_publish();
	return tap_done();
}
