/* docker's views of a container: `inspect` JSON, `ps` rows and status text. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd_container.h"
#include "format.h"

#define ZERO_TIME "0001-01-01T00:00:00Z"

/* docker's State.Health: Status, FailingStreak, Log (the last 5 results). */
static json_t *health_json(const struct rt_container *c)
{
	json_t *log = json_array();
	for (int i = 0; i < c->n_health_log; i++) {
		const struct rt_health_result *h = &c->health_log[i];
		json_array_append_new(
		    log, json_pack("{s:s,s:s,s:i,s:s}", "Start", h->start ? h->start : ZERO_TIME,
		                   "End", h->end ? h->end : ZERO_TIME, "ExitCode", h->exit_code,
		                   "Output", h->output ? h->output : ""));
	}
	return json_pack("{s:s,s:i,s:o}", "Status", c->health_status, "FailingStreak",
	                 c->failing_streak, "Log", log);
}

static json_t *strv_or_null(char *const *v)
{
	if (!v)
		return json_null();
	json_t *a = json_array();
	for (size_t i = 0; v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* docker's map-as-set ({"/x":{}}), null when empty */
static json_t *set_or_null(char *const *v)
{
	if (!v || !v[0])
		return json_null();
	json_t *o = json_object();
	for (size_t i = 0; v[i]; i++)
		json_object_set_new(o, v[i], json_object());
	return o;
}

static json_t *labels_json(char *const *labels)
{
	json_t *o = json_object();
	for (size_t i = 0; labels && labels[i]; i++) {
		const char *eq = strchr(labels[i], '=');
		_cleanup_free_ char *k =
		    eq ? xstrndup(labels[i], (size_t)(eq - labels[i])) : xstrdup(labels[i]);
		json_object_set_new(o, k, json_string(eq ? eq + 1 : ""));
	}
	return o;
}

static const char *network_name(enum rt_network_mode m)
{
	return m == RT_NET_HOST ? "host" : m == RT_NET_NONE ? "none" : "default";
}

static json_t *state_json(const struct rt_container *c)
{
	bool running = c->status == RT_RUNNING || c->status == RT_PAUSED;
	json_t *st = json_pack(
	    "{s:s,s:b,s:b,s:b,s:b,s:b,s:i,s:i,s:s,s:s,s:s}", "Status", rt_status_name(c->status),
	    "Running", running, "Paused", c->status == RT_PAUSED, "Restarting",
	    c->status == RT_RESTARTING, "OOMKilled", c->oom_killed, "Dead", c->status == RT_DEAD,
	    "Pid", running ? c->pid : 0, "ExitCode", c->exit_code, "Error",
	    c->error ? c->error : "", "StartedAt", c->started ? c->started : ZERO_TIME,
	    "FinishedAt", c->finished ? c->finished : ZERO_TIME);
	if (c->health_status)
		json_object_set_new(st, "Health", health_json(c));
	return st;
}

/* docker's PortMap: {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]} */
static json_t *port_map_json(const struct rt_spec *s)
{
	json_t *ports = json_object();
	for (size_t i = 0; i < s->n_ports; i++) {
		const struct rt_port *p = &s->ports[i];
		_cleanup_free_ char *key = xasprintf("%d/%s", p->ctr_port, p->udp ? "udp" : "tcp");
		json_t *list = json_object_get(ports, key);
		if (!list) {
			list = json_array();
			json_object_set_new(ports, key, list);
		}
		json_array_append_new(list, json_pack("{s:s,s:o}", "HostIp", p->host_ip, "HostPort",
		                                      json_sprintf("%d", p->host_port)));
	}
	return ports;
}

/* Ports (bound while it runs, {} otherwise, as docker) and, on the default
 * network, the address the user-mode stack gives every container. */
static json_t *network_settings_json(const struct rt_container *c)
{
	bool running = c->status == RT_RUNNING || c->status == RT_PAUSED;
	bool user_mode = running && c->spec.network == RT_NET_DEFAULT;
	return json_pack("{s:o,s:s,s:s,s:s,s:i}", "Ports",
	                 running ? port_map_json(&c->spec) : json_object(), "SandboxKey", "",
	                 "IPAddress", user_mode ? "10.0.2.100" : "", "Gateway",
	                 user_mode ? "10.0.2.2" : "", "IPPrefixLen", user_mode ? 24 : 0);
}

static json_t *mounts_json(const struct rt_spec *s, json_t **binds)
{
	json_t *a = json_array();
	*binds = json_array();
	for (size_t i = 0; i < s->n_mounts; i++) {
		const struct rt_mount *m = &s->mounts[i];
		if (m->type != RT_MOUNT_BIND)
			continue;
		if (m->volume) {
			json_array_append_new(
			    a, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s}", "Type", "volume",
			                 "Name", m->volume, "Source", m->source ? m->source : "",
			                 "Destination", m->target, "Driver", "local", "Mode",
			                 m->readonly ? "ro" : "z", "RW", !m->readonly,
			                 "Propagation", ""));
			continue;
		}
		json_array_append_new(*binds, json_sprintf("%s:%s%s", m->source, m->target,
		                                           m->readonly ? ":ro" : ""));
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:b,s:s}", "Type", "bind",
		                                   "Source", m->source, "Destination", m->target,
		                                   "Mode", m->readonly ? "ro" : "", "RW",
		                                   !m->readonly, "Propagation", "rprivate"));
	}
	return a;
}

