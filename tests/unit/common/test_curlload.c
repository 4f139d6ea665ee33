/* tests/unit/common/test_curlload.c - libcurl opened on first use
 * (common/curlload.c): nothing of it is mapped before curl_load(), and the
 * forwarders hand every kind of argument through unchanged (long, pointer,
 * function pointer, curl_off_t; getinfo's pointers), checked by their effect
 * on a file:// transfer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/curlload.h"

static bool curl_mapped(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	bool found = false;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "/libcurl"))
			found = true;
	fclose(f);
	return found;
}

/* first: nothing of libcurl in this process until curl_load() */
static void test_loaded_on_first_use(void **state)
{
	struct berr *err = NULL;

	assert_false(curl_mapped());
	assert_int_equal(curl_load(&err), 0);
	assert_null(err);
	assert_true(curl_mapped());
	assert_int_equal(curl_load(&err), 0);   /* once only, then a no-op */
}

struct sink {
	char buf[256];
	size_t len;
	int calls;
};

static size_t sink_write(char *p, size_t size, size_t n, void *ud)
{
	struct sink *s = ud;
	size_t len = size * n;

	s->calls++;
	if (len > sizeof(s->buf) - 1 - s->len)
		return 0;
	memcpy(s->buf + s->len, p, len);
	s->len += len;
	s->buf[s->len] = '\0';
	return len;
}

static void test_arguments_pass_through(void **state)
{
	char dir[] = "/tmp/berth-test-curlload.XXXXXX";
	char path[128], url[160];
	const char body[] = "0123456789abcdef";
	struct sink s = { 0 };
	struct berr *err = NULL;
	char *eff = NULL;
	curl_off_t got = -1;
	long code = -1;
	FILE *f;

	assert_int_equal(curl_load(&err), 0);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	snprintf(url, sizeof(url), "file://%s", path);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(body, f);
	fclose(f);

	CURL *h = curl_easy_init();
	assert_non_null(h);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_URL, url), CURLE_OK);                 /* pointer */
	assert_int_equal(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write), CURLE_OK); /* function */
	assert_int_equal(curl_easy_setopt(h, CURLOPT_WRITEDATA, &s), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)10), CURLE_OK); /* off_t */
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	assert_string_equal(s.buf, "abcdef");   /* the first 10 bytes skipped */
	assert_int_equal(curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &got), CURLE_OK);
	assert_int_equal(got, 6);
	assert_int_equal(curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff), CURLE_OK);
	assert_string_equal(eff, url);
	assert_int_equal(curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code), CURLE_OK);
	assert_int_equal(code, 0);   /* no response code for file:// */

	/* long: CURLOPT_NOBODY 1 -> the write function is not called */
	memset(&s, 0, sizeof(s));
	assert_int_equal(curl_easy_setopt(h, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)0), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_NOBODY, 1L), CURLE_OK);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	assert_int_equal(s.calls, 0);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_NOBODY, 0L), CURLE_OK);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	assert_string_equal(s.buf, body);

	/* an option number libcurl does not know: its error, not a crash */
	assert_int_equal(curl_easy_setopt(h, (CURLoption)(CURLOPTTYPE_LONG + 9999), 1L),
			 CURLE_UNKNOWN_OPTION);
	assert_string_equal(curl_easy_strerror(CURLE_UNKNOWN_OPTION), "An unknown option was passed in to libcurl");

	char *esc = curl_easy_escape(h, "a b/c", 0);
	assert_string_equal(esc, "a%20b%2Fc");
	curl_free(esc);
	struct curl_slist *l = curl_slist_append(NULL, "X-One: 1");
	l = curl_slist_append(l, "X-Two: 2");
	assert_string_equal(l->next->data, "X-Two: 2");
	curl_slist_free_all(l);
	curl_easy_cleanup(h);

	/* the multi interface: one transfer to its end */
	CURLM *m = curl_multi_init();
	CURLMsg *msg;
	int running = 1, left = 0;

	assert_non_null(m);
	assert_int_equal(curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, 4L), CURLM_OK);
	assert_int_equal(curl_multi_setopt(m, (CURLMoption)(CURLOPTTYPE_LONG + 9999), 1L),
			 CURLM_UNKNOWN_OPTION);
	h = curl_easy_init();
	memset(&s, 0, sizeof(s));
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	assert_int_equal(curl_multi_add_handle(m, h), CURLM_OK);
	for (int i = 0; running && i < 1000; i++) {
		assert_int_equal(curl_multi_perform(m, &running), CURLM_OK);
		if (running)
			assert_int_equal(curl_multi_poll(m, NULL, 0, 10, NULL), CURLM_OK);
	}
	assert_int_equal(running, 0);
	msg = curl_multi_info_read(m, &left);
	assert_non_null(msg);
	assert_int_equal(msg->msg, CURLMSG_DONE);
	assert_int_equal(msg->data.result, CURLE_OK);
	assert_string_equal(s.buf, body);
	assert_int_equal(curl_multi_remove_handle(m, h), CURLM_OK);
	curl_easy_cleanup(h);
	assert_int_equal(curl_multi_cleanup(m), CURLM_OK);

	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loaded_on_first_use),
		cmocka_unit_test(test_arguments_pass_through),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
