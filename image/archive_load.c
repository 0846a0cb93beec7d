/* load: docker archives (manifest.json, old and new style) and OCI layout
 * tars, read in one streaming pass. Small members stay in memory; big ones
 * and every *.tar are staged in ROOT/tmp as unnamed files (O_TMPFILE: a
 * kill leaves nothing) while the same read hashes them, decompresses them,
 * hashes the decompressed stream (diffID) and checks every tar entry with
 * the rules unpacking applies (layer_scan), stopping at the decompression
 * limits. archive_assemble.c then verifies the images; only when all are
 * good are the blobs they reference (and only those) flushed with one
 * syncfs, linked into blobs/, and the images tagged in one index write. A
 * failure before that leaves the store as it was. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive-internal.h"
#include "store-internal.h"

/* Limits on what a load keeps in memory: member names and small files
 * together. Past LOAD_MEM_DATA, small files are staged like big ones;
 * past LOAD_MEM_NAMES of names the archive is refused. */
#define LOAD_MEM_DATA  (16u << 20)
#define LOAD_MEM_NAMES (64u << 20)
#define LOAD_SMALL     (1u << 20) /* larger members are staged */
#define LOAD_MAX_LINKS 16         /* symlinks followed for one lookup */
#define LOAD_BATCH     256        /* blobs flushed and linked per syncfs */

/* A member path relative to the archive root, as if the archive were
 * extracted into a directory: "." and empty components dropped, ".." folded
 * and clamped at the root. Nothing here ever touches the filesystem: a name
 * like "../../etc/shadow" only ever names a member of the archive. */
static char *norm_path(const char *base_dir, const char *p)
{
	char *out = NULL;
	img_path_norm(base_dir, p, true, KILN_BUF_NOLIMIT, &out, NULL); /* cannot fail */
	return out;
}

static int cmp_lfile(const void *a, const void *b)
{
	return strcmp(((const struct lfile *)a)->name, ((const struct lfile *)b)->name);
}

/* After read_entries: sorted by name, so lookups are a binary search. */
const struct lfile *load_find(const struct loader *L, const char *name)
{
	_cleanup_free_ char *n = norm_path(NULL, name);
	for (int depth = 0; depth <= LOAD_MAX_LINKS; depth++) {
		struct lfile key = {.name = n};
		const struct lfile *f =
		    L->n ? bsearch(&key, L->f, L->n, sizeof(*L->f), cmp_lfile) : NULL;
		if (!f || !f->link)
			return f;
		free(n);
		n = xstrdup(f->link);
	}
	return NULL;
}

struct lfile *load_blob(struct loader *L, const char *digest)
{
	if (!kiln_digest_valid(digest))
		return NULL;
	_cleanup_free_ char *name = xasprintf("blobs/sha256/%s", kiln_digest_hex(digest));
	return (struct lfile *)load_find(L, name);
}

const char *load_digest(struct lfile *f)
{
	if (!f->digest[0])
		kiln_sha256_digest(f->data ? f->data : "", f->len, f->digest);
	return f->digest;
}

