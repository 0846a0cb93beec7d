/* Build history and explanations: records round-trip and the last build
 * of a target is found; a miss names the changed instruction (with line
 * numbers), build arg (secrets masked), env, base image, files, or the
 * parent step that missed; the JSON report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "tap.h"

static struct img_store *s;

static void pre(struct cache_fields *f, const char *parent, const char *instr, const char *arg,
                const char *input)
{
	memset(f, 0, sizeof(*f));
	cache_fields_add(f, "format", CACHE_KEY_FORMAT);
	cache_fields_add(f, "parent", parent);
	cache_fields_add(f, "base", "busybox@sha256:1111");
	cache_fields_add(f, "op", "RUN");
	cache_fields_add(f, "instr", instr);
	cache_fields_add(f, "env", "PATH=/bin");
	cache_fields_add_var(f, "arg", arg);
	cache_fields_add(f, "workdir", "/");
	if (input)
		cache_fields_add(f, "input", input);
}

static struct cache_step_info step(int no, int line, struct cache_fields *p)
{
	struct cache_step_info st = {.name = xasprintf("[%d/3] step", no),
	                             .instr = xstrdup(cache_fields_get(p, "instr")),
	                             .line = line,
	                             .stage = 0,
	                             .step = no,
	                             .result = CACHE_STEP_MISS,
	                             .secs = 2.0,
	                             .preimage = *p};
	cache_key(p, CACHE_HASH_XXH128, st.key);
	memset(p, 0, sizeof(*p));
	return st;
}

static void add(struct cache_build *b, struct cache_step_info st)
{
	cache_build_add(b, &st);
	free(st.name);
	free(st.instr);
	free(st.reason);
}

static void history(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct cache_build b1, got;
	cache_build_init(&b1, "/ctx", "/ctx/Dockerfile", "", "app:1");
	struct cache_fields p;
	pre(&p, "P0", "RUN make", "VERSION=1", NULL);
	add(&b1, step(1, 3, &p));
	pre(&p, "P1", "RUN echo \"quoted\"\nnext", "DB_PASSWORD=hunter2", NULL);
	add(&b1, step(2, 4, &p));
	b1.steps[1].reason = xstrdup("no previous build of this target");
	snprintf(b1.image_id, sizeof(b1.image_id), "sha256:%064d", 7);
	T_OK(cache_build_store(s, &b1, &err) == 0, "build record stored");
	bool found;
	T_OK(cache_build_load_last(s, b1.target_key, &got, &found, &err) == 0 && found,
	     "the last build of the target is found");
	T_STREQ(got.id, b1.id, "same id");
	T_INTEQ(got.n_steps, 2, "both steps");
	T_STREQ(got.steps[1].instr, "RUN echo \"quoted\"\nnext", "instruction text read back");
	T_INTEQ(got.steps[1].line, 4, "line read back");
	T_STREQ(got.steps[1].reason, "no previous build of this target", "reason read back");
	T_STREQ(cache_fields_get(&got.steps[0].preimage, "arg"), "VERSION=1", "preimage read back");
	T_STREQ(got.tags, "app:1", "tags read back");
	struct cache_build other;
	cache_build_init(&other, "/ctx", "/ctx/Dockerfile", "test", "");
	T_OK(strcmp(other.target_key, b1.target_key) != 0, "another --target is another history");
	cache_build_release(&other);
	struct kiln_strv ids = KILN_STRV_INIT;
	T_OK(cache_build_list(s, &ids, &err) == 0 && ids.n == 1 && !strcmp(ids.v[0], b1.id),
	     "build listed");
	kiln_strv_release(&ids);

	char *json = cache_build_report_json(&got);
	T_OK(strstr(json, "\"line\": 4") && strstr(json, "\"result\": \"miss\"") &&
	         strstr(json, "\"reason\": \"no previous build of this target\""),
	     "JSON report: line, result, reason");
	T_OK(strstr(json, "hunter2") == NULL, "no secret in the report");
	free(json);

	/* explanations against b1 */
	struct cache_step_info now;
	char *why;
	pre(&p, "P0", "RUN make all", "VERSION=1", NULL);
	now = step(1, 5, &p);
	why = cache_explain(s, &got, &now, NULL);
	T_STREQ(why, "instruction changed: `RUN make` (line 3) -> `RUN make all` (line 5)",
	        "changed instruction with both lines");
	free(why);
	cache_fields_release(&now.preimage);
	free(now.name);
	free(now.instr);

	/* a value another machine (a registry's cache) wrote reaches the
	 * terminal: control characters are shown escaped, never sent */
	pre(&p, "P0", "RUN make \x1b]0;owned\x07\x1b[2J", "VERSION=1", NULL);
	now = step(1, 5, &p);
	why = cache_explain(s, &got, &now, NULL);
	T_STREQ(why,
	        "instruction changed: `RUN make` (line 3) -> `RUN make \\x1b]0;owned\\x07\\x1b[2J` "
	        "(line 5)",
	        "control characters in an explanation are escaped");
	free(why);
	cache_fields_release(&now.preimage);
	free(now.name);
	free(now.instr);

	pre(&p, "P0", "RUN make", "VERSION=2", NULL);
	now = step(1, 3, &p);
	why = cache_explain(s, &got, &now, NULL);
	T_STREQ(why, "build arg VERSION changed: 1 -> 2", "changed build arg, old -> new");
	free(why);
	cache_fields_release(&now.preimage);
	free(now.name);
	free(now.instr);

	pre(&p, "P1", "RUN echo \"quoted\"\nnext", "DB_PASSWORD=hunter3", NULL);
	now = step(2, 4, &p);
	why = cache_explain(s, &got, &now, NULL);
	T_OK(strstr(why, "build arg DB_PASSWORD changed: <secret sha256:") &&
	         !strstr(why, "hunter"),
	     "a changed secret is named, its values masked: %s", why);
	free(why);
	cache_fields_release(&now.preimage);
	free(now.name);
	free(now.instr);

	pre(&p, "P1-new", "RUN echo \"quoted\"\nnext", "DB_PASSWORD=hunter2", NULL);
	now = step(2, 4, &p);
	why = cache_explain(s, &got, &now, "#4 [1/3] step");
	T_STREQ(why, "parent step missed: #4 [1/3] step", "the parent that missed is named");
	free(why);
	cache_fields_release(&now.preimage);
	free(now.name);
	free(now.instr);

	pre(&p, "P0", "RUN make", "VERSION=1", NULL);
	free(p.v[2].value);
	p.v[2].value = xstrdup("busybox@sha256:2222");
	now = step(1, 3, &p);
	why = cache_explain(s, &got, &now, NULL);
	T_STREQ(why, "base image changed: busybox@sha256:1111 -> busybox@sha256:2222",
	        "base image change names both digests");
	free(why);
	why = cache_explain(s, NULL, &now, NULL);
	T_STREQ(why, "no previous build of this target", "no history");
	free(why);
	cache_fields_release(&now.preimage);
	free(now.name);
	free(now.instr);
	cache_build_release(&got);
	cache_build_release(&b1);
	kiln_err_release(&err);
}

