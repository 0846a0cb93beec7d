/* A regular-expression engine for the subset of Go's regexp syntax that
 * moby/patternmatcher generates from .dockerignore patterns (see
 * dockerignore.c). The text is parsed with Go's rules (Perl flags: `.` does
 * not match a newline, negated classes do), compiled into a linear program
 * and matched by simulating the automaton: O(len(path) * len(program)).
 *
 * Supported: literals, `\` + punctuation, \a \f \t \n \r \v, \d \D \s \S
 * \w \W, \A \z, `.`, `^`, `$`, classes `[...]` `[^...]` with ranges, Perl
 * classes and POSIX [:name:] / [:^name:] classes, `*` after an atom, and
 * the group `(.*\/)?`. Go escapes that patternmatcher could also produce
 * but that make no sense in a path (\b \B \p \P \Q \x, octal) are rejected
 * as unsupported. */
#include <string.h>

#include "parser-expand-internal.h"
#include "parser-ignore-internal.h"

enum op { OP_LIT, OP_CLASS, OP_DOT, OP_BOT, OP_EOT, OP_GROUP };

struct range {
	int32_t lo, hi;
};

struct inst {
	enum op op;
	bool star;
	int32_t r;            /* OP_LIT */
	struct range *ranges; /* OP_CLASS */
	size_t n_ranges;
	bool negated;
};

struct ig_regexp {
	struct inst *prog;
	size_t n, cap;
};

struct cls {
	struct range *r;
	size_t n, cap;
};

static void cls_add(struct cls *c, int32_t lo, int32_t hi)
{
	KILN_GROW(c->r, c->cap, c->n + 1);
	c->r[c->n].lo = lo;
	c->r[c->n].hi = hi;
	c->n++;
}

/* Adds the complement of table t (sorted, disjoint) over all runes. */
static void cls_add_negated(struct cls *c, const struct range *t, size_t n)
{
	int32_t next = 0;
	for (size_t i = 0; i < n; i++) {
		if (t[i].lo > next)
			cls_add(c, next, t[i].lo - 1);
		next = t[i].hi + 1;
	}
	if (next <= 0x10FFFF)
		cls_add(c, next, 0x10FFFF);
}

static const struct range R_DIGIT[] = {{'0', '9'}};
static const struct range R_SPACE[] = {{'\t', '\n'}, {'\f', '\r'}, {' ', ' '}};
static const struct range R_WORD[] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};

struct named {
	const char *name;
	struct range r[4];
	size_t n;
};

static const struct named POSIX[] = {
    {"alnum", {{'0', '9'}, {'A', 'Z'}, {'a', 'z'}}, 3},
    {"alpha", {{'A', 'Z'}, {'a', 'z'}}, 2},
    {"ascii", {{0, 0x7F}}, 1},
    {"blank", {{'\t', '\t'}, {' ', ' '}}, 2},
    {"cntrl", {{0, 0x1F}, {0x7F, 0x7F}}, 2},
    {"digit", {{'0', '9'}}, 1},
    {"graph", {{'!', '~'}}, 1},
    {"lower", {{'a', 'z'}}, 1},
    {"print", {{' ', '~'}}, 1},
    {"punct", {{'!', '/'}, {':', '@'}, {'[', '`'}, {'{', '~'}}, 4},
    {"space", {{'\t', '\r'}, {' ', ' '}}, 2},
    {"upper", {{'A', 'Z'}}, 1},
    {"word", {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}, 4},
    {"xdigit", {{'0', '9'}, {'A', 'F'}, {'a', 'f'}}, 3},
};

struct parser {
	const char *s;
	size_t n, i;
	struct kiln_err *err;
};

static int32_t peek_rune(const struct parser *p, size_t off, size_t *w)
{
	if (p->i + off >= p->n) {
		*w = 0;
		return DF_RUNE_EOF;
	}
	return df_utf8_decode(p->s + p->i + off, p->n - p->i - off, w);
}

/* \d \s \w and their negations: true when one was read into c. */
static bool perl_class(struct parser *p, struct cls *c)
{
	if (p->i + 1 >= p->n || p->s[p->i] != '\\')
		return false;
	char k = p->s[p->i + 1];
	const struct range *t;
	size_t n;
	switch (k | 0x20) {
	case 'd': t = R_DIGIT, n = 1; break;
	case 's': t = R_SPACE, n = 3; break;
	case 'w': t = R_WORD, n = 4; break;
	default: return false;
	}
	if (k >= 'a')
		for (size_t i = 0; i < n; i++)
			cls_add(c, t[i].lo, t[i].hi);
	else
		cls_add_negated(c, t, n);
	p->i += 2;
	return true;
}

