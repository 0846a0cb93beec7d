/* Stage 3 of the parser: typed instructions and the instruction graph. */
#include <stdlib.h>
#include <string.h>

#include "parser.h"
#include "tap.h"

struct fixture {
	struct df_ast ast;
	struct df_graph g;
	struct kiln_err err;
	bool ok;
};

static void build_opts(struct fixture *f, const char *text, const struct df_graph_opts *o)
{
	memset(f, 0, sizeof(*f));
	if (df_parse(text, strlen(text), "Dockerfile", &f->ast, &f->err) < 0)
		return;
	f->ok = df_graph_build(&f->ast, o, &f->g, &f->err) == 0;
}

static void build(struct fixture *f, const char *text)
{
	struct df_graph_opts o = {.build_platform = "linux/amd64"};
	build_opts(f, text, &o);
}

static void done(struct fixture *f)
{
	if (f->ok)
		df_graph_release(&f->g);
	df_ast_release(&f->ast);
	kiln_err_release(&f->err);
}

/* The error message for a Dockerfile that must fail. */
static void expect_error(const char *text, const char *want, const char *name)
{
	struct fixture f;
	build(&f, text);
	if (!T_OK(!f.ok, "%s fails", name)) {
		done(&f);
		return;
	}
	T_INTEQ(f.err.code, KILN_E_INVALID, "%s: KILN_E_INVALID", name);
	T_STREQ(f.err.msg, want, "%s: message", name);
	done(&f);
}

/* Expanded text of step i of stage s. */
static char *step_text(struct fixture *f, size_t s, size_t i)
{
	struct df_instr *x = NULL;
	if (df_graph_expand_stage(&f->g, s, &x, &f->err) < 0)
		return xasprintf("error: %s", f->err.msg);
	char *t = df_instr_format(&x[i]);
	for (size_t j = 0; j < f->g.stages[s].n_instrs; j++)
		df_instr_release(&x[j]);
	free(x);
	return t;
}

static void test_stages(void)
{
	struct fixture f;
	build(&f, "# syntax=docker/dockerfile:1\n"
	          "ARG BASE=busybox:latest\n"
	          "FROM ${BASE} AS Site\n"
	          "WORKDIR /src\n"
	          "COPY www/ ./www/\n"
	          "FROM site\n"
	          "COPY --from=site /out/ ./\n"
	          "FROM later\n"
	          "FROM alpine AS later\n");
	T_OK(f.ok, "example graph builds%s%s", f.ok ? "" : ": ", f.ok ? "" : f.err.msg);
	if (!f.ok)
		return done(&f);
	T_INTEQ(f.g.n_meta_args, 1, "one meta ARG");
	T_INTEQ(f.g.n_stages, 4, "four stages");
	T_STREQ(f.g.stages[0].name, "site", "stage name lower-cased");
	T_STREQ(f.g.stages[0].base, "${BASE}", "base kept unexpanded");
	T_STREQ(f.g.stages[0].base_expanded, "busybox:latest", "base expanded with meta ARG");
	T_INTEQ(f.g.stages[0].base_stage, -1, "image base");
	T_INTEQ(f.g.stages[0].n_instrs, 2, "stage 0 has two steps");
	T_INTEQ(f.g.stages[0].instrs[1].start_line, 5, "COPY on line 5");
	T_STREQ(f.g.stages[0].instrs[1].original, "COPY www/ ./www/", "original text");
	T_INTEQ(f.g.stages[1].base_stage, 0, "FROM earlier stage resolves to its index");
	T_OK(f.g.stages[1].name == NULL, "unnamed stage");
	T_INTEQ(f.g.stages[2].base_stage, -1, "FROM a later stage's name is an image");
	T_INTEQ(f.g.stages[1].instrs[0].u.copy.from_stage, 0, "COPY --from=site resolves");
	T_INTEQ(f.g.target, 3, "default target is the last stage");
	T_OK(!f.g.stages[0].needed && f.g.stages[3].needed, "last stage does not need stage 0");
	int from_edges = 0, copy_edges = 0;
	for (size_t i = 0; i < f.g.n_deps; i++) {
		from_edges += f.g.deps[i].kind == DF_DEP_FROM;
		copy_edges += f.g.deps[i].kind == DF_DEP_COPY && f.g.deps[i].on_stage == 0;
	}
	T_INTEQ(from_edges, 4, "one FROM edge per stage");
	T_INTEQ(copy_edges, 1, "one COPY --from edge to stage 0");
	const struct df_stage *st = df_graph_find_stage(&f.g, "SITE");
	T_OK(st && st->index == 0, "find stage by name, case-insensitive");
	st = df_graph_find_stage(&f.g, "2");
	T_OK(st && st->index == 2, "find stage by index");
	done(&f);
}