/* Input listings come from real context hashing. */
static void files(const char *base, const char *root)
{
	char *ctx = kiln_path_join(base, "ctx");
	mkdir(ctx, 0755);
	for (int i = 0; i < 6; i++) {
		char *p = xasprintf("%s/f%d", ctx, i);
		FILE *f = fopen(p, "w");
		fprintf(f, "%d\n", i);
		fclose(f);
		free(p);
	}
	usleep(30000);
	struct kiln_err err = KILN_ERR_INIT;
	struct cache_ctx *c = NULL;
	char h1[33], h2[33];
	cache_ctx_open(root, ctx, &c, &err);
	cache_ctx_hash(c, "", NULL, NULL, h1, NULL, &err);
	cache_ctx_close(c, &err);
	for (int i = 0; i < 5; i++) {
		char *p = xasprintf("%s/f%d", ctx, i);
		FILE *f = fopen(p, "w");
		fprintf(f, "changed %d\n", i);
		fclose(f);
		free(p);
	}
	cache_ctx_open(root, ctx, &c, &err);
	cache_ctx_hash(c, "", NULL, NULL, h2, NULL, &err);
	cache_ctx_close(c, &err);
	char *why = cache_explain_inputs(s, h1, h2);
	T_STREQ(why, "files changed: f0 (content), f1 (content), f2 (content) and 2 more (5 files)",
	        "first few paths and a count");
	free(why);

	struct cache_build b;
	cache_build_init(&b, ctx, "Dockerfile", "", "");
	struct cache_fields p;
	pre(&p, "P", "COPY . /app", "V=1", h1);
	add(&b, step(1, 2, &p));
	pre(&p, "P", "COPY . /app", "V=1", h2);
	struct cache_step_info now = step(1, 2, &p);
	why = cache_explain(s, &b, &now, NULL);
	T_OK(!strncmp(why, "files changed: f0 (content)", 27), "a step's miss names the files: %s",
	     why);
	free(why);
	why = cache_explain_inputs(s, h1, "00000000000000000000000000000000");
	T_STREQ(why, "source files changed (the old file list is no longer kept)",
	        "a listing gone is said so");
	free(why);
	cache_fields_release(&now.preimage);
	free(now.name);
	free(now.instr);
	cache_build_release(&b);
	kiln_err_release(&err);
	free(ctx);
}

static void history_cap(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	char first[33] = "";
	for (int i = 0; i < CACHE_HISTORY_KEEP + 1; i++) {
		struct cache_build b;
		cache_build_init(&b, "/cap", "Dockerfile", "", "");
		b.id[31] = "0123456789abcdef"[i % 16]; /* unique within the same ns */
		b.id[30] = "0123456789abcdef"[i / 16 % 16];
		if (!i)
			snprintf(first, sizeof(first), "%s", b.id);
		cache_build_store(s, &b, &err);
		cache_build_release(&b);
	}
	struct kiln_strv ids = KILN_STRV_INIT;
	cache_build_list(s, &ids, &err);
	T_INTEQ(ids.n, CACHE_HISTORY_KEEP, "only the newest build records are kept");
	T_OK(!kiln_strv_contains(&ids, first), "the oldest went");
	kiln_strv_release(&ids);
	kiln_err_release(&err);
}

