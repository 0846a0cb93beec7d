/* The word expander: BuildKit's shell lexer (frontend/dockerfile/shell)
 * as a pure function with a lookup callback.
 *
 * The input is read rune by rune the way Go's text/scanner does (a leading
 * U+FEFF is skipped, an invalid byte reads as U+FFFD), and every rule
 * follows the reference lexer, including its oddities: see FORMAT.md
 * section 6 and tests/unit/parser_expand_test.c. Output buffers are bounded
 * by DF_EXPAND_MAX, ${...} nesting by DF_EXPAND_MAX_DEPTH, and pattern
 * matching by a step budget, so any input ends in a result or an error. */
#include <string.h>

#include "parser-expand-internal.h"
#include "parser.h"

/* Matcher steps allowed per expansion (each is a few nanoseconds). */
#define MATCH_BUDGET ((size_t)1 << 27)

/* A set of variable names (for the matched/unmatched report). */
struct nameset {
	char **slot;
	size_t cap, n;
};

struct words {
	struct kiln_buf word;
	bool in_word;
	struct kiln_strv list;
};

struct sw {
	const char *s;
	size_t n, pos;
	int32_t esc;
	unsigned flags;
	df_lookup_fn lookup;
	void *ud;
	int depth;
	size_t budget;
	struct nameset *matched, *unmatched;
	struct kiln_err *err;
};

static int process_stop_on(struct sw *sw, int32_t stop, bool raw_esc, struct kiln_buf *out,
                           struct words *words);

/* ------------------------------------------------------------ helpers */

