/* Compressed copies of local layers, made once and remembered: pushing an
 * uncompressed local layer needs it gzip (or zstd) compressed, and the
 * same bytes again on every later push (or `save --format oci`), so the
 * registry's digests stay stable. ROOT/compressed/<diffID hex>.<gzip|zstd>
 * holds "sha256:<blob digest> <size>\n". Garbage collection keeps a
 * mapped blob while a live image config lists the diffID (as it keeps
 * snapshots), and drops mappings whose blob is gone. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store-internal.h"

#define COMPRESSED_DIR "compressed"

static char *mapping_path(struct img_store *s, const char *diff_id, enum img_compression c)
{
	return xasprintf("%s/" COMPRESSED_DIR "/%s.%s", s->root, kiln_digest_hex(diff_id),
	                 img_compression_name(c));
}

/* Reads a mapping: 0 (digest and size set) when it names a stored blob. */
static int mapping_read(struct img_store *s, const char *path, char digest[KILN_DIGEST_LEN],
                        uint64_t *size)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (kiln_read_file(path, 256, &data, &len, NULL) < 0)
		return -1;
	char d[KILN_DIGEST_LEN + 1];
	uint64_t n;
	if (sscanf(data, "%71s %" SCNu64, d, &n) != 2 || !kiln_digest_valid(d) ||
	    !img_store_has_blob(s, d))
		return -1;
	memcpy(digest, d, KILN_DIGEST_LEN);
	*size = n;
	return 0;
}

int img_layer_compressed(struct img_store *s, const struct img_layer *in, enum img_compression to,
                         struct img_layer *out, struct kiln_err *err)
{
	return img_layer_compressed_stream(s, in, to, out, NULL, NULL, NULL, err);
}

int img_layer_compressed_stream(struct img_store *s, const struct img_layer *in,
                                enum img_compression to, struct img_layer *out, img_chunk_fn fn,
                                void *ud, bool *streamed, struct kiln_err *err)
{
	memset(out, 0, sizeof(*out));
	if (streamed)
		*streamed = false;
	if (!kiln_digest_valid(in->diff_id))
		return kiln_err_set(err, KILN_E_INVALID, "invalid diffID `%s`", in->diff_id);
	_cleanup_free_ char *path = mapping_path(s, in->diff_id, to);
	if (mapping_read(s, path, out->digest, &out->size) == 0) {
		memcpy(out->diff_id, in->diff_id, KILN_DIGEST_LEN);
		out->media_type = xstrdup(img_compression_media_type(to));
		return 0;
	}
	enum img_compression have = IMG_COMPRESS_GZIP;
	if (in->media_type && img_compression_from_media_type(in->media_type, &have, NULL) < 0)
		have = IMG_COMPRESS_GZIP;
	if (to == IMG_COMPRESS_GZIP && have == IMG_COMPRESS_NONE) {
		/* an uncompressed blob is its own diffID: gzip it on every core */
		if (img_pgzip_blob(s, in->digest, fn, ud, out->digest, &out->size, err) < 0)
			return kiln_err_wrap(err, "compressing layer %s", in->diff_id);
		if (streamed)
			*streamed = fn != NULL;
		memcpy(out->diff_id, in->diff_id, KILN_DIGEST_LEN);
		out->media_type = xstrdup(IMG_MT_LAYER_GZIP);
	} else if (img_layer_recompress(s, in, to, out, err) < 0) {
		return -1;
	}
	_cleanup_free_ char *dir = kiln_path_join(s->root, COMPRESSED_DIR);
	_cleanup_free_ char *line = xasprintf("%s %" PRIu64 "\n", out->digest, out->size);
	if (kiln_mkdir_p(dir, 0700, err) < 0 ||
	    kiln_write_file_atomic(path, line, strlen(line), 0644, err) < 0) {
		img_layer_release(out);
		return kiln_err_wrap(err, "remembering the compressed layer %s", in->diff_id);
	}
	return 0;
}

void img_compressed_mark(struct img_store *s, const struct kiln_strv *live_diff_hex,
                         struct kiln_strv *blobs)
{
	_cleanup_free_ char *dir = kiln_path_join(s->root, COMPRESSED_DIR);
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		const char *dot = strchr(de->d_name, '.');
		if (de->d_name[0] == '.' || !dot)
			continue;
		_cleanup_free_ char *hex = xstrndup(de->d_name, (size_t)(dot - de->d_name));
		_cleanup_free_ char *p = kiln_path_join(dir, de->d_name);
		char digest[KILN_DIGEST_LEN];
		uint64_t size;
		bool live = kiln_strv_contains(live_diff_hex, hex);
		if (live && mapping_read(s, p, digest, &size) == 0) {
			if (!kiln_strv_contains(blobs, digest))
				kiln_strv_push(blobs, digest);
		} else if (!live || !kiln_path_exists(p)) {
			unlinkat(dirfd(d), de->d_name, 0);
		}
	}
}
