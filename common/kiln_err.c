#include "kiln_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

int kiln_err_vset(struct kiln_err *err, int code, const char *fmt, va_list ap)
{
	if (!err)
		return -1;
	free(err->msg);
	err->code = code;
	err->msg = xvasprintf(fmt, ap);
	return -1;
}

int kiln_err_set(struct kiln_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kiln_err_vset(err, code, fmt, ap);
	va_end(ap);
	return -1;
}

int kiln_err_wrap(struct kiln_err *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	char *ctx = xvasprintf(fmt, ap);
	va_end(ap);
	char *msg = err->msg ? xasprintf("%s: %s", ctx, err->msg) : ctx;
	if (err->msg) {
		free(err->msg);
		free(ctx);
	}
	err->msg = msg;
	return -1;
}

void kiln_err_release(struct kiln_err *err)
{
	if (!err)
		return;
	free(err->msg);
	err->msg = NULL;
	err->code = 0;
}

void kiln_err_move(struct kiln_err *dst, struct kiln_err *src)
{
	kiln_err_release(dst);
	*dst = *src;
	src->msg = NULL;
	src->code = 0;
}

const char *kiln_err_code_name(int code)
{
	switch (code) {
	case KILN_E_INVALID: return "invalid";
	case KILN_E_NOTFOUND: return "not found";
	case KILN_E_CONFLICT: return "conflict";
	case KILN_E_CORRUPT: return "corrupt";
	case KILN_E_LIMIT: return "limit exceeded";
	case KILN_E_UNSUPPORTED: return "unsupported";
	case KILN_E_USAGE: return "usage";
	default: return code > 0 && code < KILN_E_BASE ? strerror(code) : "error";
	}
}

char *kiln_err_format(const struct kiln_err *err)
{
	const char *msg = err->msg ? err->msg : "unknown error";
	if (err->code > 0 && err->code < KILN_E_BASE)
		return xasprintf("%s: %s", msg, strerror(err->code));
	return xstrdup(msg);
}
