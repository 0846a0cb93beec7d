/* Heredoc markers (FORMAT.md section 5).
 *
 * BuildKit finds markers by splitting the whole logical line with its shell
 * lexer in a "raw" mode (quotes and escapes kept, unset variables left as
 * written, `\` as the escape character) and testing each word against
 * ^(\d*)<<(-?)\s*([^<]*)$. This file holds a small private lexer with the
 * same observable behaviour in that mode, including two quirks that decide
 * which words can be markers:
 *  - `<<` followed by spaces/tabs/CRs is glued to the next word;
 *  - every nested scan (the word of ${x:-word}, ${x/a/b}, ...) starts by
 *    clearing the word being built, so text before such an expression is
 *    lost from its word;
 *  - inside double quotes in raw mode, an escape before an ordinary
 *    character is written twice.
 * It does not expand anything: the parser has no environment. */
#include <limits.h>
#include <string.h>

#include "parser-ast-internal.h"

#define LEX_MAX_NEST 512

struct lex {
	const char *s;
	size_t n, pos;
	bool raw_quotes, raw_escapes;
	int nest;
	struct kiln_buf wbuf; /* the word being built, shared by nested scans */
};

struct words {
	struct kiln_strv v;
	bool in_word;
};

static void lex_init(struct lex *lx, const char *s, size_t n, bool raw_quotes)
{
	memset(lx, 0, sizeof(*lx));
	lx->s = s;
	lx->n = n;
	lx->raw_quotes = raw_quotes;
	kiln_buf_init(&lx->wbuf, KILN_BUF_NOLIMIT, NULL);
	/* Go's text/scanner skips a byte-order mark at the very start. */
	if (n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
		lx->pos = 3;
}

static int32_t peek(const struct lex *lx)
{
	return df_utf8_peek(lx->s, lx->n, lx->pos);
}

static int32_t next(struct lex *lx)
{
	return df_utf8_next(lx->s, lx->n, &lx->pos);
}

static void w_push(struct lex *lx, struct words *w)
{
	kiln_strv_push(&w->v, kiln_buf_str(&lx->wbuf));
	kiln_buf_reset(&lx->wbuf);
	w->in_word = false;
}

static void w_raw_char(struct lex *lx, struct words *w, int32_t r)
{
	df_utf8_add(&lx->wbuf, r);
	w->in_word = true;
}

static void w_char(struct lex *lx, struct words *w, int32_t r)
{
	if (!df_uni_is_space(r))
		w_raw_char(lx, w, r);
	else if (w->in_word && lx->wbuf.len)
		w_push(lx, w);
}

static int scan(struct lex *lx, int32_t stop, bool raw_escapes, struct kiln_buf *result,
                struct kiln_strv *words_out, struct kiln_err *err);

static void scan_name(struct lex *lx, struct kiln_buf *name)
{
	int32_t c;
	while ((c = peek(lx)) != DF_RUNE_EOF) {
		if (!name->len && c >= '0' && c <= '9') {
			while ((c = peek(lx)) >= '0' && c <= '9')
				df_utf8_add(name, next(lx));
			return;
		}
		if (!name->len && c < 0x80 && strchr("@*#?-$!", (int)c) && c) {
			df_utf8_add(name, next(lx));
			return;
		}
		if (!df_uni_is_letter(c) && !df_uni_is_digit(c) && c != '_')
			return;
		df_utf8_add(name, next(lx));
	}
}

/* Scans a nested word up to stop and appends it to out. */
static int nested(struct lex *lx, int32_t stop, bool raw_escapes, struct kiln_buf *out,
                  struct kiln_err *err)
{
	struct kiln_buf word;
	kiln_buf_init(&word, KILN_BUF_NOLIMIT, NULL);
	int r = scan(lx, stop, raw_escapes, &word, NULL, err);
	if (r == 0)
		kiln_buf_add(out, kiln_buf_str(&word), word.len, NULL);
	kiln_buf_release(&word);
	return r;
}

/* $name, ${name} and ${name<modifier>word}: with no variable set, the
 * expression comes back as written (with its word scanned). */
static int dollar(struct lex *lx, struct kiln_buf *out, struct kiln_err *err)
{
	struct kiln_buf name;
	int ret = -1;

	next(lx);
	kiln_buf_addch(out, '$', NULL);
	if (peek(lx) != '{') {
		scan_name(lx, out);
		return 0;
	}
	next(lx);
	int32_t c = peek(lx);
	if (c == DF_RUNE_EOF)
		return kiln_err_set(err, KILN_E_INVALID, "syntax error: missing '}'");
	if (c == '{' || c == '}' || c == ':')
		return kiln_err_set(err, KILN_E_INVALID, "syntax error: bad substitution");
	kiln_buf_init(&name, KILN_BUF_NOLIMIT, NULL);
	scan_name(lx, &name);
	kiln_buf_addch(out, '{', NULL);
	kiln_buf_add(out, kiln_buf_str(&name), name.len, NULL);
	kiln_buf_release(&name);

	c = next(lx);
	switch (c) {
	case '}': kiln_buf_addch(out, '}', NULL); return 0;
	case ':':
		kiln_buf_addch(out, ':', NULL);
		c = next(lx);
		df_utf8_add(out, c == DF_RUNE_EOF ? DF_RUNE_ERROR : c);
		if (c == '#' || c == '%') {
			kiln_err_set(err, KILN_E_INVALID, "unsupported modifier in substitution");
			break;
		}
		ret = nested(lx, '}', false, out, err);
		break;
	case '+':
	case '-':
	case '?':
	case '#':
	case '%':
		df_utf8_add(out, c);
		ret = nested(lx, '}', c == '#' || c == '%', out, err);
		break;
	case '/':
		kiln_buf_addch(out, '/', NULL);
		if (peek(lx) == '/')
			next(lx);
		if (nested(lx, '/', true, out, err) < 0)
			return -1;
		kiln_buf_addch(out, '/', NULL);
		ret = nested(lx, '}', true, out, err);
		break;
	default: return kiln_err_set(err, KILN_E_INVALID, "unsupported modifier in substitution");
	}
	if (ret == 0)
		kiln_buf_addch(out, '}', NULL);
	return ret;
}

/* '...' (no escapes, no expansion) and "..." ($ expressions; \" \$ \\
 * escapes). */
static int quoted(struct lex *lx, struct kiln_buf *out, struct kiln_err *err)
{
	int32_t q = next(lx), c;
	if (lx->raw_quotes)
		df_utf8_add(out, q);
	while ((c = peek(lx)) != q) {
		if (c == DF_RUNE_EOF)
			return kiln_err_set(
			    err, KILN_E_INVALID,
			    "unexpected end of statement while looking for matching %s",
			    q == '"' ? "double-quote" : "single-quote");
		if (q == '"' && c == '$') {
			if (dollar(lx, out, err) < 0)
				return -1;
			continue;
		}
		next(lx);
		if (q == '"' && c == '\\') {
			if (lx->raw_escapes)
				df_utf8_add(out, c);
			int32_t p = peek(lx);
			if (p == DF_RUNE_EOF)
				continue;
			if (p == '"' || p == '$' || p == '\\')
				c = next(lx);
		}
		df_utf8_add(out, c);
	}
	next(lx);
	if (lx->raw_quotes)
		df_utf8_add(out, q);
	return 0;
}

static void possible_heredoc(struct lex *lx, struct kiln_buf *out)
{
	next(lx);
	df_utf8_add(out, '<');
	if (peek(lx) != '<')
		return;
	next(lx);
	df_utf8_add(out, '<');
	int32_t c;
	while ((c = peek(lx)) == ' ' || c == '\t' || c == '\r')
		df_utf8_add(out, next(lx));
}

/* One scan of the lexer up to stop (DF_RUNE_EOF for the whole input). */
static int scan(struct lex *lx, int32_t stop, bool raw_escapes, struct kiln_buf *result,
                struct kiln_strv *words_out, struct kiln_err *err)
{
	bool saved = lx->raw_escapes;
	struct words w = {KILN_STRV_INIT, false};
	struct kiln_buf tmp;
	int32_t c;
	int ret = -1;

	if (lx->nest >= LEX_MAX_NEST)
		return kiln_err_set(err, KILN_E_LIMIT, "substitutions nested too deeply");
	lx->nest++;
	lx->raw_escapes = raw_escapes;
	kiln_buf_reset(&lx->wbuf);
	kiln_buf_init(&tmp, KILN_BUF_NOLIMIT, NULL);

	while ((c = peek(lx)) != DF_RUNE_EOF) {
		if (stop != DF_RUNE_EOF && c == stop) {
			next(lx);
			ret = 0;
			goto out;
		}
		if (c == '$' || c == '<' || c == '\'' || c == '"') {
			kiln_buf_reset(&tmp);
			int r = c == '$'   ? dollar(lx, &tmp, err)
			        : c == '<' ? (possible_heredoc(lx, &tmp), 0)
			                   : quoted(lx, &tmp, err);
			if (r < 0)
				goto out;
			kiln_buf_add(result, kiln_buf_str(&tmp), tmp.len, NULL);
			if (c == '$') {
				for (size_t i = 0; i < tmp.len;)
					w_char(lx, &w, df_utf8_next(tmp.data, tmp.len, &i));
			} else {
				kiln_buf_add(&lx->wbuf, kiln_buf_str(&tmp), tmp.len, NULL);
				w.in_word = true;
			}
			continue;
		}
		c = next(lx);
		if (c == '\\') {
			if (lx->raw_escapes) {
				w_raw_char(lx, &w, c);
				df_utf8_add(result, c);
			}
			c = next(lx);
			if (c == DF_RUNE_EOF)
				break;
			w_raw_char(lx, &w, c);
		} else {
			w_char(lx, &w, c);
		}
		df_utf8_add(result, c);
	}
	if (stop != DF_RUNE_EOF) {
		char enc[4] = {0};
		df_utf8_encode(stop, enc);
		kiln_err_set(err, KILN_E_INVALID,
		             "unexpected end of statement while looking for matching %s", enc);
		goto out_err;
	}
	ret = 0;
out:
	if (ret == 0 && lx->wbuf.len)
		w_push(lx, &w);
out_err:
	if (ret == 0 && words_out) {
		*words_out = w.v;
		w.v = (struct kiln_strv)KILN_STRV_INIT;
	}
	kiln_strv_release(&w.v);
	kiln_buf_release(&tmp);
	lx->raw_escapes = saved;
	lx->nest--;
	return ret;
}

/* Splits s into words; raw_quotes as BuildKit's RawQuotes. */
static int split_words(const char *s, size_t n, bool raw_quotes, bool raw_escapes,
                       struct kiln_strv *words, struct kiln_err *err)
{
	struct lex lx;
	struct kiln_buf result;
	lex_init(&lx, s, n, raw_quotes);
	lx.raw_escapes = raw_escapes;
	kiln_buf_init(&result, KILN_BUF_NOLIMIT, NULL);
	int r = scan(&lx, DF_RUNE_EOF, raw_escapes, &result, words, err);
	kiln_buf_release(&result);
	kiln_buf_release(&lx.wbuf);
	return r;
}

static size_t count_quotes(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\'' || *s == '"';
	return n;
}

/* Tests one word of the line. Returns 1 and fills h for a marker, 0 when
 * the word is not one, -1 on a lexing error inside the delimiter. */
static int marker_from_word(struct df_arena **arena, const char *word, struct df_heredoc *h,
                            struct kiln_err *err)
{
	const char *p = word;
	long long fd = 0;
	while (*p >= '0' && *p <= '9') {
		fd = fd * 10 + (*p - '0');
		if (fd > INT_MAX)
			fd = INT_MAX;
		p++;
	}
	if (p[0] != '<' || p[1] != '<')
		return 0;
	p += 2;
	bool chomp = *p == '-';
	if (chomp)
		p++;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\f' || *p == '\r')
		p++;
	if (!*p || strchr(p, '<'))
		return 0;

	struct kiln_strv plain = KILN_STRV_INIT, raw = KILN_STRV_INIT;
	int ret = -1;
	if (split_words(p, strlen(p), false, false, &plain, err) < 0)
		goto out;
	ret = 0;
	if (plain.n != 1)
		goto out;
	ret = -1;
	if (split_words(p, strlen(p), true, false, &raw, err) < 0)
		goto out;
	if (raw.n != 1) {
		kiln_err_set(err, KILN_E_INVALID,
		             "internal lexing of heredoc produced inconsistent results: %s", p);
		goto out;
	}
	h->name = df_arena_strndup(arena, plain.v[0], strlen(plain.v[0]));
	h->fd = (int)fd;
	h->chomp = chomp;
	h->expand = count_quotes(plain.v[0]) == count_quotes(raw.v[0]);
	ret = 1;
out:
	kiln_strv_release(&plain);
	kiln_strv_release(&raw);
	return ret;
}

int df__heredocs_from_line(struct df_arena **arena, const char *line, size_t n,
                           struct df_heredoc **out, size_t *n_out, struct kiln_err *err)
{
	struct kiln_strv words = KILN_STRV_INIT;
	struct kiln_err lerr = KILN_ERR_INIT;
	struct df_heredoc *docs = NULL;
	size_t ndocs = 0, cap = 0;

	*out = NULL;
	*n_out = 0;
	/* A line the lexer rejects (an unbalanced quote...) has no markers. */
	if (split_words(line, n, true, true, &words, &lerr) < 0) {
		kiln_err_release(&lerr);
		return 0;
	}
	for (size_t i = 0; i < words.n; i++) {
		struct df_heredoc h = {0};
		int r = marker_from_word(arena, words.v[i], &h, err);
		if (r < 0) {
			kiln_err_wrap(err, "failed to process heredoc %s", words.v[i]);
			free(docs);
			kiln_strv_release(&words);
			return -1;
		}
		if (r > 0) {
			KILN_GROW(docs, cap, ndocs + 1);
			docs[ndocs++] = h;
		}
	}
	kiln_strv_release(&words);
	*out =
	    ndocs ? df_arena_memdup(arena, docs, ndocs * sizeof(*docs), _Alignof(struct df_heredoc))
	          : NULL;
	*n_out = ndocs;
	free(docs);
	return 0;
}
