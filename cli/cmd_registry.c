/* pull, push, login, logout, manifest inspect, search: thin clients over
 * registry/ that print docker's lines from its progress events. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "image.h"
#include "registry.h"

/* docker's output: one line per layer. On a terminal each layer keeps its
 * line and is redrawn in place (cursor up, clear, print, cursor down);
 * otherwise every status change is a new line and progress is not shown. */
struct printer {
	bool quiet, tty;
	struct kiln_strv ids; /* layers in the order their lines were printed */
	FILE *out;            /* stdout; stderr for the pulls of run and create */
	char *status;         /* the last status line (push -a prints it once) */
};

static void layer_line(struct printer *p, const char *id, const char *text)
{
	if (!id || !*id) {
		if (!p->tty)
			return;
		id = "";
	}
	size_t i = 0;
	while (i < p->ids.n && strcmp(p->ids.v[i], id))
		i++;
	if (!p->tty || i == p->ids.n) {
		if (p->tty)
			kiln_strv_push(&p->ids, id);
		fprintf(p->out, "%s: %s\n", id, text);
	} else {
		size_t up = p->ids.n - i;
		fprintf(p->out, "\033[%zuA\r\033[2K%s: %s\r\033[%zuB", up, id, text, up);
	}
	fflush(p->out);
}

static void human(uint64_t n, char *buf, size_t sz)
{
	if (n < 1000)
		snprintf(buf, sz, "%lluB", (unsigned long long)n);
	else if (n < 1000 * 1000)
		snprintf(buf, sz, "%.4gkB", n / 1e3);
	else if (n < 1000ull * 1000 * 1000)
		snprintf(buf, sz, "%.4gMB", n / 1e6);
	else
		snprintf(buf, sz, "%.4gGB", n / 1e9);
}

/* docker's progress bar: [=====>      ] 12.3MB/45.6MB */
static void bar(const struct reg_event *ev, char *out, size_t sz)
{
	char cur[32], tot[32], b[51];
	int filled = ev->total ? (int)(50 * ev->current / ev->total) : 0;
	for (int i = 0; i < 50; i++)
		b[i] = i < filled ? '=' : i == filled ? '>' : ' ';
	b[50] = '\0';
	human(ev->current, cur, sizeof(cur));
	human(ev->total, tot, sizeof(tot));
	snprintf(out, sz, "[%s]  %s/%s", b, cur, tot);
}

static void on_event(const struct reg_event *ev, void *ud)
{
	struct printer *p = ud;
	if (p->quiet)
		return;
	const char *what = NULL;
	char line[200];
	switch (ev->kind) {
	case REG_EV_STATUS:
		if (!p->status || strcmp(p->status, ev->detail))
			fprintf(p->out, "%s\n", ev->detail);
		free(p->status);
		p->status = xstrdup(ev->detail);
		return;
	case REG_EV_LAYER_WAIT: what = "Pulling fs layer"; break;
	case REG_EV_LAYER_EXISTS: what = "Already exists"; break;
	case REG_EV_DOWNLOADING:
	case REG_EV_PUSHING: {
		if (!p->tty || !ev->id[0])
			return;
		char b[160];
		bar(ev, b, sizeof(b));
		snprintf(line, sizeof(line), "%s %s",
		         ev->kind == REG_EV_PUSHING ? "Pushing" : "Downloading", b);
		what = line;
		break;
	}
	case REG_EV_VERIFYING: what = "Verifying Checksum"; break;
	case REG_EV_DOWNLOAD_COMPLETE: what = "Download complete"; break;
	case REG_EV_EXTRACTING: return;
	case REG_EV_PULL_COMPLETE: what = "Pull complete"; break;
	case REG_EV_RETRYING: return;
	case REG_EV_PUSH_PREPARING: what = "Preparing"; break;
	case REG_EV_PUSH_WAITING: what = "Waiting"; break;
	case REG_EV_PUSHED: what = "Pushed"; break;
	case REG_EV_PUSH_EXISTS: what = "Layer already exists"; break;
	case REG_EV_MOUNTED:
		snprintf(line, sizeof(line), "Mounted from %s", ev->detail);
		what = line;
		break;
	}
	layer_line(p, ev->id, what);
}

/* docker's closing line of a pull */
static void print_status(FILE *out, bool updated, const char *ref)
{
	_cleanup_free_ char *fam = img_ref_familiarize(ref);
	fprintf(out, "Status: %s for %s\n",
	        updated ? "Downloaded newer image" : "Image is up to date", fam);
}