/* Go's parseEscape for what can reach it here. */
static int escape_char(struct parser *p, int32_t *r)
{
	size_t w;
	p->i++; /* '\' */
	int32_t c = peek_rune(p, 0, &w);
	if (c == DF_RUNE_EOF)
		return kiln_err_set(p->err, KILN_E_INVALID,
		                    "trailing backslash at end of expression");
	p->i += w;
	if (c < 0x80 && !((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))) {
		*r = c;
		return 0;
	}
	const char *map = "a\af\fn\nr\rt\tv\v";
	for (const char *m = map; *m; m += 2)
		if (c == m[0]) {
			*r = (unsigned char)m[1];
			return 0;
		}
	return kiln_err_set(p->err, KILN_E_UNSUPPORTED, "unsupported escape sequence `\\%.*s`",
	                    (int)w, p->s + p->i - w);
}

static int class_char(struct parser *p, int32_t *r)
{
	size_t w;
	if (p->i >= p->n)
		return kiln_err_set(p->err, KILN_E_INVALID, "missing closing ]");
	if (p->s[p->i] == '\\')
		return escape_char(p, r);
	*r = peek_rune(p, 0, &w);
	p->i += w;
	return 0;
}

/* [:name:] or [:^name:]; 1 when read, 0 when not a named class. */
static int named_class(struct parser *p, struct cls *c)
{
	const char *s = p->s + p->i, *end = NULL;
	size_t left = p->n - p->i;
	if (left <= 2 || s[0] != '[' || s[1] != ':')
		return 0;
	for (size_t k = 2; k + 1 < left; k++)
		if (s[k] == ':' && s[k + 1] == ']') {
			end = s + k;
			break;
		}
	if (!end)
		return 0;
	const char *name = s + 2;
	bool neg = *name == '^';
	name += neg;
	for (size_t k = 0; k < KILN_ARRAY_SIZE(POSIX); k++) {
		if (strlen(POSIX[k].name) != (size_t)(end - name) ||
		    memcmp(POSIX[k].name, name, (size_t)(end - name)) != 0)
			continue;
		if (neg)
			cls_add_negated(c, POSIX[k].r, POSIX[k].n);
		else
			for (size_t j = 0; j < POSIX[k].n; j++)
				cls_add(c, POSIX[k].r[j].lo, POSIX[k].r[j].hi);
		p->i += (size_t)(end - s) + 2;
		return 1;
	}
	return kiln_err_set(p->err, KILN_E_INVALID, "invalid character class range `%.*s`",
	                    (int)(end - s + 2), s);
}

/* Go's parseClass, from the '['. */
static int parse_class(struct parser *p, struct inst *in)
{
	struct cls c = {0};
	p->i++;
	if (p->i < p->n && p->s[p->i] == '^') {
		in->negated = true;
		p->i++;
	}
	for (bool first = true; p->i >= p->n || p->s[p->i] != ']' || first; first = false) {
		if (p->i >= p->n)
			goto missing;
		int nc = named_class(p, &c);
		if (nc < 0)
			goto fail;
		if (nc > 0 || perl_class(p, &c))
			continue;
		int32_t lo, hi;
		if (class_char(p, &lo) < 0)
			goto fail;
		hi = lo;
		if (p->i + 1 < p->n && p->s[p->i] == '-' && p->s[p->i + 1] != ']') {
			p->i++;
			if (class_char(p, &hi) < 0)
				goto fail;
			if (hi < lo) {
				kiln_err_set(p->err, KILN_E_INVALID,
				             "invalid character class range");
				goto fail;
			}
		}
		cls_add(&c, lo, hi);
	}
	p->i++; /* ']' */
	in->op = OP_CLASS;
	in->ranges = c.r;
	in->n_ranges = c.n;
	return 0;
missing:
	kiln_err_set(p->err, KILN_E_INVALID, "missing closing ]");
fail:
	free(c.r);
	return -1;
}

static struct inst *emit(struct ig_regexp *re, enum op op)
{
	KILN_GROW(re->prog, re->cap, re->n + 1);
	struct inst *in = &re->prog[re->n++];
	memset(in, 0, sizeof(*in));
	in->op = op;
	return in;
}