int load_read(struct loader *L, const struct lfile *f, size_t max, char **data, size_t *len,
              struct kiln_err *err)
{
	(void)L;
	if (f->fd < 0) {
		*data = xmemdup(f->data ? f->data : "", f->len);
		*len = f->len;
		return 0;
	}
	if (f->size > max)
		return kiln_err_set(err, KILN_E_LIMIT,
		                    "archive entry `%s` is larger than the limit of %zu bytes",
		                    f->name, max);
	char *buf = xmalloc(f->size + 1);
	size_t got = 0;
	while (got < f->size) {
		ssize_t n = pread(f->fd, buf + got, f->size - got, (off_t)got);
		if (n <= 0) {
			free(buf);
			return kiln_err_set(err, n < 0 ? errno : EIO, "read staged `%s`", f->name);
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 0;
}

/* --- staging files ------------------------------------------------------ */

/* An unnamed file in ROOT/tmp (named, flock'ed and registered for removal
 * where the filesystem has no O_TMPFILE). */
static int stage_open(struct loader *L, char **tmp, struct kiln_err *err)
{
	*tmp = NULL;
	int fd = open(L->s->tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) {
		if (fd < 0)
			return kiln_err_set(err, errno, "create a staging file in `%s`", L->s->tmp);
		return fd;
	}
	fd = kiln_tempfile_create(L->s->tmp, "blob-", tmp, err);
	if (fd >= 0) {
		flock(fd, LOCK_EX); /* a temp sweep skips it */
		fchmod(fd, 0644);
	}
	return fd;
}

static void stage_drop(int *fd, char **tmp)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	if (*tmp) {
		unlink(*tmp);
		kiln_tempfile_forget(*tmp);
		free(*tmp);
		*tmp = NULL;
	}
}

/* --- one member, read once ---------------------------------------------- */

/* The input of a member's layer_source: the member's data blocks, each
 * written to its staging file on the way (or a memory buffer). */
struct member_in {
	struct archive *a;      /* reading an archive member, or NULL */
	const struct lfile *mf; /* reading from memory */
	bool done;
	int fd;
	uint64_t off;
	int io_error; /* reading the archive or writing the stage failed */
};

/* Starts the writeback of each full 8 MiB of a staged file as soon as it
 * is written (sync_file_range: no waiting), so the disk writes while the
 * archive is still being read and hashed and the syncfs before publication
 * finds little left to flush. */
#define STAGE_KICK (8u << 20)
static void stage_kick(int fd, uint64_t before, uint64_t after)
{
	if (after / STAGE_KICK > before / STAGE_KICK)
		sync_file_range(fd, (off_t)(after / STAGE_KICK - 1) * STAGE_KICK, STAGE_KICK,
		                SYNC_FILE_RANGE_WRITE);
}

static ssize_t member_input(void *ud, const void **buf, struct kiln_err *err)
{
	struct member_in *in = ud;
	if (in->done)
		return 0;
	if (!in->a) { /* memory: all at once */
		in->done = true;
		*buf = in->mf->data ? in->mf->data : "";
		return (ssize_t)in->mf->len;
	}
	size_t n;
	la_int64_t off;
	int r = archive_read_data_block(in->a, buf, &n, &off);
	if (r == ARCHIVE_EOF) {
		in->done = true;
		return 0;
	}
	if (r != ARCHIVE_OK || (uint64_t)off != in->off) {
		in->io_error = 1;
		return kiln_err_set(err, KILN_E_CORRUPT, "%s",
		                    r != ARCHIVE_OK ? archive_error_string(in->a)
		                                    : "sparse archive member");
	}
	if (kiln_write_all(in->fd, *buf, n, err) < 0) {
		in->io_error = 1;
		return kiln_err_wrap(err, "staging in ROOT/tmp");
	}
	stage_kick(in->fd, in->off, in->off + n);
	in->off += n;
	return (ssize_t)n;
}

struct unc_out {
	int fd;
	int io_error;
	uint64_t off;
};

static int unc_tee(void *ud, const void *p, size_t n, struct kiln_err *err)
{
	struct unc_out *u = ud;
	if (kiln_write_all(u->fd, p, n, err) < 0) {
		u->io_error = 1;
		return kiln_err_wrap(err, "staging in ROOT/tmp");
	}
	stage_kick(u->fd, u->off, u->off + n);
	u->off += n;
	return 0;
}

static bool filter_kept(const char *filter)
{
	return !strcmp(filter, "none") || !strcmp(filter, "gzip") || !strcmp(filter, "zstd");
}

/* Reads a member (or an in-memory one) through a layer source: digest,
 * and if it is a layer its diffID and verdict. xz and bzip2 layers, whose
 * compression no OCI media type names, get a decompressed copy. Only an
 * I/O failure is an error here; a member that is no layer just records why. */
static int analyze(struct loader *L, struct lfile *f, struct member_in *in, struct kiln_err *err)
{
	struct layer_source src;
	struct unc_out u = {.fd = -1};
	struct kiln_err why = KILN_ERR_INIT;
	int r = layer_source_open_input(&src, member_input, in, &why);
	if (r < 0 && in->io_error) {
		kiln_err_move(err, &why);
		return -1;
	}
	if (r < 0) { /* not even a stream (compressed twice...): hash what it is */
		f->scan = -1;
		kiln_err_move(&f->why, &why);
		struct kiln_sha256 h;
		kiln_sha256_init(&h);
		const void *p;
		ssize_t n;
		/* the part already read is in the stage (or memory) */
		while ((n = member_input(in, &p, err)) > 0)
			;
		if (n < 0) {
			kiln_sha256_release(&h);
			return -1;
		}
		if (in->a) {
			_cleanup_free_ char *buf = xmalloc(1 << 16);
			for (off_t o = 0;; o += n) {
				n = pread(in->fd, buf, 1 << 16, o);
				if (n <= 0)
					break;
				kiln_sha256_update(&h, buf, (size_t)n);
			}
		} else {
			kiln_sha256_update(&h, f->data ? f->data : "", f->len);
		}
		kiln_sha256_final(&h, f->digest);
		f->size = in->a ? in->off : f->len;
		return 0;
	}
	f->filter = src.filter;
	if (!filter_kept(src.filter)) {
		u.fd = stage_open(L, &f->utmp, err);
		if (u.fd < 0) {
			layer_source_release(&src);
			return -1;
		}
		src.tee = unc_tee;
		src.tee_ud = &u;
	}
	r = layer_scan(&src, &why);
	if (r == 0)
		r = layer_source_finish(&src, f->digest, f->diff, &f->size, &why);
	if (r < 0 && !in->io_error && !u.io_error) {
		f->scan = -1;
		kiln_err_move(&f->why, &why);
		r = layer_source_finish_raw(&src, f->digest, &f->size, &why);
	} else if (r == 0) {
		f->scan = 1;
		f->usize = src.diff_size;
		f->usage = src.usage;
	}
	if (r < 0)
		kiln_err_move(err, &why);
	layer_source_release(&src);
	if (r < 0 || f->scan < 0 || u.fd < 0) {
		stage_drop(&u.fd, &f->utmp);
		return r;
	}
	f->ufd = u.fd;
	return 0;
}

int load_scan(struct loader *L, struct lfile *f, struct kiln_err *err)
{
	if (f->scan)
		return 0;
	struct member_in in = {.mf = f, .fd = -1};
	return analyze(L, f, &in, err);
}

/* A big member, blobs/sha256/<hex> or *.tar: staged and analyzed. */
static int stage_member(struct loader *L, struct archive *a, struct lfile *f, const char *want,
                        struct kiln_err *err)
{
	f->fd = stage_open(L, &f->tmp, err);
	if (f->fd < 0)
		return -1;
	struct member_in in = {.a = a, .fd = f->fd};
	if (analyze(L, f, &in, err) < 0)
		return kiln_err_wrap(err, "archive entry `%s`", f->name);
	if (want && strcmp(want, f->digest))
		return kiln_err_set(err, KILN_E_CORRUPT,
		                    "archive entry `%s`: digest mismatch: expected %s, content "
		                    "hashes to %s",
		                    f->name, want, f->digest);
	return 0;
}

static int keep_small(struct loader *L, struct archive *a, struct lfile *f, const char *want,
                      struct kiln_err *err)
{
	struct kiln_buf b;
	kiln_buf_init(&b, LOAD_SMALL, f->name);
	const void *blk;
	size_t n;
	la_int64_t off;
	int r;
	while ((r = archive_read_data_block(a, &blk, &n, &off)) == ARCHIVE_OK)
		if (kiln_buf_add(&b, blk, n, err) < 0) {
			kiln_buf_release(&b);
			return -1;
		}
	if (r != ARCHIVE_EOF) {
		kiln_buf_release(&b);
		return kiln_err_set(err, KILN_E_CORRUPT, "archive entry `%s`: %s", f->name,
		                    archive_error_string(a));
	}
	f->data = kiln_buf_detach(&b, &f->len);
	L->mem_data += f->len;
	if (want && strcmp(load_digest(f), want))
		return kiln_err_set(err, KILN_E_CORRUPT,
		                    "archive entry `%s`: digest mismatch: expected %s, content "
		                    "hashes to %s",
		                    f->name, want, f->digest);
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcmp(s + a - b, suffix);
}

/* Records one member: links by their target; blobs/sha256/<hex> verified;
 * big files and *.tar staged, the rest in memory. */
static int read_member(struct loader *L, struct archive *a, struct archive_entry *e,
                       struct kiln_err *err)
{
	mode_t t = archive_entry_filetype(e);
	const char *raw = archive_entry_pathname(e);
	if (t != AE_IFREG && t != AE_IFLNK)
		return 0;
	if (!raw)
		return kiln_err_set(err, KILN_E_CORRUPT, "archive member without a name");
	KILN_GROW(L->f, L->cap, L->n + 1);
	struct lfile *f = &L->f[L->n++];
	memset(f, 0, sizeof(*f));
	f->fd = f->ufd = -1;
	f->name = norm_path(NULL, raw);
	const char *hl = archive_entry_hardlink(e);
	if (t == AE_IFLNK || hl) {
		const char *target = hl ? hl : archive_entry_symlink(e);
		_cleanup_free_ char *dir = NULL;
		const char *sl = strrchr(f->name, '/');
		if (!hl && sl) /* a symlink is relative to its directory */
			dir = xstrndup(f->name, (size_t)(sl - f->name));
		f->link = norm_path(dir ? dir : "", target ? target : "");
	}
	L->mem_names += strlen(f->name) + (f->link ? strlen(f->link) : 0) + sizeof(*f);
	if (L->mem_names > LOAD_MEM_NAMES)
		return kiln_err_set(err, KILN_E_INVALID,
		                    "archive has too many members (names over %u MiB)",
		                    LOAD_MEM_NAMES >> 20);
	if (f->link)
		return 0;
	_cleanup_free_ char *want = NULL;
	if (!strncmp(f->name, "blobs/sha256/", 13)) {
		want = xasprintf("sha256:%s", f->name + 13);
		if (!kiln_digest_valid(want))
			return kiln_err_set(err, KILN_E_CORRUPT, "bad blob name `%s`", raw);
	}
	la_int64_t size = archive_entry_size(e);
	if (ends_with(f->name, ".tar") || size < 0 || size > (la_int64_t)LOAD_SMALL ||
	    L->mem_data + (size_t)size > LOAD_MEM_DATA)
		return stage_member(L, a, f, want, err);
	return keep_small(L, a, f, want, err);
}

static int read_entries(struct loader *L, struct archive *a, struct layer_source *src,
                        struct kiln_err *err)
{
	struct archive_entry *e;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK)
		if (read_member(L, a, e, err) < 0)
			return -1;
	if (r != ARCHIVE_EOF) {
		if (src->err.msg)
			kiln_err_move(err, &src->err);
		else
			kiln_err_set(err, KILN_E_CORRUPT, "reading archive: %s",
			             archive_error_string(a));
		return -1;
	}
	if (L->n)
		qsort(L->f, L->n, sizeof(*L->f), cmp_lfile);
	/* two blobs/sha256/<hex> are the same bytes (both verified) */
	for (size_t i = 1; i < L->n; i++)
		if (!strcmp(L->f[i - 1].name, L->f[i].name) &&
		    (strncmp(L->f[i].name, "blobs/sha256/", 13) || L->f[i].link ||
		     L->f[i - 1].link))
			return kiln_err_set(err, KILN_E_CORRUPT,
			                    "archive has two members named `%s`", L->f[i].name);
	return 0;
}

