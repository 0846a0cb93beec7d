/* The shell-pattern matcher used by the expander's ${V#pat}, ${V%pat} and ${V/pat/repl}.
 *
 * BuildKit turns such a pattern into a Go regular expression made only of
 * literals, `.` and `.*` (or `.*?`), and matches it with Go's regexp package,
 * whose semantics are leftmost-first. Here the pattern compiles into a linear
 * program that a Pike VM runs in O(len(text) * len(pattern)) steps, with a
 * step budget so that no input can make it run away. */
#include <string.h>

#include "parser-expand-internal.h"

/* ------------------------------------------------------------ matcher */

enum item_kind { IT_LIT, IT_ANY, IT_STAR };

struct item {
	enum item_kind kind;
	int32_t r;
};

struct thread {
	size_t state, start;
};

struct df_shpat {
	struct item *items;
	size_t n; /* state n is "matched" */
	bool greedy, anchored;
	/* matcher scratch, n + 1 entries each, reused by every search */
	unsigned *mark;
	struct thread *l1, *l2;
};

static void push_item(struct df_shpat *p, size_t *cap, enum item_kind k, int32_t r)
{
	if (k == IT_STAR && p->n && p->items[p->n - 1].kind == IT_STAR)
		return; /* `**` matches exactly what `*` matches, at the same priority */
	KILN_GROW(p->items, *cap, p->n + 1);
	p->items[p->n].kind = k;
	p->items[p->n].r = r;
	p->n++;
}

int df_shpat_compile(const char *pat, size_t len, bool greedy, bool anchored, struct df_shpat **out,
                     struct kiln_err *err)
{
	struct df_shpat *p = xcalloc(1, sizeof(*p));
	size_t cap = 0, pos = 0, w;
	p->greedy = greedy;
	p->anchored = anchored;
	if (len >= 3 && df_utf8_decode(pat, len, &w) == 0xFEFF)
		pos = w;
	for (int32_t tok = df_utf8_next(pat, len, &pos); tok != DF_RUNE_EOF;
	     tok = df_utf8_next(pat, len, &pos)) {
		if (tok == '*') {
			push_item(p, &cap, IT_STAR, 0);
			continue;
		}
		if (tok == '?') {
			push_item(p, &cap, IT_ANY, 0);
			continue;
		}
		if (tok == '\\') {
			int32_t nx = df_utf8_peek(pat, len, pos);
			if (nx == '}' || nx == '/')
				continue; /* the escape is not part of the pattern */
			tok = df_utf8_next(pat, len, &pos);
			if (tok != '*' && tok != '?' && tok != '\\') {
				char buf[4];
				size_t bl = df_utf8_encode(tok, buf);
				df_shpat_free(p);
				return kiln_err_set(err, KILN_E_INVALID, "invalid escape '\\%.*s'",
				                    (int)bl, buf);
			}
		}
		push_item(p, &cap, IT_LIT, tok);
	}
	p->mark = xcalloc(p->n + 1, sizeof(unsigned));
	p->l1 = xmalloc((p->n + 1) * sizeof(struct thread));
	p->l2 = xmalloc((p->n + 1) * sizeof(struct thread));
	*out = p;
	return 0;
}

void df_shpat_free(struct df_shpat *p)
{
	if (!p)
		return;
	free(p->items);
	free(p->mark);
	free(p->l1);
	free(p->l2);
	free(p);
}

struct tlist {
	struct thread *t;
	size_t n;
};

struct vm {
	const struct df_shpat *p;
	unsigned *mark; /* generation at which a state joined a list */
	unsigned gen;
};

static void add(struct tlist *l, size_t st, size_t start)
{
	l->t[l->n].state = st;
	l->t[l->n].start = start;
	l->n++;
}

/* Adds the epsilon closure of state st to l in priority order. A star at
 * state x stands for "consume one more character and stay at x"; its
 * epsilon edge leads to x + 1. Greedy stars prefer consuming, lazy ones
 * prefer moving on. Consecutive stars were merged at compile time, but the
 * walk below is iterative anyway. */
static void addthread(struct vm *vm, struct tlist *l, size_t st, size_t start)
{
	const struct df_shpat *p = vm->p;
	size_t x = st;
	if (p->greedy) {
		while (x < p->n && p->items[x].kind == IT_STAR && vm->mark[x] != vm->gen) {
			vm->mark[x] = vm->gen;
			add(l, x, start);
			x++;
		}
		if (vm->mark[x] != vm->gen && (x == p->n || p->items[x].kind != IT_STAR)) {
			vm->mark[x] = vm->gen;
			add(l, x, start);
		}
		return;
	}
	while (x < p->n && p->items[x].kind == IT_STAR && vm->mark[x] != vm->gen) {
		vm->mark[x] = vm->gen;
		x++;
	}
	size_t stars_end = x;
	if (vm->mark[x] != vm->gen && (x == p->n || p->items[x].kind != IT_STAR)) {
		vm->mark[x] = vm->gen;
		add(l, x, start);
	}
	for (size_t y = stars_end; y > st; y--)
		add(l, y - 1, start);
}