static json_t *tmpfs_json(const struct rt_spec *s)
{
	json_t *tmpfs = json_object();
	for (size_t i = 0; i < s->n_mounts; i++)
		if (s->mounts[i].type == RT_MOUNT_TMPFS)
			json_object_set_new(
			    tmpfs, s->mounts[i].target,
			    json_string(s->mounts[i].options ? s->mounts[i].options : ""));
	return tmpfs;
}

/* --security-opt as docker keeps it, from what the spec still says */
static json_t *security_opt_json(const struct rt_spec *s)
{
	if (s->privileged || (!s->seccomp_unconfined && !s->seccomp_profile))
		return json_null();
	return json_pack("[o]", s->seccomp_unconfined
	                            ? json_string("seccomp=unconfined")
	                            : json_sprintf("seccomp=%s", s->seccomp_profile));
}

static json_t *paths_json(const struct rt_spec *s, const char *const *paths)
{
	return s->privileged ? json_null() : strv_or_null((char *const *)paths);
}

/* docker's units.Ulimit: {"Name": "nofile", "Hard": 200, "Soft": 100}, -1 unlimited */
static json_t *ulimits_json(const struct rt_spec *s)
{
	if (!s->n_rlimits)
		return json_null();
	json_t *ul = json_array();
	for (size_t i = 0; i < s->n_rlimits; i++)
		json_array_append_new(ul, json_pack("{s:s,s:I,s:I}", "Name",
		                                    rt_ulimit_name(s->rlimits[i].resource), "Hard",
		                                    (json_int_t)s->rlimits[i].hard, "Soft",
		                                    (json_int_t)s->rlimits[i].soft));
	return ul;
}

/* HostConfig.Resources, in docker's order; what kiln has no option for
 * reads docker's zero value (null, [], 0, "") */
static void resources_json(json_t *h, const struct rt_spec *s)
{
	const struct rt_limits *l = &s->limits;
	json_object_set_new(h, "CpuShares", json_integer(l->cpu_shares));
	json_object_set_new(h, "Memory", json_integer(l->memory));
	json_object_set_new(
	    h, "NanoCpus",
	    json_integer(l->cpu_period ? l->cpu_quota * 1000000000LL / l->cpu_period : 0));
	json_object_set_new(h, "CgroupParent", json_string(""));
	json_object_set_new(h, "BlkioWeight", json_integer(0));
	json_object_set_new(h, "BlkioWeightDevice", json_array());
	static const char *const nulls[] = {"BlkioDeviceReadBps", "BlkioDeviceWriteBps",
	                                    "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps"};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(nulls); i++)
		json_object_set_new(h, nulls[i], json_null());
	static const char *const zeros[] = {"CpuPeriod", "CpuQuota", "CpuRealtimePeriod",
	                                    "CpuRealtimeRuntime"};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(zeros); i++)
		json_object_set_new(h, zeros[i], json_integer(0));
	json_object_set_new(h, "CpusetCpus", json_string(""));
	json_object_set_new(h, "CpusetMems", json_string(""));
	json_object_set_new(h, "Devices", json_array());
	json_object_set_new(h, "DeviceCgroupRules", json_null());
	json_object_set_new(h, "DeviceRequests", json_null());
	json_object_set_new(h, "KernelMemory", json_integer(0));
	json_object_set_new(h, "KernelMemoryTCP", json_integer(0));
	json_object_set_new(h, "MemoryReservation", json_integer(0));
	json_object_set_new(h, "MemorySwap", json_integer(l->memory_swap));
	json_object_set_new(h, "MemorySwappiness", json_null());
	json_object_set_new(h, "OomKillDisable", json_false());
	json_object_set_new(h, "PidsLimit",
	                    l->pids_limit ? json_integer(l->pids_limit) : json_null());
	json_object_set_new(h, "Ulimits", ulimits_json(s));
	static const char *const win[] = {"CpuCount", "CpuPercent", "IOMaximumIOps",
	                                  "IOMaximumBandwidth"};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(win); i++)
		json_object_set_new(h, win[i], json_integer(0));
}

