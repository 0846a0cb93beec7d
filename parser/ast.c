/* One logical line -> one df_node: keyword, flags and the per-instruction
 * argument rules of shared/conformance/buildkit/FORMAT.md sections 3.6 and 4. */
#include <string.h>

#include "parser-ast-internal.h"

/* What the node being built allocates from: the AST's arena and the
 * logical line with its copy (the node's original text). An argument that
 * ends where the line ends shares the copy's bytes instead of being copied
 * again: the shell form of RUN, CMD and most other instructions. */
struct nodectx {
	struct df_arena **arena;
	const char *line, *copy;
	size_t n;
};

/* A growable argument vector (the strings in the arena). */
struct argv {
	struct nodectx *ctx;
	char **v;
	size_t *lens;
	size_t n, cap;
};

static void argv_take_len(struct argv *a, char *s, size_t len)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 8;
		a->v = xreallocarray(a->v, a->cap, sizeof(*a->v));
		a->lens = xreallocarray(a->lens, a->cap, sizeof(*a->lens));
	}
	a->lens[a->n] = len;
	a->v[a->n++] = s;
}

/* s[0..n) into the arena, or a pointer into the line's copy when it ends
 * where the line ends. */
static char *ctx_str(struct nodectx *ctx, const char *s, size_t n)
{
	uintptr_t p = (uintptr_t)s, lo = (uintptr_t)ctx->line;
	if (p >= lo && p + n == lo + ctx->n)
		return (char *)ctx->copy + (p - lo);
	return df_arena_strndup(ctx->arena, s, n);
}

static void argv_addn(struct argv *a, const char *s, size_t n)
{
	argv_take_len(a, ctx_str(a->ctx, s, n), n);
}

static void argv_release(struct argv *a)
{
	free(a->v);
	free(a->lens);
	a->v = NULL;
	a->lens = NULL;
	a->n = a->cap = 0;
}

/* Moves the vector into the arena: v NULL-terminated, lens if asked. */
static void argv_finish(struct argv *a, char ***v, size_t *n, size_t **lens)
{
	struct df_arena **arena = a->ctx->arena;
	char **nv = df_arena_alloc(arena, (a->n + 1) * sizeof(*nv), _Alignof(char *));
	if (a->n)
		memcpy(nv, a->v, a->n * sizeof(*nv));
	nv[a->n] = NULL;
	*v = nv;
	*n = a->n;
	if (lens)
		*lens = df_arena_memdup(arena, a->lens, a->n * sizeof(**lens), _Alignof(size_t));
	argv_release(a);
}

/* Appends one byte the way Go's WriteRune(rune(byte)) does: bytes >= 0x80
 * are re-encoded as if they were Latin-1 (FORMAT.md 3.6 quirk). */
static void add_latin1(struct kiln_buf *b, unsigned char c)
{
	df_utf8_add(b, c);
}

/* FORMAT.md 3.6 step 3. Returns the offset of the argument text in s (n if
 * the line ended during the scan). */
static size_t extract_flags(const char *s, size_t n, char escape, struct argv *flags)
{
	struct kiln_buf w;
	kiln_buf_init(&w, KILN_BUF_NOLIMIT, NULL);
	size_t pos = 0;

	for (;;) {
		while (pos < n && df_is_byte_space((unsigned char)s[pos]))
			pos++;
		if (pos == n)
			break;
		if (s[pos] != '-' || pos + 1 == n || s[pos + 1] != '-') {
			kiln_buf_release(&w);
			return pos;
		}
		/* One flag word up to the next unquoted whitespace. */
		bool blank_ok = false;
		char quote = 0;
		kiln_buf_reset(&w);
		for (; pos < n; pos++) {
			unsigned char c = (unsigned char)s[pos];
			if (quote) {
				if (c == (unsigned char)quote) {
					quote = 0;
					continue;
				}
			} else {
				if (df_is_byte_space(c))
					break;
				if (c == '\'' || c == '"') {
					quote = (char)c;
					blank_ok = true;
					continue;
				}
			}
			if (c == (unsigned char)escape) {
				if (pos + 1 == n) {
					quote = 0;
					continue;
				}
				c = (unsigned char)s[++pos];
			}
			add_latin1(&w, c);
		}
		bool dashdash = w.len == 2 && !memcmp(w.data, "--", 2);
		if (pos == n) {
			if (!dashdash && (blank_ok || w.len))
				argv_addn(flags, kiln_buf_str(&w), w.len);
			break;
		}
		if (dashdash) {
			kiln_buf_release(&w);
			return pos;
		}
		if (blank_ok || w.len)
			argv_addn(flags, kiln_buf_str(&w), w.len);
	}
	kiln_buf_release(&w);
	return n;
}

