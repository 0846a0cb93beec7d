/* OCI / Docker JSON types: round trips, canonical output, unknown fields
 * kept, BuildKit compatibility goldens and the OCI image-spec examples. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "tap.h"

static char *slurp(const char *path, size_t *len)
{
	char *data = NULL;
	if (kiln_read_file(path, IMG_MAX_JSON, &data, len, NULL) < 0)
		return NULL;
	return data;
}

static void check_config_file(const char *path)
{
	size_t len, l1, l2;
	_cleanup_free_ char *data = slurp(path, &len);
	struct kiln_err err = KILN_ERR_INIT;
	struct img_config *c = NULL, *c2 = NULL;
	if (!T_OK(data && img_config_from_json(data, len, &c, &err) == 0, "config parses: %s",
	          path)) {
		tap_diag("%s", err.msg);
		kiln_err_release(&err);
		return;
	}
	char *j1 = img_config_to_json(c, &l1);
	T_OK(img_config_from_json(j1, l1, &c2, &err) == 0, "re-serialized config parses");
	char *j2 = c2 ? img_config_to_json(c2, &l2) : NULL;
	T_STREQ(j2, j1, "config re-serialization is stable: %s", path);
	T_OK(c->n_diff_ids > 0 && c->os, "config has diff_ids and os");
	/* unknown fields (container_config, docker_version, Hostname) survive */
	if (strstr(data, "\"docker_version\""))
		T_OK(strstr(j1, "\"docker_version\"") && strstr(j1, "\"container_config\"") &&
		         strstr(j1, "\"Hostname\""),
		     "unknown config fields are kept");
	free(j1);
	free(j2);
	img_config_free(c);
	img_config_free(c2);
}

static void check_manifest_file(const char *path)
{
	size_t len, l1, l2;
	_cleanup_free_ char *data = slurp(path, &len);
	struct kiln_err err = KILN_ERR_INIT;
	struct img_manifest *m = NULL, *m2 = NULL;
	if (!T_OK(data && img_manifest_from_json(data, len, &m, &err) == 0, "manifest parses: %s",
	          path)) {
		tap_diag("%s", err.msg);
		kiln_err_release(&err);
		return;
	}
	T_OK(m->n_layers > 0 && m->config.digest, "manifest has config and layers");
	char *j1 = img_manifest_to_json(m, &l1);
	T_OK(img_manifest_from_json(j1, l1, &m2, &err) == 0, "re-serialized manifest parses");
	char *j2 = m2 ? img_manifest_to_json(m2, &l2) : NULL;
	T_STREQ(j2, j1, "manifest round trip is stable");
	free(j1);
	free(j2);
	img_manifest_free(m);
	img_manifest_free(m2);
}

static int walk(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *p = kiln_path_join(dir, de->d_name);
		if (de->d_type == DT_DIR && depth < 6)
			n += walk(p, depth + 1);
		else if (!strcmp(de->d_name, "config.json") && ++n)
			check_config_file(p);
		else if (!strcmp(de->d_name, "manifest.json") && ++n)
			check_manifest_file(p);
		free(p);
	}
	closedir(d);
	return n;
}

static void oci_examples(const char *dir)
{
	_cleanup_free_ char *tsv = kiln_path_join(dir, "INDEX.tsv");
	size_t len;
	_cleanup_free_ char *data = slurp(tsv, &len);
	if (!T_OK(data != NULL, "OCI examples INDEX.tsv readable"))
		return;
	char *save = NULL;
	for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char file[128], mt[128];
		if (sscanf(line, "%127[^\t]\t%*[^\t]\t%127[^\t]", file, mt) != 2 ||
		    !strcmp(file, "file"))
			continue;
		char *p = kiln_path_join(dir, file);
		size_t l;
		char *j = slurp(p, &l);
		struct kiln_err err = KILN_ERR_INIT;
		int r = 0;
		bool known = true;
		if (!strcmp(mt, IMG_MT_OCI_MANIFEST)) {
			struct img_manifest *m = NULL;
			r = img_manifest_from_json(j, l, &m, &err);
			img_manifest_free(m);
		} else if (!strcmp(mt, IMG_MT_OCI_INDEX)) {
			struct img_index *x = NULL;
			r = img_index_from_json(j, l, &x, &err);
			img_index_free(x);
		} else if (!strcmp(mt, IMG_MT_OCI_CONFIG)) {
			struct img_config *c = NULL;
			r = img_config_from_json(j, l, &c, &err);
			if (r == 0)
				T_STREQ(c->config.user, "alice", "config-01 user");
			img_config_free(c);
		} else {
			known = false;
		}
		if (known && !T_OK(j && r == 0, "OCI example %s parses as %s", file, mt))
			tap_diag("%s", err.msg);
		kiln_err_release(&err);
		free(j);
		free(p);
	}
}

