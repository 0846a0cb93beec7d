/* Image metadata speed: listing, lookup, tag and untag over a store of N
 * images (each its own config, tagged bench/img:I), or of one image with N
 * tags (bench/tags:I: issue 16 measured 27 s for `images` at 10,000).
 *   images_bench STORE N         populates STORE (if it has fewer images),
 *                                then prints milliseconds per operation
 *   images_bench STORE N tags    the same with one image tagged N times
 * Time `kiln images` against the same store with KILN_ROOT=STORE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int populate(struct img_store *s, size_t have, size_t n, struct kiln_err *err)
{
	for (size_t i = have; i < n; i++) {
		struct img_config *c = img_config_new();
		c->architecture = xstrdup("amd64");
		c->os = xstrdup("linux");
		c->created = xasprintf("2024-01-01T00:%02zu:%02zuZ", i / 60 % 60, i % 60);
		c->has_config = true;
		char *label = xasprintf("%zu", i);
		img_map_set(&c->config.labels, "bench", label);
		free(label);
		char *ref = xasprintf("bench/img:%zu", i);
		const char *refs[] = {ref};
		char id[KILN_DIGEST_LEN];
		int r = img_image_commit(s, c, NULL, 0, refs, 1, id, err);
		free(ref);
		img_config_free(c);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* One image tagged bench/tags:0 .. N-1, committed in one go. */
static int populate_tags(struct img_store *s, size_t n, struct kiln_err *err)
{
	struct img_config *c = img_config_new();
	c->architecture = xstrdup("amd64");
	c->os = xstrdup("linux");
	c->created = xstrdup("2024-01-01T00:00:00Z");
	char **refs = xcalloc(n + 1, sizeof(*refs));
	for (size_t i = 0; i < n; i++)
		refs[i] = xasprintf("bench/tags:%zu", i);
	char id[KILN_DIGEST_LEN];
	int r = img_image_commit(s, c, NULL, 0, (const char *const *)refs, n, id, err);
	kiln_strv_free(refs);
	img_config_free(c);
	return r;
}

int main(int argc, char **argv)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct img_store *s = NULL;
	bool tags = argc == 4 && !strcmp(argv[3], "tags");
	if ((argc != 3 && !tags) || img_store_open(argv[1], &s, &err) < 0) {
		fprintf(stderr, "usage: images_bench STORE N [tags]%s%s\n", err.msg ? ": " : "",
		        err.msg ? err.msg : "");
		return 2;
	}
	size_t n = strtoul(argv[2], NULL, 10), have = 0;
	struct img_image **v = NULL;
	int r = img_image_list(s, &v, &have, &err);
	if (r == 0) {
		size_t ntags = have ? v[0]->n_repo_tags : 0;
		img_image_list_free(v, have);
		r = !tags ? populate(s, have, n, &err) : ntags < n ? populate_tags(s, n, &err) : 0;
	}
	const char *first = tags ? "bench/tags:0" : "bench/img:0";
	const char *second = tags ? "bench/tags:1" : "bench/img:1";
	double t0 = now_ms();
	for (int i = 0; r == 0 && i < 5; i++) {
		r = img_image_list(s, &v, &have, &err);
		if (r == 0)
			img_image_list_free(v, have);
	}
	double t1 = now_ms();
	struct img_image *img = NULL;
	for (int i = 0; r == 0 && i < 5; i++) {
		r = img_image_load(s, first, &img, &err);
		img_image_free(img);
		img = NULL;
	}
	double t2 = now_ms();
	for (int i = 0; r == 0 && i < 5; i++)
		r = img_store_tag(s, second, "bench/extra:x", &err);
	double t3 = now_ms();
	for (int i = 0; r == 0 && i < 5; i++) {
		r = img_store_untag(s, "bench/extra:x", false, NULL, &err);
		if (r == 0 && i + 1 < 5)
			r = img_store_tag(s, second, "bench/extra:x", &err);
	}
	double t4 = now_ms();
	if (r == 0)
		printf("%s=%zu list=%.2fms load=%.2fms tag=%.2fms untag+tag=%.2fms\n",
		       tags ? "tags" : "images", tags ? n : have, (t1 - t0) / 5, (t2 - t1) / 5,
		       (t3 - t2) / 5, (t4 - t3) / 5);
	else
		fprintf(stderr, "images_bench: %s\n", err.msg);
	kiln_err_release(&err);
	img_store_close(s);
	return r < 0;
}