int df_shpat_find(struct df_shpat *p, const char *s, size_t n, size_t from, size_t *budget,
                  bool *found, size_t *mstart, size_t *mend, struct kiln_err *err)
{
	memset(p->mark, 0, (p->n + 1) * sizeof(unsigned));
	struct vm vm = {p, p->mark, 1};
	struct tlist cl = {p->l1, 0};
	struct tlist nl = {p->l2, 0};
	int ret = 0;
	size_t pos = from;
	*found = false;
	for (;;) {
		if (!*found && (!p->anchored || pos == 0))
			addthread(&vm, &cl, 0, pos);
		if (cl.n == 0)
			break;
		size_t w = 0;
		int32_t r = pos < n ? df_utf8_decode(s + pos, n - pos, &w) : DF_RUNE_EOF;
		vm.gen++;
		nl.n = 0;
		for (size_t i = 0; i < cl.n; i++) {
			if (*budget == 0) {
				ret = kiln_err_set(err, KILN_E_LIMIT,
				                   "pattern too expensive to match");
				goto out;
			}
			(*budget)--;
			size_t st = cl.t[i].state;
			if (st == p->n) {
				*found = true;
				*mstart = cl.t[i].start;
				*mend = pos;
				break; /* lower-priority threads lose */
			}
			if (r == DF_RUNE_EOF)
				continue;
			const struct item *it = &p->items[st];
			if (it->kind == IT_LIT ? r == it->r : r != '\n')
				addthread(&vm, &nl, it->kind == IT_STAR ? st : st + 1,
				          cl.t[i].start);
		}
		if (r == DF_RUNE_EOF)
			break;
		struct tlist tmp = cl;
		cl = nl;
		nl = tmp;
		pos += w;
	}
out:
	return ret;
}

/* ------------------------------------------- trimming and substitution */

/* Go's []rune(s): invalid bytes become U+FFFD. */
static int32_t *to_runes(const char *s, size_t n, size_t *count)
{
	int32_t *r = xmalloc((n + 1) * sizeof(*r));
	size_t k = 0;
	for (size_t i = 0, w; i < n; i += w)
		r[k++] = df_utf8_decode(s + i, n - i, &w);
	*count = k;
	return r;
}

static char *from_runes(const int32_t *r, size_t k, size_t *len)
{
	char *s = xmalloc(k * 4 + 1), *p = s;
	for (size_t i = 0; i < k; i++)
		p += df_utf8_encode(r[i], p);
	*p = '\0';
	*len = (size_t)(p - s);
	return s;
}

/* BuildKit's reverseString: the runes in reverse order. */
static char *reverse_string(const char *s, size_t n, size_t *len)
{
	size_t k;
	int32_t *r = to_runes(s, n, &k);
	for (size_t i = 0; i < k / 2; i++) {
		int32_t t = r[i];
		r[i] = r[k - 1 - i];
		r[k - 1 - i] = t;
	}
	char *out = from_runes(r, k, len);
	free(r);
	return out;
}

/* BuildKit's reversePattern: reversed runes, but `\x` stays `\x`. */
static char *reverse_pattern(const char *s, size_t n, size_t *len)
{
	size_t k;
	int32_t *r = to_runes(s, n, &k);
	int32_t *o = xmalloc((k + 1) * sizeof(*o));
	for (size_t i = 0; i < k;) {
		size_t oi = k - 1 - i;
		if (r[i] == '\\' && i != k - 1) {
			o[oi - 1] = r[i];
			o[oi] = r[i + 1];
			i += 2;
		} else {
			o[oi] = r[i];
			i++;
		}
	}
	char *out = from_runes(o, k, len);
	free(r);
	free(o);
	return out;
}

static int compile_for(const char *pat, size_t plen, bool greedy, bool anchored,
                       struct df_shpat **re, struct kiln_err *err)
{
	if (df_shpat_compile(pat, plen, greedy, anchored, re, err) == 0)
		return 0;
	return kiln_err_wrap(err, "invalid pattern (%.*s) in substitution", (int)plen, pat);
}

/* BuildKit's trimPrefix: drops the anchored leftmost-first match. */
static int trim_prefix(const char *pat, size_t plen, const char *val, size_t vlen, bool greedy,
                       size_t *budget, size_t *cut, struct kiln_err *err)
{
	struct df_shpat *re;
	bool found;
	size_t ms, me;
	*cut = 0;
	if (compile_for(pat, plen, greedy, true, &re, err) < 0)
		return -1;
	int r = df_shpat_find(re, val, vlen, 0, budget, &found, &ms, &me, err);
	df_shpat_free(re);
	if (r == 0 && found)
		*cut = me;
	return r;
}

