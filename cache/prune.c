/* du and prune over the cache: records (their layer blobs), cache mounts,
 * and the file listings kept for explanations. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache-internal.h"

void cache_du_release(struct cache_du *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].id);
	free(d->v);
	memset(d, 0, sizeof(*d));
}

/* Names in ROOT/sub (sorted); a missing directory is empty. */
static int list_names(struct img_store *s, const char *sub, struct kiln_strv *out,
                      struct kiln_err *err)
{
	_cleanup_free_ char *dir = cache_path(s, sub, NULL);
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : kiln_err_set(err, errno, "open `%s`", dir);
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			kiln_strv_push(out, de->d_name);
	kiln_strv_sort(out);
	return 0;
}

void cache_store_attach(struct img_store *s)
{
	img_store_add_durable_dir(s, CACHE_RECORDS);
}

/* Bytes of the regular files under dir (not following links, one fd a level). */
static uint64_t tree_size(int dfd, int64_t *newest)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	uint64_t total = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (st.st_mtim.tv_sec > *newest)
			*newest = st.st_mtim.tv_sec;
		if (S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
		if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd(d), de->d_name,
			                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0)
				total += tree_size(fd, newest);
		}
	}
	closedir(d);
	return total;
}

/* Layer digests of every stored image. */
static void image_layers(struct img_store *s, struct kiln_strv *out)
{
	struct img_image **v = NULL;
	size_t n = 0;
	struct kiln_err e = KILN_ERR_INIT;
	if (img_image_list(s, &v, &n, &e) < 0) {
		kiln_err_release(&e);
		return;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; v[i]->manifest && k < v[i]->manifest->n_layers; k++)
			kiln_strv_push(out, v[i]->manifest->layers[k].digest);
	img_image_list_free(v, n);
	kiln_strv_sort(out);
}

static void add_entry(struct cache_du *d, char *id, uint64_t size, int64_t used, bool shared,
                      bool mount)
{
	d->v = xreallocarray(d->v, d->n + 1, sizeof(*d->v));
	d->v[d->n++] = (struct cache_du_entry){
	    .id = id, .size = size, .last_used = used, .shared = shared, .is_mount = mount};
	d->total += size;
	if (!shared)
		d->reclaimable += size;
}

int cache_du(struct img_store *s, struct cache_du *out, struct kiln_err *err)
{
	memset(out, 0, sizeof(*out));
	struct kiln_strv keys = KILN_STRV_INIT, mounts = KILN_STRV_INIT, used = KILN_STRV_INIT;
	int r = list_names(s, CACHE_RECORDS, &keys, err);
	if (r == 0)
		r = list_names(s, CACHE_MOUNTS, &mounts, err);
	if (r == 0)
		image_layers(s, &used);
	for (size_t i = 0; r == 0 && i < keys.n; i++) {
		struct cache_record rec;
		int64_t last = 0;
		struct kiln_err e = KILN_ERR_INIT;
		if (!cache_key_valid(keys.v[i]) ||
		    cache_record_read(s, keys.v[i], &rec, &last, &e) < 0) {
			kiln_err_release(&e);
			continue;
		}
		bool shared = rec.has_layer && kiln_strv_contains_sorted(&used, rec.layer.digest);
		add_entry(out, xstrdup(keys.v[i]), rec.has_layer ? rec.layer.size : 0, last, shared,
		          false);
		cache_record_release(&rec);
	}
	for (size_t i = 0; r == 0 && i < mounts.n; i++) {
		_cleanup_free_ char *p = cache_path(s, CACHE_MOUNTS, mounts.v[i]);
		int fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		struct stat st;
		int64_t newest = fstat(fd, &st) == 0 ? st.st_mtim.tv_sec : 0;
		uint64_t size = tree_size(fd, &newest);
		add_entry(out, xasprintf("mount:%s", mounts.v[i]), size, newest, false, true);
	}
	kiln_strv_release(&keys);
	kiln_strv_release(&mounts);
	kiln_strv_release(&used);
	if (r < 0)
		cache_du_release(out);
	return r;
}

static int cmp_used(const void *a, const void *b)
{
	const struct cache_du_entry *x = *(const struct cache_du_entry *const *)a;
	const struct cache_du_entry *y = *(const struct cache_du_entry *const *)b;
	return x->last_used < y->last_used ? -1 : x->last_used > y->last_used;
}

/* Removes the cache mount dir p and its lock file (p.lock,
 * builder/run_mounts.c) under that lock, taken without waiting: 0 (kept)
 * while a RUN holds it (shared, locked or private), so its mount stays
 * and no RUN takes it while it goes. The lock file goes last, still held:
 * a RUN that waited on it then locks a fresh one (kiln_lock_file_removable)
 * and finds no dir. orphan: only a lock whose dir is absent (kept when
 * a RUN made the dir since the caller looked). 1 when removed. */
static int remove_mount(const char *p, bool orphan, struct kiln_err *err)
{
	_cleanup_free_ char *lockp = xasprintf("%s.lock", p);
	bool busy = false;
	_cleanup_close_ int fd = kiln_lock_file_removable(lockp, LOCK_EX | LOCK_NB, &busy, err);
	if (fd < 0)
		return busy ? 0 : -1;
	if (orphan && kiln_path_exists(p))
		return 0;
	if (kiln_rm_rf(p, err) < 0)
		return -1;
	if (unlink(lockp) < 0 && errno != ENOENT)
		return kiln_err_set(err, errno, "unlink `%s`", lockp);
	return 1;
}

