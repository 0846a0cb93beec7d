/* seccomp: docker's profile JSON compiled with libseccomp in the parent
 * into a BPF program; the child only makes the seccomp() syscall, so it
 * allocates nothing. The rule semantics follow docker 20.10 (which rules a
 * profile includes for the container's capabilities, architecture and
 * kernel) and runc 1.1 (actions, errno defaults, argument conditions). */
#include <errno.h>
#include <jansson.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "sys-internal.h"

#define PROFILE_MAX (4u << 20)

struct rt_seccomp {
	struct sock_filter *insns;
	unsigned short len;
	unsigned int flags; /* SECCOMP_FILTER_FLAG_* for seccomp(2) */
};

/* What a profile is compiled against. */
struct sc_env {
	uint64_t caps;
	const char *goarch; /* docker compares includes/excludes arches with GOARCH */
	unsigned kmajor, kminor;
	uint32_t defact;
	struct kiln_strv names; /* every syscall a rule was added for */
};

static int perr(struct kiln_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(struct kiln_err *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	kiln_err_set(err, KILN_E_INVALID, "seccomp profile: %s", m);
	free(m);
	return -1;
}

/* --- small field readers -------------------------------------------------- */

static const char *get_str(json_t *o, const char *key, const char *where, struct kiln_err *err,
                           int *bad)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		*bad = perr(err, "`%s%s` must be a string", where, key);
		return NULL;
	}
	return json_string_value(v);
}

/* A string array (null or absent = empty); *n set, items checked. */
static json_t *get_strarr(json_t *o, const char *key, const char *where, struct kiln_err *err,
                          int *bad)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_array(v)) {
		*bad = perr(err, "`%s%s` must be an array of strings", where, key);
		return NULL;
	}
	size_t i;
	json_t *it;
	json_array_foreach(v, i, it)
	{
		if (!json_is_string(it)) {
			*bad = perr(err, "`%s%s[%zu]` must be a string", where, key, i);
			return NULL;
		}
	}
	return v;
}

static bool strarr_has(json_t *arr, const char *s)
{
	size_t i;
	json_t *it;
	json_array_foreach(arr, i, it)
	{
		if (!strcmp(json_string_value(it), s))
			return true;
	}
	return false;
}

/* --- actions, operators, architectures ------------------------------------ */

/* runc's getAction: ERRNO and TRACE default to EPERM. */
static int parse_action(const char *name, json_t *errno_ret, const char *act_field,
                        const char *errno_field, uint32_t *act, struct kiln_err *err)
{
	int ret = EPERM;
	if (errno_ret && !json_is_null(errno_ret)) {
		if (!json_is_integer(errno_ret) || json_integer_value(errno_ret) < 0 ||
		    json_integer_value(errno_ret) > 0xffff)
			return perr(err, "`%s` must be an errno number", errno_field);
		ret = (int)json_integer_value(errno_ret);
	}
	if (!strcmp(name, "SCMP_ACT_ALLOW"))
		*act = SCMP_ACT_ALLOW;
	else if (!strcmp(name, "SCMP_ACT_ERRNO"))
		*act = SCMP_ACT_ERRNO(ret);
	else if (!strcmp(name, "SCMP_ACT_KILL") || !strcmp(name, "SCMP_ACT_KILL_THREAD"))
		*act = SCMP_ACT_KILL_THREAD;
	else if (!strcmp(name, "SCMP_ACT_KILL_PROCESS"))
		*act = SCMP_ACT_KILL_PROCESS;
	else if (!strcmp(name, "SCMP_ACT_TRAP"))
		*act = SCMP_ACT_TRAP;
	else if (!strcmp(name, "SCMP_ACT_LOG"))
		*act = SCMP_ACT_LOG;
	else if (!strcmp(name, "SCMP_ACT_TRACE"))
		*act = SCMP_ACT_TRACE(ret);
	else if (!strcmp(name, "SCMP_ACT_NOTIFY"))
		return kiln_err_set(err, KILN_E_UNSUPPORTED,
		                    "seccomp profile: `%s` SCMP_ACT_NOTIFY needs a seccomp agent, "
		                    "which kiln does not have",
		                    act_field);
	else
		return perr(err, "unknown action `%s` in `%s`", name, act_field);
	return 0;
}

