/* Warnings and debug output on stderr. Errors are not printed here: they
 * travel in struct kiln_err up to cli/main.c. */
#ifndef KILN_LOG_H
#define KILN_LOG_H

extern int kiln_debug_enabled; /* set by --debug or KILN_DEBUG=1 */
__attribute__((format(printf, 1, 2))) void kiln_warn(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void kiln_debug(const char *fmt, ...);

#endif