/* --- publication -------------------------------------------------------- */

void load_keep(struct loader *L, struct lfile *f, bool unc)
{
	const char *d = unc ? f->diff : load_digest(f);
	if (layer_pset_has(&L->pub_set, d, strlen(d)))
		return;
	layer_pset_add(&L->pub_set, d, strlen(d));
	KILN_GROW(L->pub, L->cap_pub, L->n_pub + 1);
	struct pub_blob *p = &L->pub[L->n_pub++];
	memcpy(p->digest, d, KILN_DIGEST_LEN);
	p->fd = unc ? f->ufd : f->fd;
	p->tmp = unc ? f->utmp : f->tmp;
	p->data = f->data ? f->data : "";
	p->len = f->len;
	p->owner_fd = unc ? &f->ufd : &f->fd;
	p->owner_tmp = unc ? &f->utmp : &f->tmp;
	p->stored = false;
}

void load_keep_data(struct loader *L, char *data, size_t len, char digest[KILN_DIGEST_LEN])
{
	kiln_sha256_digest(data, len, digest);
	kiln_strv_push_take(&L->gen, data);
	if (layer_pset_has(&L->pub_set, digest, strlen(digest)))
		return;
	layer_pset_add(&L->pub_set, digest, strlen(digest));
	KILN_GROW(L->pub, L->cap_pub, L->n_pub + 1);
	struct pub_blob *p = &L->pub[L->n_pub++];
	memcpy(p->digest, digest, KILN_DIGEST_LEN);
	p->fd = -1;
	p->tmp = NULL;
	p->data = data;
	p->len = len;
	p->owner_fd = NULL;
	p->owner_tmp = NULL;
	p->stored = false;
}