static int parse_op(const char *name, enum scmp_compare *op)
{
	static const struct {
		const char *name;
		enum scmp_compare op;
	} ops[] = {
	    {"SCMP_CMP_NE", SCMP_CMP_NE},
	    {"SCMP_CMP_LT", SCMP_CMP_LT},
	    {"SCMP_CMP_LE", SCMP_CMP_LE},
	    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
	    {"SCMP_CMP_GE", SCMP_CMP_GE},
	    {"SCMP_CMP_GT", SCMP_CMP_GT},
	    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
	};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(ops); i++) {
		if (!strcmp(name, ops[i].name)) {
			*op = ops[i].op;
			return 0;
		}
	}
	return -1;
}

/* "SCMP_ARCH_X86_64" -> libseccomp's token for "x86_64". */
static int arch_token(const char *name, uint32_t *tok, struct kiln_err *err)
{
	char lower[32];
	const char *p = strncmp(name, "SCMP_ARCH_", 10) ? name : name + 10;
	size_t n = strlen(p);
	if (n == 0 || n >= sizeof(lower))
		return perr(err, "unknown architecture `%s`", name);
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] - 'A' + 'a' : p[i]);
	*tok = seccomp_arch_resolve_name(lower);
	if (*tok == 0)
		return perr(err, "unknown architecture `%s`", name);
	return 0;
}

/* The SCMP_ARCH_ name docker's archMap is keyed by for this build. */
static const char *native_scmp_arch(void)
{
	static const char *const map[][2] = {
	    {"amd64", "SCMP_ARCH_X86_64"},    {"arm64", "SCMP_ARCH_AARCH64"},
	    {"arm", "SCMP_ARCH_ARM"},         {"386", "SCMP_ARCH_X86"},
	    {"s390x", "SCMP_ARCH_S390X"},     {"ppc64le", "SCMP_ARCH_PPC64LE"},
	    {"riscv64", "SCMP_ARCH_RISCV64"},
	};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(map); i++)
		if (!strcmp(map[i][0], KILN_HOST_ARCH))
			return map[i][1];
	return "";
}

static int add_arch(scmp_filter_ctx ctx, const char *name, struct kiln_err *err)
{
	uint32_t tok;
	if (arch_token(name, &tok, err) < 0)
		return -1;
	int r = seccomp_arch_add(ctx, tok);
	if (r < 0 && r != -EEXIST)
		return kiln_err_set(err, -r, "seccomp: adding architecture `%s`", name);
	return 0;
}

/* docker: "architectures" or "archMap" (the entry of the native arch and
 * its sub-architectures), not both; neither means the native one only. */
static int add_arches(scmp_filter_ctx ctx, json_t *root, struct kiln_err *err)
{
	int bad = 0;
	json_t *arches = get_strarr(root, "architectures", "", err, &bad);
	json_t *map = json_object_get(root, "archMap");
	if (bad)
		return -1;
	if (map && json_is_null(map))
		map = NULL;
	if (arches && json_array_size(arches) && map && json_array_size(map))
		return perr(err, "'architectures' and 'archMap' were specified in the seccomp "
		                 "profile, use either 'architectures' or 'archMap'");
	size_t i;
	json_t *it;
	json_array_foreach(arches, i, it)
	{
		if (add_arch(ctx, json_string_value(it), err) < 0)
			return -1;
	}
	if (map && !json_is_array(map))
		return perr(err, "`archMap` must be an array");
	json_array_foreach(map, i, it)
	{
		char where[32];
		snprintf(where, sizeof(where), "archMap[%zu].", i);
		const char *a = get_str(it, "architecture", where, err, &bad);
		json_t *subs = get_strarr(it, "subArchitectures", where, err, &bad);
		if (bad)
			return -1;
		if (!a || strcmp(a, native_scmp_arch()))
			continue;
		if (add_arch(ctx, a, err) < 0)
			return -1;
		size_t j;
		json_t *s;
		json_array_foreach(subs, j, s)
		{
			if (add_arch(ctx, json_string_value(s), err) < 0)
				return -1;
		}
	}
	return 0;
}

