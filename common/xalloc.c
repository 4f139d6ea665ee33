/* common/xalloc.c - see xalloc.h */
#include "xalloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void (*xalloc_die_hook)(const char *what, size_t size);

static void __attribute__((noreturn)) die(const char *what, size_t size)
{
	if (xalloc_die_hook)
		xalloc_die_hook(what, size);
	fprintf(stderr, "berth: out of memory (%s of %zu bytes)\n", what, size);
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		die("malloc", size);
	return p;
}

void *xzalloc(size_t size)
{
	return xcalloc(1, size);
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		die("calloc", size && n > SIZE_MAX / size ? SIZE_MAX : n * size);
	return p;
}

void *xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);

	if (q == NULL)
		die("realloc", size);
	return q;
}

void *xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		die("reallocarray (overflow)", SIZE_MAX);
	return xrealloc(p, n * size);
}

void *xmemdup(const void *p, size_t size)
{
	void *q = xmalloc(size);

	if (size)
		memcpy(q, p, size);
	return q;
}

char *xstrdup(const char *s)
{
	return xmemdup(s, strlen(s) + 1);
}

char *xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *q = xmalloc(len + 1);

	memcpy(q, s, len);
	q[len] = '\0';
	return q;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		die("vasprintf", 0);
	return s;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}
