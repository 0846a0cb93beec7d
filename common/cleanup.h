/* Scope-bound cleanup (crun/systemd style). Each helper tolerates NULL / -1.
 * Hand ownership out explicitly: `ret = p; p = NULL; return ret;`. */
#ifndef KILN_CLEANUP_H
#define KILN_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kiln_err.h"

static inline void kiln_freep(void *p)
{
	free(*(void **)p);
}
static inline void kiln_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void kiln_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
static inline void kiln_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}
static inline void kiln_errp(struct kiln_err *e)
{
	kiln_err_release(e);
}

#define _cleanup_(f)       __attribute__((cleanup(f)))
#define _cleanup_free_     _cleanup_(kiln_freep)
#define _cleanup_close_    _cleanup_(kiln_closep)
#define _cleanup_fclose_   _cleanup_(kiln_fclosep)
#define _cleanup_closedir_ _cleanup_(kiln_closedirp)
#define _cleanup_err_      _cleanup_(kiln_errp)

/* Takes ownership out of a cleanup variable. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tp = (p);                                                           \
		(p) = NULL;                                                                        \
		_tp;                                                                               \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _tf = (fd);                                                                    \
		(fd) = -1;                                                                         \
		_tf;                                                                               \
	})

#endif