/* --- includes / excludes -------------------------------------------------- */

static bool has_cap(const struct sc_env *env, const char *name)
{
	int c;
	if (rt_cap_from_name(name, &c, NULL) < 0)
		return false; /* docker compares names: an unknown one is never held */
	return (env->caps >> c) & 1;
}

static int parse_kernel(const char *s, unsigned *maj, unsigned *min)
{
	char tail;
	if (sscanf(s, "%u.%u%c", maj, min, &tail) < 2)
		return -1;
	return 0;
}

static bool kernel_at_least(const struct sc_env *env, unsigned maj, unsigned min)
{
	return env->kmajor > maj || (env->kmajor == maj && env->kminor >= min);
}

/* Evaluates one includes/excludes object: *match when every given
 * criterion holds (includes) / when any holds (excludes). */
static int filter_obj(json_t *o, bool exclude, const struct sc_env *env, const char *where,
                      bool *match, struct kiln_err *err)
{
	int bad = 0;
	char w[64];
	*match = !exclude;
	if (!o || json_is_null(o))
		return 0;
	if (!json_is_object(o))
		return perr(err, "`%s` must be an object", where);
	snprintf(w, sizeof(w), "%s.", where);
	json_t *arches = get_strarr(o, "arches", w, err, &bad);
	json_t *caps = get_strarr(o, "caps", w, err, &bad);
	const char *mk = get_str(o, "minKernel", w, err, &bad);
	if (bad)
		return -1;
	unsigned maj = 0, min = 0;
	if (mk && parse_kernel(mk, &maj, &min) < 0)
		return perr(err, "`%s.minKernel` `%s` is not a kernel version", where, mk);
	bool arch_hit = arches && json_array_size(arches) && strarr_has(arches, env->goarch);
	bool kernel_ok = mk && kernel_at_least(env, maj, min);
	size_t i;
	json_t *it;
	if (exclude) {
		bool any_cap = false;
		json_array_foreach(caps, i, it) any_cap |= has_cap(env, json_string_value(it));
		*match = arch_hit || any_cap || kernel_ok;
		return 0;
	}
	bool all_caps = true;
	json_array_foreach(caps, i, it) all_caps &= has_cap(env, json_string_value(it));
	*match =
	    (!arches || !json_array_size(arches) || arch_hit) && all_caps && (!mk || kernel_ok);
	return 0;
}

/* --- rules ---------------------------------------------------------------- */

static int parse_args(json_t *args, const char *where, struct scmp_arg_cmp *conds,
                      unsigned *n_conds, bool *same_index, struct kiln_err *err)
{
	unsigned counts[6] = {0};
	*n_conds = 0;
	*same_index = false;
	if (!args || json_is_null(args))
		return 0;
	if (!json_is_array(args) || json_array_size(args) > 6)
		return perr(err, "`%sargs` must be an array of at most 6 conditions", where);
	size_t i;
	json_t *a;
	json_array_foreach(args, i, a)
	{
		json_t *idx = json_object_get(a, "index"), *val = json_object_get(a, "value");
		json_t *val2 = json_object_get(a, "valueTwo"), *op = json_object_get(a, "op");
		enum scmp_compare cmp;
		if (!json_is_integer(idx) || json_integer_value(idx) < 0 ||
		    json_integer_value(idx) > 5)
			return perr(err, "`%sargs[%zu].index` must be 0 to 5", where, i);
		if ((val && !json_is_integer(val)) || (val2 && !json_is_integer(val2)))
			return perr(err, "`%sargs[%zu].value` must be an integer", where, i);
		if (!json_is_string(op) || parse_op(json_string_value(op), &cmp) < 0)
			return perr(err, "unknown operator `%s` in `%sargs[%zu].op`",
			            json_is_string(op) ? json_string_value(op) : "?", where, i);
		unsigned n = (unsigned)json_integer_value(idx);
		if (++counts[n] > 1)
			*same_index = true;
		conds[(*n_conds)++] = (struct scmp_arg_cmp){
		    .arg = n,
		    .op = cmp,
		    .datum_a = (scmp_datum_t)json_integer_value(val),
		    .datum_b = (scmp_datum_t)json_integer_value(val2),
		};
	}
	return 0;
}