/* docker 20.10's HostConfig, keys in its order (Init and Tmpfs only when
 * set, as its omitempty). kiln's own runtime is named "kiln"; every
 * container gets private cgroup, IPC, PID, UTS namespaces. */
static json_t *host_config_json(const struct rt_container *c, json_t *binds)
{
	const struct rt_spec *s = &c->spec;
	json_t *h = json_object();
	json_object_set_new(h, "Binds",
	                    json_array_size(binds) ? binds : (json_decref(binds), json_null()));
	json_object_set_new(h, "ContainerIDFile", json_string(""));
	json_object_set_new(h, "LogConfig", json_pack("{s:s,s:{}}", "Type", "json-file", "Config"));
	json_object_set_new(h, "NetworkMode", json_string(network_name(s->network)));
	json_object_set_new(h, "PortBindings", port_map_json(s));
	json_object_set_new(h, "RestartPolicy",
	                    json_pack("{s:s,s:i}", "Name",
	                              c->restart_policy ? c->restart_policy : "no",
	                              "MaximumRetryCount", c->restart_max));
	json_object_set_new(h, "AutoRemove", json_boolean(c->auto_remove));
	json_object_set_new(h, "VolumeDriver", json_string(""));
	json_object_set_new(h, "VolumesFrom", json_null());
	json_object_set_new(h, "CapAdd", strv_or_null(s->cap_add));
	json_object_set_new(h, "CapDrop", strv_or_null(s->cap_drop));
	json_object_set_new(h, "CgroupnsMode", json_string("private"));
	json_object_set_new(h, "Dns", json_array());
	json_object_set_new(h, "DnsOptions", json_array());
	json_object_set_new(h, "DnsSearch", json_array());
	json_object_set_new(h, "ExtraHosts", json_null());
	json_object_set_new(h, "GroupAdd", json_null());
	json_object_set_new(h, "IpcMode", json_string("private"));
	json_object_set_new(h, "Cgroup", json_string(""));
	json_object_set_new(h, "Links", json_null());
	json_object_set_new(h, "OomScoreAdj", json_integer(0));
	json_object_set_new(h, "PidMode", json_string(""));
	json_object_set_new(h, "Privileged", json_boolean(s->privileged));
	json_object_set_new(h, "PublishAllPorts", json_false());
	json_object_set_new(h, "ReadonlyRootfs", json_boolean(s->readonly_rootfs));
	json_object_set_new(h, "SecurityOpt", security_opt_json(s));
	json_t *tmpfs = tmpfs_json(s);
	if (json_object_size(tmpfs))
		json_object_set(h, "Tmpfs", tmpfs);
	json_decref(tmpfs);
	json_object_set_new(h, "UTSMode", json_string(""));
	json_object_set_new(h, "UsernsMode", json_string(""));
	json_object_set_new(h, "ShmSize", json_integer(64LL << 20));
	json_object_set_new(h, "Runtime", json_string("kiln"));
	json_object_set_new(h, "ConsoleSize", json_pack("[i,i]", 0, 0));
	json_object_set_new(h, "Isolation", json_string(""));
	resources_json(h, s);
	json_object_set_new(h, "MaskedPaths", paths_json(s, rt_masked_paths));
	json_object_set_new(h, "ReadonlyPaths", paths_json(s, rt_readonly_paths));
	if (s->init)
		json_object_set_new(h, "Init", json_true());
	return h;
}

/* Config.Healthcheck: docker leaves out the durations and retries left
 * at their defaults (kiln keeps them resolved: the defaults are left out). */