void load_add_entry(struct loader *L, struct img_descriptor *d, char **refs, size_t n)
{
	if (L->n_entries == L->cap_entries) {
		size_t cap = L->cap_entries;
		KILN_GROW(L->entries, cap, L->n_entries + 1);
		L->entry_refs = xrealloc(L->entry_refs, cap * sizeof(*L->entry_refs));
		L->entry_nrefs = xrealloc(L->entry_nrefs, cap * sizeof(*L->entry_nrefs));
		L->cap_entries = cap;
	}
	L->entries[L->n_entries] = *d;
	memset(d, 0, sizeof(*d));
	L->entry_refs[L->n_entries] = refs;
	L->entry_nrefs[L->n_entries++] = n;
}

/* Links a flushed staged file in as blobs/sha256/<hex>. An existing blob
 * is replaced (atomically, by the same verified bytes): a damaged copy is
 * healed, never trusted. */
static int link_blob(struct loader *L, const struct pub_blob *p, int fd, const char *tmp,
                     unsigned seq, struct kiln_err *err)
{
	_cleanup_free_ char *target = img_store_blob_path(L->s, p->digest);
	if (tmp) {
		if (rename(tmp, target) < 0)
			return kiln_err_set(err, errno, "store blob `%s`", p->digest);
		kiln_tempfile_forget(tmp);
		return 0;
	}
	_cleanup_free_ char *proc = xasprintf("/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, target, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != EEXIST)
		return kiln_err_set(err, errno, "store blob `%s`", p->digest);
	_cleanup_free_ char *t2 = xasprintf("%s/blob-link-%ld-%u", L->s->tmp, (long)getpid(), seq);
	unlink(t2);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, t2, AT_SYMLINK_FOLLOW) < 0)
		return kiln_err_set(err, errno, "store blob `%s`", p->digest);
	if (rename(t2, target) < 0) {
		int e = errno;
		unlink(t2);
		return kiln_err_set(err, e, "store blob `%s`", p->digest);
	}
	return 0;
}

