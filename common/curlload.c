/* common/curlload.c - libcurl through dlopen: see curlload.h.
 *
 * Each libcurl function berth calls is defined here with libcurl's own
 * prototype and forwards to the real one through a pointer filled by
 * dlsym. The three variadic ones take exactly one argument after the
 * option, whose type libcurl itself derives from the option's number
 * (CURLOPTTYPE_* ranges; every CURLINFO takes a pointer), and so do we. */
/* the definitions below are libcurl's own functions: no checking macros */
#define CURL_DISABLE_TYPECHECK
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/curlload.h"

#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt

typedef void (*curl_fnptr)(void);

/* X(name, return type, parameters) for every function forwarded below */
#define CURLLOAD_FUNCS(X)                                                              \
	X(curl_global_init, CURLcode, (long))                                          \
	X(curl_easy_init, CURL *, (void))                                              \
	X(curl_easy_cleanup, void, (CURL *))                                           \
	X(curl_easy_setopt, CURLcode, (CURL *, CURLoption, ...))                       \
	X(curl_easy_perform, CURLcode, (CURL *))                                       \
	X(curl_easy_getinfo, CURLcode, (CURL *, CURLINFO, ...))                        \
	X(curl_easy_strerror, const char *, (CURLcode))                                \
	X(curl_easy_escape, char *, (CURL *, const char *, int))                       \
	X(curl_free, void, (void *))                                                   \
	X(curl_slist_append, struct curl_slist *, (struct curl_slist *, const char *)) \
	X(curl_slist_free_all, void, (struct curl_slist *))                            \
	X(curl_multi_init, CURLM *, (void))                                            \
	X(curl_multi_cleanup, CURLMcode, (CURLM *))                                    \
	X(curl_multi_add_handle, CURLMcode, (CURLM *, CURL *))                         \
	X(curl_multi_remove_handle, CURLMcode, (CURLM *, CURL *))                      \
	X(curl_multi_perform, CURLMcode, (CURLM *, int *))                             \
	X(curl_multi_poll, CURLMcode, (CURLM *, struct curl_waitfd *, unsigned int, int, int *)) \
	X(curl_multi_info_read, CURLMsg *, (CURLM *, int *))                           \
	X(curl_multi_setopt, CURLMcode, (CURLM *, CURLMoption, ...))                   \
	X(curl_multi_socket_action, CURLMcode, (CURLM *, curl_socket_t, int, int *))

static struct {
#define X(name, ret, params) ret (*name) params;
	CURLLOAD_FUNCS(X)
#undef X
} real;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool loaded;
static char load_error[512];   /* why loading failed; "" once loaded */

static void load(void)
{
	void *lib = dlopen(CURLLOAD_SONAME, RTLD_NOW | RTLD_LOCAL);
	CURLcode rc;

	if (!lib) {
		snprintf(load_error, sizeof(load_error), "load %s (Debian package libcurl4): %s",
			 CURLLOAD_SONAME, dlerror());
		return;
	}
#define X(name, ret, params)                                                                   \
	*(void **)&real.name = dlsym(lib, #name);                                              \
	if (!real.name) {                                                                      \
		snprintf(load_error, sizeof(load_error), "%s has no %s: libcurl too old",      \
			 CURLLOAD_SONAME, #name);                                              \
		goto fail;                                                                     \
	}
	CURLLOAD_FUNCS(X)
#undef X
	rc = real.curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK) {
		snprintf(load_error, sizeof(load_error), "%s: curl_global_init: %s",
			 CURLLOAD_SONAME, real.curl_easy_strerror(rc));
		goto fail;
	}
	loaded = true;
	return;
fail:
	memset(&real, 0, sizeof(real));
	dlclose(lib);
}

int curl_load(struct berr **err)
{
	pthread_once(&once, load);
	if (!loaded)
		return berr_set(err, 0, "%s", load_error);   /* dlerror() says why */
	return 0;
}

/* A call before curl_load() succeeded: a bug in berth. */
static void need(const char *name)
{
	if (!loaded) {
		fprintf(stderr, "berth: %s called before curl_load() (%s)\n", name,
			load_error[0] ? load_error : "libcurl not loaded");
		abort();
	}
}

/* The option types of curl/curl.h: an option's number says which type its
 * one argument has. CURLMoption uses the same ranges. */
enum arg_kind { ARG_LONG, ARG_PTR, ARG_FN, ARG_OFF };

static enum arg_kind opt_kind(long opt)
{
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		return ARG_LONG;
	if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		return ARG_PTR;
	if (opt < CURLOPTTYPE_OFF_T)
		return ARG_FN;
	if (opt < CURLOPTTYPE_BLOB)
		return ARG_OFF;
	return ARG_PTR;   /* CURLOPTTYPE_BLOB: a struct curl_blob * */
}

/* rc = real.fn(h, opt, x), x the one argument in ap, read with the type
 * that opt's number gives (curl_easy_setopt, curl_multi_setopt) */
#define FORWARD_ONE_ARG(rc, fn, h, opt, ap)                              \
	do {                                                             \
		switch (opt_kind(opt)) {                                 \
		case ARG_LONG:                                           \
			rc = real.fn(h, opt, va_arg(ap, long));          \
			break;                                           \
		case ARG_PTR:                                            \
			rc = real.fn(h, opt, va_arg(ap, void *));        \
			break;                                           \
		case ARG_FN:                                             \
			rc = real.fn(h, opt, va_arg(ap, curl_fnptr));    \
			break;                                           \
		case ARG_OFF:                                            \
			rc = real.fn(h, opt, va_arg(ap, curl_off_t));    \
			break;                                           \
		}                                                        \
	} while (0)

CURL *curl_easy_init(void)
{
	need(__func__);
	return real.curl_easy_init();
}

void curl_easy_cleanup(CURL *h)
{
	need(__func__);
	real.curl_easy_cleanup(h);
}

CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
	CURLcode rc = CURLE_BAD_FUNCTION_ARGUMENT;
	va_list ap;

	need(__func__);
	va_start(ap, opt);
	FORWARD_ONE_ARG(rc, curl_easy_setopt, h, opt, ap);
	va_end(ap);
	return rc;
}

