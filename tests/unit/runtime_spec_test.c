/* The runtime's pure parts: USER resolution (runc's rules), docker's option
 * syntaxes (sizes, --cpus, --ulimit, -v, --tmpfs, --network, signals,
 * timestamps), names and IDs, and the spec made from an image config. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "image.h"
#include "runtime-internal.h"
#include "tap.h"

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "# comment\n"
                             "app:x:1000:1000:app:/home/app:/bin/sh\n"
                             "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
static const char group[] = "root:x:0:\n"
                            "app:x:1000:\n"
                            "audio:x:29:app,other\n"
                            "video:x:44:other\n"
                            "staff:x:50:app\n";

/* n groups of id equal want[0..n-1]; frees the identity and home */
static bool groups_are(struct rt_identity *id, char **home, size_t n, const gid_t *want)
{
	bool same = id->n_groups == n && (n == 0 || !memcmp(id->groups, want, n * sizeof(gid_t)));
	free(id->groups);
	free(*home);
	*home = NULL;
	return same;
}

/* A build's RUN (BuildKit 0.8): only the groups listing a user named
 * without a group; none without USER, none with an explicit group. */
static void test_buildkit_groups(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_identity id;
	char *home = NULL;
	const char *root_group = "root:x:0:\nwheel:x:10:root\napp:x:1000:\nstaff:x:50:app\n";
	T_OK(rt_user_resolve(NULL, RT_GROUPS_BUILDKIT, passwd, root_group, &id, &home, &err) == 0 &&
	         groups_are(&id, &home, 0, NULL),
	     "build: no USER, no groups (root listed in wheel)");
	T_OK(rt_user_resolve("0", RT_GROUPS_BUILDKIT, passwd, root_group, &id, &home, &err) == 0 &&
	         groups_are(&id, &home, 1, (gid_t[]){10}),
	     "build: USER 0: the groups listing root");
	T_OK(rt_user_resolve("app", RT_GROUPS_BUILDKIT, passwd, root_group, &id, &home, &err) ==
	             0 &&
	         id.gid == 1000 && groups_are(&id, &home, 1, (gid_t[]){50}),
	     "build: USER app: its member groups, not its primary");
	T_OK(rt_user_resolve("app:staff", RT_GROUPS_BUILDKIT, passwd, root_group, &id, &home,
	                     &err) == 0 &&
	         id.gid == 50 && groups_are(&id, &home, 0, NULL),
	     "build: explicit group: none");
	T_OK(rt_user_resolve("1000:1000", RT_GROUPS_BUILDKIT, passwd, root_group, &id, &home,
	                     &err) == 0 &&
	         groups_are(&id, &home, 0, NULL),
	     "build: uid:gid: none");
	T_OK(rt_user_resolve("4242", RT_GROUPS_BUILDKIT, passwd, root_group, &id, &home, &err) ==
	             0 &&
	         groups_are(&id, &home, 0, NULL),
	     "build: uid without an entry: none");
	T_OK(rt_user_resolve(NULL, RT_GROUPS_DOCKER, passwd, root_group, &id, &home, &err) == 0 &&
	         groups_are(&id, &home, 2, (gid_t[]){0, 10}),
	     "run: no user: gid 0 and the groups listing root");
}