static json_t *healthcheck_json(const struct rt_container *c)
{
	const int64_t s30 = 30LL * 1000000000LL;
	json_t *h = json_pack("{s:o}", "Test", strv_or_null(c->health_test));
	if (c->health_interval != s30)
		json_object_set_new(h, "Interval", json_integer(c->health_interval));
	if (c->health_timeout && c->health_timeout != s30)
		json_object_set_new(h, "Timeout", json_integer(c->health_timeout));
	if (c->health_start_period)
		json_object_set_new(h, "StartPeriod", json_integer(c->health_start_period));
	if (c->health_retries != 3)
		json_object_set_new(h, "Retries", json_integer(c->health_retries));
	return h;
}

static json_t *config_json(const struct rt_container *c)
{
	const struct rt_spec *s = &c->spec;
	json_t *o = json_object();
	json_object_set_new(o, "Hostname", json_string(s->hostname ? s->hostname : ""));
	json_object_set_new(o, "Domainname", json_string(s->domainname ? s->domainname : ""));
	json_object_set_new(o, "User", json_string(s->user ? s->user : ""));
	json_object_set_new(o, "AttachStdin", json_boolean(c->attach_stdin));
	json_object_set_new(o, "AttachStdout", json_boolean(c->attach_stdout));
	json_object_set_new(o, "AttachStderr", json_boolean(c->attach_stderr));
	if (c->exposed_ports && c->exposed_ports[0]) { /* docker's omitempty */
		json_t *ports = json_object();
		for (size_t i = 0; c->exposed_ports[i]; i++)
			json_object_set_new(ports, c->exposed_ports[i], json_object());
		json_object_set_new(o, "ExposedPorts", ports);
	}
	json_object_set_new(o, "Tty", json_boolean(s->tty));
	json_object_set_new(o, "OpenStdin", json_boolean(s->interactive));
	json_object_set_new(o, "StdinOnce", json_boolean(c->stdin_once));
	/* docker's: null when neither the image nor the user set any */
	json_object_set_new(o, "Env",
	                    !s->config_env     ? strv_or_null(s->env)
	                    : s->config_env[0] ? strv_or_null(s->config_env)
	                                       : json_null());
	json_object_set_new(o, "Cmd", strv_or_null(c->cmd));
	if (c->health_test)
		json_object_set_new(o, "Healthcheck", healthcheck_json(c));
	json_object_set_new(o, "Image", json_string(c->image));
	json_object_set_new(o, "Volumes", set_or_null(c->volumes));
	json_object_set_new(o, "WorkingDir",
	                    json_string(s->cwd && strcmp(s->cwd, "/") ? s->cwd : ""));
	json_object_set_new(o, "Entrypoint", strv_or_null(c->entrypoint));
	json_object_set_new(o, "OnBuild", json_null());
	json_object_set_new(o, "Labels", labels_json(c->labels));
	if (s->stop_signal && strcmp(s->stop_signal, "SIGTERM"))
		json_object_set_new(o, "StopSignal", json_string(s->stop_signal));
	return o;
}

