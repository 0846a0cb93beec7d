/* Dockerfile bytes -> df_ast: physical lines, BOM, CRLF, parser directives,
 * comments, continuations and heredoc bodies, exactly as BuildKit's
 * parser.Parse reads them (shared/conformance/buildkit/FORMAT.md section 3
 * and 5). Per-line argument rules live in ast.c. */
#include <string.h>

#include "parser-ast-internal.h"

struct reader {
	const char *buf;
	size_t len, pos;
	int line; /* physical lines consumed so far */
};

struct parser {
	struct reader rd;
	struct df_ast *ast;
	size_t nodes_cap, dirs_cap;
	bool directives_done;
	struct kiln_buf logical;
};

/* The next physical line, its '\n' included. Returns 1, 0 at the end, -1
 * for a line BuildKit's scanner refuses (over 65,535 bytes) or a NUL byte
 * (which the NUL-terminated AST strings cannot hold). */
static int read_line(struct parser *ps, const char **line, size_t *n, struct kiln_err *err)
{
	struct reader *r = &ps->rd;
	if (r->pos >= r->len)
		return 0;
	size_t avail = r->len - r->pos;
	size_t scan = avail < (size_t)DF_MAX_LINE + 1 ? avail : (size_t)DF_MAX_LINE + 1;
	const char *p = r->buf + r->pos;
	const char *nl = memchr(p, '\n', scan);
	size_t content = nl ? (size_t)(nl - p) : avail;

	if (content > DF_MAX_LINE)
		return kiln_err_set(err, KILN_E_LIMIT,
		                    "%s:%d: dockerfile line greater than max allowed size of %d",
		                    ps->ast->filename, r->line + 1, DF_MAX_LINE);
	if (memchr(p, '\0', content))
		return kiln_err_set(err, KILN_E_INVALID, "%s:%d: NUL byte in the Dockerfile",
		                    ps->ast->filename, r->line + 1);
	*line = p;
	*n = nl ? content + 1 : content;
	r->pos += *n;
	r->line++;
	return 1;
}

