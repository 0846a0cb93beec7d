/* AST node -> typed instruction (BuildKit's instructions.ParseInstruction).
 * Words stay unexpanded; see the graph section of parser.h. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "graph-internal.h"

struct req {
	const struct df_node *n;
	struct df_instr *out;
	const char *name; /* upper-case keyword for messages */
};

static int err_at_least_one(const char *cmd, struct kiln_err *err)
{
	return kiln_err_set(err, KILN_E_INVALID, "%s requires at least one argument", cmd);
}

static int err_exactly_one(const char *cmd, struct kiln_err *err)
{
	return kiln_err_set(err, KILN_E_INVALID, "%s requires exactly one argument", cmd);
}

/* An instruction that takes no flags: any flag is "unknown flag: x". */
static int no_flags(const struct req *r, struct kiln_err *err)
{
	return df_flags_parse(r->n->flags, r->n->n_flags, NULL, 0, err);
}

static void push_args(struct kiln_strv *sv, char *const *args, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kiln_strv_push(sv, args[i]);
}

/* BuildKit handleJSONArgs: exec form keeps the words, shell form joins them. */
static void cmdline_init(struct df_cmdline *c, const struct df_node *n, char *const *args,
                         size_t n_args)
{
	c->exec_form = n->json_form;
	if (n_args == 0)
		return;
	if (n->json_form) {
		push_args(&c->argv, args, n_args);
		return;
	}
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addstr(&b, "", NULL);
	for (size_t i = 0; i < n_args; i++)
		kiln_buf_addf(&b, NULL, "%s%s", i ? " " : "", args[i]);
	kiln_strv_push_take(&c->argv, kiln_buf_detach(&b, NULL));
}

static int parse_kvs(const struct req *r, struct kiln_err *err)
{
	if (no_flags(r, err) < 0)
		return -1;
	const struct df_node *n = r->n;
	if (n->n_args == 0)
		return err_at_least_one(r->name, err);
	if (n->n_args % 3)
		return kiln_err_set(err, KILN_E_INVALID, "Bad input to %s, too many arguments",
		                    r->name);
	struct df_instr *o = r->out;
	o->u.kv.kvs = xcalloc(n->n_args / 3, sizeof(struct df_kv));
	for (size_t i = 0; i < n->n_args; i += 3) {
		if (!n->args[i][0])
			return kiln_err_set(err, KILN_E_INVALID, "%s names can not be blank",
			                    r->name);
		struct df_kv *kv = &o->u.kv.kvs[o->u.kv.n_kvs++];
		kv->key = xstrdup(n->args[i]);
		kv->value = xstrdup(n->args[i + 1]);
		kv->no_delim = !n->args[i + 2][0];
	}
	return 0;
}

static int parse_arg(const struct req *r, struct kiln_err *err)
{
	if (no_flags(r, err) < 0)
		return -1;
	const struct df_node *n = r->n;
	if (n->n_args == 0)
		return err_at_least_one("ARG", err);
	struct df_instr *o = r->out;
	o->u.kv.kvs = xcalloc(n->n_args, sizeof(struct df_kv));
	for (size_t i = 0; i < n->n_args; i++) {
		const char *a = n->args[i], *eq = strchr(a, '=');
		if (eq == a)
			return kiln_err_set(err, KILN_E_INVALID, "ARG names can not be blank");
		struct df_kv *kv = &o->u.kv.kvs[o->u.kv.n_kvs++];
		kv->key = eq ? xstrndup(a, (size_t)(eq - a)) : xstrdup(a);
		kv->value = eq ? xstrdup(eq + 1) : NULL;
	}
	return 0;
}