static void test_users(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_identity id;
	char *home = NULL;
	T_OK(rt_user_resolve(NULL, RT_GROUPS_DOCKER, passwd, group, &id, &home, &err) == 0 &&
	         id.uid == 0 && id.gid == 0,
	     "no user: root");
	T_STREQ(home, "/root", "root's home");
	free(home);
	free(id.groups);
	T_OK(rt_user_resolve("app", RT_GROUPS_DOCKER, passwd, group, &id, &home, &err) == 0 &&
	         id.uid == 1000 && id.gid == 1000,
	     "app by name");
	T_OK(id.n_groups == 3 && id.groups[0] == 1000 && id.groups[1] == 29 && id.groups[2] == 50,
	     "supplementary groups: the primary, then those listing the user (docker run)");
	free(home);
	free(id.groups);
	T_OK(rt_user_resolve("1000", RT_GROUPS_DOCKER, passwd, group, &id, &home, &err) == 0 &&
	         id.gid == 1000,
	     "uid with an entry takes its gid");
	free(home);
	free(id.groups);
	T_OK(rt_user_resolve("4242", RT_GROUPS_DOCKER, passwd, group, &id, &home, &err) == 0 &&
	         id.uid == 4242 && id.gid == 0 && id.n_groups == 1 && id.groups[0] == 0,
	     "uid without an entry: gid 0");
	T_STREQ(home, "/", "home /");
	free(home);
	free(id.groups);
	T_OK(rt_user_resolve("app:video", RT_GROUPS_DOCKER, passwd, group, &id, &home, &err) == 0 &&
	         id.gid == 44 && id.n_groups == 1 && id.groups[0] == 44,
	     "explicit group by name: only that group");
	free(home);
	free(id.groups);
	T_OK(rt_user_resolve("5:77", RT_GROUPS_DOCKER, NULL, NULL, &id, &home, &err) == 0 &&
	         id.uid == 5 && id.gid == 77,
	     "uid:gid without files");
	free(home);
	free(id.groups);
	test_buildkit_groups();
	T_OK(rt_user_resolve("nosuch", RT_GROUPS_DOCKER, passwd, group, &id, &home, &err) < 0,
	     "unknown user");
	T_STREQ(err.msg, "unable to find user nosuch: no matching entries in passwd file",
	        "runc's message");
	kiln_err_release(&err);
	T_OK(rt_user_resolve("app:nosuch", RT_GROUPS_DOCKER, passwd, group, &id, &home, &err) < 0,
	     "unknown group");
	T_STREQ(err.msg, "unable to find group nosuch: no matching entries in group file",
	        "runc's group message");
	kiln_err_release(&err);
}

static void test_opts(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	int64_t b;
	T_OK(rt_parse_bytes("512m", &b, &err) == 0 && b == 512LL << 20, "512m");
	T_OK(rt_parse_bytes("1GB", &b, &err) == 0 && b == 1LL << 30, "1GB");
	T_OK(rt_parse_bytes("1024", &b, &err) == 0 && b == 1024, "bytes");
	T_OK(rt_parse_bytes("1.5k", &b, &err) == 0 && b == 1536, "fractions");
	T_OK(rt_parse_bytes("12x", &b, &err) < 0, "bad unit");
	kiln_err_release(&err);
	struct rt_limits l = {0};
	T_OK(rt_parse_cpus("1.5", &l, &err) == 0 && l.cpu_quota == 150000 && l.cpu_period == 100000,
	     "--cpus 1.5");
	T_OK(rt_parse_cpus("abc", &l, &err) < 0, "--cpus abc");
	kiln_err_release(&err);
	struct rt_rlimit rl;
	T_OK(rt_parse_ulimit("nofile=100:200", &rl, &err) == 0 && rl.resource == RLIMIT_NOFILE &&
	         rl.soft == 100 && rl.hard == 200,
	     "nofile=100:200");
	T_OK(rt_parse_ulimit("nproc=64", &rl, &err) == 0 && rl.soft == 64 && rl.hard == 64,
	     "one value for both");
	T_OK(rt_parse_ulimit("nofile=300:200", &rl, &err) < 0, "soft above hard");
	kiln_err_release(&err);
	T_OK(rt_parse_ulimit("bogus=1", &rl, &err) < 0, "unknown type");
	T_STREQ(err.msg, "invalid ulimit type: bogus", "docker's message");
	kiln_err_release(&err);
	struct rt_mount m;
	T_OK(rt_parse_volume("/a:/b:ro", &m, &err) == 0 && m.readonly && !strcmp(m.source, "/a") &&
	         !strcmp(m.target, "/b"),
	     "-v /a:/b:ro");
	rt_mount_release(&m);
	T_OK(rt_parse_volume("./a:/b", &m, &err) < 0 && err.code == KILN_E_INVALID, "-v ./a");
	kiln_err_release(&err);
	T_OK(rt_parse_volume("/a:b", &m, &err) < 0, "relative target");
	kiln_err_release(&err);
	T_OK(rt_parse_volume("/a:/b:xx", &m, &err) < 0, "bad mode");
	kiln_err_release(&err);
	T_OK(rt_parse_tmpfs("/run:size=1m", &m, &err) == 0 && m.type == RT_MOUNT_TMPFS &&
	         !strcmp(m.options, "size=1m"),
	     "--tmpfs /run:size=1m");
	rt_mount_release(&m);
	enum rt_network_mode net;
	T_OK(rt_parse_network("host", &net, &err) == 0 && net == RT_NET_HOST, "--network host");
	T_OK(rt_parse_network("x", &net, &err) < 0, "--network x");
	T_STREQ(err.msg, "network x not found", "docker's message");
	kiln_err_release(&err);
	int sig;
	T_OK(rt_signal_parse("SIGKILL", &sig, &err) == 0 && sig == SIGKILL, "SIGKILL");
	T_OK(rt_signal_parse("term", &sig, &err) == 0 && sig == SIGTERM, "term");
	T_OK(rt_signal_parse("9", &sig, &err) == 0 && sig == 9, "9");
	T_OK(rt_signal_parse("NOPE", &sig, &err) < 0, "unknown signal");
	T_STREQ(err.msg, "Invalid signal: NOPE", "docker's message");
	kiln_err_release(&err);
	int64_t ns;
	T_OK(rt_parse_timestamp("2013-01-02T13:23:37Z", &ns, &err) == 0 &&
	         ns == 1357133017000000000LL,
	     "RFC 3339");
	T_OK(rt_parse_timestamp("1357133017.5", &ns, &err) == 0 && ns == 1357133017500000000LL,
	     "Unix seconds");
	T_OK(rt_parse_timestamp("10m", &ns, &err) == 0 && ns > 0, "relative");
}

