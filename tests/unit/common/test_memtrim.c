/* tests/unit/common/test_memtrim.c - memtrim_idle drops clean file pages
 * and dead stack from RSS, and never a page only this process holds. */
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/memtrim.h"

#define MIB (1024 * 1024)

/* Rss (kB) of the smaps entry that holds addr, or of "[stack]" when addr
 * is 0; -1 when there is none */
static long rss_kb(uintptr_t addr)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	bool in = false;
	long kb = -1;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		uintptr_t a, b;
		long v;

		if (line[0] < 'A' || line[0] > 'Z') {
			if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &a, &b) == 2)
				in = addr ? (addr >= a && addr < b) : strstr(line, "[stack]") != NULL;
			continue;
		}
		if (in && sscanf(line, "Rss: %ld kB", &v) == 1) {
			kb = v;
			break;
		}
	}
	fclose(f);
	return kb;
}

/* a 1 MiB file of known bytes, open; its path removed */
static int known_file(unsigned char *want)
{
	char path[] = "/tmp/berth-memtrim-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	for (size_t i = 0; i < MIB; i++)
		want[i] = (unsigned char)(i * 7 + i / 4096);
	assert_int_equal(write(fd, want, MIB), MIB);
	return fd;
}

static void test_drops_clean_file_pages(void **state)
{
	(void)state;
	unsigned char *want = malloc(MIB);
	int fd = known_file(want);
	const volatile unsigned char *m = mmap(NULL, MIB, PROT_READ, MAP_PRIVATE, fd, 0);
	struct memtrim_stats st;
	unsigned sum = 0;

	assert_true(m != MAP_FAILED);
	for (size_t i = 0; i < MIB; i += 4096)
		sum += m[i];
	(void)sum;
	assert_int_equal(rss_kb((uintptr_t)m), 1024);

	assert_int_equal(memtrim_idle(&st), 0);
	assert_int_equal(rss_kb((uintptr_t)m), 0);
	assert_true(st.file_bytes >= MIB);
	/* the bytes are still there: faulted back from the page cache */
	assert_memory_equal((const void *)m, want, MIB);
	munmap((void *)m, MIB);
	close(fd);
	free(want);
}

static void test_keeps_copied_pages(void **state)
{
	(void)state;
	unsigned char *want = malloc(MIB);
	int fd = known_file(want);
	unsigned char *m = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	struct memtrim_stats st;
	long before;

	assert_true(m != MAP_FAILED);
	/* as RELRO: a private file mapping written (relocated), then made
	 * read-only; its written page exists only in this process */
	memset(m + 4096, 0xA5, 4096);
	for (size_t i = 0; i < MIB; i += 4096)
		want[i] = m[i];
	assert_int_equal(mprotect(m, MIB, PROT_READ), 0);
	before = rss_kb((uintptr_t)m);
	assert_true(before >= 8);

	assert_int_equal(memtrim_idle(&st), 0);
	assert_true(st.skipped >= 1);
	assert_int_equal(rss_kb((uintptr_t)m), before);
	for (size_t i = 0; i < 4096; i++)
		assert_int_equal(m[4096 + i], 0xA5);
	munmap(m, MIB);
	close(fd);
	free(want);
}

/* touches about 1 MiB of stack below the caller */
static __attribute__((noinline)) unsigned deep(int n)
{
	volatile unsigned char pad[16 * 1024];

	memset((void *)pad, n, sizeof(pad));
	return n > 0 ? deep(n - 1) + pad[n] : pad[0];
}

static void test_drops_dead_stack(void **state)
{
	(void)state;
	long before, after;
	struct memtrim_stats st;

	assert_true(deep(64) > 0);
	before = rss_kb(0);
	assert_true(before >= 1024);

	assert_int_equal(memtrim_idle(&st), 0);
	after = rss_kb(0);
	assert_true(st.stack_bytes >= 512 * 1024);
	assert_true(after <= before - 512);
	/* and the stack still works, deep again */
	assert_true(deep(64) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drops_clean_file_pages),
		cmocka_unit_test(test_keeps_copied_pages),
		cmocka_unit_test(test_drops_dead_stack),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