static void test_names(void)
{
	expect_error("FROM a AS 1abc\n",
	             "Dockerfile:1: invalid name for build stage: \"1abc\", name can't start with "
	             "a number or contain symbols",
	             "stage name starting with a digit");
	expect_error("FROM a AS b\nFROM c AS B\n", "Dockerfile:2: duplicate stage name \"b\"",
	             "duplicate stage name");
	expect_error("FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments",
	             "FROM with two words");
	expect_error("RUN x\nFROM a\n", "Dockerfile:1: no build stage in current context",
	             "instruction before FROM");
	expect_error("ARG X=1\n", "Dockerfile:1: dockerfile contains no stages to build",
	             "only meta ARGs");
	expect_error("ARG B=\nFROM ${B}\n", "Dockerfile:2: base name (${B}) should not be blank",
	             "blank base");
}

static void test_arg_scope(void)
{
	struct fixture f;
	const char *build_args[] = {"OVR=fromcli", NULL};
	struct df_graph_opts o = {.build_platform = "linux/arm64/v8", .build_args = build_args};
	build_opts(&f,
	           "ARG V=1\nARG OVR=default\nARG TAG=${V}.0\n"
	           "FROM --platform=$BUILDPLATFORM img:$TAG\n"
	           "WORKDIR /a$V\n"
	           "ARG V\n"
	           "WORKDIR /b$V\n"
	           "ARG OVR\n"
	           "ENV E=$OVR\n"
	           "ARG E=argval\n"
	           "USER $E:$TARGETARCH\n"
	           "ARG TARGETARCH\n"
	           "LABEL arch=$TARGETARCH variant=$TARGETVARIANT\n"
	           "ENV A=1 B=$A\n"
	           "ENV C=$A\n",
	           &o);
	T_OK(f.ok, "arg scope graph builds%s%s", f.ok ? "" : ": ", f.ok ? "" : f.err.msg);
	if (!f.ok)
		return done(&f);
	T_STREQ(f.g.stages[0].base_expanded, "img:1.0",
	        "meta ARG default expands earlier meta ARG");
	T_STREQ(f.g.stages[0].platform_expanded, "linux/arm64/v8", "BUILDPLATFORM in FROM");
	char *t;
	T_STREQ(t = step_text(&f, 0, 0), "WORKDIR /a", "meta ARG invisible before re-declaration");
	free(t);
	T_STREQ(t = step_text(&f, 0, 2), "WORKDIR /b1", "bare ARG takes the meta value");
	free(t);
	T_STREQ(t = step_text(&f, 0, 4), "ENV E=fromcli", "build arg overrides meta default");
	free(t);
	T_STREQ(t = step_text(&f, 0, 6),
	        "USER fromcli:", "ENV wins over ARG; TARGETARCH undeclared");
	free(t);
	T_STREQ(t = step_text(&f, 0, 8), "LABEL arch=arm64 variant=\"\"", "platform ARG after ARG");
	free(t);
	T_STREQ(t = step_text(&f, 0, 9), "ENV A=1 B=\"\"", "ENV sees only earlier instructions");
	free(t);
	T_STREQ(t = step_text(&f, 0, 10), "ENV C=1", "later ENV sees earlier ENV");
	free(t);
	T_OK(df_arg_is_predefined("HTTP_PROXY") && df_arg_is_predefined("no_proxy") &&
	         !df_arg_is_predefined("PATH"),
	     "predefined proxy args");
	done(&f);
}