static uint64_t hash_name(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static void nameset_add(struct nameset *ns, const char *name, size_t len)
{
	if (!ns)
		return;
	if ((ns->n + 1) * 2 > ns->cap) {
		size_t ncap = ns->cap ? ns->cap * 2 : 16;
		char **nslot = xcalloc(ncap, sizeof(char *));
		for (size_t i = 0; i < ns->cap; i++) {
			if (!ns->slot[i])
				continue;
			size_t j = hash_name(ns->slot[i], strlen(ns->slot[i])) & (ncap - 1);
			while (nslot[j])
				j = (j + 1) & (ncap - 1);
			nslot[j] = ns->slot[i];
		}
		free(ns->slot);
		ns->slot = nslot;
		ns->cap = ncap;
	}
	size_t j = hash_name(name, len) & (ns->cap - 1);
	while (ns->slot[j]) {
		if (strlen(ns->slot[j]) == len && memcmp(ns->slot[j], name, len) == 0)
			return;
		j = (j + 1) & (ns->cap - 1);
	}
	ns->slot[j] = xstrndup(name, len);
	ns->n++;
}

/* Moves the names into sv, sorted; frees the set. */
static void nameset_drain(struct nameset *ns, struct kiln_strv *sv)
{
	for (size_t i = 0; i < ns->cap; i++)
		if (ns->slot[i])
			kiln_strv_push_take(sv, ns->slot[i]);
	free(ns->slot);
	ns->slot = NULL;
	ns->cap = ns->n = 0;
	kiln_strv_sort(sv);
}

static void nameset_release(struct nameset *ns)
{
	for (size_t i = 0; i < ns->cap; i++)
		free(ns->slot[i]);
	free(ns->slot);
	ns->slot = NULL;
	ns->cap = ns->n = 0;
}

static void out_init(struct kiln_buf *b)
{
	kiln_buf_init(b, DF_EXPAND_MAX, "expanded word");
}

static int put_rune(struct kiln_buf *b, int32_t r, struct kiln_err *err)
{
	char enc[4];
	return kiln_buf_add(b, enc, df_utf8_encode(r, enc), err);
}

static int32_t peek(const struct sw *sw)
{
	return df_utf8_peek(sw->s, sw->n, sw->pos);
}

static int32_t next(struct sw *sw)
{
	return df_utf8_next(sw->s, sw->n, &sw->pos);
}

/* Looks a name up and records it as matched or unmatched. */
static const char *getenv_name(struct sw *sw, const char *name, size_t len)
{
	const char *v = sw->lookup ? sw->lookup(sw->ud, name, len) : NULL;
	nameset_add(v ? sw->matched : sw->unmatched, name, len);
	return v;
}

/* ------------------------------------------------------------- words */

static int words_raw_char(struct words *w, int32_t r, struct kiln_err *err)
{
	if (!w)
		return 0;
	w->in_word = true;
	return put_rune(&w->word, r, err);
}

static void words_flush(struct words *w)
{
	if (w->word.len > 0) {
		kiln_strv_push_take(&w->list, kiln_buf_detach(&w->word, NULL));
		out_init(&w->word);
		w->in_word = false;
	}
}

static int words_char(struct words *w, int32_t r, struct kiln_err *err)
{
	if (!w)
		return 0;
	if (df_uni_is_space(r)) {
		if (w->in_word)
			words_flush(w);
		return 0;
	}
	return words_raw_char(w, r, err);
}

/* The result of an unquoted $ expansion: its whitespace splits words (and
 * like Go's range over a string, invalid bytes turn into U+FFFD). */
static int words_string(struct words *w, const char *s, size_t n, struct kiln_err *err)
{
	if (!w)
		return 0;
	for (size_t i = 0, cw; i < n; i += cw)
		if (words_char(w, df_utf8_decode(s + i, n - i, &cw), err) < 0)
			return -1;
	return 0;
}

static int words_raw_string(struct words *w, const char *s, size_t n, struct kiln_err *err)
{
	if (!w)
		return 0;
	w->in_word = true;
	return kiln_buf_add(&w->word, s, n, err);
}

/* ------------------------------------------------------------- quotes */

static int single_quote(struct sw *sw, struct kiln_buf *out)
{
	bool raw = sw->flags & DF_EXPAND_KEEP_QUOTES;
	int32_t ch = next(sw);
	if (raw && put_rune(out, ch, sw->err) < 0)
		return -1;
	for (;;) {
		ch = next(sw);
		if (ch == DF_RUNE_EOF)
			return kiln_err_set(sw->err, KILN_E_INVALID,
			                    "unexpected end of statement while looking for "
			                    "matching single-quote");
		if (ch == '\'') {
			if (raw && put_rune(out, ch, sw->err) < 0)
				return -1;
			return 0;
		}
		if (put_rune(out, ch, sw->err) < 0)
			return -1;
	}
}

static int dollar(struct sw *sw, struct kiln_buf *out);

static int double_quote(struct sw *sw, bool raw_esc, struct kiln_buf *out)
{
	bool raw = sw->flags & DF_EXPAND_KEEP_QUOTES;
	int32_t ch = next(sw);
	if (raw && put_rune(out, ch, sw->err) < 0)
		return -1;
	for (;;) {
		int32_t pk = peek(sw);
		if (pk == DF_RUNE_EOF)
			return kiln_err_set(sw->err, KILN_E_INVALID,
			                    "unexpected end of statement while looking for "
			                    "matching double-quote");
		if (pk == '"') {
			ch = next(sw);
			if (raw && put_rune(out, ch, sw->err) < 0)
				return -1;
			return 0;
		}
		if (pk == '$') {
			if (dollar(sw, out) < 0)
				return -1;
			continue;
		}
		ch = next(sw);
		if (ch == sw->esc) {
			if (raw_esc && put_rune(out, ch, sw->err) < 0)
				return -1;
			pk = peek(sw);
			if (pk == DF_RUNE_EOF)
				continue; /* an escape at the end is dropped */
			if (pk == '"' || pk == '$' || pk == sw->esc)
				ch = next(sw);
		}
		if (put_rune(out, ch, sw->err) < 0)
			return -1;
	}
}

/* ------------------------------------------------------------ ${...} */

static bool is_special_param(int32_t r)
{
	return r > 0 && r < 0x80 && strchr("@*#?-$!0", (int)r);
}

/* Reads a name: a run of letters, digits and `_`; a run of digits if it
 * starts with one; or one special parameter. */
static void process_name(struct sw *sw, const char **name, size_t *len)
{
	size_t start = sw->pos;
	int32_t ch;
	while ((ch = peek(sw)) != DF_RUNE_EOF) {
		if (sw->pos == start && df_uni_is_digit(ch)) {
			while ((ch = peek(sw)) != DF_RUNE_EOF && df_uni_is_digit(ch))
				next(sw);
			break;
		}
		if (sw->pos == start && is_special_param(ch)) {
			next(sw);
			break;
		}
		if (!df_uni_is_letter(ch) && !df_uni_is_digit(ch) && ch != '_')
			break;
		next(sw);
	}
	*name = sw->s + start;
	*len = sw->pos - start;
}

static int add_str(struct kiln_buf *b, const char *s, struct kiln_err *err)
{
	return kiln_buf_addstr(b, s ? s : "", err);
}

/* Runs a nested word up to `stop`; at the end of the input any failure
 * becomes BuildKit's "missing" message. */
static int sub_word(struct sw *sw, int32_t stop, bool raw_esc, struct kiln_buf *out,
                    const char *missing)
{
	if (process_stop_on(sw, stop, raw_esc, out, NULL) == 0)
		return 0;
	if (peek(sw) == DF_RUNE_EOF && sw->err && sw->err->code != KILN_E_LIMIT)
		return kiln_err_set(sw->err, KILN_E_INVALID, "%s", missing);
	return -1;
}

static int modifier(struct sw *sw, const char *name, size_t nlen, int32_t ch, const char *chs,
                    bool null_is_unset, struct kiln_buf *out)
{
	struct kiln_buf word;
	out_init(&word);
	int ret = -1;
	if (sub_word(sw, '}', ch == '#' || ch == '%', &word, "syntax error: missing '}'") < 0)
		goto done;
	const char *value = getenv_name(sw, name, nlen);
	bool unset = !value || (null_is_unset && !*value);
	const char *w = kiln_buf_str(&word);
	if (!value && (sw->flags & DF_EXPAND_KEEP_UNSET)) {
		ret = kiln_buf_addf(out, sw->err, "${%.*s%s%s}", (int)nlen, name, chs, w);
		goto done;
	}
	switch (ch) {
	case '-': ret = add_str(out, unset ? w : value, sw->err); break;
	case '+': ret = add_str(out, unset ? "" : w, sw->err); break;
	case '?':
		if (unset)
			ret = kiln_err_set(sw->err, KILN_E_INVALID, "%.*s: %s", (int)nlen, name,
			                   *w       ? w
			                   : !value ? "is not allowed to be unset"
			                            : "is not allowed to be empty");
		else
			ret = add_str(out, value, sw->err);
		break;
	case '#':
	case '%': {
		bool greedy = word.len > 0 && w[0] == (char)ch;
		size_t skip = greedy ? 1 : 0;
		const char *v = value ? value : "";
		ret = df_expand_trim(w + skip, word.len - skip, v, strlen(v), ch == '%', greedy,
		                     &sw->budget, out, sw->err);
		break;
	}
	default:
		ret = kiln_err_set(sw->err, KILN_E_INVALID,
		                   "unsupported modifier (%s) in substitution", chs);
	}
done:
	kiln_buf_release(&word);
	return ret;
}

static int substitute(struct sw *sw, const char *name, size_t nlen, struct kiln_buf *out)
{
	struct kiln_buf pat, repl;
	out_init(&pat);
	out_init(&repl);
	int ret = -1;
	bool all = peek(sw) == '/';
	if (all)
		next(sw);
	if (sub_word(sw, '/', true, &pat, "syntax error: missing '/' in ${}") < 0 ||
	    sub_word(sw, '}', true, &repl, "syntax error: missing '}'") < 0)
		goto done;
	const char *value = getenv_name(sw, name, nlen);
	if (!value && (sw->flags & DF_EXPAND_KEEP_UNSET)) {
		/* BuildKit writes a single slash back, also for `//` */
		ret = kiln_buf_addf(out, sw->err, "${%.*s/%s/%s}", (int)nlen, name,
		                    kiln_buf_str(&pat), kiln_buf_str(&repl));
		goto done;
	}
	if (!value)
		value = "";
	ret = df_expand_replace(kiln_buf_str(&pat), pat.len, kiln_buf_str(&repl), repl.len, value,
	                        strlen(value), all, &sw->budget, out, sw->err);
done:
	kiln_buf_release(&pat);
	kiln_buf_release(&repl);
	return ret;
}

static int dollar(struct sw *sw, struct kiln_buf *out)
{
	const char *name;
	size_t nlen;
	next(sw); /* '$' */
	if (peek(sw) != '{') {
		process_name(sw, &name, &nlen);
		if (nlen == 0)
			return kiln_buf_addch(out, '$', sw->err);
		const char *value = getenv_name(sw, name, nlen);
		if (!value && (sw->flags & DF_EXPAND_KEEP_UNSET))
			return kiln_buf_addf(out, sw->err, "$%.*s", (int)nlen, name);
		return add_str(out, value, sw->err);
	}
	next(sw); /* '{' */
	int32_t pk = peek(sw);
	if (pk == DF_RUNE_EOF)
		return kiln_err_set(sw->err, KILN_E_INVALID, "syntax error: missing '}'");
	if (pk == '{' || pk == '}' || pk == ':')
		return kiln_err_set(sw->err, KILN_E_INVALID, "syntax error: bad substitution");
	process_name(sw, &name, &nlen);
	int32_t ch = next(sw);
	char chs[9];
	size_t cl = df_utf8_encode(ch, chs);
	chs[cl] = '\0';
	switch (ch) {
	case '}': {
		const char *value = getenv_name(sw, name, nlen);
		if (!value && (sw->flags & DF_EXPAND_KEEP_UNSET))
			return kiln_buf_addf(out, sw->err, "${%.*s}", (int)nlen, name);
		return add_str(out, value, sw->err);
	}
	case ':':
		ch = next(sw);
		cl = df_utf8_encode(ch, chs + 1);
		chs[1 + cl] = '\0';
		return modifier(sw, name, nlen, ch, chs, true, out);
	case '+':
	case '-':
	case '?':
	case '#':
	case '%': return modifier(sw, name, nlen, ch, chs, false, out);
	case '/': return substitute(sw, name, nlen, out);
	default:
		return kiln_err_set(sw->err, KILN_E_INVALID,
		                    "unsupported modifier (%s) in substitution", chs);
	}
}

/* ------------------------------------------------------------ driver */

static int special(struct sw *sw, int32_t ch, bool raw_esc, struct kiln_buf *tmp)
{
	if (ch == '$')
		return dollar(sw, tmp);
	if (ch == '\'')
		return single_quote(sw, tmp);
	return double_quote(sw, raw_esc, tmp);
}

/* BuildKit's processStopOn: expands up to `stop` (consumed) or the end of
 * the input when stop is DF_RUNE_EOF. */
static int process_stop_on(struct sw *sw, int32_t stop, bool raw_esc, struct kiln_buf *out,
                           struct words *words)
{
	bool quotes = !(sw->flags & DF_EXPAND_SKIP_QUOTES);
	struct kiln_buf tmp;
	int ret = -1;
	out_init(&tmp);
	if (stop != DF_RUNE_EOF && ++sw->depth > DF_EXPAND_MAX_DEPTH) {
		kiln_err_set(sw->err, KILN_E_LIMIT, "variable expansion nested too deep (limit %d)",
		             DF_EXPAND_MAX_DEPTH);
		goto out;
	}
	int32_t ch;
	while ((ch = peek(sw)) != DF_RUNE_EOF) {
		if (stop != DF_RUNE_EOF && ch == stop) {
			next(sw);
			ret = 0;
			goto out;
		}
		if (ch == '$' || (quotes && (ch == '\'' || ch == '"'))) {
			kiln_buf_reset(&tmp);
			if (special(sw, ch, raw_esc, &tmp) < 0 ||
			    kiln_buf_add(out, kiln_buf_str(&tmp), tmp.len, sw->err) < 0)
				goto out;
			if ((ch == '$' ? words_string : words_raw_string)(words, kiln_buf_str(&tmp),
			                                                  tmp.len, sw->err) < 0)
				goto out;
			continue;
		}
		ch = next(sw);
		if (ch == sw->esc) {
			if (raw_esc && (words_raw_char(words, ch, sw->err) < 0 ||
			                put_rune(out, ch, sw->err) < 0))
				goto out;
			ch = next(sw);
			if (ch == DF_RUNE_EOF)
				break;
			if (words_raw_char(words, ch, sw->err) < 0)
				goto out;
		} else if (words_char(words, ch, sw->err) < 0) {
			goto out;
		}
		if (put_rune(out, ch, sw->err) < 0)
			goto out;
	}
	if (stop != DF_RUNE_EOF) {
		char enc[4];
		size_t el = df_utf8_encode(stop, enc);
		kiln_err_set(sw->err, KILN_E_INVALID,
		             "unexpected end of statement while looking for matching %.*s", (int)el,
		             enc);
		goto out;
	}
	ret = 0;
out:
	if (stop != DF_RUNE_EOF)
		sw->depth--;
	kiln_buf_release(&tmp);
	return ret;
}

/* Go's %q of the source, shortened: messages stay readable for huge words. */
static char *quote_source(const char *s, size_t n)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	size_t lim = n > 256 ? 256 : n;
	kiln_buf_addch(&b, '"', NULL);
	for (size_t i = 0, w; i < lim; i += w) {
		int32_t r = df_utf8_decode(s + i, n - i, &w);
		unsigned char c = (unsigned char)s[i];
		if (r == DF_RUNE_ERROR && w == 1)
			kiln_buf_addf(&b, NULL, "\\x%02x", c);
		else if (c == '"' || c == '\\')
			kiln_buf_addf(&b, NULL, "\\%c", c);
		else if (c == '\n')
			kiln_buf_addstr(&b, "\\n", NULL);
		else if (c == '\t')
			kiln_buf_addstr(&b, "\\t", NULL);
		else if (c == '\r')
			kiln_buf_addstr(&b, "\\r", NULL);
		else if (c < 0x20 || c == 0x7f)
			kiln_buf_addf(&b, NULL, "\\x%02x", c);
		else
			kiln_buf_add(&b, s + i, w, NULL);
	}
	kiln_buf_addch(&b, '"', NULL);
	if (lim < n)
		kiln_buf_addstr(&b, "...", NULL);
	return kiln_buf_detach(&b, NULL);
}

