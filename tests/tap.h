/* Minimal TAP helpers for kiln's C tests: `ok N - name` lines, a plan at
 * the end, exit 0 when all passed, 1 otherwise, 77 to skip (SKIP_RETURN_CODE).
 *
 *   int main(void) { T_OK(1 + 1 == 2, "adds"); T_STREQ(s, "x", "name"); return tap_done(); }
 */
#ifndef KILN_TAP_H
#define KILN_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 2, 3), unused)) static int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	if (!cond)
		tap_failed++;
	fflush(stdout);
	return cond;
}

#define T_OK(cond, ...) tap_ok(!!(cond), __VA_ARGS__)
#define T_STREQ(got, want, ...)                                                                    \
	do {                                                                                       \
		const char *_g = (got), *_w = (want);                                              \
		if (!tap_ok(_g && _w && !strcmp(_g, _w), __VA_ARGS__))                             \
			printf("#   got:  \"%s\"\n#   want: \"%s\"\n", _g ? _g : "(null)",         \
			       _w ? _w : "(null)");                                                \
	} while (0)
#define T_INTEQ(got, want, ...)                                                                    \
	do {                                                                                       \
		long long _g = (long long)(got), _w = (long long)(want);                           \
		if (!tap_ok(_g == _w, __VA_ARGS__))                                                \
			printf("#   got:  %lld\n#   want: %lld\n", _g, _w);                        \
	} while (0)

__attribute__((unused)) static void tap_diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

__attribute__((unused, noreturn)) static void tap_skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	exit(77);
}

__attribute__((unused)) static int tap_done(void)
{
	printf("1..%d\n", tap_n);
	printf("%d passed, %d failed\n", tap_n - tap_failed, tap_failed);
	return tap_failed ? 1 : 0;
}

#endif
