/* runtime/cp-internal.h: docker cp's tar streams (cp_tar.c) and Go's path
 * rules it is defined by (cp_path.c). Private to runtime/. */
#ifndef KILN_CP_INTERNAL_H
#define KILN_CP_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "runtime-internal.h"

/* --- Go's path/filepath, as docker's archive package uses it (cp_path.c) --- */
char *rt_go_clean(const char *path);            /* filepath.Clean */
char *rt_go_base(const char *path);             /* filepath.Base */
char *rt_go_dir(const char *path);              /* filepath.Dir */
char *rt_go_join(const char *a, const char *b); /* filepath.Join */
bool rt_go_trailing_sep(const char *path);      /* ends with "/" */
bool rt_go_current_dir(const char *path);       /* Base(path) == "." */
/* archive.PreserveTrailingDotOrSeparator(cleaned, original) */
char *rt_go_preserve_trailing(const char *cleaned, const char *original);
/* archive.SplitPathDirEntry: dir and base of a cleaned path, "/." kept */
void rt_go_split_dir_entry(const char *path, char **dir, char **base);
/* archive.GetRebaseName: *resolved gets the original's trailing "/" or
 * "/."; returns the rebase name (NULL when none). */
char *rt_go_rebase_name(const char *path, char **resolved);

/* openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: path as if dirfd were /
 * (cp_extract.c). */
int rt_cp_open_in(int dirfd, const char *path, int flags);
/* fd's magic link for *at() calls: returns the dir fd and fills path.
 * Relative to the host's /proc given to rt_cp_set_proc (a worker in a
 * container's mounts, whose /proc is not the host's), else
 * "/proc/self/fd/N". */
void rt_cp_set_proc(int proc_dirfd);
int rt_cp_fd_link(int fd, char path[64]);

/* --- tar streams (cp_tar.c, cp_extract.c) -------------------------------------------------- */
/* One path made into a tar on out_fd: `name` in directory dirfd ("." for
 * dirfd itself), the archive's top entry named `top` (children
 * "top/child"; "/" gives "/child"). Never follows a symlink; with
 * mounts (a container's view), a directory on another mount than its
 * parent is listed but not entered unless ctr_path + its path is one of
 * mounts' targets (so /proc, /sys and /dev of a running container stay
 * out, its volumes are in). */
struct rt_cp_src {
	int dirfd;
	const char *name;
	const char *top;
	const char *ctr_path; /* the entry's absolute path in the container */
	const struct rt_spec *mounts;
};
int rt_cp_tar_write(const struct rt_cp_src *s, int out_fd, struct kiln_err *err);

/* A tar read from in_fd extracted under dirfd, every path resolved as if
 * dirfd were / (symlinks and ".." never leave it). Entries named
 * rebase_from (or under it) are renamed to rebase_to first. An existing
 * directory is never replaced by a non-directory or the reverse
 * (docker's NoOverwriteDirNonDir). */
struct rt_cp_dest {
	int dirfd;
	const char *rebase_from, *rebase_to;
	bool chown;       /* apply the entries' uid/gid (else the caller owns them) */
	bool force_owner; /* -a with a container user: every entry gets uid:gid */
	uid_t uid;
	gid_t gid;
};
int rt_cp_extract(const struct rt_cp_dest *d, int in_fd, struct kiln_err *err);

#endif
