/* Two views of past builds: the step-by-step diff of two builds'
 * preimages (`build history diff`) and a Chrome trace-event file of one
 * build (`build history trace`), the JSON object format with
 * "traceEvents" that Perfetto and chrome://tracing load. */
#include <string.h>

#include "cache-internal.h"

static const char *nz(const char *s)
{
	return s ? s : "";
}

static void diff_head(struct kiln_buf *o, char side, const struct cache_build *b)
{
	kiln_buf_addf(o, NULL, "%c %s  %s%s%s (%zu steps, %.1fs)\n", side, b->id, nz(b->dockerfile),
	              *nz(b->tags) ? ", " : "", nz(b->tags), b->n_steps, b->secs);
}

char *cache_build_diff(struct img_store *s, const struct cache_build *a,
                       const struct cache_build *b)
{
	struct kiln_buf o;
	kiln_buf_init(&o, KILN_BUF_NOLIMIT, NULL);
	diff_head(&o, 'a', a);
	diff_head(&o, 'b', b);
	size_t same = 0, changed = 0, added = 0, removed = 0;
	const struct cache_explain_opts opts = {0};
	for (size_t i = 0; i < b->n_steps; i++) {
		const struct cache_step_info *now = &b->steps[i];
		const struct cache_step_info *old = cache_build_step(a, now->stage, now->step);
		if (!old) {
			kiln_buf_addf(&o, NULL, "+ %s (line %d)\n", now->name, now->line);
			added++;
			continue;
		}
		if (!strcmp(old->key, now->key)) {
			kiln_buf_addf(&o, NULL, "= %s\n", now->name);
			same++;
			continue;
		}
		changed++;
		kiln_buf_addf(&o, NULL, "~ %s\n", now->name);
		struct kiln_strv why = KILN_STRV_INIT;
		cache_step_diffs(s, old, now, &opts, true, &why);
		if (!why.n)
			kiln_strv_push(&why, "the cache key changed");
		for (size_t k = 0; k < why.n; k++)
			kiln_buf_addf(&o, NULL, "    %s\n", why.v[k]);
		kiln_strv_release(&why);
	}
	for (size_t i = 0; i < a->n_steps; i++)
		if (!cache_build_step(b, a->steps[i].stage, a->steps[i].step)) {
			kiln_buf_addf(&o, NULL, "- %s (line %d)\n", a->steps[i].name,
			              a->steps[i].line);
			removed++;
		}
	kiln_buf_addf(&o, NULL, "%zu same, %zu changed, %zu added, %zu removed\n", same, changed,
	              added, removed);
	return kiln_buf_detach(&o, NULL);
}

/* Microseconds, never below 1 (a zero-length slice is hard to see). */
static long long usecs(double secs)
{
	long long us = (long long)(secs * 1e6 + 0.5);
	return us < 1 ? 1 : us;
}

static void meta_event(struct kiln_buf *o, const char *what, int tid, const char *name)
{
	kiln_buf_addf(o, NULL,
	              "    {\"name\": \"%s\", \"ph\": \"M\", \"pid\": 1, \"tid\": %d, \"args\": "
	              "{\"name\": ",
	              what, tid);
	cache_json_str(o, name);
	kiln_buf_addstr(o, "}},\n", NULL);
}

char *cache_build_trace_json(const struct cache_build *b)
{
	struct kiln_buf o;
	kiln_buf_init(&o, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addstr(&o, "{\n  \"displayTimeUnit\": \"ms\",\n  \"traceEvents\": [\n", NULL);
	_cleanup_free_ char *pname = xasprintf("kiln build %s", b->id);
	meta_event(&o, "process_name", 0, pname);
	/* records before start times were kept: each stage's steps one after
	 * the other from 0 */
	bool have_start = false;
	int max_stage = -1;
	for (size_t i = 0; i < b->n_steps; i++) {
		have_start |= b->steps[i].start > 0;
		if (b->steps[i].stage > max_stage)
			max_stage = b->steps[i].stage;
	}
	for (int st = 0; st <= max_stage; st++) {
		char name[32];
		snprintf(name, sizeof(name), "stage %d", st);
		meta_event(&o, "thread_name", st + 1, name);
	}
	double *next = xcalloc((size_t)max_stage + 2, sizeof(*next));
	for (size_t i = 0; i < b->n_steps; i++) {
		const struct cache_step_info *s = &b->steps[i];
		double start = have_start ? s->start : next[s->stage + 1];
		next[s->stage + 1] = start + s->secs;
		kiln_buf_addstr(&o, "    {\"name\": ", NULL);
		cache_json_str(&o, s->name);
		kiln_buf_addf(&o, NULL,
		              ", \"cat\": \"%s\", \"ph\": \"X\", \"ts\": %lld, \"dur\": %lld, "
		              "\"pid\": 1, \"tid\": %d, \"args\": {\"line\": %d, \"key\": ",
		              s->result == CACHE_STEP_HIT ? "hit" : "miss",
		              (long long)(start * 1e6), usecs(s->secs), s->stage + 1, s->line);
		cache_json_str(&o, s->key);
		kiln_buf_addstr(&o, ", \"reason\": ", NULL);
		cache_json_str(&o, s->result == CACHE_STEP_HIT ? "CACHED" : nz(s->reason));
		kiln_buf_addf(&o, NULL, ", \"saved_secs\": %.3f}}%s\n",
		              s->result == CACHE_STEP_HIT ? s->saved : 0.0,
		              i + 1 < b->n_steps ? "," : "");
	}
	free(next);
	if (!b->n_steps) /* the metadata event above ends in a comma */
		kiln_buf_addstr(
		    &o, "    {\"name\": \"empty\", \"ph\": \"i\", \"ts\": 0, \"pid\": 1}\n", NULL);
	kiln_buf_addstr(&o, "  ]\n}\n", NULL);
	return kiln_buf_detach(&o, NULL);
}
