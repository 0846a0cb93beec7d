/* libcurl, loaded when first used. kiln is not linked against libcurl:
 * libcurl4 pulls in about 25 more shared libraries (GnuTLS, Kerberos,
 * LDAP, SSH, RTMP, PSL, IDN...) whose loading and relocation cost about
 * 7 ms at every start, more than a no-op cached build needs for itself.
 * These functions have libcurl's names and prototypes (<curl/curl.h>), so
 * every caller stays plain libcurl code; each forwards to libcurl.so.4,
 * opened with dlopen on the first call (once, thread-safe). The variadic
 * setopt calls pass their one argument on with the type curl's option
 * numbering gives it (long, pointer, function pointer or curl_off_t).
 * libcurl missing at run time is fatal, as it would be at start when
 * linked. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define CURL_SONAME "libcurl.so.4"

static struct {
	CURLcode (*global_init)(long);
	char *(*version)(void);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	const char *(*easy_strerror)(CURLcode);
	char *(*easy_escape)(CURL *, const char *, int);
	void (*free)(void *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLSH *(*share_init)(void);
	CURLSHcode (*share_setopt)(CURLSH *, CURLSHoption, ...);
	CURLSHcode (*share_cleanup)(CURLSH *);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_perform)(CURLM *, int *);
	CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd[], unsigned int, int, int *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	CURLMcode (*multi_cleanup)(CURLM *);
} fn;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *need(void *lib, const char *name)
{
	void *p = lib ? dlsym(lib, name) : NULL;
	if (!p) {
		/* what the dynamic loader would have said at start */
		fprintf(stderr, "kiln: cannot load %s (%s): %s\n", CURL_SONAME, name, dlerror());
		exit(127);
	}
	return p;
}

#define LOAD(field, name) *(void **)&fn.field = need(lib, name)

static void load(void)
{
	void *lib = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	LOAD(global_init, "curl_global_init");
	LOAD(version, "curl_version");
	LOAD(easy_init, "curl_easy_init");
	LOAD(easy_cleanup, "curl_easy_cleanup");
	LOAD(easy_perform, "curl_easy_perform");
	LOAD(easy_setopt, "curl_easy_setopt");
	LOAD(easy_getinfo, "curl_easy_getinfo");
	LOAD(easy_strerror, "curl_easy_strerror");
	LOAD(easy_escape, "curl_easy_escape");
	LOAD(free, "curl_free");
	LOAD(slist_append, "curl_slist_append");
	LOAD(slist_free_all, "curl_slist_free_all");
	LOAD(share_init, "curl_share_init");
	LOAD(share_setopt, "curl_share_setopt");
	LOAD(share_cleanup, "curl_share_cleanup");
	LOAD(multi_init, "curl_multi_init");
	LOAD(multi_setopt, "curl_multi_setopt");
	LOAD(multi_add_handle, "curl_multi_add_handle");
	LOAD(multi_remove_handle, "curl_multi_remove_handle");
	LOAD(multi_perform, "curl_multi_perform");
	LOAD(multi_poll, "curl_multi_poll");
	LOAD(multi_info_read, "curl_multi_info_read");
	LOAD(multi_cleanup, "curl_multi_cleanup");
}

#define F (pthread_once(&once, load), fn)

CURLcode curl_global_init(long flags)
{
	return F.global_init(flags);
}
char *curl_version(void)
{
	return F.version();
}
CURL *curl_easy_init(void)
{
	return F.easy_init();
}
void curl_easy_cleanup(CURL *h)
{
	F.easy_cleanup(h);
}
CURLcode curl_easy_perform(CURL *h)
{
	return F.easy_perform(h);
}
const char *curl_easy_strerror(CURLcode c)
{
	return F.easy_strerror(c);
}
char *curl_easy_escape(CURL *h, const char *s, int len)
{
	return F.easy_escape(h, s, len);
}
void curl_free(void *p)
{
	F.free(p);
}
struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s)
{
	return F.slist_append(l, s);
}
void curl_slist_free_all(struct curl_slist *l)
{
	F.slist_free_all(l);
}
CURLSH *curl_share_init(void)
{
	return F.share_init();
}
CURLSHcode curl_share_cleanup(CURLSH *sh)
{
	return F.share_cleanup(sh);
}
CURLM *curl_multi_init(void)
{
	return F.multi_init();
}
CURLMcode curl_multi_add_handle(CURLM *m, CURL *h)
{
	return F.multi_add_handle(m, h);
}
CURLMcode curl_multi_remove_handle(CURLM *m, CURL *h)
{
	return F.multi_remove_handle(m, h);
}
CURLMcode curl_multi_perform(CURLM *m, int *running)
{
	return F.multi_perform(m, running);
}
CURLMcode curl_multi_poll(CURLM *m, struct curl_waitfd extra[], unsigned int n, int ms, int *ret)
{
	return F.multi_poll(m, extra, n, ms, ret);
}
CURLMsg *curl_multi_info_read(CURLM *m, int *left)
{
	return F.multi_info_read(m, left);
}
CURLMcode curl_multi_cleanup(CURLM *m)
{
	return F.multi_cleanup(m);
}

/* The argument of an option numbered in curl's CURLOPTTYPE ranges. */
enum arg_kind { ARG_LONG, ARG_PTR, ARG_FN, ARG_OFF };
static enum arg_kind kind_of(int opt)
{
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		return ARG_LONG;
	if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		return ARG_PTR;
	if (opt < CURLOPTTYPE_OFF_T)
		return ARG_FN;
	if (opt < CURLOPTTYPE_BLOB)
		return ARG_OFF;
	return ARG_PTR; /* blobs */
}

#define FORWARD_SETOPT(call, h, opt, ap)                                                           \
	switch (kind_of((int)(opt))) {                                                             \
	case ARG_LONG: r = call(h, opt, va_arg(ap, long)); break;                                  \
	case ARG_PTR: r = call(h, opt, va_arg(ap, void *)); break;                                 \
	case ARG_FN: r = call(h, opt, va_arg(ap, void (*)(void))); break;                          \
	default: r = call(h, opt, va_arg(ap, curl_off_t));                                         \
	}

CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
	CURLcode r;
	va_list ap;
	va_start(ap, opt);
	FORWARD_SETOPT(F.easy_setopt, h, opt, ap);
	va_end(ap);
	return r;
}

CURLMcode curl_multi_setopt(CURLM *m, CURLMoption opt, ...)
{
	CURLMcode r;
	va_list ap;
	va_start(ap, opt);
	FORWARD_SETOPT(F.multi_setopt, m, opt, ap);
	va_end(ap);
	return r;
}

/* CURLSHOPT_SHARE/UNSHARE take an int (curl_lock_data), the rest pointers. */
CURLSHcode curl_share_setopt(CURLSH *sh, CURLSHoption opt, ...)
{
	CURLSHcode r;
	va_list ap;
	va_start(ap, opt);
	if (opt == CURLSHOPT_SHARE || opt == CURLSHOPT_UNSHARE)
		r = F.share_setopt(sh, opt, va_arg(ap, int));
	else
		r = F.share_setopt(sh, opt, va_arg(ap, void *));
	va_end(ap);
	return r;
}

/* Every CURLINFO_* takes a pointer. */
CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
	va_list ap;
	va_start(ap, info);
	void *p = va_arg(ap, void *);
	va_end(ap);
	return F.easy_getinfo(h, info, p);
}