static void test_target(void)
{
	const char *df = "FROM alpine AS base\n"
	                 "FROM base AS build\nRUN make\n"
	                 "FROM alpine AS tools\nRUN --mount=type=cache,target=/c,from=build true\n"
	                 "FROM scratch AS final\nCOPY --from=1 /out /\n"
	                 "FROM alpine AS unrelated\n";
	struct fixture f;
	struct df_graph_opts o = {.target = "FINAL", .build_platform = "linux/amd64"};
	build_opts(&f, df, &o);
	T_OK(f.ok, "--target graph builds");
	if (f.ok) {
		T_INTEQ(f.g.target, 3, "target FINAL is stage 3");
		T_OK(f.g.stages[0].needed && f.g.stages[1].needed && !f.g.stages[2].needed &&
		         f.g.stages[3].needed && !f.g.stages[4].needed,
		     "pruning keeps base, build, final");
	}
	done(&f);
	o.target = "tools";
	build_opts(&f, df, &o);
	if (T_OK(f.ok, "--target tools builds")) {
		T_OK(f.g.stages[1].needed && f.g.stages[0].needed && !f.g.stages[3].needed,
		     "RUN --mount from= is a dependency");
		T_INTEQ(f.g.stages[2].instrs[0].u.run.mounts[0].from_stage, 1,
		        "mount from resolved");
	}
	done(&f);
	o.target = "nope";
	build_opts(&f, df, &o);
	T_OK(!f.ok, "unknown target fails");
	T_STREQ(f.err.msg,
	        "target stage \"nope\" could not be found (valid stage names: base, build, tools, "
	        "final, unrelated)",
	        "unknown target lists valid names");
	done(&f);
	build_opts(&f, "FROM a\n", &o);
	T_STREQ(f.err.msg,
	        "target stage \"nope\" could not be found (the Dockerfile names no stages)",
	        "unknown target without names");
	done(&f);
}

static void test_copy_from(void)
{
	struct fixture f;
	build(&f,
	      "FROM a AS one\nFROM b\nCOPY --from=one /x /\nCOPY --from=0 /y /\n"
	      "COPY --from=nginx:latest /z /\nCOPY --chown=1:1 --chmod=755 --link --exclude=*.md "
	      "--exclude=*.txt --parents a b /dst/\n");
	if (T_OK(f.ok, "COPY --from graph builds")) {
		struct df_stage *s = &f.g.stages[1];
		T_INTEQ(s->instrs[0].u.copy.from_stage, 0, "by name");
		T_INTEQ(s->instrs[1].u.copy.from_stage, 0, "by index");
		T_INTEQ(s->instrs[2].u.copy.from_stage, -1, "image");
		int img = 0;
		for (size_t i = 0; i < f.g.n_deps; i++)
			img += f.g.deps[i].kind == DF_DEP_COPY && f.g.deps[i].image &&
			       !strcmp(f.g.deps[i].image, "nginx:latest");
		T_INTEQ(img, 1, "image dependency recorded");
		struct df_copy *c = &s->instrs[3].u.copy;
		T_STREQ(c->chown, "1:1", "--chown");
		T_STREQ(c->chmod, "755", "--chmod");
		T_OK(c->link && c->parents, "--link --parents");
		T_INTEQ(c->excludes.n, 2, "--exclude is repeatable");
		T_INTEQ(c->srcs.n, 2, "two sources");
		T_STREQ(c->dest, "/dst/", "dest");
	}
	done(&f);
	expect_error("FROM a\nCOPY --from=5 /x /\n", "Dockerfile:2: invalid stage index 5",
	             "stage index out of range");
	expect_error("FROM a AS me\nCOPY --from=me /x /\n",
	             "Dockerfile: circular dependency detected on stage: me", "self dependency");
	expect_error("FROM a\nCOPY x\n",
	             "Dockerfile:2: COPY requires at least two arguments, but only one was "
	             "provided. Destination could not be determined",
	             "COPY with one argument");
	expect_error("FROM a\nCOPY <<EOF <<EOF2\nx\nEOF\ny\nEOF2\n",
	             "Dockerfile:2: COPY cannot accept a heredoc as a destination",
	             "heredoc destination");
	build(&f, "FROM a\nCOPY <<-EOF /etc/x\n\thello\nEOF\nADD --checksum=sha256:abc "
	          "--keep-git-dir https://x/y.git /src\n");
	if (T_OK(f.ok, "COPY heredoc and ADD flags")) {
		struct df_copy *c = &f.g.stages[0].instrs[0].u.copy;
		T_INTEQ(c->n_contents, 1, "heredoc source");
		T_INTEQ(c->srcs.n, 0, "no path source");
		if (c->n_contents)
			T_STREQ(c->contents[0].content, "hello\n", "chomped heredoc content");
		struct df_copy *a = &f.g.stages[0].instrs[1].u.copy;
		T_STREQ(a->checksum, "sha256:abc", "ADD --checksum");
		T_OK(a->keep_git_dir, "ADD --keep-git-dir");
	}
	done(&f);
	expect_error("FROM a\nADD --from=x a b\n", "Dockerfile:2: unknown flag: from",
	             "ADD takes no --from");
}