/* 1 when e is removed; 0 for a cache mount in use. */
static int remove_entry(struct img_store *s, const struct cache_du_entry *e, struct kiln_err *err)
{
	if (!e->is_mount)
		return cache_record_remove(s, e->id, err) < 0 ? -1 : 1;
	_cleanup_free_ char *p = cache_path(s, CACHE_MOUNTS, e->id + strlen("mount:"));
	return remove_mount(p, false, err);
}

/* Lock files of cache mounts whose dir is gone (a step that failed to
 * make it, a kiln killed in between, a lock left by an older kiln that
 * removed only the dir): removed unless a RUN holds them. */
static int drop_orphan_locks(struct img_store *s, struct kiln_err *err)
{
	struct kiln_strv names = KILN_STRV_INIT;
	int r = list_names(s, CACHE_MOUNTS, &names, err);
	for (size_t i = 0; r == 0 && i < names.n; i++) {
		size_t len = strlen(names.v[i]);
		if (len <= 5 || strcmp(names.v[i] + len - 5, ".lock"))
			continue;
		names.v[i][len - 5] = '\0';
		_cleanup_free_ char *p = cache_path(s, CACHE_MOUNTS, names.v[i]);
		if (!kiln_path_exists(p))
			r = remove_mount(p, true, err) < 0 ? -1 : 0;
	}
	kiln_strv_release(&names);
	return r;
}

/* Listings no remaining record names. */
static void drop_listings(struct img_store *s)
{
	struct kiln_strv keys = KILN_STRV_INIT, inputs = KILN_STRV_INIT, live = KILN_STRV_INIT;
	struct kiln_err e = KILN_ERR_INIT;
	list_names(s, CACHE_RECORDS, &keys, &e);
	list_names(s, CACHE_INPUTS, &inputs, &e);
	kiln_err_release(&e);
	for (size_t i = 0; i < keys.n; i++) {
		struct cache_record rec;
		int64_t last;
		if (cache_record_read(s, keys.v[i], &rec, &last, &e) < 0) {
			kiln_err_release(&e);
			continue;
		}
		for (size_t k = 0; k < rec.preimage.n; k++)
			if (!strcmp(rec.preimage.v[k].name, "input"))
				kiln_strv_push(&live, rec.preimage.v[k].value);
		cache_record_release(&rec);
	}
	kiln_strv_sort(&live);
	for (size_t i = 0; i < inputs.n; i++) {
		if (kiln_strv_contains_sorted(&live, inputs.v[i]))
			continue;
		_cleanup_free_ char *p = cache_path(s, CACHE_INPUTS, inputs.v[i]);
		unlink(p);
	}
	kiln_strv_release(&keys);
	kiln_strv_release(&inputs);
	kiln_strv_release(&live);
}

int cache_prune(struct img_store *s, const struct cache_prune_opts *o,
                struct cache_prune_result *res, struct kiln_err *err)
{
	memset(res, 0, sizeof(*res));
	struct cache_du du;
	if (cache_du(s, &du, err) < 0)
		return kiln_err_wrap(err, "pruning the build cache");
	/* candidates, least recently used first */
	struct cache_du_entry **c = xcalloc(du.n + 1, sizeof(*c));
	size_t n = 0;
	int64_t now = time(NULL);
	for (size_t i = 0; i < du.n; i++) {
		if (du.v[i].shared && !o->all)
			continue;
		if (o->until > 0 && du.v[i].last_used > now - o->until)
			continue;
		c[n++] = &du.v[i];
	}
	qsort(c, n, sizeof(*c), cmp_used);
	uint64_t total = du.total;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (o->keep_storage && total <= o->keep_storage)
			break;
		int gone = remove_entry(s, c[i], err);
		r = gone < 0 ? -1 : 0;
		if (gone > 0) {
			total -= c[i]->size;
			res->records += !c[i]->is_mount;
			res->mounts += c[i]->is_mount;
			if (c[i]->is_mount)
				res->bytes += c[i]->size;
		}
	}
	free(c);
	cache_du_release(&du);
	if (r == 0)
		r = drop_orphan_locks(s, err);
	if (r < 0)
		return kiln_err_wrap(err, "pruning the build cache");
	drop_listings(s);
	if (o->all && !o->until && !o->keep_storage) {
		_cleanup_free_ char *sc = cache_path(s, CACHE_STATCACHE, NULL);
		if (kiln_rm_rf(sc, err) < 0)
			return -1;
	}
	struct img_gc_result gc;
	if (img_store_gc(s, 0, &gc, err) < 0)
		return kiln_err_wrap(err, "pruning the build cache");
	res->bytes += gc.bytes_reclaimed;
	return 0;
}

char *cache_mount_dir(struct img_store *s, const char *id, struct kiln_err *err)
{
	if (!*id || id[0] == '.' || strchr(id, '/')) {
		/* ids with slashes (BuildKit allows them) or a leading dot are
		 * hashed into one name */
		struct kiln_xxh128 h;
		kiln_xxh128(id, strlen(id), &h);
		char hex[33];
		kiln_xxh128_hex(&h, hex);
		char *p = cache_path(s, CACHE_MOUNTS, hex);
		if (kiln_mkdir_p(p, 0755, err) < 0) {
			free(p);
			return NULL;
		}
		return p;
	}
	char *p = cache_path(s, CACHE_MOUNTS, id);
	if (kiln_mkdir_p(p, 0755, err) < 0) {
		free(p);
		return NULL;
	}
	return p;
}
