/* common/memtrim.c - drop an idle process's clean file mappings, dead stack
 * and freed heap from its RSS (memtrim.h). */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/memtrim.h"
#include "common/xalloc.h"

/* below memtrim_idle's frame, this much is kept: its own locals and the
 * madvise calls it makes once the stack below is dropped run there */
#define STACK_KEEP (16 * 1024)
/* ranges held on the stack; a process with more file mappings than this
 * spills into the heap */
#define RANGES_ON_STACK 128

/* madvise(2) straight to the kernel where we know how: the libc wrapper
 * lives in text this may just have dropped, and returning into it would
 * fault a window of libc back in for nothing. */
static MEMTRIM_IDLE_PATH int drop(uintptr_t a, size_t len)
{
#if defined(__x86_64__)
	long r;

	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "0"((long)SYS_madvise), "D"(a), "S"(len), "d"((long)MADV_DONTNEED)
			 : "rcx", "r11", "memory");
	return r < 0 ? (int)r : 0;
#else
	return madvise((void *)a, len, MADV_DONTNEED) < 0 ? -errno : 0;
#endif
}

struct range {
	uintptr_t a, b;
};

/* one smaps entry while its fields are read */
struct entry {
	uintptr_t a, b;
	bool file;     /* a file's pages, never written (no 'w'), not a memfd */
	bool stack;
	size_t rss_kb, anon_kb;
};

static bool flag_in(const char *flags, const char *f)
{
	size_t n = strlen(f);

	for (const char *p = flags; (p = strstr(p, f)) != NULL; p += n)
		if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

MEMTRIM_IDLE_PATH int memtrim_idle(struct memtrim_stats *st)
{
	struct memtrim_stats local = { 0 };
	struct range on_stack[RANGES_ON_STACK], *r = on_stack, stack = { 0, 0 };
	size_t n = 0, cap = RANGES_ON_STACK;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t frame = (uintptr_t)__builtin_frame_address(0);
	struct entry e = { 0 };
	char line[512];
	FILE *f;

	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));
	f = fopen("/proc/self/smaps", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] >= 'A' && line[0] <= 'Z') { /* a field of the current entry */
			size_t kb;

			if (sscanf(line, "Rss: %zu kB", &kb) == 1)
				e.rss_kb = kb;
			else if (sscanf(line, "Anonymous: %zu kB", &kb) == 1)
				e.anon_kb = kb;
			else if (strncmp(line, "VmFlags:", 8) == 0) { /* the entry's last field */
				/* locked, I/O or pfn mappings: not ours to touch */
				bool odd = flag_in(line + 8, "lo") || flag_in(line + 8, "io") ||
					   flag_in(line + 8, "pf");

				if (e.stack && !odd)
					stack = (struct range){ e.a, e.b };
				else if (e.file && !odd && e.rss_kb > 0) {
					if (e.anon_kb > 0) {
						st->skipped++; /* RELRO, or text a debugger patched */
					} else {
						if (n == cap) {
							struct range *m = xreallocarray(r == on_stack ? NULL : r,
											cap * 2, sizeof(*r));

							if (r == on_stack)
								memcpy(m, on_stack, sizeof(on_stack));
							r = m;
							cap *= 2;
						}
						r[n++] = (struct range){ e.a, e.b };
					}
				}
				memset(&e, 0, sizeof(e));
			}
			continue;
		}
		/* a new entry: "start-end perms offset dev inode   path" */
		char perms[8] = "";
		uintptr_t a, b;
		int pos = 0;

		memset(&e, 0, sizeof(e));
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %*s %*s %*s %n", &a, &b, perms, &pos) < 3)
			continue;
		e.a = a;
		e.b = b;
		const char *path = pos > 0 ? line + pos : "";

		e.stack = strncmp(path, "[stack]", 7) == 0;
		e.file = path[0] == '/' && strncmp(path, "/memfd:", 7) != 0 && strchr(perms, 'w') == NULL;
	}
	fclose(f);
	/* The heap first (the reading above used it), then the mappings,
	 * last: what runs after a drop faults back in, 64 KiB around each
	 * page it touches (the kernel's fault-around), so as little as
	 * possible runs after them. */
	malloc_trim(0);
	for (size_t i = 0; i < n; i++)
		if (drop(r[i].a, r[i].b - r[i].a) == 0)
			st->file_bytes += r[i].b - r[i].a;
	if (r != on_stack)
		free(r);
	/* only the stack this runs on (not from another thread's) */
	if (frame >= stack.a + STACK_KEEP + page && frame < stack.b) {
		uintptr_t top = (frame - STACK_KEEP) & ~(page - 1);

		if (top > stack.a && drop(stack.a, top - stack.a) == 0)
			st->stack_bytes = top - stack.a;
	}
	return 0;
}