static void test_flags(void)
{
	expect_error("FROM a\nCOPY --foo a b\n", "Dockerfile:2: unknown flag: foo", "unknown flag");
	expect_error("FROM a\nWORKDIR --x=1 /a\n", "Dockerfile:2: unknown flag: x",
	             "flag on an instruction without flags");
	expect_error("FROM a\nCOPY --link=maybe a b\n",
	             "Dockerfile:2: expecting boolean value for flag link, not: maybe", "bad bool");
	expect_error("FROM a\nCOPY --link= a b\n", "Dockerfile:2: missing a value on flag: link",
	             "bool with empty value");
	expect_error("FROM a\nCOPY --chown a b\n", "Dockerfile:2: missing a value on flag: chown",
	             "string flag without value");
	expect_error("FROM a\nCOPY --chown=1 --chown=2 a b\n",
	             "Dockerfile:2: duplicate flag specified: chown", "duplicate flag");
	expect_error("FROM a\nRUN --network=bridge true\n",
	             "Dockerfile:2: unsupported network mode \"bridge\"", "bad network");
	expect_error("FROM a\nRUN --security=root true\n",
	             "Dockerfile:2: unsupported security mode \"root\"", "bad security");
	expect_error("FROM a\nRUN --mount=type=cahce,target=/x true\n",
	             "Dockerfile:2: unsupported mount type \"cahce\" (did you mean cache?)",
	             "bad mount type with suggestion");
	expect_error("FROM a\nRUN --mount=type=bind,mode=0700,target=/x true\n",
	             "Dockerfile:2: mode not allowed for \"bind\" type mounts", "mode on bind");
	expect_error("FROM a\nRUN --mount=type=secret true\n",
	             "Dockerfile:2: invalid secret mount. one of source, target required",
	             "secret without id");
	expect_error("FROM a\nRUN --mount=type=cache,target=/x,sharing=weird true\n",
	             "Dockerfile:2: unsupported sharing value \"weird\"", "bad sharing");
	expect_error("FROM a\nRUN --mount=type=bind,from=$X,target=/x true\n",
	             "Dockerfile:2: 'from' doesn't support variable expansion, define alias stage "
	             "instead",
	             "mount from with a variable");
	expect_error("FROM a\nRUN --mount=type=bind,targte=/x true\n",
	             "Dockerfile:2: unexpected key 'targte' in 'targte=/x' (did you mean target?)",
	             "unknown mount key");
	struct fixture f;
	build(&f,
	      "FROM a\nRUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked,uid=1000 "
	      "--mount=type=secret,id=tok,required --mount=type=tmpfs,target=/t,size=64m "
	      "--network=none --security=insecure pip install\n");
	if (T_OK(f.ok, "RUN with mounts builds%s%s", f.ok ? "" : ": ", f.ok ? "" : f.err.msg)) {
		struct df_run *r = &f.g.stages[0].instrs[0].u.run;
		T_INTEQ(r->n_mounts, 3, "three mounts");
		T_INTEQ(r->mounts[0].type, DF_MOUNT_CACHE, "cache mount");
		T_STREQ(r->mounts[0].target, "/root/.cache", "cache target");
		T_INTEQ(r->mounts[0].sharing, DF_SHARING_LOCKED, "sharing=locked");
		T_OK(r->mounts[0].has_uid && r->mounts[0].uid == 1000, "uid=1000");
		T_OK(!r->mounts[0].readonly, "cache mounts default to read-write");
		T_OK(r->mounts[1].required && r->mounts[1].readonly, "secret required, read-only");
		T_INTEQ(r->mounts[2].size_bytes, 64LL << 20, "tmpfs size=64m");
		T_INTEQ(r->network, DF_NET_NONE, "--network=none");
		T_INTEQ(r->security, DF_SEC_INSECURE, "--security=insecure");
		T_OK(!r->cmd.exec_form && r->cmd.argv.n == 1, "shell form is one string");
	}
	done(&f);
}