static size_t trim_newline(const char *s, size_t n)
{
	while (n && (s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	return n;
}

static bool is_comment(const char *s, size_t n)
{
	size_t l = df_uni_space_prefix(s, n);
	return l < n && s[l] == '#';
}

static bool is_re_space(char c) /* RE2's \s */
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void add_directive(struct parser *ps, char *name, const char *v, size_t vn, int line)
{
	struct df_ast *ast = ps->ast;
	KILN_GROW(ast->directives, ps->dirs_cap, ast->n_directives + 1);
	struct df_directive *d = &ast->directives[ast->n_directives++];
	d->name = name;
	d->value = xstrndup(v, vn);
	d->line = line;
}

/* FORMAT.md 3.2: tests one line (newline and leading whitespace removed)
 * while the directive phase is open. 1: a directive; 0: not one (the phase
 * is now closed); -1: a bad or repeated directive. */
static int directive(struct parser *ps, const char *s, size_t n, struct kiln_err *err)
{
	if (ps->directives_done)
		return 0;
	ps->directives_done = true;
	if (!n || s[0] != '#')
		return 0;
	size_t i = 1 + df_uni_space_prefix(s + 1, n - 1), name_start = i;
	if (i >= n || !is_alpha(s[i]))
		return 0;
	while (i < n && (is_alpha(s[i]) || (s[i] >= '0' && s[i] <= '9')))
		i++;
	size_t name_end = i;
	while (i < n && is_re_space(s[i]))
		i++;
	if (i >= n || s[i] != '=')
		return 0;
	i++;
	/* (.+?)\s*$ after \s*: the value runs from the first non-space to the
	 * last; an all-space remainder leaves its last character as the value. */
	size_t v = i;
	while (v < n && is_re_space(s[v]))
		v++;
	size_t vend = n;
	if (v == n) {
		if (v == i)
			return 0;
		v = n - 1;
	} else {
		while (vend > v && is_re_space(s[vend - 1]))
			vend--;
	}
	_cleanup_free_ char *name = df_uni_lower(s + name_start, name_end - name_start);
	if (strcmp(name, "syntax") && strcmp(name, "escape") && strcmp(name, "check"))
		return 0;
	int line = ps->rd.line;
	for (size_t k = 0; k < ps->ast->n_directives; k++)
		if (!strcmp(ps->ast->directives[k].name, name))
			return kiln_err_set(err, KILN_E_INVALID,
			                    "%s:%d: only one %s parser directive can be used",
			                    ps->ast->filename, line, name);
	if (!strcmp(name, "escape")) {
		if (vend - v != 1 || (s[v] != '`' && s[v] != '\\'))
			return kiln_err_set(
			    err, KILN_E_INVALID,
			    "%s:%d: invalid escape token '%.*s' does not match ` or \\",
			    ps->ast->filename, line, (int)(vend - v), s + v);
		ps->ast->escape = s[v];
	}
	ps->directives_done = false;
	add_directive(ps, TAKE_PTR(name), s + v, vend - v, line);
	return 1;
}

/* FORMAT.md 3.4: removes a continuation escape; returns true if the line
 * continues. */
static bool trim_continuation(const char *s, size_t *n, char escape)
{
	size_t p = *n;
	while (p && (s[p - 1] == ' ' || s[p - 1] == '\t'))
		p--;
	if (!p || s[p - 1] != escape)
		return false;
	if (p >= 2 && s[p - 2] == escape)
		return false;
	*n = p - 1;
	return true;
}

/* Reads the continuation lines of a logical line whose first piece is
 * already in ps->logical. */
static int read_continuations(struct parser *ps, bool *empty_seen, struct kiln_err *err)
{
	const char *line;
	size_t n;
	int r = 0;
	bool more = true;

	while (more && (r = read_line(ps, &line, &n, err)) == 1) {
		size_t len = trim_newline(line, n);
		if (is_comment(line, len))
			continue;
		if (df_uni_space_prefix(line, len) == len) {
			*empty_seen = true;
			continue;
		}
		more = trim_continuation(line, &len, ps->ast->escape);
		kiln_buf_add(&ps->logical, line, len, NULL);
	}
	return more && r < 0 ? -1 : 0;
}

static bool heredoc_end(const struct df_heredoc *h, const char *line, size_t n)
{
	n = trim_newline(line, n);
	if (h->chomp)
		while (n && *line == '\t') {
			line++;
			n--;
		}
	return n == strlen(h->name) && !memcmp(line, h->name, n);
}

/* FORMAT.md 5: finds the markers of node's line and reads their bodies
 * (each is the run of whole lines before its terminator, taken from the
 * input as it stands). */
static int read_heredocs(struct parser *ps, struct df_node *node, int start, struct kiln_err *err)
{
	struct df_arena **arena = &ps->ast->arena;
	const char *line;
	size_t n;

	if (df__heredocs_from_line(arena, ps->logical.data, ps->logical.len, &node->heredocs,
	                           &node->n_heredocs, err) < 0)
		return kiln_err_wrap(err, "%s:%d", ps->ast->filename, start);
	for (size_t i = 0; i < node->n_heredocs; i++) {
		struct df_heredoc *h = &node->heredocs[i];
		size_t body = ps->rd.pos, end = body;
		bool done = false;
		int r = 0;
		while (!done && (r = read_line(ps, &line, &n, err)) == 1) {
			done = heredoc_end(h, line, n);
			if (!done)
				end = ps->rd.pos;
		}
		if (!done && r < 0)
			return -1;
		if (!done)
			return kiln_err_set(err, KILN_E_INVALID, "%s:%d: unterminated heredoc",
			                    ps->ast->filename, start);
		h->content = df_arena_strndup(arena, ps->rd.buf + body, end - body);
	}
	return 0;
}

/* Turns ps->logical into a node and appends it. */
static int add_node(struct parser *ps, int start, bool empty_seen, struct kiln_err *err)
{
	struct df_ast *ast = ps->ast;
	struct df_node node;
	const char *text = kiln_buf_str(&ps->logical);

	if (empty_seen)
		kiln_strv_pushf(&ast->warnings, "Empty continuation line found in: %s", text);
	if (df__node_from_line(&ast->arena, text, ps->logical.len, ast->escape, &node, err) < 0)
		return kiln_err_wrap(err, "%s:%d", ast->filename, start);
	if (df__node_can_heredoc(&node) && memmem(text, ps->logical.len, "<<", 2) &&
	    read_heredocs(ps, &node, start, err) < 0)
		return -1;
	node.start_line = start;
	node.end_line = ps->rd.line;
	KILN_GROW(ast->nodes, ps->nodes_cap, ast->n_nodes + 1);
	ast->nodes[ast->n_nodes++] = node;
	if (ast->n_nodes == 1)
		ast->start_line = start;
	ast->end_line = node.end_line;
	return 0;
}

static int parse_lines(struct parser *ps, struct kiln_err *err)
{
	const char *line;
	size_t n;
	int r;

	while ((r = read_line(ps, &line, &n, err)) == 1) {
		if (ps->rd.line == 1 && n >= 3 && !memcmp(line, "\xef\xbb\xbf", 3)) {
			line += 3;
			n -= 3;
		}
		size_t len = trim_newline(line, n), lead = df_uni_space_prefix(line, len);
		line += lead;
		len -= lead;
		if (directive(ps, line, len, err) < 0)
			return -1;
		if (len && line[0] == '#')
			len = 0;
		int start = ps->rd.line;
		bool more = trim_continuation(line, &len, ps->ast->escape);
		if (!more && !len)
			continue;
		kiln_buf_reset(&ps->logical);
		kiln_buf_add(&ps->logical, line, len, NULL);
		bool empty_seen = false;
		if (more && read_continuations(ps, &empty_seen, err) < 0)
			return -1;
		if (add_node(ps, start, empty_seen, err) < 0)
			return -1;
	}
	if (r < 0)
		return -1;
	if (!ps->ast->n_nodes)
		return kiln_err_set(err, KILN_E_INVALID, "%s:%d: file with no instructions",
		                    ps->ast->filename, ps->rd.line ? ps->rd.line : 1);
	return 0;
}

int df_parse(const char *buf, size_t len, const char *filename, struct df_ast *ast,
             struct kiln_err *err)
{
	struct parser ps = {.rd = {buf ? buf : "", buf ? len : 0, 0, 0}, .ast = ast};

	memset(ast, 0, sizeof(*ast));
	ast->escape = '\\';
	ast->filename = xstrdup(filename ? filename : "Dockerfile");
	kiln_buf_init(&ps.logical, KILN_BUF_NOLIMIT, NULL);
	int r = parse_lines(&ps, err);
	kiln_buf_release(&ps.logical);
	if (r < 0)
		df_ast_release(ast);
	else if (ps.nodes_cap > ast->n_nodes) /* give the growth slack back */
		ast->nodes = xreallocarray(ast->nodes, ast->n_nodes, sizeof(*ast->nodes));
	return r;
}

void df_ast_release(struct df_ast *ast)
{
	if (!ast)
		return;
	df_arena_free(ast->arena);
	free(ast->nodes);
	for (size_t i = 0; i < ast->n_directives; i++) {
		free(ast->directives[i].name);
		free(ast->directives[i].value);
	}
	free(ast->directives);
	kiln_strv_release(&ast->warnings);
	free(ast->filename);
	memset(ast, 0, sizeof(*ast));
	ast->escape = '\\';
}