/* Flushes pub[from, to) with one syncfs, then links them in. */
static int publish_batch(struct loader *L, size_t from, size_t to, struct kiln_err *err)
{
	int fds[LOAD_BATCH];
	char *tmps[LOAD_BATCH];
	int r = 0;
	size_t k;
	for (k = 0; k < to - from && r == 0; k++) {
		const struct pub_blob *p = &L->pub[from + k];
		fds[k] = p->fd;
		tmps[k] = NULL;
		if (p->fd >= 0 || p->stored)
			continue;
		fds[k] = stage_open(L, &tmps[k], err);
		if (fds[k] < 0 || kiln_write_all(fds[k], p->data, p->len, err) < 0)
			r = -1;
	}
	_cleanup_close_ int dfd = open(L->s->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r == 0 && (dfd < 0 || syncfs(dfd) < 0))
		r = kiln_err_set(err, errno, "sync `%s`", L->s->tmp);
	for (size_t i = 0; r == 0 && i < k; i++) {
		const struct pub_blob *p = &L->pub[from + i];
		if (p->stored)
			continue;
		r = link_blob(L, p, fds[i], p->fd >= 0 ? p->tmp : tmps[i], (unsigned)(from + i),
		              err);
		if (p->fd < 0 && tmps[i] && r == 0) {
			free(tmps[i]);
			tmps[i] = NULL;
		}
	}
	for (size_t i = 0; i < k; i++)
		if (L->pub[from + i].fd < 0)
			stage_drop(&fds[i], &tmps[i]);
	return r;
}

/* True when the stored blob at path holds exactly len bytes equal to the
 * verified staged ones (fd, or data when fd < 0). Both are read side by
 * side, usually from the page cache: cheaper than writing and flushing
 * the blob again. A short or unreadable stored copy is no match. */
#define SAME_CHUNK (1u << 20)
static bool same_bytes(const char *path, int fd, const char *data, uint64_t len)
{
	int sfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (sfd < 0)
		return false;
	char *have = xmalloc(SAME_CHUNK), *mine = fd >= 0 ? xmalloc(SAME_CHUNK) : NULL;
	bool same = true;
	for (uint64_t off = 0; same && off < len;) {
		size_t want = len - off < SAME_CHUNK ? (size_t)(len - off) : SAME_CHUNK;
		ssize_t n = pread(sfd, have, want, (off_t)off);
		const char *cmp = data + off;
		if (n > 0 && fd >= 0) {
			same = pread(fd, mine, (size_t)n, (off_t)off) == n;
			cmp = mine;
		}
		same = same && n > 0 && memcmp(have, cmp, (size_t)n) == 0;
		off += n > 0 ? (uint64_t)n : 0;
	}
	free(have);
	free(mine);
	close(sfd);
	return same;
}