static void test_onbuild(void)
{
	expect_error("FROM a\nONBUILD ONBUILD RUN x\n",
	             "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
	             "ONBUILD ONBUILD");
	expect_error("FROM a\nONBUILD FROM b\n",
	             "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger", "ONBUILD FROM");
	expect_error("FROM a\nonbuild maintainer me\n",
	             "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger",
	             "ONBUILD MAINTAINER");
	struct fixture f;
	build(&f, "FROM a\nONBUILD   RUN echo hi\n");
	if (T_OK(f.ok, "ONBUILD RUN builds")) {
		T_STREQ(f.g.stages[0].instrs[0].u.onbuild.expression, "RUN echo hi",
		        "trigger text as OnBuild stores it");
		T_STREQ(f.g.stages[0].instrs[0].u.onbuild.trigger, "RUN", "trigger keyword");
	}
	done(&f);
}

static void test_healthcheck(void)
{
	struct fixture f;
	build(&f, "FROM a\nHEALTHCHECK --interval=1m30s --timeout=1.5s --start-period=100ms "
	          "--retries=3 CMD curl -f http://x/ || exit 1\n"
	          "HEALTHCHECK NONE\nHEALTHCHECK CMD [\"/bin/check\", \"-q\"]\n");
	if (T_OK(f.ok, "HEALTHCHECK builds%s%s", f.ok ? "" : ": ", f.ok ? "" : f.err.msg)) {
		struct df_health *h = &f.g.stages[0].instrs[0].u.health;
		T_INTEQ(h->interval, 90000000000LL, "1m30s");
		T_INTEQ(h->timeout, 1500000000LL, "1.5s");
		T_INTEQ(h->start_period, 100000000LL, "100ms");
		T_INTEQ(h->retries, 3, "retries");
		T_STREQ(h->test.v[0], "CMD-SHELL", "shell form test");
		T_STREQ(f.g.stages[0].instrs[1].u.health.test.v[0], "NONE", "NONE");
		struct df_health *e = &f.g.stages[0].instrs[2].u.health;
		T_OK(e->test.n == 3 && !strcmp(e->test.v[0], "CMD"), "exec form test");
	}
	done(&f);
	expect_error("FROM a\nHEALTHCHECK --interval=5x CMD true\n",
	             "Dockerfile:2: time: unknown unit \"x\" in duration \"5x\"", "unknown unit");
	expect_error("FROM a\nHEALTHCHECK --interval=10 CMD true\n",
	             "Dockerfile:2: time: missing unit in duration \"10\"", "missing unit");
	expect_error("FROM a\nHEALTHCHECK --timeout=500us CMD true\n",
	             "Dockerfile:2: Interval \"timeout\" cannot be less than 1ms", "below 1ms");
	expect_error("FROM a\nHEALTHCHECK --retries=-1 CMD true\n",
	             "Dockerfile:2: --retries cannot be negative (-1)", "negative retries");
	expect_error("FROM a\nHEALTHCHECK --retries=x CMD true\n",
	             "Dockerfile:2: strconv.ParseInt: parsing \"x\": invalid syntax",
	             "bad retries");
	expect_error("FROM a\nHEALTHCHECK NONE x\n",
	             "Dockerfile:2: HEALTHCHECK NONE takes no arguments", "NONE with arguments");
	expect_error("FROM a\nHEALTHCHECK CMD\n",
	             "Dockerfile:2: Missing command after HEALTHCHECK CMD", "CMD without command");
	expect_error("FROM a\nHEALTHCHECK TEST x\n",
	             "Dockerfile:2: Unknown type \"TEST\" in HEALTHCHECK (try CMD)",
	             "unknown type");
	long long ns = 0;
	struct kiln_err err = KILN_ERR_INIT;
	T_OK(df_parse_duration("1h2m3.5s", &ns, &err) == 0 && ns == 3723500000000LL, "1h2m3.5s");
	T_OK(df_parse_duration("0", &ns, &err) == 0 && ns == 0, "0");
	T_OK(df_parse_duration("-1.5h", &ns, &err) == 0 && ns == -5400000000000LL, "-1.5h");
	T_OK(df_parse_duration("1\xc2\xb5s", &ns, &err) == 0 && ns == 1000, "micro sign");
	T_OK(df_parse_duration("", &ns, &err) < 0, "empty is invalid");
	T_OK(df_parse_duration(".s", &ns, &err) < 0, "no digits is invalid");
	T_OK(df_parse_duration("9999999999h", &ns, &err) < 0, "overflow is invalid");
	kiln_err_release(&err);
}