/* Adds one syscall's rule; an unknown name is skipped as docker does. With
 * two conditions on one argument, each condition is its own rule (runc). */
static int add_rule(scmp_filter_ctx ctx, struct sc_env *env, const char *name, uint32_t act,
                    const struct scmp_arg_cmp *conds, unsigned n, bool split, struct kiln_err *err)
{
	int nr = seccomp_syscall_resolve_name(name);
	int r = 0;
	if (nr == __NR_SCMP_ERROR)
		return 0;
	if (n == 0 || !split)
		r = seccomp_rule_add_array(ctx, act, nr, n, conds);
	for (unsigned i = 0; split && i < n && r == 0; i++)
		r = seccomp_rule_add_array(ctx, act, nr, 1, &conds[i]);
	if (r < 0)
		return kiln_err_set(err, -r, "seccomp: adding the rule for `%s`", name);
	kiln_strv_push(&env->names, name);
	return 0;
}

static int add_syscall_entry(scmp_filter_ctx ctx, json_t *e, size_t idx, struct sc_env *env,
                             struct kiln_err *err)
{
	char where[48];
	int bad = 0;
	bool inc, exc, split;
	uint32_t act;
	struct scmp_arg_cmp conds[6];
	unsigned n_conds;
	snprintf(where, sizeof(where), "syscalls[%zu].", idx);
	if (!json_is_object(e))
		return perr(err, "`syscalls[%zu]` must be an object", idx);
	const char *name = get_str(e, "name", where, err, &bad);
	json_t *names = get_strarr(e, "names", where, err, &bad);
	const char *action = get_str(e, "action", where, err, &bad);
	if (bad)
		return -1;
	if (name && *name && names && json_array_size(names))
		return perr(err, "'name' and 'names' were specified in the seccomp profile, use "
		                 "either 'name' or 'names'");
	if (!action)
		return perr(err, "`%saction` is missing", where);
	char act_field[64], errno_field[64];
	snprintf(act_field, sizeof(act_field), "%saction", where);
	snprintf(errno_field, sizeof(errno_field), "%serrnoRet", where);
	if (parse_action(action, json_object_get(e, "errnoRet"), act_field, errno_field, &act,
	                 err) < 0 ||
	    parse_args(json_object_get(e, "args"), where, conds, &n_conds, &split, err) < 0)
		return -1;
	snprintf(where, sizeof(where), "syscalls[%zu].includes", idx);
	if (filter_obj(json_object_get(e, "includes"), false, env, where, &inc, err) < 0)
		return -1;
	snprintf(where, sizeof(where), "syscalls[%zu].excludes", idx);
	if (filter_obj(json_object_get(e, "excludes"), true, env, where, &exc, err) < 0)
		return -1;
	if (!inc || exc || act == env->defact)
		return 0;
	if (name && *name)
		return add_rule(ctx, env, name, act, conds, n_conds, split, err);
	size_t i;
	json_t *it;
	json_array_foreach(names, i, it)
	{
		if (add_rule(ctx, env, json_string_value(it), act, conds, n_conds, split, err) < 0)
			return -1;
	}
	return 0;
}

