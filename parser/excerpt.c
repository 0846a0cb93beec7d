/* Source excerpts for error messages, framed the way BuildKit shows them:
 *
 *   --------------------
 *      1 |     FROM busybox
 *      2 | >>> FOOBAR x
 *   --------------------
 */
#include <string.h>

#include "parser.h"

#define EXCERPT_CONTEXT 2   /* lines shown before and after */
#define EXCERPT_WIDTH   160 /* longer lines are cut, with "..." */

char *df_source_excerpt(const char *buf, size_t len, int first, int last)
{
	if (first < 1 || last < first)
		return NULL;
	int from = first - EXCERPT_CONTEXT < 1 ? 1 : first - EXCERPT_CONTEXT;
	int to = last + EXCERPT_CONTEXT;
	struct kiln_buf out;
	kiln_buf_init(&out, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addstr(&out, "--------------------\n", NULL);
	const char *p = buf, *end = buf + len;
	bool shown = false;
	for (int line = 1; p < end && line <= to; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (line >= from) {
			size_t show = l;
			while (show && (p[show - 1] == '\r'))
				show--;
			bool cut = show > EXCERPT_WIDTH;
			kiln_buf_addf(&out, NULL, " %4d | %s%.*s%s\n", line,
			              line >= first && line <= last ? ">>> " : "    ",
			              (int)(cut ? EXCERPT_WIDTH : show), p, cut ? "..." : "");
			shown |= line >= first;
		}
		p = nl ? nl + 1 : end;
	}
	if (!shown) {
		kiln_buf_release(&out);
		return NULL;
	}
	kiln_buf_addstr(&out, "--------------------", NULL);
	return kiln_buf_detach(&out, NULL);
}