static void test_misc_instructions(void)
{
	struct fixture f;
	build(&f, "FROM a\nARG P=8000\nEXPOSE 80 ${P}-8010/udp 443/tcp\nSHELL [\"/bin/bash\", "
	          "\"-c\"]\nCMD [\"echo\", \"a b\"]\nVOLUME /data /logs\nSTOPSIGNAL SIGKILL\n"
	          "ENV legacy value with spaces\nARG a b=2\nMAINTAINER me\n"
	          "ENTRYPOINT exec run\nLABEL \"x y\"=\"1 2\"\n");
	if (T_OK(f.ok, "misc instructions build%s%s", f.ok ? "" : ": ", f.ok ? "" : f.err.msg)) {
		char *t;
		T_STREQ(t = step_text(&f, 0, 1), "EXPOSE 8000-8010/udp 443/tcp 80",
		        "EXPOSE words sorted as written (BuildKit), then expanded");
		free(t);
		T_STREQ(t = step_text(&f, 0, 2), "SHELL [\"/bin/bash\", \"-c\"]", "SHELL JSON");
		free(t);
		T_STREQ(t = step_text(&f, 0, 3), "CMD [\"echo\", \"a b\"]", "CMD exec form");
		free(t);
		struct df_instr *env = &f.g.stages[0].instrs[6];
		T_OK(env->u.kv.n_kvs == 1 && env->u.kv.kvs[0].no_delim, "legacy ENV form");
		T_STREQ(env->u.kv.kvs[0].value, "value with spaces", "legacy ENV value");
		struct df_instr *arg = &f.g.stages[0].instrs[7];
		T_OK(arg->u.kv.n_kvs == 2 && !arg->u.kv.kvs[0].value &&
		         !strcmp(arg->u.kv.kvs[1].value, "2"),
		     "ARG with and without default");
		T_STREQ(t = step_text(&f, 0, 10), "LABEL \"x y\"=\"1 2\"", "LABEL quotes removed");
		free(t);
		unsigned lo, hi;
		const char *proto;
		struct kiln_err err = KILN_ERR_INIT;
		T_OK(df_port_parse("8000-8010/udp", &lo, &hi, &proto, &err) == 0 && lo == 8000 &&
		         hi == 8010 && !strcmp(proto, "udp"),
		     "port range");
		T_OK(df_port_parse("80/icmp", &lo, &hi, &proto, &err) < 0, "bad proto");
		kiln_err_release(&err);
	}
	done(&f);
	build(&f, "FROM a\nEXPOSE 70000\n");
	if (T_OK(f.ok, "EXPOSE word checked at expansion")) {
		char *t = step_text(&f, 0, 0);
		T_STREQ(t, "error: Dockerfile:2: invalid containerPort: 70000", "bad port");
		free(t);
	}
	done(&f);
	expect_error("FROM a\nSHELL /bin/sh -c\n",
	             "Dockerfile:2: SHELL requires the arguments to be in JSON form",
	             "SHELL not JSON");
	expect_error("FROM a\nUSER\n", "Dockerfile:2: USER requires exactly one argument",
	             "USER without argument");
	expect_error("FROM a\nVOLUME\n", "Dockerfile:2: VOLUME requires at least one argument",
	             "VOLUME without argument");
	expect_error("FROM a\nEXPOSE\n", "Dockerfile:2: EXPOSE requires at least one argument",
	             "EXPOSE without argument");
	expect_error("FROM a\nARG =x\n", "Dockerfile:2: ARG names can not be blank", "blank ARG");
	expect_error("FROM a\nRUNN x\n",
	             "Dockerfile:2: unknown instruction: RUNN (did you mean RUN?)",
	             "unknown instruction with suggestion");
	expect_error("FROM a\nfrobnicate x\n", "Dockerfile:2: unknown instruction: frobnicate",
	             "unknown instruction");
	expect_error("FROM a\ncopyy a b\n",
	             "Dockerfile:2: unknown instruction: copyy (did you mean copy?)",
	             "suggestion keeps the case");
}

