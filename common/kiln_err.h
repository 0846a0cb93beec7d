/* kiln_err: the one error type (see shared/design/CONVENTIONS.md).
 *
 * A function that can fail returns int (0 / -1) or a pointer (NULL) and takes
 * `struct kiln_err *err` last. On success err is untouched; on failure it
 * holds a code (an errno value, or a KILN_E_* code >= KILN_E_BASE) and an
 * allocated message. Create the error where the failure happens with
 * kiln_err_set(), add context at module boundaries with kiln_err_wrap().
 * Only cli/main.c prints, once, with kiln_err_format(). */
#ifndef KILN_ERR_H
#define KILN_ERR_H

#include <stdarg.h>

enum kiln_err_code {
	KILN_E_BASE = 10000,
	KILN_E_INVALID,     /* bad input (reference, flag value, Dockerfile) */
	KILN_E_NOTFOUND,    /* no such image, container, stage... */
	KILN_E_CONFLICT,    /* in use, already exists */
	KILN_E_CORRUPT,     /* stored data does not match its digest or schema */
	KILN_E_LIMIT,       /* input larger than the limit named in the message */
	KILN_E_UNSUPPORTED, /* valid but not supported (yet) */
	KILN_E_USAGE,       /* command-line usage error (exit 125 like docker) */
};

struct kiln_err {
	int code;
	char *msg;
};

#define KILN_ERR_INIT                                                                              \
	{                                                                                          \
		0, NULL                                                                            \
	}

/* Sets *err (releasing a previous message) and returns -1. code 0 means
 * "no errno to append". A NULL err is allowed: the error is dropped. */
__attribute__((format(printf, 3, 4))) int kiln_err_set(struct kiln_err *err, int code,
                                                       const char *fmt, ...);
__attribute__((format(printf, 3, 0))) int kiln_err_vset(struct kiln_err *err, int code,
                                                        const char *fmt, va_list ap);
/* Prefixes the message with context: "context: old message". Returns -1. */
__attribute__((format(printf, 2, 3))) int kiln_err_wrap(struct kiln_err *err, const char *fmt, ...);
/* Frees the message and resets the code: for an error deliberately tolerated. */
void kiln_err_release(struct kiln_err *err);
/* Moves src into dst (dst released first); src is reset. */
void kiln_err_move(struct kiln_err *dst, struct kiln_err *src);
/* "message: strerror(code)" for errno codes, "message" otherwise; allocated. */
char *kiln_err_format(const struct kiln_err *err);
const char *kiln_err_code_name(int code);

#endif