/* Splits at runs of [ \t\v\f\r] (BuildKit's reWhitespace.Split(s, -1)). */
static void split_narrow(const char *s, size_t n, struct argv *out)
{
	size_t i = 0;
	for (;;) {
		size_t start = i;
		while (i < n && !df_is_narrow_ws(s[i]))
			i++;
		argv_addn(out, s + start, i - start);
		if (i == n)
			return;
		while (i < n && df_is_narrow_ws(s[i]))
			i++;
	}
}

/* The quote-aware word splitter of FORMAT.md 4.7 (quotes and escapes kept;
 * invalid UTF-8 becomes U+FFFD as Go's rune loop does). */
static void parse_words(const char *s, size_t n, char escape, struct argv *out)
{
	struct kiln_buf w;
	kiln_buf_init(&w, KILN_BUF_NOLIMIT, NULL);
	bool in_word = false, blank_ok = false;
	int32_t quote = 0, r = 0;
	size_t pos = 0, width = 0;

	for (;; pos += width) {
		if (pos < n)
			r = df_utf8_decode(s + pos, n - pos, &width);
		if (!in_word) {
			if (pos >= n)
				break;
			if (df_uni_is_space(r))
				continue;
			in_word = true;
		}
		if (pos >= n) {
			if (blank_ok || w.len)
				argv_addn(out, kiln_buf_str(&w), w.len);
			break;
		}
		if (!quote) {
			if (df_uni_is_space(r)) {
				if (blank_ok || w.len)
					argv_addn(out, kiln_buf_str(&w), w.len);
				kiln_buf_reset(&w);
				in_word = blank_ok = false;
				continue;
			}
			if (r == '\'' || r == '"') {
				quote = r;
				blank_ok = true;
			} else if (r == (unsigned char)escape) {
				if (pos + width == n)
					continue;
				df_utf8_add(&w, r);
				pos += width;
				r = df_utf8_decode(s + pos, n - pos, &width);
			}
			df_utf8_add(&w, r);
			continue;
		}
		if (r == quote) {
			quote = 0;
		} else if (r == (unsigned char)escape && quote != '\'') {
			if (pos + width == n) {
				quote = 0;
				continue;
			}
			df_utf8_add(&w, r);
			pos += width;
			r = df_utf8_decode(s + pos, n - pos, &width);
		}
		df_utf8_add(&w, r);
	}
	kiln_buf_release(&w);
}

/* ENV and LABEL (FORMAT.md 4.8). */
static int parse_name_val(const char *s, size_t n, char escape, const char *key, struct argv *out,
                          struct kiln_err *err)
{
	struct argv words = {.ctx = out->ctx};
	parse_words(s, n, escape, &words);
	if (!words.n)
		return 0;
	int ret = 0;
	if (!strchr(words.v[0], '=')) {
		size_t i = 0;
		while (i < n && !df_is_narrow_ws(s[i]))
			i++;
		if (i == n) {
			ret = kiln_err_set(err, KILN_E_INVALID, "%s must have two arguments", key);
		} else {
			argv_addn(out, s, i);
			while (i < n && df_is_narrow_ws(s[i]))
				i++;
			argv_addn(out, s + i, n - i);
			argv_addn(out, "", 0);
		}
		argv_release(&words);
		return ret;
	}
	for (size_t i = 0; i < words.n; i++) {
		const char *eq = strchr(words.v[i], '=');
		if (!eq) {
			struct kiln_buf q;
			kiln_buf_init(&q, KILN_BUF_NOLIMIT, NULL);
			df__quote(&q, words.v[i], strlen(words.v[i]));
			ret =
			    kiln_err_set(err, KILN_E_INVALID,
			                 "Syntax error - can't find = in %s. Must be of the form: "
			                 "name=value",
			                 kiln_buf_str(&q));
			kiln_buf_release(&q);
			break;
		}
		argv_addn(out, words.v[i], (size_t)(eq - words.v[i]));
		argv_addn(out, eq + 1, strlen(eq + 1));
		argv_addn(out, "=", 1);
	}
	argv_release(&words);
	return ret;
}