int df_expand_trim(const char *pat, size_t plen, const char *val, size_t vlen, bool suffix,
                   bool greedy, size_t *budget, struct kiln_buf *out, struct kiln_err *err)
{
	size_t cut;
	if (!suffix) {
		if (trim_prefix(pat, plen, val, vlen, greedy, budget, &cut, err) < 0)
			return -1;
		return kiln_buf_add(out, val + cut, vlen - cut, err);
	}
	/* Regular expressions cannot find the shortest rightmost match, so
	 * BuildKit reverses both pattern and value and trims a prefix. */
	size_t rplen, rvlen, reslen;
	_cleanup_free_ char *rpat = reverse_pattern(pat, plen, &rplen);
	_cleanup_free_ char *rval = reverse_string(val, vlen, &rvlen);
	if (trim_prefix(rpat, rplen, rval, rvlen, greedy, budget, &cut, err) < 0)
		return -1;
	_cleanup_free_ char *res = reverse_string(rval + cut, rvlen - cut, &reslen);
	return kiln_buf_add(out, res, reslen, err);
}

/* Go's regexp template name extraction: `name` or `{name}` of letters,
 * digits and `_`; num is the group number or -1. */
static bool template_name(const char *t, size_t n, size_t *used, long *num)
{
	size_t i = 0, w;
	bool brace = n > 0 && t[0] == '{';
	if (brace)
		i = 1;
	size_t start = i;
	while (i < n) {
		int32_t r = df_utf8_decode(t + i, n - i, &w);
		if (!df_uni_is_letter(r) && !df_uni_is_digit(r) && r != '_')
			break;
		i += w;
	}
	if (i == start)
		return false;
	size_t end = i;
	if (brace) {
		if (i >= n || t[i] != '}')
			return false;
		i++;
	}
	*used = i;
	*num = 0;
	for (size_t k = start; k < end; k++) {
		if (t[k] < '0' || t[k] > '9' || *num >= 100000000) {
			*num = -1;
			break;
		}
		*num = *num * 10 + (t[k] - '0');
	}
	if (t[start] == '0' && end - start > 1)
		*num = -1;
	return true;
}

/* Go's Regexp.Expand for a pattern without groups: `$$` is `$`, `$0` or
 * `${0}` the match, other names and numbers nothing, a malformed `$` stays. */
static int expand_template(const char *t, size_t n, const char *m, size_t mlen,
                           struct kiln_buf *out, struct kiln_err *err)
{
	size_t i = 0;
	while (i < n) {
		const char *d = memchr(t + i, '$', n - i);
		if (!d)
			break;
		size_t k = (size_t)(d - t);
		if (kiln_buf_add(out, t + i, k - i, err) < 0)
			return -1;
		i = k + 1;
		if (i < n && t[i] == '$') {
			if (kiln_buf_addch(out, '$', err) < 0)
				return -1;
			i++;
			continue;
		}
		size_t used;
		long num;
		if (!template_name(t + i, n - i, &used, &num)) {
			if (kiln_buf_addch(out, '$', err) < 0)
				return -1;
			continue;
		}
		i += used;
		if (num == 0 && kiln_buf_add(out, m, mlen, err) < 0)
			return -1;
	}
	return kiln_buf_add(out, t + i, n - i, err);
}

/* Go's Regexp.ReplaceAllString loop. */
static int replace_all(struct df_shpat *re, const char *repl, size_t rlen, const char *val,
                       size_t vlen, size_t *budget, struct kiln_buf *out, struct kiln_err *err)
{
	size_t last_end = 0, search = 0;
	while (search <= vlen) {
		bool found;
		size_t a, b, w = 0;
		if (df_shpat_find(re, val, vlen, search, budget, &found, &a, &b, err) < 0)
			return -1;
		if (!found)
			break;
		if (kiln_buf_add(out, val + last_end, a - last_end, err) < 0)
			return -1;
		if ((b > last_end || a == 0) &&
		    expand_template(repl, rlen, val + a, b - a, out, err) < 0)
			return -1;
		last_end = b;
		if (search < vlen)
			df_utf8_decode(val + search, vlen - search, &w);
		if (search + w > b)
			search += w;
		else if (search + 1 > b)
			search++;
		else
			search = b;
	}
	return kiln_buf_add(out, val + last_end, vlen - last_end, err);
}

int df_expand_replace(const char *pat, size_t plen, const char *repl, size_t rlen, const char *val,
                      size_t vlen, bool all, size_t *budget, struct kiln_buf *out,
                      struct kiln_err *err)
{
	struct df_shpat *re;
	int r = 0;
	if (compile_for(pat, plen, true, false, &re, err) < 0)
		return -1;
	if (all) {
		r = replace_all(re, repl, rlen, val, vlen, budget, out, err);
	} else {
		bool found;
		size_t a, b;
		r = df_shpat_find(re, val, vlen, 0, budget, &found, &a, &b, err);
		if (r == 0 && !found)
			r = kiln_buf_add(out, val, vlen, err);
		else if (r == 0)
			r = (kiln_buf_add(out, val, a, err) < 0 ||
			     kiln_buf_add(out, repl, rlen, err) < 0 ||
			     kiln_buf_add(out, val + b, vlen - b, err) < 0)
			        ? -1
			        : 0;
	}
	df_shpat_free(re);
	return r;
}
