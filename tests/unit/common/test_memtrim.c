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
#include "common/xalloc.h"

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

/* ------------------------------------------------ memtrim_scan on text */

static void scan_text(const char *txt, struct memtrim_plan *p)
{
	FILE *f = fmemopen((void *)txt, strlen(txt), "r");

	assert_non_null(f);
	memtrim_scan(f, p, 4096);
	fclose(f);
}

#define ENTRY(range, perms, path, rss, anon, flags) \
	range " " perms " 00000000 08:01 42    " path "\n" \
	"Size:  64 kB\nRss:  " #rss " kB\nPss: 1 kB\nAnonymous: " #anon " kB\n" \
	"VmFlags: " flags "\n"

static void test_scan_picks_clean_file_mappings(void **state)
{
	const char *txt =
		ENTRY("1000-3000", "r-xp", "/usr/lib/a.so", 8, 0, "rd ex mr mw me")
		ENTRY("3000-4000", "r--p", "/usr/lib/a.so", 4, 4, "rd mr mw me ac") /* RELRO */
		ENTRY("4000-5000", "rw-p", "/usr/lib/a.so", 4, 4, "rd wr mr mw me ac")
		ENTRY("5000-6000", "r--p", "/usr/lib/b.so", 0, 0, "rd mr mw me") /* not resident */
		ENTRY("6000-7000", "r--s", "/memfd:berth-init (deleted)", 4, 0, "rd sh mr mw me")
		ENTRY("7000-8000", "r-xp", "/usr/lib/c.so", 4, 0, "rd ex mr mw me lo") /* mlocked */
		ENTRY("8000-9000", "rw-p", "[heap]", 4, 4, "rd wr mr mw me ac")
		ENTRY("9000-a000", "r--s", "/dev/mem", 4, 0, "rd sh mr mw me io pf")
		ENTRY("7ffc0000-7ffc2000", "rw-p", "[stack]", 8, 8, "rd wr mr mw me gd ac");
	struct memtrim_range buf[4];
	struct memtrim_plan p = { .file = buf, .cap = 4 };

	(void)state;
	scan_text(txt, &p);
	assert_int_equal(p.n_file, 1);
	assert_int_equal(p.file[0].a, 0x1000);
	assert_int_equal(p.file[0].b, 0x3000);
	assert_int_equal(p.skipped, 1);
	assert_int_equal(p.stack.a, 0x7ffc0000);
	assert_int_equal(p.stack.b, 0x7ffc2000);
	assert_false(p.on_heap);
	memtrim_plan_free(&p);
}

/* A header cut by a long path: its rest never becomes an entry, even
 * when it reads like one; malformed ranges are left out. */
static void test_scan_long_and_bad_lines(void **state)
{
	char path[700];
	char *txt;
	struct memtrim_range buf[2];
	struct memtrim_plan p = { .file = buf, .cap = 2 };

	(void)state;
	memset(path, 'x', sizeof(path));
	path[0] = '/';
	/* the header's first 36 bytes and 475 of the path fill the 511 one
	 * read takes: the next read starts with what looks like a header */
	memcpy(path + 475, "10000-20000 r-xp 0 0 0 /fake", 28);
	path[sizeof(path) - 1] = '\0';
	txt = xasprintf(ENTRY("1000-2000", "r-xp", "%s", 4, 0, "rd ex") ENTRY("3000-2000", "r-xp", "/a", 4, 0, "rd ex")
				ENTRY("3001-4000", "r-xp", "/a", 4, 0, "rd ex") "Rss: 4 kB\nVmFlags: rd ex\n"
				ENTRY("5000-6000", "r-xp", "/a", 4, 0, "rd ex"), path);
	scan_text(txt, &p);
	assert_int_equal(p.n_file, 2);
	assert_int_equal(p.file[0].a, 0x1000);
	assert_int_equal(p.file[1].a, 0x5000);
	memtrim_plan_free(&p);
	free(txt);
}

/* More mappings than the buffer handed in: the plan moves to the heap. */
static void test_scan_grows(void **state)
{
	struct memtrim_range buf[2];
	struct memtrim_plan p = { .file = buf, .cap = 2 };
	char *txt = xstrdup("");

	(void)state;
	for (int i = 1; i <= 40; i++) {
		char *e = xasprintf("%s%x-%x r-xp 00000000 08:01 42 /usr/lib/x.so\nRss: 4 kB\n"
				    "Anonymous: 0 kB\nVmFlags: rd ex\n", txt, i * 0x1000, i * 0x1000 + 0x1000);

		free(txt);
		txt = e;
	}
	scan_text(txt, &p);
	assert_int_equal(p.n_file, 40);
	assert_true(p.on_heap);
	for (int i = 0; i < 40; i++)
		assert_int_equal(p.file[i].a, (uintptr_t)(i + 1) * 0x1000);
	memtrim_plan_free(&p);
	free(txt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drops_clean_file_pages),
		cmocka_unit_test(test_keeps_copied_pages),
		cmocka_unit_test(test_drops_dead_stack),
		cmocka_unit_test(test_scan_picks_clean_file_mappings),
		cmocka_unit_test(test_scan_long_and_bad_lines),
		cmocka_unit_test(test_scan_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