/* "flags": seccomp(2) filter flags docker passes through. */
static int parse_flags(json_t *root, unsigned *flags, struct kiln_err *err)
{
	int bad = 0;
	json_t *arr = get_strarr(root, "flags", "", err, &bad);
	size_t i;
	json_t *it;
	if (bad)
		return -1;
	*flags = 0;
	json_array_foreach(arr, i, it)
	{
		const char *f = json_string_value(it);
		if (!strcmp(f, "SECCOMP_FILTER_FLAG_TSYNC"))
			continue; /* one thread at load time */
		else if (!strcmp(f, "SECCOMP_FILTER_FLAG_LOG"))
			*flags |= SECCOMP_FILTER_FLAG_LOG;
		else if (!strcmp(f, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"))
			*flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
		else
			return perr(err, "unknown flag `%s` in `flags`", f);
	}
	return 0;
}

/* --- compile -------------------------------------------------------------- */

static void env_init(struct sc_env *env, uint64_t caps)
{
	struct utsname u;
	memset(env, 0, sizeof(*env));
	env->caps = caps;
	env->goarch = KILN_HOST_ARCH;
	env->kmajor = env->kminor = 0;
	if (uname(&u) == 0)
		parse_kernel(u.release, &env->kmajor, &env->kminor);
}

static int export_bpf(scmp_filter_ctx ctx, struct rt_seccomp *sc, struct kiln_err *err)
{
	_cleanup_close_ int fd = memfd_create("kiln-seccomp", MFD_CLOEXEC);
	char *data = NULL;
	size_t len = 0;
	if (fd < 0)
		return kiln_err_set(err, errno, "memfd_create for the seccomp program");
	int r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return kiln_err_set(err, -r, "seccomp: generating the BPF program");
	if (lseek(fd, 0, SEEK_SET) < 0)
		return kiln_err_set(err, errno, "seccomp: rewinding the BPF program");
	if (kiln_read_fd(fd, BPF_MAXINSNS * sizeof(struct sock_filter), "seccomp BPF program",
	                 &data, &len, err) < 0)
		return -1;
	if (len == 0 || len % sizeof(struct sock_filter)) {
		free(data);
		return kiln_err_set(err, KILN_E_CORRUPT, "seccomp: BPF program of %zu bytes", len);
	}
	sc->insns = (struct sock_filter *)data;
	sc->len = (unsigned short)(len / sizeof(struct sock_filter));
	return 0;
}

/* runc's ENOSYS stub: a syscall newer than any the profile names (per
 * architecture) fails with ENOSYS instead of the default action, so libc
 * falls back as it does on an older kernel (glibc's fchmodat2, say).
 * Prepended to the program; x32 calls on x86_64 are left to the filter. */
#define STUB_MAX 64

/* The highest number the profile's syscalls have on arch, -1 for none. */
static int64_t arch_max(const struct sc_env *env, uint32_t arch)
{
	int64_t max = -1;
	for (size_t i = 0; i < env->names.n; i++) {
		int nr = seccomp_syscall_resolve_name_arch(arch, env->names.v[i]);
		max = nr > max ? nr : max;
	}
	return max;
}

#define TO_MAIN             0xfe /* jump placeholders, patched once the stub's length is known */
#define TO_NOSYS            0xff
#define JUMP(op, k, jt, jf) ((struct sock_filter)BPF_JUMP(BPF_JMP | (op) | BPF_K, (k), (jt), (jf)))
#define LOAD(off)           ((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off)))

static size_t enosys_stub(scmp_filter_ctx ctx, const struct sc_env *env, struct sock_filter *p)
{
	static const uint32_t arches[] = {
	    SCMP_ARCH_X86_64,  SCMP_ARCH_X86,   SCMP_ARCH_AARCH64, SCMP_ARCH_ARM,
	    SCMP_ARCH_PPC64LE, SCMP_ARCH_S390X, SCMP_ARCH_S390,    SCMP_ARCH_RISCV64,
	};
	size_t n = 0;
	if (env->defact == SCMP_ACT_ALLOW || env->defact == SCMP_ACT_LOG)
		return 0;
	for (size_t a = 0; a < KILN_ARRAY_SIZE(arches); a++) {
		int64_t max =
		    seccomp_arch_exist(ctx, arches[a]) == 0 ? arch_max(env, arches[a]) : -1;
		if (max < 0 || n + 6 > STUB_MAX - 2)
			continue;
		/* x32 calls come as x86_64 with the 0x40000000 bit: their own limit */
		bool x86_64 = arches[a] == SCMP_ARCH_X86_64;
		int64_t x32 = x86_64 && seccomp_arch_exist(ctx, SCMP_ARCH_X32) == 0
		                  ? arch_max(env, SCMP_ARCH_X32)
		                  : -1;
		p[n++] = LOAD(4); /* arch */
		p[n++] = JUMP(BPF_JEQ, arches[a], 0, x86_64 ? (x32 >= 0 ? 4 : 3) : 2);
		p[n++] = LOAD(0); /* nr */
		if (x86_64 && x32 >= 0) {
			p[n++] = JUMP(BPF_JSET, 0x40000000, 0, 1);
			p[n++] = JUMP(BPF_JGT, (uint32_t)x32, TO_NOSYS, TO_MAIN);
		} else if (x86_64) {
			p[n++] = JUMP(BPF_JSET, 0x40000000, TO_MAIN, 0);
		}
		p[n++] = JUMP(BPF_JGT, (uint32_t)max, TO_NOSYS, TO_MAIN);
	}
	if (n == 0)
		return 0;
	/* tail: [n] ja +1 (on to the filter), [n+1] ret ENOSYS */
	for (size_t i = 0; i < n; i++) {
		if (BPF_CLASS(p[i].code) != BPF_JMP)
			continue;
		p[i].jt = p[i].jt == TO_NOSYS  ? (uint8_t)(n - i)
		          : p[i].jt == TO_MAIN ? (uint8_t)(n - i - 1)
		                               : p[i].jt;
		p[i].jf = p[i].jf == TO_NOSYS  ? (uint8_t)(n - i)
		          : p[i].jf == TO_MAIN ? (uint8_t)(n - i - 1)
		                               : p[i].jf;
	}
	p[n++] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 1);
	p[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
	return n;
}

static int add_enosys_stub(scmp_filter_ctx ctx, const struct sc_env *env, struct rt_seccomp *sc,
                           struct kiln_err *err)
{
	struct sock_filter stub[STUB_MAX];
	size_t n = enosys_stub(ctx, env, stub);
	if (n == 0)
		return 0;
	if (sc->len + n > BPF_MAXINSNS)
		return kiln_err_set(err, KILN_E_LIMIT,
		                    "seccomp: the filter has more than %d instructions",
		                    BPF_MAXINSNS);
	struct sock_filter *all = xreallocarray(NULL, sc->len + n, sizeof(*all));
	memcpy(all, stub, n * sizeof(*all));
	memcpy(all + n, sc->insns, sc->len * sizeof(*all));
	free(sc->insns);
	sc->insns = all;
	sc->len = (unsigned short)(sc->len + n);
	return 0;
}

static int build(json_t *root, uint64_t caps, struct rt_seccomp *sc, struct kiln_err *err)
{
	struct sc_env env;
	int bad = 0;
	env_init(&env, caps);
	if (!json_is_object(root))
		return perr(err, "the profile must be a JSON object");
	const char *def = get_str(root, "defaultAction", "", err, &bad);
	if (bad)
		return -1;
	if (!def)
		return perr(err, "`defaultAction` is missing");
	if (parse_action(def, json_object_get(root, "defaultErrnoRet"), "defaultAction",
	                 "defaultErrnoRet", &env.defact, err) < 0)
		return -1;
	if (parse_flags(root, &sc->flags, err) < 0)
		return -1;
	json_t *calls = json_object_get(root, "syscalls");
	if (calls && !json_is_null(calls) && !json_is_array(calls))
		return perr(err, "`syscalls` must be an array");
	scmp_filter_ctx ctx = seccomp_init(env.defact);
	if (!ctx)
		return kiln_err_set(err, EINVAL, "seccomp_init");
	int ret = -1;
	/* the caller decides about no_new_privs; more than 32 calls: binary tree */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) < 0)
		goto out;
	if (json_array_size(calls) > 32)
		seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (add_arches(ctx, root, err) < 0)
		goto out;
	size_t i;
	json_t *e;
	json_array_foreach(calls, i, e)
	{
		if (add_syscall_entry(ctx, e, i, &env, err) < 0)
			goto out;
	}
	ret = export_bpf(ctx, sc, err);
	if (ret == 0)
		ret = add_enosys_stub(ctx, &env, sc, err);
out:
	seccomp_release(ctx);
	kiln_strv_release(&env.names);
	return ret;
}

