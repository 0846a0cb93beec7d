/* BuildKit's Node.Dump() (FORMAT.md section 2): one "(...)" line per
 * instruction, every string in Go's strconv.Quote form. */
#include <string.h>

#include "parser-ast-internal.h"

static const char hex[] = "0123456789abcdef";

static void add_hex(struct kiln_buf *b, const char *prefix, uint32_t v, int digits)
{
	char out[12];
	size_t n = strlen(prefix);
	memcpy(out, prefix, n);
	for (int i = digits - 1; i >= 0; i--)
		out[n++] = hex[(v >> (4 * i)) & 0xf];
	kiln_buf_add(b, out, n, NULL);
}

void df__quote(struct kiln_buf *b, const char *s, size_t n)
{
	kiln_buf_addch(b, '"', NULL);
	for (size_t i = 0; i < n;) {
		/* Fast path: a run of printable ASCII that needs no escaping. */
		size_t run = i;
		while (run < n && s[run] >= 0x20 && s[run] < 0x7f && s[run] != '"' &&
		       s[run] != '\\')
			run++;
		if (run > i) {
			kiln_buf_add(b, s + i, run - i, NULL);
			i = run;
			continue;
		}
		size_t w;
		int32_t r = df_utf8_decode(s + i, n - i, &w);
		const char *esc = NULL;
		if (w == 1 && r == DF_RUNE_ERROR) {
			add_hex(b, "\\x", (unsigned char)s[i], 2);
			i += w;
			continue;
		}
		switch (r) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\a': esc = "\\a"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\v': esc = "\\v"; break;
		default: break;
		}
		if (esc)
			kiln_buf_addstr(b, esc, NULL);
		else if (df_uni_is_print(r))
			kiln_buf_add(b, s + i, w, NULL);
		else if (r < 0x80)
			add_hex(b, "\\x", (uint32_t)r, 2);
		else if (r < 0x10000)
			add_hex(b, "\\u", (uint32_t)r, 4);
		else
			add_hex(b, "\\U", (uint32_t)r, 8);
		i += w;
	}
	kiln_buf_addch(b, '"', NULL);
}

static void dump_node(struct kiln_buf *b, const struct df_node *node)
{
	size_t start = b->len;
	kiln_buf_addstr(b, node->cmd ? node->cmd : "", NULL);
	if (node->n_flags) {
		kiln_buf_addstr(b, " [", NULL);
		for (size_t i = 0; i < node->n_flags; i++) {
			if (i)
				kiln_buf_addch(b, ' ', NULL);
			df__quote(b, node->flags[i], strlen(node->flags[i]));
		}
		kiln_buf_addch(b, ']', NULL);
	}
	for (size_t i = 0; i < node->n_args; i++) {
		kiln_buf_addch(b, ' ', NULL);
		df__quote(b, node->args[i],
		          node->arg_lens ? node->arg_lens[i] : strlen(node->args[i]));
	}
	if (node->sub) {
		kiln_buf_addstr(b, " (", NULL);
		dump_node(b, node->sub);
		kiln_buf_addch(b, ')', NULL);
	}
	/* Go trims the node's dump: only a leading space (empty keyword) or a
	 * keyword ending in a Unicode space can be affected. */
	size_t len = df_uni_trim_right(b->data + start, b->len - start);
	size_t lead = df_uni_space_prefix(b->data + start, len);
	if (lead)
		memmove(b->data + start, b->data + start + lead, len - lead);
	b->len = start + len - lead;
	b->data[b->len] = '\0';
}

char *df_node_dump(const struct df_node *node)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	dump_node(&b, node);
	return kiln_buf_detach(&b, NULL);
}

char *df_ast_dump(const struct df_ast *ast)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; i < ast->n_nodes; i++) {
		kiln_buf_addch(&b, '(', NULL);
		dump_node(&b, &ast->nodes[i]);
		kiln_buf_addstr(&b, ")\n", NULL);
	}
	return kiln_buf_detach(&b, NULL);
}