int df_expand(const char *word, size_t len, char escape, unsigned flags, df_lookup_fn lookup,
              void *ud, struct df_expansion *res, struct kiln_err *err)
{
	struct nameset matched = {0}, unmatched = {0};
	struct words words = {.in_word = false, .list = KILN_STRV_INIT};
	struct kiln_buf out;
	struct kiln_err e = KILN_ERR_INIT;
	struct sw sw = {
	    .s = word,
	    .n = len,
	    .esc = (unsigned char)escape,
	    .flags = flags,
	    .lookup = lookup,
	    .ud = ud,
	    .budget = MATCH_BUDGET,
	    .matched = (flags & DF_EXPAND_REPORT) ? &matched : NULL,
	    .unmatched = (flags & DF_EXPAND_REPORT) ? &unmatched : NULL,
	    .err = &e,
	};
	size_t w;
	memset(res, 0, sizeof(*res));
	out_init(&out);
	out_init(&words.word);
	if (len >= 3 && df_utf8_decode(word, len, &w) == 0xFEFF)
		sw.pos = w; /* text/scanner skips a leading byte order mark */
	bool raw_esc = flags & (DF_EXPAND_KEEP_QUOTES | DF_EXPAND_RAW_ESCAPES);
	if (process_stop_on(&sw, DF_RUNE_EOF, raw_esc, &out,
	                    (flags & DF_EXPAND_WORDS) ? &words : NULL) < 0) {
		kiln_buf_release(&out);
		kiln_buf_release(&words.word);
		kiln_strv_release(&words.list);
		nameset_release(&matched);
		nameset_release(&unmatched);
		_cleanup_free_ char *q = quote_source(word, len);
		kiln_err_wrap(&e, "failed to process %s", q);
		kiln_err_move(err, &e);
		return -1;
	}
	if (flags & DF_EXPAND_WORDS)
		words_flush(&words);
	kiln_buf_release(&words.word);
	res->words = words.list;
	res->word = kiln_buf_detach(&out, &res->len);
	nameset_drain(&matched, &res->matched);
	nameset_drain(&unmatched, &res->unmatched);
	return 0;
}

void df_expansion_release(struct df_expansion *res)
{
	free(res->word);
	res->word = NULL;
	kiln_strv_release(&res->words);
	kiln_strv_release(&res->matched);
	kiln_strv_release(&res->unmatched);
}

int df_expand_word(const char *word, char escape, unsigned flags, df_lookup_fn lookup, void *ud,
                   char **out, struct kiln_err *err)
{
	struct df_expansion res;
	if (df_expand(word, strlen(word), escape, flags & ~(unsigned)DF_EXPAND_WORDS, lookup, ud,
	              &res, err) < 0)
		return -1;
	*out = TAKE_PTR(res.word);
	df_expansion_release(&res);
	return 0;
}

int df_expand_words(const char *word, char escape, unsigned flags, df_lookup_fn lookup, void *ud,
                    struct kiln_strv *out, struct kiln_err *err)
{
	struct df_expansion res;
	if (df_expand(word, strlen(word), escape, flags | DF_EXPAND_WORDS, lookup, ud, &res, err) <
	    0)
		return -1;
	for (size_t i = 0; i < res.words.n; i++)
		kiln_strv_push_take(out, TAKE_PTR(res.words.v[i]));
	df_expansion_release(&res);
	return 0;
}