static void canonical_output(void)
{
	const char *in = "{\"os\":\"linux\",\"zzz\":1,\"architecture\":\"amd64\","
	                 "\"config\":{\"Cmd\":[\"sh\",\"-c\",\"a<b && c>d\"],\"Env\":[\"A=1\"],"
	                 "\"Labels\":{\"b\":\"2\",\"a\":\"1\"},\"ExposedPorts\":{\"80/tcp\":{},"
	                 "\"443/tcp\":{}},\"User\":\"u\",\"Healthcheck\":{\"Test\":[\"CMD\","
	                 "\"true\"],\"Interval\":1000000000,\"Retries\":3},\"Custom\":true},"
	                 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},"
	                 "\"history\":[{\"created_by\":\"x\",\"empty_layer\":true}]}";
	const char *want =
	    "{\"architecture\":\"amd64\",\"config\":{\"User\":\"u\",\"ExposedPorts\":{\"443/"
	    "tcp\":{},"
	    "\"80/tcp\":{}},\"Env\":[\"A=1\"],\"Cmd\":[\"sh\",\"-c\",\"a\\u003cb \\u0026\\u0026 "
	    "c\\u003ed\"],\"Labels\":{\"a\":\"1\",\"b\":\"2\"},\"Healthcheck\":{\"Test\":[\"CMD\","
	    "\"true\"],\"Interval\":1000000000,\"Retries\":3},\"Custom\":true},\"history\":[{"
	    "\"created_by\":\"x\",\"empty_layer\":true}],\"os\":\"linux\",\"rootfs\":{\"type\":"
	    "\"layers\",\"diff_ids\":[]},\"zzz\":1}";
	struct img_config *c = NULL;
	struct kiln_err err = KILN_ERR_INIT;
	T_OK(img_config_from_json(in, strlen(in), &c, &err) == 0, "hand-written config parses");
	size_t l;
	char *out = c ? img_config_to_json(c, &l) : NULL;
	T_STREQ(out, want, "canonical key order, sorted maps, Go escaping, unknowns kept");
	free(out);
	if (c) {
		T_STREQ(img_map_get(&c->config.labels, "b"), "2", "labels map");
		T_INTEQ(c->config.healthcheck->retries, 3, "healthcheck retries");
		T_OK(c->history[0].empty_layer, "history empty_layer");
		struct img_config *d = img_config_dup(c);
		char *o1 = img_config_to_json(c, NULL), *o2 = img_config_to_json(d, NULL);
		T_STREQ(o2, o1, "dup is identical");
		free(o1);
		free(o2);
		img_config_free(d);
	}
	img_config_free(c);

	const char *bad[] = {"[]", "{\"config\":{\"Env\":\"x\"}}",
	                     "{\"rootfs\":{\"diff_ids\":[1]}}", "{", "{\"history\":[1]}"};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(bad); i++) {
		T_OK(img_config_from_json(bad[i], strlen(bad[i]), &c, &err) < 0 &&
		         err.code == KILN_E_CORRUPT,
		     "bad config rejected: %s (%s)", bad[i], err.msg);
		kiln_err_release(&err);
	}
	const char *badm = "{\"schemaVersion\":1,\"config\":{}}";
	struct img_manifest *m = NULL;
	T_OK(img_manifest_from_json(badm, strlen(badm), &m, &err) < 0, "schemaVersion 1 rejected");
	kiln_err_release(&err);

	struct img_index *x = NULL;
	const char *idx =
	    "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" IMG_MT_OCI_MANIFEST
	    "\",\"digest\":\"sha256:"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
	    "\"size\":7,\"annotations\":{\"org.opencontainers.image.ref.name\":\"a:b\"},"
	    "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"},\"x-extra\":1}]}";
	T_OK(img_index_from_json(idx, strlen(idx), &x, &err) == 0, "index parses");
	if (x) {
		char *o = img_index_to_json(x, NULL);
		T_STREQ(o, idx, "index round trip is byte-identical");
		free(o);
		T_STREQ(x->manifests[0].platform->architecture, "amd64", "platform kept");
	}
	img_index_free(x);
}

int main(void)
{
	canonical_output();
	const char *conf = getenv("KILN_CONFORMANCE");
	_cleanup_free_ char *bk =
	    kiln_path_join(conf ? conf : "/nonexistent", "buildkit/client/testdata/compatibility");
	_cleanup_free_ char *oci =
	    kiln_path_join(conf ? conf : "/nonexistent", "oci/image-spec/examples");
	if (!kiln_path_exists(bk) && !kiln_path_exists(oci)) {
		if (tap_failed)
			return tap_done();
		printf("# %d passed before skipping\n", tap_n);
		tap_skip_all("conformance folders are absent ($KILN_CONFORMANCE)");
	}
	if (kiln_path_exists(bk))
		T_OK(walk(bk, 0) > 20, "BuildKit compatibility goldens found");
	if (kiln_path_exists(oci))
		oci_examples(oci);
	return tap_done();
}
