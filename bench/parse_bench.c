/* Parser throughput: concatenates the real-world corpus Dockerfiles until
 * the buffer holds about 50 MB, parses it, prints MB/s and peak RSS.
 *   parse_bench [CORPUS_DIR] [TARGET_MB]
 * CORPUS_DIR defaults to $KILN_CONFORMANCE/real-world (or
 * ../shared/conformance/real-world). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "common.h"
#include "parser.h"

static void collect(const char *dir, struct kiln_buf *one, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	if (!d || depth > 3) {
		if (d)
			closedir(d);
		return;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *p = kiln_path_join(dir, e->d_name);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			collect(p, one, depth + 1);
		} else if (!strcmp(e->d_name, "Dockerfile")) {
			char *data;
			size_t len;
			struct kiln_err err = KILN_ERR_INIT;
			struct df_ast ast;
			if (kiln_read_file(p, 1u << 24, &data, &len, &err) == 0) {
				/* Only files using the default escape can be concatenated. */
				if (df_parse(data, len, "Dockerfile", &ast, &err) == 0 &&
				    ast.escape == '\\')
					kiln_buf_add(one, data, len, NULL);
				df_ast_release(&ast);
				if (one->len && one->data[one->len - 1] != '\n')
					kiln_buf_addch(one, '\n', NULL);
				free(data);
			}
			kiln_err_release(&err);
		}
		free(p);
	}
	closedir(d);
}

/* Resident set size now, in MB (/proc/self/statm). */
static double rss_mb(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return (double)resident * 4096 / (1 << 20);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *conf = getenv("KILN_CONFORMANCE");
	char *dir = argc > 1 ? xstrdup(argv[1])
	                     : kiln_path_join(conf ? conf : "../shared/conformance", "real-world");
	size_t target = (argc > 2 ? (size_t)atol(argv[2]) : 50) << 20;
	struct kiln_buf one, all;
	kiln_buf_init(&one, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_init(&all, KILN_BUF_NOLIMIT, NULL);
	collect(dir, &one, 0);
	if (!one.len) {
		fprintf(stderr, "parse_bench: no Dockerfiles under %s\n", dir);
		return 1;
	}
	/* Directives are only read at the top; later copies parse as comments. */
	size_t copies = 0;
	while (all.len < target) {
		kiln_buf_add(&all, one.data, one.len, NULL);
		copies++;
	}

	struct df_ast ast;
	struct kiln_err err = KILN_ERR_INIT;
	double rss0 = rss_mb();
	double t0 = now();
	int r = df_parse(all.data, all.len, "Dockerfile", &ast, &err);
	double t1 = now();
	if (r < 0) {
		fprintf(stderr, "parse_bench: %s\n", err.msg);
		return 1;
	}
	double rss1 = rss_mb();
	char *dump = df_ast_dump(&ast);
	double t2 = now();
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double mb = (double)all.len / (1 << 20);
	printf("input: %zu Dockerfile bytes x %zu copies = %.1f MB, %zu instructions\n", one.len,
	       copies, mb, ast.n_nodes);
	printf("parse: %.3f s, %.1f MB/s\n", t1 - t0, mb / (t1 - t0));
	printf("dump:  %.3f s, %.1f MB/s\n", t2 - t1, mb / (t2 - t1));
	printf("RSS: %.1f MB with the input, %.1f MB after parsing (AST: %.1f MB, %.2fx the "
	       "input)\n",
	       rss0, rss1, rss1 - rss0, (rss1 - rss0) / mb);
	printf("peak RSS: %.1f MB (input, AST and dump)\n", (double)ru.ru_maxrss / 1024);
	free(dump);
	df_ast_release(&ast);
	kiln_buf_release(&one);
	kiln_buf_release(&all);
	free(dir);
	return 0;
}