int kiln_pull_for_run(struct kiln_ctx *ctx, const char *image, const char *policy,
                      struct kiln_err *err)
{
	enum reg_pull_policy pol;
	if (reg_pull_policy_parse(policy, &pol, err) < 0)
		return -1;
	struct printer pr = {false, isatty(2), KILN_STRV_INIT, stderr, NULL};
	struct reg_pull_result res;
	int r = reg_pull_by_policy(ctx->store, image, pol, NULL, on_event, &pr, &res, err);
	if (r == 1) {
		fprintf(stderr, "Digest: %s\n", res.digest);
		print_status(stderr, res.updated, res.ref);
		reg_pull_result_release(&res);
	}
	kiln_strv_release(&pr.ids);
	free(pr.status);
	return r < 0 ? -1 : 0;
}

static int platform_check(const char *platform, struct kiln_err *err)
{
	if (platform && !strchr(platform, '/'))
		return kiln_err_set(err, KILN_E_USAGE, "invalid platform `%s`: want os/arch",
		                    platform);
	return 0;
}

int cmd_pull(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool quiet = false, all = false;
	const char *platform = NULL;
	struct kiln_strv insecure = KILN_STRV_INIT;
	const struct kiln_opt opts[] = {
	    OPT_BOOL('a', "all-tags", &all, "Download all tagged images in the repository"),
	    OPT_STRV(0, "insecure-registry", &insecure, "list",
	             "Registry to reach over plain HTTP or without TLS verification"),
	    OPT_STRING(0, "platform", &platform, "string",
	               "Set platform if server is multi-platform capable"),
	    OPT_BOOL('q', "quiet", &quiet, "Suppress verbose output"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] NAME[:TAG|@DIGEST]",
	                                 "Download an image from a registry", 1, 1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct kiln_err err = KILN_ERR_INIT;
	if (platform_check(platform, &err) < 0) {
		kiln_strv_release(&insecure);
		kiln_err_move(&ctx->err, &err);
		return 125;
	}
	struct reg_opts o = {.platform = platform, .insecure = insecure.v};
	struct printer pr = {quiet, isatty(1), KILN_STRV_INIT, stdout, NULL};
	struct kiln_strv refs = KILN_STRV_INIT, tags = KILN_STRV_INIT;
	int r = 0;
	struct img_ref given;
	bool ref_ok = img_ref_parse(argv[1], 0, &given, NULL) == 0;
	if (ref_ok) {
		if (!all && !quiet && !given.tag && !given.digest)
			printf("Using default tag: %s\n", IMG_DEFAULT_TAG);
		img_ref_release(&given);
	}
	if (all) {
		r = reg_list_tags(argv[1], &o, &tags, &err);
		for (size_t i = 0; r == 0 && i < tags.n; i++)
			kiln_strv_pushf(&refs, "%s:%s", argv[1], tags.v[i]);
	} else {
		kiln_strv_push(&refs, argv[1]);
	}
	bool updated = false, started = false;
	char *last = NULL;
	for (size_t i = 0; r == 0 && i < refs.n; i++) {
		struct reg_pull_result res;
		r = reg_pull(ctx->store, refs.v[i], &o, on_event, &pr, &res, &err);
		started |= res.started;
		if (r < 0)
			break;
		if (!quiet)
			printf("Digest: %s\n", res.digest);
		updated |= res.updated;
		free(last);
		last = xstrdup(res.ref);
		reg_pull_result_release(&res);
	}
	kiln_strv_release(&insecure);
	kiln_strv_release(&pr.ids);
	free(pr.status);
	kiln_strv_release(&refs);
	kiln_strv_release(&tags);
	if (r < 0) {
		free(last);
		/* docker's daemon answers an error before its stream began (the
		 * manifest) with an HTTP error, the CLI prints its prefix; later
		 * ones travel in the stream and are printed bare */
		if (ref_ok)
			ctx->err_prefix = started ? "" : "Error response from daemon: ";
		if (err.code == KILN_E_USAGE) {
			kiln_err_move(&ctx->err, &err);
			return 125;
		}
		return kiln_cmd_fail(ctx, &err);
	}
	if (last && all) { /* docker names the repository after -a */
		char *colon = strrchr(last, ':');
		if (colon && !strchr(colon, '/'))
			*colon = '\0';
	}
	if (!quiet && last)
		print_status(stdout, updated, last);
	if (last)
		printf("%s\n", last);
	free(last);
	return 0;
}

/* The references push -a pushes: every local tag of repository arg (no
 * tag or digest allowed, as docker), sorted; else arg alone, after docker's
 * default-tag line when it names no tag. */
static int push_refs(struct kiln_ctx *ctx, const char *arg, bool all, bool quiet,
                     struct kiln_strv *refs, struct kiln_err *err)
{
	struct img_ref r;
	if (img_ref_parse(arg, 0, &r, NULL) < 0) { /* reg_push names the error */
		kiln_strv_push(refs, arg);
		return 0;
	}
	bool tagged = r.tag || r.digest;
	_cleanup_free_ char *name = img_ref_name(&r);
	img_ref_release(&r);
	if (!all) {
		if (!tagged && !quiet)
			printf("Using default tag: %s\n", IMG_DEFAULT_TAG);
		kiln_strv_push(refs, arg);
		return 0;
	}
	if (tagged)
		return kiln_err_set(err, 0, "tag can't be used with --all-tags/-a");
	struct img_image **v = NULL;
	size_t n = 0, len = strlen(name);
	if (img_image_list(ctx->store, &v, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		for (size_t t = 0; t < v[i]->n_repo_tags; t++) {
			const char *tag = v[i]->repo_tags[t];
			if (!strncmp(tag, name, len) && tag[len] == ':' && !strchr(tag + len, '/'))
				kiln_strv_pushf(refs, "%s%s", arg, tag + len);
		}
	img_image_list_free(v, n);
	kiln_strv_sort(refs);
	if (!refs->n)
		return kiln_err_set(err, KILN_E_NOTFOUND,
		                    "An image does not exist locally with the tag: %s", arg);
	return 0;
}

int cmd_push(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool quiet = false, all = false;
	const char *compression = "gzip";
	struct kiln_strv insecure = KILN_STRV_INIT;
	const struct kiln_opt opts[] = {
	    OPT_BOOL('a', "all-tags", &all, "Push all tagged images in the repository"),
	    OPT_STRING(0, "compression", &compression, "string",
	               "Compression of local uncompressed layers: gzip (default), zstd or none"),
	    OPT_STRV(0, "insecure-registry", &insecure, "list",
	             "Registry to reach over plain HTTP or without TLS verification"),
	    OPT_BOOL('q', "quiet", &quiet, "Suppress verbose output"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] NAME[:TAG]", "Upload an image to a registry", 1,
	                                 1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct kiln_err err = KILN_ERR_INIT;
	struct reg_opts o = {.insecure = insecure.v};
	if (img_compression_parse(compression, &o.compression, &err) < 0) {
		kiln_strv_release(&insecure);
		kiln_err_move(&ctx->err, &err);
		ctx->err.code = KILN_E_USAGE;
		return 125;
	}
	struct printer pr = {quiet, isatty(1), KILN_STRV_INIT, stdout, NULL};
	struct kiln_strv refs = KILN_STRV_INIT;
	int r = push_refs(ctx, argv[1], all, quiet, &refs, &err);
	bool started = false;
	for (size_t i = 0; r == 0 && i < refs.n; i++) {
		struct reg_push_result res;
		r = reg_push(ctx->store, refs.v[i], &o, on_event, &pr, &res, &err);
		started |= res.started;
		if (r == 0 && !quiet)
			printf("%s: digest: %s size: %lld\n", res.tag, res.digest,
			       (long long)res.size);
		else if (r == 0)
			printf("%s\n", refs.v[i]);
		if (r == 0)
			reg_push_result_release(&res);
	}
	kiln_strv_release(&insecure);
	kiln_strv_release(&pr.ids);
	free(pr.status);
	if (r < 0 && (started || refs.n == 0)) /* docker prints these bare */
		ctx->err_prefix = "";
	kiln_strv_release(&refs);
	return r < 0 ? kiln_cmd_fail(ctx, &err) : 0;
}

/* The password from -p or stdin; never echoed, never in an error message. */
static char *read_password_stdin(struct kiln_err *err)
{
	char *data = NULL;
	size_t len = 0;
	if (kiln_read_fd(0, 64 * 1024, "password", &data, &len, err) < 0)
		return NULL;
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		data[--len] = '\0';
	return data;
}

int cmd_login(int argc, char **argv, struct kiln_ctx *ctx)
{
	const char *user = NULL, *pass = NULL;
	bool pass_stdin = false;
	const struct kiln_opt opts[] = {
	    OPT_STRING('p', "password", &pass, "string", "Password"),
	    OPT_BOOL(0, "password-stdin", &pass_stdin, "Take the password from stdin"),
	    OPT_STRING('u', "username", &user, "string", "Username"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] [SERVER]",
	                                 "Log in to a container registry (defaults to Docker Hub)",
	                                 0, 1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct kiln_err err = KILN_ERR_INIT;
	if (pass && pass_stdin)
		return kiln_err_set(&ctx->err, KILN_E_USAGE,
		                    "--password and --password-stdin are mutually exclusive"),
		       125;
	if (pass_stdin && !user)
		return kiln_err_set(&ctx->err, KILN_E_USAGE,
		                    "Must provide --username with --password-stdin"),
		       125;
	if (!user || (!pass && !pass_stdin))
		return kiln_err_set(&ctx->err, 0,
		                    "Cannot perform an interactive login from a non TTY device"),
		       1;
	if (pass && !pass_stdin)
		fprintf(stderr, "WARNING! Using --password via the CLI is insecure. Use "
		                "--password-stdin.\n");
	char *pw = pass_stdin ? read_password_stdin(&err) : xstrdup(pass);
	if (!pw)
		return kiln_cmd_fail(ctx, &err);
	struct reg_opts o = {0};
	_cleanup_free_ char *plain = NULL;
	int r = reg_login(argc > 1 ? argv[1] : NULL, user, pw, &o, &plain, &err);
	memset(pw, 0, strlen(pw));
	free(pw);
	if (r < 0)
		return kiln_cmd_fail(ctx, &err);
	if (plain) /* docker 20.10's words */
		fprintf(stderr,
		        "WARNING! Your password will be stored unencrypted in %s.\n"
		        "Configure a credential helper to remove this warning. See\n"
		        "https://docs.docker.com/engine/reference/commandline/login/"
		        "#credentials-store\n\n",
		        plain);
	printf("Login Succeeded\n");
	return 0;
}

int cmd_logout(int argc, char **argv, struct kiln_ctx *ctx)
{
	const struct kiln_opt opts[] = {OPT_END};
	const struct kiln_usage usage = {
	    "[SERVER]", "Log out from a container registry (defaults to Docker Hub)", 0, 1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct kiln_err err = KILN_ERR_INIT;
	struct reg_opts o = {0};
	_cleanup_free_ char *key = reg_server_key(argc > 1 ? argv[1] : NULL);
	int r = reg_logout(argc > 1 ? argv[1] : NULL, &o, &err);
	if (r < 0 && err.code == KILN_E_NOTFOUND) /* docker 20.10 says the same then */
		kiln_err_release(&err), r = 0;
	if (r < 0)
		return kiln_cmd_fail(ctx, &err);
	printf("Removing login credentials for %s\n", key);
	return 0;
}

int cmd_manifest_inspect(int argc, char **argv, struct kiln_ctx *ctx)
{
	struct kiln_strv insecure = KILN_STRV_INIT;
	bool ins = false;
	const struct kiln_opt opts[] = {
	    OPT_BOOL(0, "insecure", &ins, "Allow communication with an insecure registry"),
	    OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] [MANIFEST_LIST] MANIFEST",
	                                 "Display an image manifest, or manifest list", 1, 1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct kiln_err err = KILN_ERR_INIT;
	struct img_ref ref;
	if (ins && img_ref_parse(argv[1], 0, &ref, NULL) == 0) {
		kiln_strv_push(&insecure, ref.domain);
		img_ref_release(&ref);
	}
	struct reg_opts o = {.insecure = insecure.v};
	char *data = NULL, *mt = NULL;
	size_t len = 0;
	int r = reg_manifest_fetch(argv[1], &o, &data, &len, &mt, &err);
	kiln_strv_release(&insecure);
	if (r < 0)
		return kiln_cmd_fail(ctx, &err);
	fwrite(data, 1, len, stdout);
	if (len && data[len - 1] != '\n')
		putchar('\n');
	free(data);
	free(mt);
	return 0;
}

int cmd_search(int argc, char **argv, struct kiln_ctx *ctx)
{
	const struct kiln_opt opts[] = {OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] [REGISTRY/]TERM",
	                                 "Search a registry's catalog for images", 1, 1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct kiln_err err = KILN_ERR_INIT;
	const char *slash = strchr(argv[1], '/');
	_cleanup_free_ char *reg = slash ? xstrndup(argv[1], (size_t)(slash - argv[1])) : NULL;
	const char *term = slash ? slash + 1 : argv[1];
	struct kiln_strv names = KILN_STRV_INIT;
	struct reg_opts o = {0};
	if (reg_search(reg, term, &o, &names, &err) < 0)
		return kiln_cmd_fail(ctx, &err);
	printf("%-46s %-45s %-6s %-9s %s\n", "NAME", "DESCRIPTION", "STARS", "OFFICIAL",
	       "AUTOMATED");
	for (size_t i = 0; i < names.n; i++)
		printf("%-46s %-45s %-6s %-9s %s\n", names.v[i], "", "0", "", "");
	kiln_strv_release(&names);
	return 0;
}
