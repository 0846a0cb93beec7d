/* Allocators that never return NULL: running out of memory ends the process
 * (as in git and crun); it is not an error path. */
#ifndef KILN_XALLOC_H
#define KILN_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
__attribute__((format(printf, 1, 2))) char *xasprintf(const char *fmt, ...);
__attribute__((format(printf, 1, 0))) char *xvasprintf(const char *fmt, va_list ap);
/* Grows *p (of *cap elements of size) so that it holds at least need. */
void kiln_grow(void **p, size_t *cap, size_t need, size_t size);
#define KILN_GROW(p, cap, need) kiln_grow((void **)&(p), &(cap), (need), sizeof(*(p)))

#endif
