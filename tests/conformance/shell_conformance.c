/* Runs BuildKit's shell lexer vectors (shared/conformance/buildkit/shell/
 * envVarTest and wordsTest) against df_expand_word / df_expand_words,
 * exactly as FORMAT.md sections 6.1 and 6.2 describe. A Unix runner: W
 * lines are skipped. Data comes from $KILN_CONFORMANCE (set by ctest). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "parser.h"
#include "tap.h"

struct env {
	struct kiln_strv names, values;
};

static const char *env_lookup(void *ud, const char *name, size_t len)
{
	struct env *e = ud;
	for (size_t i = e->names.n; i-- > 0;)
		if (strlen(e->names.v[i]) == len && memcmp(e->names.v[i], name, len) == 0)
			return e->values.v[i];
	return NULL;
}

static void env_set(struct env *e, const char *name, const char *value)
{
	kiln_strv_push(&e->names, name);
	kiln_strv_push(&e->values, value);
}

static void env_release(struct env *e)
{
	kiln_strv_release(&e->names);
	kiln_strv_release(&e->values);
}

static char *read_all(const char *path)
{
	struct kiln_err err = KILN_ERR_INIT;
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct kiln_buf b;
	kiln_buf_init(&b, 1 << 24, path);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (kiln_buf_add(&b, chunk, n, &err) < 0)
			break;
	fclose(f);
	kiln_err_release(&err);
	return kiln_buf_detach(&b, NULL);
}

/* Trims ASCII whitespace (Go's strings.TrimSpace for these files) in place. */
static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n' || *s == '\v' || *s == '\f')
		s++;
	size_t n = strlen(s);
	while (n && strchr(" \t\r\n\v\f", s[n - 1]))
		s[--n] = '\0';
	return s;
}

static void run_envvar(const char *path)
{
	char *text = read_all(path);
	if (!text) {
		T_OK(0, "read %s", path);
		return;
	}
	struct env e = {KILN_STRV_INIT, KILN_STRV_INIT};
	env_set(&e, "PWD", "/home");
	env_set(&e, "SHELL", "bash");
	env_set(&e, "KOREAN", "한국어");
	env_set(&e, "NULL", "");
	int lineno = 0, skipped = 0;
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (line[0] == '#')
			continue;
		line = trim(line);
		if (!*line)
			continue;
		char *f1 = strchr(line, '|'), *f2 = f1 ? strchr(f1 + 1, '|') : NULL;
		if (!f1 || !f2 || strchr(f2 + 1, '|')) {
			T_OK(0, "envVarTest: malformed vector `%s`", line);
			continue;
		}
		*f1 = *f2 = '\0';
		char *plat = trim(line), *input = trim(f1 + 1), *want = trim(f2 + 1);
		if (strcmp(plat, "W") == 0) {
			skipped++;
			continue;
		}
		struct kiln_err err = KILN_ERR_INIT;
		char *got = NULL;
		int r = df_expand_word(input, '\\', 0, env_lookup, &e, &got, &err);
		if (strcmp(want, "error") == 0) {
			if (!T_OK(r < 0, "envVarTest %s: `%s` fails", plat, input))
				printf("#   got:  \"%s\"\n", got);
		} else if (r < 0) {
			T_OK(0, "envVarTest %s: `%s` -> `%s`", plat, input, want);
			printf("#   error: %s\n", err.msg);
		} else {
			T_STREQ(got, want, "envVarTest %s: `%s` -> `%s`", plat, input, want);
		}
		free(got);
		kiln_err_release(&err);
	}
	tap_diag("envVarTest: %d Windows-only vectors skipped", skipped);
	env_release(&e);
	free(text);
}

static char *join(const struct kiln_strv *sv)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; i < sv->n; i++) {
		if (i)
			kiln_buf_addch(&b, ',', NULL);
		kiln_buf_addstr(&b, sv->v[i], NULL);
	}
	return kiln_buf_detach(&b, NULL);
}

static void run_words(const char *path)
{
	char *text = read_all(path);
	if (!text) {
		T_OK(0, "read %s", path);
		return;
	}
	struct env e = {KILN_STRV_INIT, KILN_STRV_INIT};
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		if (strncmp(line, "ENV ", 4) == 0) {
			char *def = line + 3;
			while (*def == ' ')
				def++;
			char *eq = strchr(def, '=');
			if (!eq) {
				T_OK(0, "wordsTest: malformed ENV `%s`", line);
				continue;
			}
			*eq = '\0';
			env_set(&e, def, eq + 1);
			continue;
		}
		char *bar = strchr(line, '|');
		if (!bar || strchr(bar + 1, '|')) {
			T_OK(0, "wordsTest: malformed vector `%s`", line);
			continue;
		}
		*bar = '\0';
		char *input = trim(line), *want = bar + 1;
		while (*want == ' ')
			want++;
		/* The expected list is want split at every ','; comparing the
		 * joined result is equivalent as long as no word holds ','. */
		struct kiln_err err = KILN_ERR_INIT;
		struct kiln_strv got = KILN_STRV_INIT;
		bool has_comma = false;
		char *joined;
		if (df_expand_words(input, '\\', 0, env_lookup, &e, &got, &err) < 0) {
			joined = xstrdup("error");
		} else {
			for (size_t i = 0; i < got.n; i++)
				has_comma |= strchr(got.v[i], ',') != NULL;
			joined = join(&got);
		}
		if (has_comma)
			T_OK(0, "wordsTest: `%s` gives a word with ','", input);
		else
			T_STREQ(joined, want, "wordsTest: `%s` -> `%s`", input, want);
		if (err.msg)
			printf("#   error: %s\n", err.msg);
		free(joined);
		kiln_strv_release(&got);
		kiln_err_release(&err);
	}
	env_release(&e);
	free(text);
}

int main(void)
{
	const char *dir = getenv("KILN_CONFORMANCE");
	if (!dir || !*dir)
		tap_skip_all("KILN_CONFORMANCE is not set (run through ctest)");
	char *ev = xasprintf("%s/buildkit/shell/envVarTest", dir);
	char *wt = xasprintf("%s/buildkit/shell/wordsTest", dir);
	FILE *probe = fopen(ev, "rb");
	if (!probe) {
		printf("# no conformance data at %s\n", ev);
		free(ev);
		free(wt);
		tap_skip_all("shell vectors not found");
	}
	fclose(probe);
	run_envvar(ev);
	run_words(wt);
	free(ev);
	free(wt);
	return tap_done();
}
