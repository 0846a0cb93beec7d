/* Reference parsing: docker's distribution/reference grammar, normalization,
 * familiar forms and error messages. */
#include <string.h>

#include "image.h"
#include "tap.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* input, full normalized string (default tag added), familiar form */
static const char *const valid[][3] = {
    {"busybox", "docker.io/library/busybox:latest", "busybox:latest"},
    {"busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"},
    {"library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
    {"docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
    {"index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
    {"docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"},
    {"dmcgowan/myapp", "docker.io/dmcgowan/myapp:latest", "dmcgowan/myapp:latest"},
    {"dmcgowan/myapp/sub", "docker.io/dmcgowan/myapp/sub:latest", "dmcgowan/myapp/sub:latest"},
    {"docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest"},
    /* Shortening would make these name another registry: kept whole. */
    {"docker.io/my.reg/x", "docker.io/my.reg/x:latest", "docker.io/my.reg/x:latest"},
    {"docker.io/localhost/x", "docker.io/localhost/x:latest", "docker.io/localhost/x:latest"},
    {"myreg:5000/x/y:1", "myreg:5000/x/y:1", "myreg:5000/x/y:1"},
    {"localhost/foo", "localhost/foo:latest", "localhost/foo:latest"},
    {"localhost:5000/foo/bar:tag", "localhost:5000/foo/bar:tag", "localhost:5000/foo/bar:tag"},
    {"example.com/foo", "example.com/foo:latest", "example.com/foo:latest"},
    {"127.0.0.1:5000/foo", "127.0.0.1:5000/foo:latest", "127.0.0.1:5000/foo:latest"},
    {"[::1]:5000/foo", "[::1]:5000/foo:latest", "[::1]:5000/foo:latest"},
    {"[2001:db8::1]/foo:v1", "[2001:db8::1]/foo:v1", "[2001:db8::1]/foo:v1"},
    {"Foo/bar", "Foo/bar:latest", "Foo/bar:latest"},
    {"foo_bar.com:8080/x", "foo_bar.com:8080/x:latest", NULL}, /* invalid, see below */
    {"a.b-c_d__e/f--g", "a.b-c_d__e/f--g:latest", NULL},
    {"foo/bar__baz", "docker.io/foo/bar__baz:latest", "foo/bar__baz:latest"},
    {"foo/bar.baz-qux---x", "docker.io/foo/bar.baz-qux---x:latest", "foo/bar.baz-qux---x:latest"},
    {"busybox:UPPER_case.tag-1", "docker.io/library/busybox:UPPER_case.tag-1",
     "busybox:UPPER_case.tag-1"},
    {"busybox@sha256:" H64, "docker.io/library/busybox@sha256:" H64, "busybox@sha256:" H64},
    {"busybox:1@sha256:" H64, "docker.io/library/busybox:1@sha256:" H64, "busybox:1@sha256:" H64},
    {"myreg:5000/x@sha256:" H64, "myreg:5000/x@sha256:" H64, "myreg:5000/x@sha256:" H64},
    {"xn--n3h.com/a", "xn--n3h.com/a:latest", "xn--n3h.com/a:latest"},
    {"sha256", "docker.io/library/sha256:latest", "sha256:latest"},
};

/* input, exact error message */
static const char *const invalid[][2] = {
    {"", "invalid reference format"},
    {":", "invalid reference format"},
    {":tag", "invalid reference format"},
    {"busybox:", "invalid reference format"},
    {"Foo", "invalid reference format: repository name (library/Foo) must be lowercase"},
    {"foo/Bar", "invalid reference format: repository name (foo/Bar) must be lowercase"},
    {"myreg:5000/Upper:tag", "invalid reference format: repository name (Upper) must be lowercase"},
    {H64, "invalid repository name (" H64 "), cannot specify 64-byte hexadecimal strings"},
    {"foo..bar", "invalid reference format"},
    {"foo._bar", "invalid reference format"},
    {"-foo", "invalid reference format"},
    {"foo-", "invalid reference format"},
    {"foo//bar", "invalid reference format"},
    {"foo/", "invalid reference format"},
    {"foo bar", "invalid reference format"},
    {"foo:-tag", "invalid reference format"},
    {"foo:.tag", "invalid reference format"},
    {"foo:tag:tag", "invalid reference format"},
    {"foo@sha256:abc", "invalid reference format"},
    {"foo@sha256:" H64 "0", "invalid checksum digest length"},
    {"foo@sha256:0123456789abcdef0123456789abcdef", "invalid checksum digest length"},
    {"foo@md5:0123456789abcdef0123456789abcdef", "unsupported digest algorithm"},
    {"foo@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
     "invalid checksum digest format"},
    {"foo@", "invalid reference format"},
    {"-x.com/foo", "invalid reference format"},
    {"x.com:/foo", "invalid reference format"},
    {"x.com:80a/foo", "invalid reference format"},
    {"foo_bar.com:8080/x", "invalid reference format"},
    {"a.b-c_d__e/f--g", "invalid reference format"},
};

int main(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(valid); i++) {
		if (!valid[i][2])
			continue;
		struct img_ref r;
		int ok = img_ref_parse(valid[i][0], IMG_REF_DEFAULT_TAG, &r, &err) == 0;
		if (!T_OK(ok, "valid: %s", valid[i][0])) {
			tap_diag("error: %s", err.msg);
			kiln_err_release(&err);
			continue;
		}
		char *full = img_ref_string(&r), *fam = img_ref_familiar(&r);
		T_STREQ(full, valid[i][1], "normalized %s", valid[i][0]);
		T_STREQ(fam, valid[i][2], "familiar %s", valid[i][0]);
		char *fam2 = img_ref_familiarize(full);
		T_STREQ(fam2, valid[i][2], "familiarize(%s)", full);
		free(full);
		free(fam);
		free(fam2);
		img_ref_release(&r);
	}
	for (size_t i = 0; i < KILN_ARRAY_SIZE(invalid); i++) {
		struct img_ref r;
		int rc = img_ref_parse(invalid[i][0], IMG_REF_DEFAULT_TAG, &r, &err);
		T_OK(rc < 0 && err.code == KILN_E_INVALID, "invalid: \"%s\"", invalid[i][0]);
		if (rc == 0)
			img_ref_release(&r);
		else
			T_STREQ(err.msg, invalid[i][1], "message for \"%s\"", invalid[i][0]);
		kiln_err_release(&err);
	}

	/* tag length: 128 is the maximum */
	char tag[200] = "foo:";
	memset(tag + 4, 'a', 128);
	tag[132] = 0;
	struct img_ref r;
	T_OK(img_ref_parse(tag, 0, &r, &err) == 0, "128-char tag is valid");
	img_ref_release(&r);
	strcat(tag, "a");
	T_OK(img_ref_parse(tag, 0, &r, &err) < 0, "129-char tag is invalid");
	T_STREQ(err.msg, "invalid reference format", "129-char tag message");
	kiln_err_release(&err);

	/* name length: 255 total including the domain */
	char name[400];
	strcpy(name, "docker.io/x/");
	size_t n = strlen(name);
	memset(name + n, 'a', 255 - n);
	name[255] = 0;
	T_OK(img_ref_parse(name, 0, &r, &err) == 0, "255-char name is valid");
	img_ref_release(&r);
	strcat(name, "a");
	T_OK(img_ref_parse(name, 0, &r, &err) < 0, "256-char name is invalid");
	T_STREQ(err.msg, "repository name must not be more than 255 characters",
	        "name too long message");
	kiln_err_release(&err);

	/* parts */
	T_OK(img_ref_parse("localhost:5000/a/b:t@sha256:" H64, 0, &r, &err) == 0, "parse parts");
	T_STREQ(r.domain, "localhost:5000", "domain");
	T_STREQ(r.path, "a/b", "path");
	T_STREQ(r.tag, "t", "tag");
	T_STREQ(r.digest, "sha256:" H64, "digest");
	char *nm = img_ref_name(&r);
	T_STREQ(nm, "localhost:5000/a/b", "name");
	free(nm);
	img_ref_release(&r);
	T_OK(img_ref_parse("busybox", 0, &r, &err) == 0 && r.tag == NULL,
	     "no default tag without the flag");
	img_ref_release(&r);
	T_OK(img_ref_parse("busybox@sha256:" H64, IMG_REF_DEFAULT_TAG, &r, &err) == 0 &&
	         r.tag == NULL,
	     "no default tag with a digest");
	img_ref_release(&r);
	char *norm = img_ref_normalize("ubuntu", &err);
	T_STREQ(norm, "docker.io/library/ubuntu:latest", "img_ref_normalize");
	free(norm);
	T_OK(img_ref_normalize("UBUNTU", &err) == NULL, "img_ref_normalize fails on bad input");
	kiln_err_release(&err);
	return tap_done();
}