/* A JSON array of strings (FORMAT.md 4.1) into out: 1 if text is one. */
static int json_args(const char *s, size_t n, struct df_node *node, struct argv *out,
                     struct kiln_err *err)
{
	char **v;
	size_t nv, *lens;
	int r = df__json_strings(out->ctx->arena, s, n, &v, &lens, &nv, err);
	if (r <= 0)
		return r;
	for (size_t i = 0; i < nv; i++)
		argv_take_len(out, v[i], lens[i]);
	free(v);
	free(lens);
	node->json_form = true;
	return 1;
}

/* RUN, CMD, ENTRYPOINT, SHELL (FORMAT.md 4.2). */
static int parse_maybe_json(const char *s, size_t n, struct df_node *node, struct argv *out,
                            struct kiln_err *err)
{
	int r = n ? json_args(s, n, node, out, err) : 1;
	if (r == 0)
		argv_addn(out, s, n);
	return r < 0 ? -1 : 0;
}

/* ADD, COPY, VOLUME (FORMAT.md 4.3). */
static int parse_maybe_json_list(const char *s, size_t n, struct df_node *node, struct argv *out,
                                 struct kiln_err *err)
{
	int r = json_args(s, n, node, out, err);
	if (r == 0 && n)
		split_narrow(s, n, out);
	return r < 0 ? -1 : 0;
}

/* HEALTHCHECK (FORMAT.md 4.4). */
static int parse_health(const char *s, size_t n, struct df_node *node, struct argv *out,
                        struct kiln_err *err)
{
	size_t sep = 0, next;
	while (sep < n && !df_is_byte_space((unsigned char)s[sep]))
		sep++;
	for (next = sep; next < n && df_is_byte_space((unsigned char)s[next]); next++)
		;
	if (!sep)
		return 0;
	argv_addn(out, s, sep);
	return parse_maybe_json(s + next, n - next, node, out, err);
}

enum kind {
	K_IGNORE,
	K_MAYBE_JSON,
	K_JSON_LIST,
	K_WORDS,
	K_NAME_VAL,
	K_SPLIT,
	K_STRING,
	K_HEALTH,
	K_ONBUILD,
};

static const struct {
	const char *name;
	enum kind kind;
} dispatch[] = {
    {"add", K_JSON_LIST},         {"arg", K_WORDS},
    {"cmd", K_MAYBE_JSON},        {"copy", K_JSON_LIST},
    {"entrypoint", K_MAYBE_JSON}, {"env", K_NAME_VAL},
    {"expose", K_SPLIT},          {"from", K_SPLIT},
    {"healthcheck", K_HEALTH},    {"label", K_NAME_VAL},
    {"maintainer", K_STRING},     {"onbuild", K_ONBUILD},
    {"run", K_MAYBE_JSON},        {"shell", K_MAYBE_JSON},
    {"stopsignal", K_STRING},     {"user", K_STRING},
    {"volume", K_JSON_LIST},      {"workdir", K_STRING},
};

static enum kind kind_of(const char *lower)
{
	for (size_t i = 0; i < KILN_ARRAY_SIZE(dispatch); i++)
		if (!strcmp(dispatch[i].name, lower))
			return dispatch[i].kind;
	return K_IGNORE;
}

