/* Private to COPY/ADD (step_copy.c, copy_items.c): the list of entries a
 * COPY makes, built first (sorted, parents before children), then streamed
 * into the layer writer from where the files lie. */
#ifndef KILN_BUILDER_COPY_INTERNAL_H
#define KILN_BUILDER_COPY_INTERNAL_H

#include "build-internal.h"
#include "cache.h"

enum citem_kind {
	CITEM_SOURCE,  /* a file, dir or link from the source tree */
	CITEM_PARENT,  /* an ancestor of the destination that already exists */
	CITEM_NEWDIR,  /* an ancestor the COPY creates */
	CITEM_CONTENT, /* a heredoc body */
};

struct citem {
	char *dest; /* path in the rootfs, no leading '/' */
	char *host; /* where to read it (NULL for NEWDIR, CONTENT) */
	char *link; /* a symlink's target as hashed (NULL: read it at host) */
	struct stat st;
	bool hashed;                 /* st is the stat the step's key rests on (see open_checked) */
	struct cache_ctx_plan *plan; /* the key hashes it as it is copied */
	size_t node;                 /* its index in the plan's walk */
	enum citem_kind kind;
	bool keep_owner; /* source owners kept (another stage, an ADDed tar) */
	const char *content;
	size_t content_len;
	size_t seq;
	size_t group; /* the source it came from: hardlinks are kept within one */
};

struct copy_job {
	struct bld_stage *st;
	struct bld_step *step;
	const struct df_copy *c;
	bool add;
	struct citem *v;
	size_t n, cap;
	size_t group;
	bool keep_empty;          /* commit a layer even with no entries (WORKDIR) */
	bool no_index;            /* some data will not stay where it was read (ADD, heredocs) */
	struct bld_vindex *index; /* the layer's entries, made while writing */
	bool chown;
	uint32_t uid, gid;
	const char *chmod; /* NULL: keep modes */
	struct df_ignore *exclude;
	int64_t now;
	struct kiln_strv owned; /* expanded heredoc bodies */
	struct kiln_strv temps; /* downloaded files, extracted tars: removed at the end */
	struct bld_context *tar_trees;
	size_t n_tar_trees;
};

struct citem *copy_add_item(struct copy_job *j, const char *dest, enum citem_kind kind);
/* Adds the ancestors of real (a rootfs path), and real itself when self,
 * as PARENT (exists: its metadata kept) or NEWDIR (0755, the --chown
 * owner) items. */
int copy_add_parents(struct copy_job *j, const char *real, bool self, struct kiln_err *err);
/* A socket or fifo of the build context: never copied, whether named as
 * a source, matched by a wildcard or inside a copied tree (BuildKit
 * leaves fifos out; a socket, which it sends as an empty file, goes too). */
bool copy_left_out(mode_t m);
/* Adds node (at dest) and, for a directory, everything below it. A top
 * directory is not added itself: its contents go into dest, which keeps
 * its own metadata or is made as a new directory (BuildKit's
 * CopyDirContents). */
int copy_add_tree(struct copy_job *j, const struct bld_tree *t, const struct bld_node *node,
                  const char *dest, const char *excl_base, bool keep_owner, bool is_context,
                  bool top, struct kiln_err *err);
/* A context source as the step's key walked it, and the plan that hashes
 * its files while they are copied (NULL: the key read them already). */
struct copy_walk {
	const struct cache_ctx_walk *w;
	struct cache_ctx_plan *plan;
};
/* copy_add_tree for a context path the step's key hashed: the entries
 * and stats come from that walk (w->v[i] at dest), none stat'ed again. */
void copy_add_walk(struct copy_job *j, const struct copy_walk *cw, size_t i, const char *dest,
                   bool top);
/* Sorts, drops duplicates (the later source wins) and writes the layer;
 * *index receives its in-memory description unless j->no_index (NULL then). */
int copy_write_layer(struct copy_job *j, struct img_layer *out, bool *empty,
                     struct bld_vindex **index, struct kiln_err *err);
void copy_job_release(struct copy_job *j);
/* Expands a source's wildcards through the tree (step_copy.c; also used
 * by the cache key, step_key.c). */
int copy_glob_tree(const struct bld_tree *t, const char *pattern, struct kiln_strv *out,
                   struct kiln_err *err);
/* Applies an octal or symbolic (u+x,go-w,a=rX) --chmod to mode. */
int copy_chmod(const char *spec, mode_t mode, mode_t *out, struct kiln_err *err);

#endif
