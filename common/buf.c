#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void kiln_buf_init(struct kiln_buf *b, size_t max, const char *what)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
	b->what = what ? what : "buffer";
}

int kiln_buf_add(struct kiln_buf *b, const void *p, size_t n, struct kiln_err *err)
{
	if (n > b->max || b->len > b->max - n)
		return kiln_err_set(err, KILN_E_LIMIT, "%s longer than the limit of %zu bytes",
		                    b->what, b->max);
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int kiln_buf_addstr(struct kiln_buf *b, const char *s, struct kiln_err *err)
{
	return kiln_buf_add(b, s, strlen(s), err);
}

int kiln_buf_addch(struct kiln_buf *b, char c, struct kiln_err *err)
{
	return kiln_buf_add(b, &c, 1, err);
}

int kiln_buf_addf(struct kiln_buf *b, struct kiln_err *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	int r = kiln_buf_addstr(b, s, err);
	free(s);
	return r;
}

void kiln_buf_reset(struct kiln_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void kiln_buf_release(struct kiln_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *kiln_buf_detach(struct kiln_buf *b, size_t *len)
{
	char *d = b->data ? b->data : xstrdup("");
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}

void kiln_strv_push_take(struct kiln_strv *sv, char *s)
{
	KILN_GROW(sv->v, sv->cap, sv->n + 2);
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
}

void kiln_strv_push(struct kiln_strv *sv, const char *s)
{
	kiln_strv_push_take(sv, xstrdup(s));
}

void kiln_strv_pushf(struct kiln_strv *sv, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kiln_strv_push_take(sv, xvasprintf(fmt, ap));
	va_end(ap);
}

bool kiln_strv_contains(const struct kiln_strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return true;
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void kiln_strv_sort(struct kiln_strv *sv)
{
	if (sv->n > 1)
		qsort(sv->v, sv->n, sizeof(*sv->v), cmp_str);
}

bool kiln_strv_contains_sorted(const struct kiln_strv *sv, const char *s)
{
	return kiln_sorted_contains(sv->v, sv->n, s);
}

bool kiln_sorted_contains(char *const *v, size_t n, const char *s)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(v[mid], s);
		if (!c)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

void kiln_strv_release(struct kiln_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
}

void kiln_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}