/* The gaps closed in parser-polish: --from never takes variables, JSON
 * arguments with NUL are refused, the target platform reaches FROM and ARGs. */
static void test_gaps(void)
{
	static const char from_msg[] = "variable expansion is not supported for --from, define a "
	                               "new stage with FROM using ARG from global scope as a "
	                               "workaround";
	char want[256];
	snprintf(want, sizeof(want), "Dockerfile:4: %s", from_msg);
	expect_error("ARG S=one\nFROM a AS one\nFROM b\nCOPY --from=$S /x /\n", want,
	             "COPY --from=$S refused even with a meta ARG");
	expect_error("FROM a AS one\nFROM b\nARG S=one\nCOPY --from=${S} /x /\n", want,
	             "COPY --from=${S} refused even with a stage ARG");
	expect_error("FROM a AS one\nFROM b\nARG S=one\nCOPY --from=${S:-one} /x /\n", want,
	             "COPY --from=${S:-one} refused");
	expect_error("FROM a AS one\nFROM b\nCOPY --from=${S /x /\n",
	             "Dockerfile:3: failed to process \"${S\": unsupported modifier (\xef\xbf\xbd) "
	             "in substitution",
	             "COPY --from with a bad expression");
	struct fixture f;
	build(&f, "FROM a AS one\nFROM b\nCOPY --from=one /x /\n");
	if (T_OK(f.ok, "a plain --from still resolves"))
		T_INTEQ(f.g.stages[1].instrs[0].u.copy.from_stage, 0, "--from=one is stage 0");
	done(&f);

	expect_error("FROM a\nRUN [\"a\\u0000b\", \"c\"]\n",
	             "Dockerfile:2: RUN argument 1 contains a NUL character (\\u0000), which no "
	             "command argument or path can hold",
	             "NUL in a JSON RUN argument");
	expect_error("FROM a\nCOPY [\"x\", \"/d\\u0000\"]\n",
	             "Dockerfile:2: COPY argument 2 contains a NUL character (\\u0000), which no "
	             "command argument or path can hold",
	             "NUL in a JSON COPY destination");
	build(&f, "FROM a\nCMD [\"a\\u0001b\"]\n");
	T_OK(f.ok, "other control characters stay allowed");
	done(&f);

	struct df_graph_opts o = {.build_platform = "linux/amd64",
	                          .target_platform = "linux/arm/v7"};
	build_opts(&f,
	           "FROM --platform=$TARGETPLATFORM img AS t\nARG TARGETARCH\nARG TARGETVARIANT\n"
	           "LABEL a=$TARGETARCH v=$TARGETVARIANT os=$TARGETOS\n"
	           "FROM --platform=$BUILDPLATFORM img\n",
	           &o);
	if (T_OK(f.ok, "target platform graph builds")) {
		T_STREQ(f.g.stages[0].platform_expanded, "linux/arm/v7", "TARGETPLATFORM in FROM");
		T_STREQ(f.g.stages[1].platform_expanded, "linux/amd64", "BUILDPLATFORM in FROM");
		char *t = step_text(&f, 0, 2);
		T_STREQ(t, "LABEL a=arm v=v7 os=\"\"", "TARGET* ARGs, TARGETOS not declared");
		free(t);
	}
	done(&f);
	const char *bad[] = {"linux",          "linux/",       "/amd64", "linux//arm",
	                     "linux/arm/v7/x", "linux/am d64", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kiln_err err = KILN_ERR_INIT;
		T_INTEQ(df_platform_check(bad[i], &err), -1, "platform `%s` refused", bad[i]);
		kiln_err_release(&err);
	}
	struct kiln_err err = KILN_ERR_INIT;
	T_INTEQ(df_platform_check("linux/arm64/v8", &err), 0, "os/arch/variant accepted");
	o.target_platform = "linux";
	build_opts(&f, "FROM a\n", &o);
	T_OK(!f.ok && f.err.msg &&
	         !strcmp(f.err.msg, "invalid platform `linux`: expected os/arch[/variant]"),
	     "df_graph_build checks the target platform");
	done(&f);
}

int main(void)
{
	test_stages();
	test_names();
	test_arg_scope();
	test_target();
	test_copy_from();
	test_flags();
	test_onbuild();
	test_healthcheck();
	test_misc_instructions();
	test_gaps();
	return tap_done();
}