/* --- the compiled-program cache ----------------------------------------- */
/* libseccomp takes about 10 ms of CPU for docker's profile on three
 * architectures, as long as a whole container start by crun. So, as crun
 * does, compiled programs are kept: in memory (the builder's RUN steps)
 * and, when the caller names a directory, on disk under a key of
 * everything the program depends on. */

#define CACHE_MAGIC "KSC1"

struct cache_hdr {
	char magic[4];
	uint32_t flags, len, reserved;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static char *cache_dir;
static char mem_key[KILN_DIGEST_LEN];
static struct rt_seccomp mem_sc;

void rt_seccomp_set_cache_dir(const char *dir)
{
	pthread_mutex_lock(&cache_lock);
	free(cache_dir);
	cache_dir = dir ? xstrdup(dir) : NULL;
	pthread_mutex_unlock(&cache_lock);
}

/* The "kiln-seccomp-N" tag changes whenever the program kiln generates
 * from a profile does (the stub, say), so old cache files are not used.
 * XXH3-128, a local cache key (ARCHITECTURE.md decision 5): it keeps
 * libcrypto out of the container monitor, which compiles filters too. */
static void cache_key(const char *profile, size_t len, uint64_t caps, char key[KILN_DIGEST_LEN])
{
	struct kiln_xxh128_state h;
	struct kiln_xxh128 sum;
	struct utsname u;
	const struct scmp_version *v = seccomp_version();
	char head[512];
	if (uname(&u) < 0)
		memset(&u, 0, sizeof(u));
	snprintf(head, sizeof(head), "kiln-seccomp-3\n%s\n%s\n%u.%u.%u\n%016llx\n", u.release,
	         KILN_HOST_ARCH, v ? v->major : 0, v ? v->minor : 0, v ? v->micro : 0,
	         (unsigned long long)caps);
	kiln_xxh128_init(&h);
	kiln_xxh128_update(&h, head, strlen(head));
	kiln_xxh128_update(&h, profile, len);
	kiln_xxh128_final(&h, &sum);
	char hex[33];
	kiln_xxh128_hex(&sum, hex);
	snprintf(key, KILN_DIGEST_LEN, "xxh128:%s", hex);
}

static struct rt_seccomp *sc_copy(const struct sock_filter *insns, unsigned len, unsigned flags)
{
	struct rt_seccomp *sc = xcalloc(1, sizeof(*sc));
	sc->insns = xmemdup(insns, len * sizeof(*insns));
	sc->len = (unsigned short)len;
	sc->flags = flags;
	return sc;
}

/* Called with cache_lock held. */
static struct rt_seccomp *cache_get(const char *key)
{
	if (mem_sc.insns && !strcmp(key, mem_key))
		return sc_copy(mem_sc.insns, mem_sc.len, mem_sc.flags);
	if (!cache_dir)
		return NULL;
	_cleanup_free_ char *path = xasprintf("%s/%s.bpf", cache_dir, kiln_digest_hex(key));
	_cleanup_free_ char *data = NULL;
	size_t n = 0;
	struct cache_hdr h;
	if (kiln_read_file(path, sizeof(h) + BPF_MAXINSNS * sizeof(struct sock_filter), &data, &n,
	                   NULL) < 0 ||
	    n < sizeof(h))
		return NULL;
	memcpy(&h, data, sizeof(h));
	if (memcmp(h.magic, CACHE_MAGIC, 4) || h.len == 0 || h.len > BPF_MAXINSNS ||
	    n != sizeof(h) + h.len * sizeof(struct sock_filter))
		return NULL; /* not ours or torn: compiled again and replaced */
	return sc_copy((const struct sock_filter *)(data + sizeof(h)), h.len, h.flags);
}

static void cache_put(const char *key, const struct rt_seccomp *sc)
{
	free(mem_sc.insns);
	mem_sc.insns = xmemdup(sc->insns, sc->len * sizeof(*sc->insns));
	mem_sc.len = sc->len;
	mem_sc.flags = sc->flags;
	snprintf(mem_key, sizeof(mem_key), "%s", key);
	if (!cache_dir || kiln_mkdir_p(cache_dir, 0700, NULL) < 0)
		return;
	struct cache_hdr h = {.flags = sc->flags, .len = sc->len};
	memcpy(h.magic, CACHE_MAGIC, 4);
	size_t n = sizeof(h) + sc->len * sizeof(struct sock_filter);
	_cleanup_free_ char *data = xmalloc(n);
	memcpy(data, &h, sizeof(h));
	memcpy(data + sizeof(h), sc->insns, n - sizeof(h));
	_cleanup_free_ char *path = xasprintf("%s/%s.bpf", cache_dir, kiln_digest_hex(key));
	kiln_write_file_atomic(path, data, n, 0600, NULL); /* best effort */
}

static int compile_uncached(const char *profile, size_t len, uint64_t caps, struct rt_seccomp **out,
                            struct kiln_err *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(profile, len, 0, &jerr);
	if (!root)
		return perr(err, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
		            jerr.text);
	struct rt_seccomp *sc = xcalloc(1, sizeof(*sc));
	int r = build(root, caps, sc, err);
	json_decref(root);
	if (r < 0) {
		rt_seccomp_free(sc);
		return -1;
	}
	*out = sc;
	return 0;
}

int rt_seccomp_compile(const char *profile, size_t len, uint64_t caps, struct rt_seccomp **out,
                       struct kiln_err *err)
{
	char key[KILN_DIGEST_LEN];
	if (!profile) {
		profile = rt_seccomp_default_profile;
		len = strlen(rt_seccomp_default_profile);
	}
	if (len > PROFILE_MAX)
		return kiln_err_set(err, KILN_E_LIMIT, "seccomp profile larger than %u bytes",
		                    PROFILE_MAX);
	cache_key(profile, len, caps, key);
	pthread_mutex_lock(&cache_lock);
	*out = cache_get(key);
	pthread_mutex_unlock(&cache_lock);
	if (*out)
		return 0;
	if (compile_uncached(profile, len, caps, out, err) < 0)
		return -1;
	pthread_mutex_lock(&cache_lock);
	cache_put(key, *out);
	pthread_mutex_unlock(&cache_lock);
	return 0;
}

/* Child side: one syscall (prctl on kernels without seccomp(2)). */
int rt_seccomp_load(const struct rt_seccomp *sc, struct kiln_err *err)
{
	struct sock_fprog prog = {.len = sc->len, .filter = sc->insns};
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, sc->flags, &prog) == 0)
		return 0;
	if (errno == ENOSYS && sc->flags == 0 &&
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0L, 0L) == 0)
		return 0;
	return kiln_err_set(err, errno, "loading the seccomp filter");
}

void rt_seccomp_free(struct rt_seccomp *sc)
{
	if (!sc)
		return;
	free(sc->insns);
	free(sc);
}
