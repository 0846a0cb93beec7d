/* The AST's arena: every string and array of a df_ast's nodes is carved
 * from a few large chunks and freed at once by df_ast_release, instead of
 * one malloc per string (a 50 MB Dockerfile made about 2.5 million). */
#include <stdlib.h>
#include <string.h>

#include "parser-ast-internal.h"

#define CHUNK_MIN ((size_t)4 << 10)
#define CHUNK_MAX ((size_t)1 << 20)

struct df_arena {
	struct df_arena *next; /* the chunk filled before this one */
	size_t size, used;
	max_align_t data[]; /* size bytes */
};

void *df_arena_alloc(struct df_arena **a, size_t n, size_t align)
{
	struct df_arena *c = *a;
	if (c) {
		size_t at = (c->used + align - 1) & ~(align - 1);
		if (at <= c->size && n <= c->size - at) {
			c->used = at + n;
			return (char *)c->data + at;
		}
	}
	/* Chunks double up to CHUNK_MAX; a large request gets its own chunk,
	 * kept behind the current one so that its free space stays in use. */
	size_t size = c ? c->size * 2 : CHUNK_MIN;
	if (size > CHUNK_MAX)
		size = CHUNK_MAX;
	if (n > size / 4) {
		struct df_arena *big = xmalloc(sizeof(*big) + n);
		big->size = big->used = n;
		if (c) {
			big->next = c->next;
			c->next = big;
		} else {
			big->next = NULL;
			*a = big;
		}
		return big->data;
	}
	struct df_arena *nc = xmalloc(sizeof(*nc) + size);
	nc->next = c;
	nc->size = size;
	nc->used = n;
	*a = nc;
	return nc->data;
}

char *df_arena_strndup(struct df_arena **a, const char *s, size_t n)
{
	char *p = df_arena_alloc(a, n + 1, 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void *df_arena_memdup(struct df_arena **a, const void *p, size_t n, size_t align)
{
	void *q = df_arena_alloc(a, n ? n : 1, align);
	if (n)
		memcpy(q, p, n);
	return q;
}

void df_arena_free(struct df_arena *a)
{
	while (a) {
		struct df_arena *next = a->next;
		free(a);
		a = next;
	}
}