/* The miss reason of step 1 ("COPY x /") with input against prev. */
static void why_is(const struct cache_build *prev, const char *input, const char *want,
                   const char *name)
{
	struct cache_fields p;
	pre(&p, "P0", "COPY x /", "V=1", input);
	struct cache_step_info now = step(1, 2, &p);
	char *why = cache_explain(s, prev, &now, NULL);
	T_STREQ(why, want, "%s", name);
	free(why);
	cache_fields_release(&now.preimage);
	free(now.name);
	free(now.instr);
}

/* build history diff and trace; stage, image and missing inputs explained */
static void diff_trace(void)
{
	struct cache_build a, b;
	cache_build_init(&a, "/ctx", "/ctx/Dockerfile", "", "t:1");
	cache_build_init(&b, "/ctx", "/ctx/Dockerfile", "", "t:1");
	struct cache_fields p;
	pre(&p, "P0", "RUN make", "VERSION=1", NULL);
	add(&a, step(1, 3, &p));
	pre(&p, "P0", "RUN make", "VERSION=1", NULL);
	add(&b, step(1, 3, &p));
	pre(&p, "P1", "COPY --from=gen /o /o", "VERSION=1", "stage:aaaa");
	add(&a, step(2, 4, &p));
	pre(&p, "P1", "COPY --from=gen /o /o", "VERSION=2", "stage:bbbb");
	add(&b, step(2, 4, &p));
	pre(&p, "P2", "RUN \"quoted\"", "VERSION=1", NULL);
	add(&b, step(3, 5, &p));
	char *d = cache_build_diff(s, &a, &b);
	T_OK(strstr(d, "= [1/3] step\n") != NULL, "diff: same key");
	T_OK(strstr(d, "~ [2/3] step\n    build arg VERSION changed: 1 -> 2\n"
	               "    the source stage's result changed\n"),
	     "diff: every difference of a changed step, indented");
	T_OK(strstr(d, "+ [3/3] step (line 5)") != NULL, "diff: a step only in b");
	T_OK(strstr(d, "1 same, 1 changed, 1 added, 0 removed") != NULL, "diff: counts");
	free(d);
	d = cache_build_diff(s, &b, &a);
	T_OK(strstr(d, "- [3/3] step (line 5)") != NULL, "diff: a step only in a");
	free(d);
	/* a record made before start times were kept: stages laid out in order */
	b.steps[1].stage = 1;
	char *j = cache_build_trace_json(&b);
	T_OK(strstr(j, "\"traceEvents\": [") &&
	         strstr(j, "\"ph\": \"X\", \"ts\": 0, \"dur\": 2000000"),
	     "trace: complete slices in microseconds");
	T_OK(strstr(j, "\"ts\": 2000000, \"dur\": 2000000, \"pid\": 1, \"tid\": 1") != NULL,
	     "trace: without start times, a stage's steps one after the other");
	T_OK(strstr(j, "\"tid\": 2") && strstr(j, "\"name\": \"stage 1\""),
	     "trace: a track per stage");
	free(j);
	b.steps[0].start = 0.5;
	b.steps[0].result = CACHE_STEP_HIT;
	j = cache_build_trace_json(&b);
	T_OK(strstr(j, "\"cat\": \"hit\", \"ph\": \"X\", \"ts\": 500000") != NULL,
	     "trace: recorded start times, hits");
	free(j);
	/* inputs that are not content hashes */
	struct cache_build prev;
	cache_build_init(&prev, "/ctx", "/ctx/Dockerfile", "", "");
	pre(&p, "P0", "COPY x /", "V=1", "image:sha256:1");
	add(&prev, step(1, 2, &p));
	why_is(&prev, "image:sha256:2", "source image changed: sha256:1 -> sha256:2",
	       "a source image that changed");
	why_is(&prev, "missing:x", "source `x` is missing now", "a source that went missing");
	cache_build_release(&prev);
	cache_build_release(&a);
	cache_build_release(&b);
}

int main(void)
{
	const char *t = getenv("KILN_TEST_TMP") ? getenv("KILN_TEST_TMP") : "/tmp";
	kiln_mkdir_p(t, 0755, NULL);
	char *tmpl = xasprintf("%s/cache-explain-XXXXXX", t);
	char *base = mkdtemp(tmpl);
	if (!base)
		tap_skip_all("cannot make a temp dir");
	char *root = kiln_path_join(base, "root");
	struct kiln_err err = KILN_ERR_INIT;
	if (img_store_open(root, &s, &err) < 0)
		tap_skip_all("cannot open a store");
	history();
	files(base, root);
	history_cap();
	diff_trace();
	img_store_close(s);
	kiln_rm_rf(base, NULL);
	free(root);
	free(base);
	return tap_done();
}