static void test_names(void)
{
	char id[65];
	rt_id_generate(id);
	T_OK(strlen(id) == 64 && strspn(id, "0123456789abcdef") == 64, "64 hex digits");
	char *n = rt_name_generate();
	T_OK(strchr(n, '_') && rt_name_valid(n), "generated name %s", n);
	free(n);
	T_OK(!rt_name_valid("-x") && !rt_name_valid("a b") && rt_name_valid("a.b-c_d"),
	     "docker's name rule");
}

static void test_spec(void)
{
	struct img_config *cfg = img_config_new();
	char *env[] = {"PATH=/bin", "A=image", NULL};
	char *ep[] = {"/entry", NULL}, *cmd[] = {"default", NULL};
	cfg->config.env = rt_strv_dup(env);
	cfg->config.entrypoint = rt_strv_dup(ep);
	cfg->config.cmd = rt_strv_dup(cmd);
	cfg->config.working_dir = xstrdup("/app");
	cfg->config.user = xstrdup("app");
	struct rt_spec s;
	struct kiln_err err = KILN_ERR_INIT;
	char *opt_env[] = {"A=opt", "B=2", NULL}, *args[] = {"x", "y", NULL};
	struct rt_create_opts o = {.env = opt_env, .args = args};
	T_OK(rt_spec_from_config(cfg, &o, "abc", &s, &err) == 0, "spec");
	T_STREQ(s.args[0], "/entry", "entrypoint kept");
	T_STREQ(s.args[1], "x", "args replace cmd");
	T_OK(rt_strv_len(s.args) == 3, "3 args");
	T_STREQ(s.env[0], "PATH=/bin", "image PATH replaces the default in place");
	T_STREQ(s.env[1], "HOSTNAME=abc", "HOSTNAME");
	T_STREQ(s.env[2], "A=opt", "-e replaces the image's value");
	T_STREQ(s.env[3], "B=2", "-e appends");
	T_STREQ(s.cwd, "/app", "WorkingDir");
	T_STREQ(s.user, "app", "User");
	T_OK(s.no_new_privs, "no_new_privs by default");
	rt_spec_release(&s);
	struct rt_create_opts o2 = {.entrypoint_set = true, .entrypoint = (char *[]){NULL}};
	T_OK(rt_spec_from_config(cfg, &o2, "abc", &s, &err) < 0, "--entrypoint '' clears both");
	T_STREQ(err.msg, "No command specified", "docker's message");
	kiln_err_release(&err);
	struct rt_create_opts o3 = {.workdir = "rel"};
	T_OK(rt_spec_from_config(cfg, &o3, "abc", &s, &err) < 0, "relative -w");
	kiln_err_release(&err);
	img_config_free(cfg);
}

int main(void)
{
	test_users();
	test_opts();
	test_names();
	test_spec();
	return tap_done();
}
