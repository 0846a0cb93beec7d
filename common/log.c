#include "log.h"

#include <stdarg.h>
#include <stdio.h>

int kiln_debug_enabled;

void kiln_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("WARNING: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void kiln_debug(const char *fmt, ...)
{
	if (!kiln_debug_enabled)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("DEBU: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}