CURLcode curl_easy_perform(CURL *h)
{
	need(__func__);
	return real.curl_easy_perform(h);
}

CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
	va_list ap;
	void *p;

	need(__func__);
	va_start(ap, info);
	p = va_arg(ap, void *);   /* every CURLINFO_* takes a pointer */
	va_end(ap);
	return real.curl_easy_getinfo(h, info, p);
}

const char *curl_easy_strerror(CURLcode code)
{
	need(__func__);
	return real.curl_easy_strerror(code);
}

char *curl_easy_escape(CURL *h, const char *s, int len)
{
	need(__func__);
	return real.curl_easy_escape(h, s, len);
}

void curl_free(void *p)
{
	need(__func__);
	real.curl_free(p);
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s)
{
	need(__func__);
	return real.curl_slist_append(l, s);
}

void curl_slist_free_all(struct curl_slist *l)
{
	need(__func__);
	real.curl_slist_free_all(l);
}

CURLM *curl_multi_init(void)
{
	need(__func__);
	return real.curl_multi_init();
}

CURLMcode curl_multi_cleanup(CURLM *m)
{
	need(__func__);
	return real.curl_multi_cleanup(m);
}

CURLMcode curl_multi_add_handle(CURLM *m, CURL *h)
{
	need(__func__);
	return real.curl_multi_add_handle(m, h);
}

CURLMcode curl_multi_remove_handle(CURLM *m, CURL *h)
{
	need(__func__);
	return real.curl_multi_remove_handle(m, h);
}

CURLMcode curl_multi_perform(CURLM *m, int *running)
{
	need(__func__);
	return real.curl_multi_perform(m, running);
}

CURLMcode curl_multi_poll(CURLM *m, struct curl_waitfd *extra, unsigned int n, int timeout_ms,
			  int *numfds)
{
	need(__func__);
	return real.curl_multi_poll(m, extra, n, timeout_ms, numfds);
}

CURLMsg *curl_multi_info_read(CURLM *m, int *left)
{
	need(__func__);
	return real.curl_multi_info_read(m, left);
}

CURLMcode curl_multi_setopt(CURLM *m, CURLMoption opt, ...)
{
	CURLMcode rc = CURLM_BAD_FUNCTION_ARGUMENT;
	va_list ap;

	need(__func__);
	va_start(ap, opt);
	FORWARD_ONE_ARG(rc, curl_multi_setopt, m, opt, ap);
	va_end(ap);
	return rc;
}

CURLMcode curl_multi_socket_action(CURLM *m, curl_socket_t s, int ev_bitmask, int *running)
{
	need(__func__);
	return real.curl_multi_socket_action(m, s, ev_bitmask, running);
}
