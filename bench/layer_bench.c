/* Driver for bench/layer_bench.sh: times nothing itself, just runs one
 * layer operation so hyperfine can time it.
 *   layer_bench create STORE DIR none|gzip|zstd   prints the blob digest
 *   layer_bench extract STORE DIGEST TARGET */
#include <stdio.h>
#include <string.h>

#include "image.h"

int main(int argc, char **argv)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct img_store *s = NULL;
	if (argc != 5 || img_store_open(argv[2], &s, &err) < 0) {
		fprintf(stderr,
		        "usage: layer_bench create STORE DIR none|gzip|zstd | extract STORE "
		        "DIGEST TARGET%s%s\n",
		        err.msg ? ": " : "", err.msg ? err.msg : "");
		return 2;
	}
	int r;
	if (!strcmp(argv[1], "create")) {
		struct img_layer_opts o = {IMG_COMPRESS_NONE, false, -1};
		struct img_layer l = {0};
		r = img_compression_parse(argv[4], &o.compression, &err);
		if (r == 0)
			r = img_layer_create(s, argv[3], &o, &l, &err);
		if (r == 0)
			printf("%s %llu\n", l.digest, (unsigned long long)l.size);
		img_layer_release(&l);
	} else {
		r = img_layer_extract(s, argv[3], NULL, argv[4], IMG_EXTRACT_DEVICES, &err);
	}
	if (r < 0)
		fprintf(stderr, "layer_bench: %s\n", err.msg);
	kiln_err_release(&err);
	img_store_close(s);
	return r < 0;
}