static int parse_one_word(const struct req *r, struct kiln_err *err)
{
	if (r->n->n_args != 1)
		return err_exactly_one(r->name, err);
	if (no_flags(r, err) < 0)
		return -1;
	r->out->u.word = xstrdup(r->n->args[0]);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int parse_words(const struct req *r, struct kiln_err *err)
{
	const struct df_node *n = r->n;
	if (n->n_args == 0)
		return err_at_least_one(r->name, err);
	if (no_flags(r, err) < 0)
		return -1;
	struct kiln_strv *w = &r->out->u.words;
	for (size_t i = 0; i < n->n_args; i++) {
		if (r->out->kind == DF_I_VOLUME) {
			const char *s = n->args[i], *e = s + strlen(s);
			while (*s && isspace((unsigned char)*s))
				s++;
			while (e > s && isspace((unsigned char)e[-1]))
				e--;
			if (e == s)
				return kiln_err_set(err, KILN_E_INVALID,
				                    "VOLUME specified can not be an empty string");
			kiln_strv_push_take(w, xstrndup(s, (size_t)(e - s)));
		} else {
			kiln_strv_push(w, n->args[i]);
		}
	}
	if (r->out->kind == DF_I_EXPOSE) /* BuildKit sorts the port words */
		qsort(w->v, w->n, sizeof(char *), cmp_str);
	return 0;
}

static int parse_shell(const struct req *r, struct kiln_err *err)
{
	if (no_flags(r, err) < 0)
		return -1;
	if (r->n->n_args == 0)
		return err_at_least_one("SHELL", err);
	if (!r->n->json_form)
		return kiln_err_set(err, KILN_E_INVALID,
		                    "SHELL requires the arguments to be in JSON form");
	push_args(&r->out->u.words, r->n->args, r->n->n_args);
	return 0;
}

static int parse_cmd(const struct req *r, struct kiln_err *err)
{
	if (no_flags(r, err) < 0)
		return -1;
	cmdline_init(&r->out->u.cmd, r->n, r->n->args, r->n->n_args);
	return 0;
}

static int parse_run_flags(struct df_run *run, struct df_flag *fl, struct kiln_err *err)
{
	for (size_t i = 0; i < fl[0].values.n; i++) {
		run->mounts = xreallocarray(run->mounts, run->n_mounts + 1, sizeof(*run->mounts));
		if (df_mount_parse(fl[0].values.v[i], false, &run->mounts[run->n_mounts], err) < 0)
			return -1;
		run->n_mounts++;
	}
	if (fl[1].value) {
		if (!strcmp(fl[1].value, "default"))
			run->network = DF_NET_DEFAULT;
		else if (!strcmp(fl[1].value, "none"))
			run->network = DF_NET_NONE;
		else if (!strcmp(fl[1].value, "host"))
			run->network = DF_NET_HOST;
		else
			return kiln_err_set(err, KILN_E_INVALID, "unsupported network mode \"%s\"",
			                    fl[1].value);
	}
	if (fl[2].value) {
		if (!strcmp(fl[2].value, "sandbox"))
			run->security = DF_SEC_SANDBOX;
		else if (!strcmp(fl[2].value, "insecure"))
			run->security = DF_SEC_INSECURE;
		else
			return kiln_err_set(err, KILN_E_INVALID, "unsupported security mode \"%s\"",
			                    fl[2].value);
	}
	return 0;
}

static int parse_run(const struct req *r, struct kiln_err *err)
{
	struct df_flag fl[] = {
	    {.name = "mount", .type = DF_FLAG_STRINGS},
	    {.name = "network", .type = DF_FLAG_STRING},
	    {.name = "security", .type = DF_FLAG_STRING},
	};
	struct df_run *run = &r->out->u.run;
	int ret = df_flags_parse(r->n->flags, r->n->n_flags, fl, KILN_ARRAY_SIZE(fl), err);
	if (ret == 0)
		ret = parse_run_flags(run, fl, err);
	df_flags_release(fl, KILN_ARRAY_SIZE(fl));
	if (ret < 0)
		return -1;
	cmdline_init(&run->cmd, r->n, r->n->args, r->n->n_args);
	run->cmd.files = df_heredocs_dup(r->n->heredocs, r->n->n_heredocs);
	run->cmd.n_files = r->n->n_heredocs;
	return 0;
}

/* parser.MustParseHeredoc on one word: "[fd]<<[-]NAME"; returns the name
 * after quote removal (allocated) or NULL. */
static char *heredoc_marker(const char *w)
{
	while (isdigit((unsigned char)*w))
		w++;
	if (strncmp(w, "<<", 2))
		return NULL;
	w += 2;
	if (*w == '-')
		w++;
	while (*w == ' ' || *w == '\t')
		w++;
	if (!*w || strchr(w, '<'))
		return NULL;
	char *name = xmalloc(strlen(w) + 1), *p = name;
	for (; *w; w++)
		if (*w != '"' && *w != '\'')
			*p++ = *w;
	*p = '\0';
	return name;
}

static void add_content(struct df_copy *c, const struct df_node *n, char *name)
{
	struct df_heredoc h = {.name = name, .content = xstrdup(""), .expand = true};
	for (size_t i = 0; i < n->n_heredocs; i++) {
		if (strcmp(n->heredocs[i].name, name))
			continue;
		free(h.content);
		h.content = n->heredocs[i].chomp ? df_heredoc_chomp(n->heredocs[i].content)
		                                 : xstrdup(n->heredocs[i].content);
		h.expand = n->heredocs[i].expand;
		h.chomp = n->heredocs[i].chomp;
		h.fd = n->heredocs[i].fd;
		break;
	}
	c->contents = xreallocarray(c->contents, c->n_contents + 1, sizeof(*c->contents));
	c->contents[c->n_contents++] = h;
}

static int sources_and_dest(const struct req *r, struct df_copy *c, struct kiln_err *err)
{
	const struct df_node *n = r->n;
	char *m = n->json_form ? NULL : heredoc_marker(n->args[n->n_args - 1]);
	if (m) {
		free(m);
		return kiln_err_set(err, KILN_E_INVALID,
		                    "%s cannot accept a heredoc as a destination", r->name);
	}
	c->dest = xstrdup(n->args[n->n_args - 1]);
	for (size_t i = 0; i + 1 < n->n_args; i++) {
		m = n->json_form || !n->n_heredocs ? NULL : heredoc_marker(n->args[i]);
		if (m)
			add_content(c, n, m);
		else
			kiln_strv_push(&c->srcs, n->args[i]);
	}
	return 0;
}

static char *flag_dup(const struct df_flag *f)
{
	return f->used && f->value ? xstrdup(f->value) : NULL;
}

static int parse_copy(const struct req *r, struct kiln_err *err)
{
	bool add = r->out->kind == DF_I_ADD;
	if (r->n->n_args < 2)
		return kiln_err_set(err, KILN_E_INVALID,
		                    "%s requires at least two arguments, but only one was "
		                    "provided. Destination could not be determined",
		                    r->name);
	/* COPY: exclude parents chown from chmod link; ADD: exclude chown chmod
	 * link keep-git-dir checksum unpack */
	struct df_flag fl[] = {
	    {.name = "exclude", .type = DF_FLAG_STRINGS},
	    {.name = "chown", .type = DF_FLAG_STRING},
	    {.name = "chmod", .type = DF_FLAG_STRING},
	    {.name = "link", .type = DF_FLAG_BOOL},
	    {.name = add ? "keep-git-dir" : "parents", .type = DF_FLAG_BOOL},
	    {.name = add ? "checksum" : "from", .type = DF_FLAG_STRING},
	    {.name = "unpack", .type = DF_FLAG_BOOL},
	};
	size_t nfl = add ? KILN_ARRAY_SIZE(fl) : KILN_ARRAY_SIZE(fl) - 1;
	struct df_copy *c = &r->out->u.copy;
	c->from_stage = -1;
	c->exec_form = r->n->json_form;
	int ret = df_flags_parse(r->n->flags, r->n->n_flags, fl, nfl, err);
	if (ret == 0) {
		df_strv_copy(&c->excludes, &fl[0].values);
		c->chown = flag_dup(&fl[1]);
		c->chmod = flag_dup(&fl[2]);
		c->link = df_flag_true(&fl[3]);
		if (add) {
			c->keep_git_dir = df_flag_true(&fl[4]);
			c->checksum = flag_dup(&fl[5]);
			c->unpack_set = fl[6].used;
			c->unpack = df_flag_true(&fl[6]);
		} else {
			c->parents = df_flag_true(&fl[4]);
			c->from = flag_dup(&fl[5]);
		}
		ret = sources_and_dest(r, c, err);
	}
	df_flags_release(fl, nfl);
	return ret;
}

static bool valid_stage_name(const char *s)
{
	if (!(*s >= 'a' && *s <= 'z'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || isdigit((unsigned char)*s) || strchr("-_.", *s)))
			return false;
	return true;
}

static int parse_from(const struct req *r, struct kiln_err *err)
{
	const struct df_node *n = r->n;
	struct df_from *f = &r->out->u.from;
	if (n->n_args == 3 && !strcasecmp(n->args[1], "as")) {
		f->name = xstrdup(n->args[2]);
		for (char *p = f->name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (!valid_stage_name(f->name))
			return kiln_err_set(
			    err, KILN_E_INVALID,
			    "invalid name for build stage: \"%s\", name can't start "
			    "with a number or contain symbols",
			    n->args[2]);
	} else if (n->n_args != 1) {
		return kiln_err_set(err, KILN_E_INVALID,
		                    "FROM requires either one or three arguments");
	}
	struct df_flag fl[] = {{.name = "platform", .type = DF_FLAG_STRING}};
	if (df_flags_parse(n->flags, n->n_flags, fl, 1, err) < 0)
		return -1;
	f->base = xstrdup(n->args[0]);
	f->platform = flag_dup(&fl[0]);
	return 0;
}

static int parse_onbuild(const struct req *r, struct kiln_err *err)
{
	const struct df_node *n = r->n, *sub = n->sub;
	if (!sub)
		return err_at_least_one("ONBUILD", err);
	if (no_flags(r, err) < 0)
		return -1;
	char *trig = xstrdup(sub->cmd_orig ? sub->cmd_orig : sub->cmd);
	for (char *p = trig; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	r->out->u.onbuild.trigger = trig;
	if (!strcmp(trig, "ONBUILD"))
		return kiln_err_set(err, KILN_E_INVALID,
		                    "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
	if (!strcmp(trig, "MAINTAINER") || !strcmp(trig, "FROM"))
		return kiln_err_set(err, KILN_E_INVALID, "%s isn't allowed as an ONBUILD trigger",
		                    trig);
	/* original without the leading "ONBUILD" and whitespace, heredocs appended */
	const char *s = n->original ? n->original : "";
	while (isspace((unsigned char)*s))
		s++;
	if (!strncasecmp(s, "onbuild", 7))
		s += 7;
	while (isspace((unsigned char)*s))
		s++;
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addstr(&b, s, NULL);
	const struct df_heredoc *h = n->n_heredocs ? n->heredocs : sub->heredocs;
	size_t nh = n->n_heredocs ? n->n_heredocs : sub->n_heredocs;
	for (size_t i = 0; i < nh; i++)
		kiln_buf_addf(&b, NULL, "\n%s%s", h[i].content, h[i].name);
	r->out->u.onbuild.expression = kiln_buf_detach(&b, NULL);
	return 0;
}

static int opt_interval(const struct df_flag *f, long long *out, struct kiln_err *err)
{
	*out = 0;
	if (!f->value || !*f->value)
		return 0;
	if (df_parse_duration(f->value, out, err) < 0)
		return -1;
	if (*out != 0 && *out < 1000000)
		return kiln_err_set(err, KILN_E_INVALID, "Interval \"%s\" cannot be less than 1ms",
		                    f->name);
	return 0;
}

static int health_flags(struct df_health *h, const struct df_flag *fl, struct kiln_err *err)
{
	if (opt_interval(&fl[0], &h->interval, err) < 0 ||
	    opt_interval(&fl[1], &h->timeout, err) < 0 ||
	    opt_interval(&fl[2], &h->start_period, err) < 0 ||
	    opt_interval(&fl[3], &h->start_interval, err) < 0)
		return -1;
	const char *rv = fl[4].value;
	if (rv && *rv) {
		char *end;
		errno = 0;
		long long v = strtoll(rv, &end, 10);
		if (*end || end == rv || isspace((unsigned char)*rv))
			return kiln_err_set(err, KILN_E_INVALID,
			                    "strconv.ParseInt: parsing \"%s\": invalid syntax", rv);
		if (errno || v > 2147483647LL || v < -2147483648LL)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "strconv.ParseInt: parsing \"%s\": value out of range",
			                    rv);
		if (v < 0)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "--retries cannot be negative (%lld)", v);
		h->retries = (int)v;
	}
	return 0;
}

static int parse_healthcheck(const struct req *r, struct kiln_err *err)
{
	const struct df_node *n = r->n;
	struct df_health *h = &r->out->u.health;
	if (n->n_args == 0)
		return err_at_least_one("HEALTHCHECK", err);
	char *typ = xstrdup(n->args[0]);
	for (char *p = typ; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	int ret = 0;
	if (!strcmp(typ, "NONE")) {
		if (n->n_args != 1)
			ret = kiln_err_set(err, KILN_E_INVALID,
			                   "HEALTHCHECK NONE takes no arguments");
		else if ((ret = no_flags(r, err)) == 0)
			kiln_strv_push(&h->test, "NONE");
		free(typ);
		return ret;
	}
	struct df_flag fl[] = {
	    {.name = "interval", .type = DF_FLAG_STRING},
	    {.name = "timeout", .type = DF_FLAG_STRING},
	    {.name = "start-period", .type = DF_FLAG_STRING},
	    {.name = "start-interval", .type = DF_FLAG_STRING},
	    {.name = "retries", .type = DF_FLAG_STRING},
	};
	ret = df_flags_parse(n->flags, n->n_flags, fl, KILN_ARRAY_SIZE(fl), err);
	if (ret == 0 && strcmp(typ, "CMD"))
		ret = kiln_err_set(err, KILN_E_INVALID,
		                   "Unknown type \"%s\" in HEALTHCHECK (try CMD)", typ);
	if (ret == 0) {
		struct df_cmdline c = {0};
		cmdline_init(&c, n, n->args + 1, n->n_args - 1);
		if (c.argv.n == 0) {
			ret = kiln_err_set(err, KILN_E_INVALID,
			                   "Missing command after HEALTHCHECK CMD");
		} else {
			kiln_strv_push(&h->test, n->json_form ? "CMD" : "CMD-SHELL");
			for (size_t i = 0; i < c.argv.n; i++)
				kiln_strv_push(&h->test, c.argv.v[i]);
		}
		kiln_strv_release(&c.argv);
	}
	if (ret == 0)
		ret = health_flags(h, fl, err);
	df_flags_release(fl, KILN_ARRAY_SIZE(fl));
	free(typ);
	return ret;
}

static const struct {
	const char *name;
	enum df_instr_kind kind;
	int (*parse)(const struct req *r, struct kiln_err *err);
} instr_table[] = {
    [DF_I_FROM] = {"FROM", DF_I_FROM, parse_from},
    [DF_I_RUN] = {"RUN", DF_I_RUN, parse_run},
    [DF_I_CMD] = {"CMD", DF_I_CMD, parse_cmd},
    [DF_I_ENTRYPOINT] = {"ENTRYPOINT", DF_I_ENTRYPOINT, parse_cmd},
    [DF_I_SHELL] = {"SHELL", DF_I_SHELL, parse_shell},
    [DF_I_LABEL] = {"LABEL", DF_I_LABEL, parse_kvs},
    [DF_I_MAINTAINER] = {"MAINTAINER", DF_I_MAINTAINER, parse_one_word},
    [DF_I_EXPOSE] = {"EXPOSE", DF_I_EXPOSE, parse_words},
    [DF_I_ENV] = {"ENV", DF_I_ENV, parse_kvs},
    [DF_I_ADD] = {"ADD", DF_I_ADD, parse_copy},
    [DF_I_COPY] = {"COPY", DF_I_COPY, parse_copy},
    [DF_I_VOLUME] = {"VOLUME", DF_I_VOLUME, parse_words},
    [DF_I_USER] = {"USER", DF_I_USER, parse_one_word},
    [DF_I_WORKDIR] = {"WORKDIR", DF_I_WORKDIR, parse_one_word},
    [DF_I_ARG] = {"ARG", DF_I_ARG, parse_arg},
    [DF_I_ONBUILD] = {"ONBUILD", DF_I_ONBUILD, parse_onbuild},
    [DF_I_STOPSIGNAL] = {"STOPSIGNAL", DF_I_STOPSIGNAL, parse_one_word},
    [DF_I_HEALTHCHECK] = {"HEALTHCHECK", DF_I_HEALTHCHECK, parse_healthcheck},
};

const char *df_instr_name(enum df_instr_kind kind)
{
	if ((size_t)kind >= KILN_ARRAY_SIZE(instr_table))
		return "?";
	return instr_table[kind].name;
}

static int unknown_instruction(const struct df_node *n, struct kiln_err *err)
{
	const char *names[KILN_ARRAY_SIZE(instr_table)];
	for (size_t i = 0; i < KILN_ARRAY_SIZE(instr_table); i++)
		names[i] = instr_table[i].name;
	const char *kw = n->cmd_orig ? n->cmd_orig : n->cmd;
	char buf[32];
	const char *s = df_suggest(kw, names, KILN_ARRAY_SIZE(names), false, buf, sizeof(buf));
	if (s)
		return kiln_err_set(err, KILN_E_INVALID,
		                    "unknown instruction: %s (did you mean %s?)", kw, s);
	return kiln_err_set(err, KILN_E_INVALID, "unknown instruction: %s", kw);
}

/* A JSON-form string may hold NUL ("\u0000"). No program argument, path or
 * image config value that the instruction turns into can (BuildKit fails
 * later, when it executes or copies): refuse it here, naming the line. */
static int check_nul(const struct df_node *node, const char *name, struct kiln_err *err)
{
	for (size_t i = 0; node->json_form && i < node->n_args; i++)
		if (strlen(node->args[i]) != node->arg_lens[i])
			return kiln_err_set(err, KILN_E_INVALID,
			                    "%s argument %zu contains a NUL character (\\u0000), "
			                    "which no command argument or path can hold",
			                    name, i + 1);
	return 0;
}

int df_instr_from_node(const struct df_node *node, const char *filename, struct df_instr *out,
                       struct kiln_err *err)
{
	memset(out, 0, sizeof(*out));
	const char *file = filename ? filename : "Dockerfile";
	size_t k = 0;
	while (k < KILN_ARRAY_SIZE(instr_table) && strcasecmp(node->cmd, instr_table[k].name))
		k++;
	if (k == KILN_ARRAY_SIZE(instr_table)) {
		unknown_instruction(node, err);
		return kiln_err_wrap(err, "%s:%d", file, node->start_line);
	}
	out->kind = instr_table[k].kind;
	out->start_line = node->start_line;
	out->end_line = node->end_line;
	out->original = xstrdup(node->original ? node->original : "");
	push_args(&out->flags, node->flags, node->n_flags);
	if (out->kind == DF_I_COPY || out->kind == DF_I_ADD)
		out->u.copy.from_stage = -1;
	struct req r = {node, out, instr_table[k].name};
	if (check_nul(node, instr_table[k].name, err) < 0 || instr_table[k].parse(&r, err) < 0) {
		df_instr_release(out);
		return kiln_err_wrap(err, "%s:%d", file, node->start_line);
	}
	return 0;
}