json_t *ctr_inspect_json(const char *root, const struct rt_container *c)
{
	const struct rt_spec *s = &c->spec;
	_cleanup_free_ char *dir = xasprintf("%s/containers/%s", root, c->id);
	json_t *binds;
	json_t *mounts = mounts_json(s, &binds);
	json_t *o = json_object();
	json_object_set_new(o, "Id", json_string(c->id));
	json_object_set_new(o, "Created", json_string(c->created ? c->created : ZERO_TIME));
	json_object_set_new(o, "Path", json_string(s->args && s->args[0] ? s->args[0] : ""));
	json_object_set_new(o, "Args", strv_or_null(s->args && s->args[0] ? s->args + 1 : NULL));
	json_object_set_new(o, "State", state_json(c));
	json_object_set_new(o, "Image", json_string(c->image_id ? c->image_id : ""));
	json_object_set_new(o, "ResolvConfPath", json_sprintf("%s/resolv.conf", dir));
	json_object_set_new(o, "HostnamePath", json_sprintf("%s/hostname", dir));
	json_object_set_new(o, "HostsPath", json_sprintf("%s/hosts", dir));
	json_object_set_new(o, "LogPath", json_sprintf("%s/%s-json.log", dir, c->id));
	json_object_set_new(o, "Name", json_sprintf("/%s", c->name));
	json_object_set_new(o, "RestartCount", json_integer(c->restart_count));
	json_object_set_new(o, "Driver", json_string("overlay2"));
	json_object_set_new(o, "Platform", json_string("linux"));
	json_object_set_new(o, "MountLabel", json_string(""));
	json_object_set_new(o, "ProcessLabel", json_string(""));
	json_object_set_new(o, "AppArmorProfile", json_string(""));
	json_object_set_new(o, "ExecIDs", json_null());
	json_object_set_new(o, "HostConfig", host_config_json(c, binds));
	struct kiln_buf lower;
	kiln_buf_init(&lower, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; s->lower_dirs && s->lower_dirs[i]; i++)
		kiln_buf_addf(&lower, NULL, "%s%s", i ? ":" : "", s->lower_dirs[i]);
	json_object_set_new(o, "GraphDriver",
	                    json_pack("{s:{s:s,s:s,s:s,s:s},s:s}", "Data", "LowerDir",
	                              kiln_buf_str(&lower), "MergedDir", "", "UpperDir",
	                              s->upper_dir ? s->upper_dir : "", "WorkDir",
	                              s->work_dir ? s->work_dir : "", "Name", "overlay2"));
	kiln_buf_release(&lower);
	json_object_set_new(o, "Mounts", mounts);
	json_object_set_new(o, "Config", config_json(c));
	json_object_set_new(o, "NetworkSettings", network_settings_json(c));
	return o;
}

char *ctr_status_text(const struct rt_container *c)
{
	time_t now = time(NULL), t;
	switch (c->status) {
	case RT_RUNNING:
	case RT_PAUSED: {
		int64_t up = kiln_parse_rfc3339(c->started, &t) == 0 ? now - t : 0;
		_cleanup_free_ char *d = kiln_human_duration(up);
		const char *h = !c->health_status                       ? ""
		                : !strcmp(c->health_status, "starting") ? " (health: starting)"
		                : !strcmp(c->health_status, "healthy")  ? " (healthy)"
		                                                        : " (unhealthy)";
		return xasprintf("Up %s%s%s", d, c->status == RT_PAUSED ? " (Paused)" : h, "");
	}
	case RT_RESTARTING: {
		_cleanup_free_ char *ago = kiln_since(c->finished);
		return xasprintf("Restarting (%d) %s", c->exit_code, ago);
	}
	case RT_REMOVING: return xstrdup("Removal In Progress");
	case RT_DEAD: return xstrdup("Dead");
	case RT_CREATED: return xstrdup("Created");
	case RT_EXITED:
		if (!c->finished)
			return xstrdup("Created");
		{
			_cleanup_free_ char *ago = kiln_since(c->finished);
			return xasprintf("Exited (%d) %s", c->exit_code, ago);
		}
	}
	return xstrdup("");
}

/* docker's ps COMMAND: entrypoint + cmd joined, shortened to 20 runes with
 * an ellipsis unless no_trunc, then quoted as Go's %q does. */
static char *command_text(const struct rt_container *c, bool no_trunc)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	char *const *args = c->spec.args;
	for (size_t i = 0; args && args[i]; i++)
		kiln_buf_addf(&b, NULL, "%s%s", i ? " " : "", args[i]);
	_cleanup_free_ char *cmd = kiln_buf_detach(&b, NULL);
	size_t runes = 0, cut = strlen(cmd);
	for (size_t i = 0; cmd[i]; i++)
		if (((unsigned char)cmd[i] & 0xc0) != 0x80 && ++runes == 20)
			cut = i;
	if (!no_trunc && runes > 20) {
		cmd[cut] = 0;
		char *t = xasprintf("%s\xe2\x80\xa6", cmd);
		free(cmd);
		cmd = t;
	}
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addch(&b, '"', NULL);
	for (const char *p = cmd; *p; p++) {
		if (*p == '"' || *p == '\\')
			kiln_buf_addch(&b, '\\', NULL);
		kiln_buf_addch(&b, *p, NULL);
	}
	kiln_buf_addch(&b, '"', NULL);
	return kiln_buf_detach(&b, NULL);
}

static int port_cmp(const void *a, const void *b)
{
	const struct rt_port *x = a, *y = b;
	if (x->ctr_port != y->ctr_port)
		return x->ctr_port - y->ctr_port;
	if (x->host_port != y->host_port)
		return x->host_port - y->host_port;
	if (x->udp != y->udp)
		return x->udp - y->udp;
	return strcmp(x->host_ip, y->host_ip);
}