static int node_from(struct nodectx *ctx, const char *line, size_t n, char escape, int depth,
                     struct df_node *node, struct kiln_err *err);

static int parse_args(enum kind kind, const char *s, size_t n, char escape, int depth,
                      struct df_node *node, struct argv *out, struct kiln_err *err)
{
	switch (kind) {
	case K_IGNORE: argv_addn(out, "", 0); return 0;
	case K_MAYBE_JSON: return parse_maybe_json(s, n, node, out, err);
	case K_JSON_LIST: return parse_maybe_json_list(s, n, node, out, err);
	case K_WORDS: parse_words(s, n, escape, out); return 0;
	case K_NAME_VAL:
		return parse_name_val(s, n, escape, strcmp(node->cmd, "label") ? "ENV" : "LABEL",
		                      out, err);
	case K_SPLIT:
		if (n)
			split_narrow(s, n, out);
		return 0;
	case K_STRING:
		if (n)
			argv_addn(out, s, n);
		return 0;
	case K_HEALTH: return parse_health(s, n, node, out, err);
	case K_ONBUILD:
		if (!n)
			return 0;
		if (depth >= DF_MAX_ONBUILD_DEPTH)
			return kiln_err_set(err, KILN_E_LIMIT,
			                    "ONBUILD nested deeper than the limit of %d levels",
			                    DF_MAX_ONBUILD_DEPTH);
		node->sub =
		    df_arena_alloc(out->ctx->arena, sizeof(*node->sub), _Alignof(struct df_node));
		if (node_from(out->ctx, s, n, escape, depth + 1, node->sub, err) < 0) {
			node->sub = NULL;
			return -1;
		}
		return 0;
	}
	return 0;
}

static int node_from(struct nodectx *ctx, const char *line, size_t n, char escape, int depth,
                     struct df_node *node, struct kiln_err *err)
{
	memset(node, 0, sizeof(*node));
	node->original = ctx_str(ctx, line, n);

	/* Trim, then split once at the first run of [ \t\v\f\r]. */
	size_t lead = df_uni_space_prefix(line, n);
	const char *s = line + lead;
	size_t len = df_uni_trim_right(s, n - lead);
	size_t kw = 0;
	while (kw < len && !df_is_narrow_ws(s[kw]))
		kw++;
	node->cmd_orig = df_arena_strndup(ctx->arena, s, kw);
	char *lower = df_uni_lower(s, kw);
	node->cmd = df_arena_strndup(ctx->arena, lower, strlen(lower));
	free(lower);

	struct argv flags = {.ctx = ctx}, args = {.ctx = ctx};
	const char *text = s + len;
	size_t tlen = 0;
	if (kw < len) {
		size_t rest = kw;
		while (rest < len && df_is_narrow_ws(s[rest]))
			rest++;
		size_t off = extract_flags(s + rest, len - rest, escape, &flags);
		text = s + rest + off;
		tlen = len - rest - off;
		size_t l = df_uni_space_prefix(text, tlen);
		text += l;
		tlen = df_uni_trim_right(text, tlen - l);
	}
	argv_finish(&flags, &node->flags, &node->n_flags, NULL);

	if (parse_args(kind_of(node->cmd), text, tlen, escape, depth, node, &args, err) < 0) {
		argv_release(&args);
		return -1;
	}
	argv_finish(&args, &node->args, &node->n_args, &node->arg_lens);
	return 0;
}

int df__node_from_line(struct df_arena **arena, const char *line, size_t n, char escape,
                       struct df_node *node, struct kiln_err *err)
{
	struct nodectx ctx = {arena, line, NULL, n};
	ctx.copy = df_arena_strndup(arena, line, n);
	return node_from(&ctx, line, n, escape, 0, node, err);
}

bool df__node_can_heredoc(const struct df_node *node)
{
	if (!strcmp(node->cmd, "onbuild") && node->sub)
		node = node->sub;
	if (strcmp(node->cmd, "run") && strcmp(node->cmd, "copy") && strcmp(node->cmd, "add"))
		return false;
	return !node->json_form;
}
