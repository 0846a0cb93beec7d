/* Filesystem helpers: bounded reads, atomic writes, mkdir -p, locks, rm -rf. */
#ifndef KILN_FSUTIL_H
#define KILN_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kiln_err.h"

/* Reads a whole file (at most max bytes, else KILN_E_LIMIT); *data is
 * NUL-terminated. */
int kiln_read_file(const char *path, size_t max, char **data, size_t *len, struct kiln_err *err);
int kiln_read_fd(int fd, size_t max, const char *what, char **data, size_t *len,
                 struct kiln_err *err);
int kiln_write_all(int fd, const void *buf, size_t len, struct kiln_err *err);
/* Writes path atomically: unique temp (O_EXCL) in the same directory, fsync,
 * rename over path, fsync the directory. */
int kiln_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           struct kiln_err *err);
/* The same without either fsync, for files that may be lost but never read
 * torn (caches, history: a crash may leave the old file or none). */
/* openat2(dirfd, path, flags | O_CLOEXEC) resolved with resolve (the
 * RESOLVE_* flags). Retried on EAGAIN, which the kernel returns when a
 * rename or mount anywhere on the system raced the lookup. -1 with errno
 * otherwise. */
int kiln_openat2(int dirfd, const char *path, int flags, uint64_t resolve);
/* kiln_openat2 with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS under rootfd:
 * symlinks and `..` never leave it. */
int kiln_open_in_root(int rootfd, const char *path, int flags);
int kiln_write_file_replace(const char *path, const void *data, size_t len, mode_t mode,
                            struct kiln_err *err);
int kiln_fsync_dir(const char *dir, struct kiln_err *err);
int kiln_mkdir_p(const char *path, mode_t mode, struct kiln_err *err);
/* Removes a tree without following symlinks or crossing into other mounts'
 * contents. A missing path is success. */
int kiln_rm_rf(const char *path, struct kiln_err *err);
int kiln_rm_rf_at(int dirfd, const char *name, struct kiln_err *err);
/* Opens (creating) path and takes an flock; returns the fd holding the lock. */
int kiln_lock_file(const char *path, bool exclusive, struct kiln_err *err);
/* kiln_lock_file for a lock file that is removed together with what it
 * guards (the remover unlinks it while holding it exclusively, then lets
 * go). how: LOCK_SH or LOCK_EX, with LOCK_NB -1 and *busy (no error) when
 * another holds it. The lock returned is on the file the path names once
 * it is taken: one won on a file removed meanwhile is let go and the path
 * opened (created) and locked again. */
int kiln_lock_file_removable(const char *path, int how, bool *busy, struct kiln_err *err);
bool kiln_path_exists(const char *path);
/* "a" + "/" + "b" without doubling slashes; allocated. */
char *kiln_path_join(const char *a, const char *b);
/* Creates a unique temp file "<dir>/<prefix>XXXXXX", registered for removal
 * on exit and fatal signals until kiln_tempfile_forget(). Returns the fd. */
int kiln_tempfile_create(const char *dir, const char *prefix, char **path_out,
                         struct kiln_err *err);

/* Temp-file registry (git tempfile.c): registered paths are unlinked at exit
 * and on SIGINT/SIGTERM/SIGHUP/SIGQUIT. */
void kiln_tempfile_register(const char *path);
void kiln_tempfile_forget(const char *path);

#endif
