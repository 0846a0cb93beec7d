/* Bounded growable buffers (curl's dynbuf) and string vectors. */
#ifndef KILN_BUF_H
#define KILN_BUF_H

#include <stdbool.h>
#include <stddef.h>

#include "kiln_err.h"

/* A byte buffer, always NUL-terminated once anything was added. `max` bounds
 * its length: going past it is a KILN_E_LIMIT error naming `what`. */
struct kiln_buf {
	char *data;
	size_t len, cap, max;
	const char *what; /* for the limit message, e.g. "Dockerfile line" */
};

#define KILN_BUF_NOLIMIT ((size_t)-1)
void kiln_buf_init(struct kiln_buf *b, size_t max, const char *what);
int kiln_buf_add(struct kiln_buf *b, const void *p, size_t n, struct kiln_err *err);
int kiln_buf_addstr(struct kiln_buf *b, const char *s, struct kiln_err *err);
int kiln_buf_addch(struct kiln_buf *b, char c, struct kiln_err *err);
__attribute__((format(printf, 3, 4))) int kiln_buf_addf(struct kiln_buf *b, struct kiln_err *err,
                                                        const char *fmt, ...);
void kiln_buf_reset(struct kiln_buf *b);
void kiln_buf_release(struct kiln_buf *b);
/* Returns the NUL-terminated contents (never NULL) and re-initializes b. */
char *kiln_buf_detach(struct kiln_buf *b, size_t *len);
static inline const char *kiln_buf_str(const struct kiln_buf *b)
{
	return b->data ? b->data : "";
}

/* A NULL-terminated vector of owned strings. */
struct kiln_strv {
	char **v;
	size_t n, cap;
};
#define KILN_STRV_INIT                                                                             \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}
void kiln_strv_push(struct kiln_strv *sv, const char *s); /* copies s */
void kiln_strv_push_take(struct kiln_strv *sv, char *s);  /* takes s */
__attribute__((format(printf, 2, 3))) void kiln_strv_pushf(struct kiln_strv *sv, const char *fmt,
                                                           ...);
bool kiln_strv_contains(const struct kiln_strv *sv, const char *s);
void kiln_strv_sort(struct kiln_strv *sv);
/* kiln_strv_contains for a vector sorted by kiln_strv_sort (binary search). */
bool kiln_strv_contains_sorted(const struct kiln_strv *sv, const char *s);
/* The same over any sorted array of n strings. */
bool kiln_sorted_contains(char *const *v, size_t n, const char *s);
void kiln_strv_release(struct kiln_strv *sv);
/* Frees a NULL-terminated char ** and its strings. */
void kiln_strv_free(char **v);

#endif