static int parse_atom(struct parser *p, struct ig_regexp *re)
{
	size_t w;
	int32_t c = peek_rune(p, 0, &w);
	static const char group[] = "(.*/)?";
	switch (c) {
	case '^': p->i++, emit(re, OP_BOT); return 0;
	case '$': p->i++, emit(re, OP_EOT); return 0;
	case '.': p->i++, emit(re, OP_DOT); return 0;
	case '[': {
		struct inst in = {0};
		if (parse_class(p, &in) < 0)
			return -1;
		*emit(re, OP_CLASS) = in;
		return 0;
	}
	case '(':
		if (p->n - p->i < sizeof(group) - 1 || memcmp(p->s + p->i, group, 6) != 0)
			return kiln_err_set(p->err, KILN_E_UNSUPPORTED, "unsupported group");
		p->i += sizeof(group) - 1;
		emit(re, OP_GROUP);
		emit(re, OP_DOT)->star = true;
		emit(re, OP_LIT)->r = '/';
		return 0;
	case '*':
		if (re->n == 0 || re->prog[re->n - 1].star ||
		    (re->prog[re->n - 1].op != OP_LIT && re->prog[re->n - 1].op != OP_CLASS &&
		     re->prog[re->n - 1].op != OP_DOT))
			return kiln_err_set(p->err, KILN_E_INVALID,
			                    "missing argument to repetition operator");
		p->i++;
		re->prog[re->n - 1].star = true;
		return 0;
	case '\\': {
		struct cls cl = {0};
		if (perl_class(p, &cl)) {
			struct inst *in = emit(re, OP_CLASS);
			in->ranges = cl.r;
			in->n_ranges = cl.n;
			return 0;
		}
		if (p->i + 1 < p->n && (p->s[p->i + 1] == 'A' || p->s[p->i + 1] == 'z')) {
			emit(re, p->s[p->i + 1] == 'A' ? OP_BOT : OP_EOT);
			p->i += 2;
			return 0;
		}
		int32_t r;
		if (escape_char(p, &r) < 0)
			return -1;
		emit(re, OP_LIT)->r = r;
		return 0;
	}
	default:
		p->i += w;
		emit(re, OP_LIT)->r = c;
		return 0;
	}
}

void ig_regexp_free(struct ig_regexp *re)
{
	if (!re)
		return;
	for (size_t i = 0; i < re->n; i++)
		free(re->prog[i].ranges);
	free(re->prog);
	free(re);
}

int ig_regexp_compile(const char *s, size_t len, struct ig_regexp **out, struct kiln_err *err)
{
	struct ig_regexp *re = xcalloc(1, sizeof(*re));
	struct parser p = {s, len, 0, err};
	while (p.i < p.n)
		if (parse_atom(&p, re) < 0) {
			ig_regexp_free(re);
			return -1;
		}
	*out = re;
	return 0;
}

/* ------------------------------------------------------------ matching */

static bool class_has(const struct inst *in, int32_t r)
{
	bool hit = false;
	for (size_t i = 0; i < in->n_ranges && !hit; i++)
		hit = r >= in->ranges[i].lo && r <= in->ranges[i].hi;
	return hit != in->negated;
}

static bool consumes(const struct inst *in, int32_t r)
{
	switch (in->op) {
	case OP_LIT: return r == in->r;
	case OP_CLASS: return class_has(in, r);
	case OP_DOT: return r != '\n';
	default: return false;
	}
}

struct set {
	size_t *v, n;
	unsigned *mark, gen;
};

/* Adds state st and what it reaches without consuming, at position pos. */
static void closure(const struct ig_regexp *re, struct set *s, size_t st, size_t *stack, bool bot,
                    bool eot)
{
	size_t top = 0;
	stack[top++] = st;
	while (top) {
		size_t x = stack[--top];
		if (s->mark[x] == s->gen)
			continue;
		s->mark[x] = s->gen;
		s->v[s->n++] = x;
		if (x == re->n)
			continue;
		const struct inst *in = &re->prog[x];
		if (in->op == OP_BOT && bot)
			stack[top++] = x + 1;
		else if (in->op == OP_EOT && eot)
			stack[top++] = x + 1;
		else if (in->op == OP_GROUP) {
			stack[top++] = x + 3;
			stack[top++] = x + 1;
		} else if (in->star)
			stack[top++] = x + 1;
	}
}

bool ig_regexp_match(const struct ig_regexp *re, const char *str, size_t n)
{
	size_t m = re->n + 1;
	struct set a = {xmalloc(m * sizeof(size_t)), 0, xcalloc(m, sizeof(unsigned)), 1};
	struct set b = {xmalloc(m * sizeof(size_t)), 0, a.mark, 0};
	size_t *stack = xmalloc(3 * m * sizeof(size_t));
	closure(re, &a, 0, stack, true, n == 0);
	size_t pos = 0;
	while (pos < n && a.n) {
		size_t w;
		int32_t r = df_utf8_decode(str + pos, n - pos, &w);
		pos += w;
		b.n = 0;
		b.gen = a.gen + 1;
		for (size_t i = 0; i < a.n; i++) {
			size_t x = a.v[i];
			if (x < re->n && consumes(&re->prog[x], r))
				closure(re, &b, re->prog[x].star ? x : x + 1, stack, false,
				        pos == n);
		}
		struct set t = a;
		a = b;
		b = t;
	}
	bool ok = false;
	if (pos == n)
		for (size_t i = 0; i < a.n && !ok; i++)
			ok = a.v[i] == re->n;
	free(a.v);
	free(b.v);
	free(a.mark);
	free(stack);
	return ok;
}