/* A blob the store already has with the same bytes is kept as it is (as
 * docker keeps a layer it has): its staged copy, verified and never
 * linked, is dropped before any syncfs, so its bytes are never flushed.
 * A stored copy whose bytes differ (damaged in place) is replaced by the
 * verified one, as every write of the same content does. */
static void skip_stored(struct loader *L)
{
	for (size_t i = 0; i < L->n_pub; i++) {
		struct pub_blob *p = &L->pub[i];
		struct stat have, want = {.st_size = (off_t)p->len};
		_cleanup_free_ char *path = img_store_blob_path(L->s, p->digest);
		if ((p->fd >= 0 && fstat(p->fd, &want) < 0) || lstat(path, &have) < 0 ||
		    !S_ISREG(have.st_mode) || have.st_size != want.st_size ||
		    !same_bytes(path, p->fd, p->data, (uint64_t)want.st_size))
			continue; /* missing or damaged: written again */
		p->stored = true;
		if (p->owner_fd && *p->owner_fd >= 0)
			stage_drop(p->owner_fd, p->owner_tmp);
		p->fd = -1;
		p->tmp = NULL;
	}
}

static int publish(struct loader *L, struct kiln_err *err)
{
	skip_stored(L);
	for (size_t i = 0; i < L->n_pub; i += LOAD_BATCH) {
		size_t to = i + LOAD_BATCH < L->n_pub ? i + LOAD_BATCH : L->n_pub;
		if (publish_batch(L, i, to, err) < 0)
			return -1;
	}
	if (L->n_pub && kiln_fsync_dir(L->s->blobs, err) < 0)
		return -1;
	for (size_t i = 0; i < L->n; i++) { /* the sizes of the layers stored */
		struct lfile *f = &L->f[i];
		const char *d = f->scan == 1 ? load_digest(f) : NULL;
		if (d && (layer_pset_has(&L->pub_set, d, strlen(d)) ||
		          layer_pset_has(&L->pub_set, f->diff, strlen(f->diff))))
			layer_usage_record(L->s, f->diff, f->usage);
	}
	if (!L->n_entries)
		return 0;
	return img_publish_many(L->s, L->entries, (char *const *const *)L->entry_refs,
	                        L->entry_nrefs, L->n_entries, err);
}

/* Staged files of members get many: the soft limit rises to the hard one. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void loader_release(struct loader *L)
{
	for (size_t i = 0; i < L->n; i++) {
		struct lfile *f = &L->f[i];
		free(f->name);
		free(f->data);
		free(f->link);
		stage_drop(&f->fd, &f->tmp);
		stage_drop(&f->ufd, &f->utmp);
		kiln_err_release(&f->why);
	}
	free(L->f);
	free(L->pub);
	layer_pset_release(&L->pub_set);
	for (size_t i = 0; i < L->n_entries; i++) {
		img_descriptor_release(&L->entries[i]);
		kiln_strv_free(L->entry_refs[i]);
	}
	free(L->entries);
	free(L->entry_refs);
	free(L->entry_nrefs);
	kiln_strv_release(&L->gen);
}

int img_load(struct img_store *s, int fd, struct kiln_strv *loaded, struct kiln_err *err)
{
	struct loader L = {.s = s, .out = loaded};
	raise_nofile();
	struct layer_source src;
	if (layer_source_open_stream(&src, fd, err) < 0)
		return kiln_err_wrap(err, "load");
	int r = -1;
	struct archive *a = layer_source_tar_reader(&src, err);
	if (a) {
		r = read_entries(&L, a, &src, err);
		archive_read_free(a);
	}
	layer_source_release(&src);
	struct kiln_strv lines = KILN_STRV_INIT;
	L.out = &lines;
	if (r == 0)
		r = load_assemble(&L, err);
	if (r == 0)
		r = publish(&L, err);
	for (size_t i = 0; r == 0 && i < lines.n; i++)
		kiln_strv_push(loaded, lines.v[i]);
	kiln_strv_release(&lines);
	loader_release(&L);
	return r < 0 ? kiln_err_wrap(err, "load") : 0;
}