/* "IP:" or "[IPv6]:" */
static void add_host(struct kiln_buf *b, const char *ip)
{
	kiln_buf_addf(b, NULL, strchr(ip, ':') ? "[%s]:" : "%s:", ip);
}

struct port_run {
	const struct rt_port *p; /* first of the run */
	int last;
};

static void add_run(struct kiln_buf *b, const struct port_run *r)
{
	if (b->len)
		kiln_buf_addstr(b, ", ", NULL);
	_cleanup_free_ char *ports = r->last != r->p->ctr_port
	                                 ? xasprintf("%d-%d", r->p->ctr_port, r->last)
	                                 : xasprintf("%d", r->p->ctr_port);
	add_host(b, r->p->host_ip);
	kiln_buf_addf(b, NULL, "%s->%s/%s", ports, ports, r->p->udp ? "udp" : "tcp");
}

/* docker ps's PORTS: same-numbered host and container ports in runs
 * ("0.0.0.0:8000-8002->8000-8002/tcp") in the order they start, then every
 * other mapping ("127.0.0.1:8080->80/tcp"), all sorted by container port. */
char *ctr_ports_text(const struct rt_container *c)
{
	size_t n = c->spec.n_ports;
	struct rt_port *v = n ? xmemdup(c->spec.ports, n * sizeof(*v)) : NULL;
	if (n)
		qsort(v, n, sizeof(*v), port_cmp);
	struct port_run *runs = xcalloc(n + 1, sizeof(*runs));
	size_t nruns = 0;
	struct kiln_buf b, maps;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_init(&maps, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; i < n; i++) {
		const struct rt_port *p = &v[i];
		if (p->host_port != p->ctr_port) {
			kiln_buf_addstr(&maps, maps.len ? ", " : "", NULL);
			add_host(&maps, p->host_ip);
			kiln_buf_addf(&maps, NULL, "%d->%d/%s", p->host_port, p->ctr_port,
			              p->udp ? "udp" : "tcp");
			continue;
		}
		struct port_run *r = NULL;
		for (size_t k = 0; k < nruns && !r; k++)
			if (runs[k].p->udp == p->udp && !strcmp(runs[k].p->host_ip, p->host_ip))
				r = &runs[k];
		if (r && p->ctr_port == r->last + 1) {
			r->last = p->ctr_port;
			continue;
		}
		if (r) { /* a gap: the run so far is done, a new one takes its place */
			add_run(&b, r);
			*r = (struct port_run){p, p->ctr_port};
			continue;
		}
		runs[nruns++] = (struct port_run){p, p->ctr_port};
	}
	for (size_t k = 0; k < nruns; k++)
		add_run(&b, &runs[k]);
	if (maps.len)
		kiln_buf_addf(&b, NULL, "%s%s", b.len ? ", " : "", kiln_buf_str(&maps));
	kiln_buf_release(&maps);
	free(runs);
	free(v);
	return kiln_buf_detach(&b, NULL);
}

json_t *ctr_ps_json(const struct rt_container *c, bool no_trunc)
{
	_cleanup_free_ char *id = no_trunc ? xstrdup(c->id) : xstrndup(c->id, 12);
	_cleanup_free_ char *cmd = command_text(c, no_trunc);
	_cleanup_free_ char *since = kiln_since(c->created);
	_cleanup_free_ char *at = kiln_time_go(c->created);
	_cleanup_free_ char *status = ctr_status_text(c);
	bool up = c->status == RT_RUNNING || c->status == RT_PAUSED;
	_cleanup_free_ char *ports = up ? ctr_ports_text(c) : xstrdup("");
	struct kiln_buf labels;
	kiln_buf_init(&labels, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; c->labels && c->labels[i]; i++)
		kiln_buf_addf(&labels, NULL, "%s%s", i ? "," : "", c->labels[i]);
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "ID", id,
	                      "Image", c->image, "Command", cmd, "CreatedAt", at, "RunningFor",
	                      since, "Ports", ports, "Status", status, "Size", "0B", "Names",
	                      c->name, "Labels", kiln_buf_str(&labels), "Mounts", "", "Networks",
	                      network_name(c->spec.network), "State", rt_status_name(c->status));
	kiln_buf_release(&labels);
	return o;
}
