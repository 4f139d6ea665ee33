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

/* one smaps entry while its fields are read */
struct entry {
	uintptr_t a, b;
	bool valid;    /* a well-formed header line began it */
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

static void plan_add(struct memtrim_plan *p, uintptr_t a, uintptr_t b)
{
	if (p->n_file == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct memtrim_range *m = xreallocarray(p->on_heap ? p->file : NULL, cap, sizeof(*m));

		if (!p->on_heap && p->n_file)
			memcpy(m, p->file, p->n_file * sizeof(*m));
		p->file = m;
		p->cap = cap;
		p->on_heap = true;
	}
	p->file[p->n_file++] = (struct memtrim_range){ a, b };
}

/* the entry is complete (its VmFlags line): what becomes of it */
static void entry_done(struct memtrim_plan *p, const struct entry *e, const char *vmflags)
{
	/* locked, I/O or pfn mappings: not ours to touch */
	bool odd = flag_in(vmflags, "lo") || flag_in(vmflags, "io") || flag_in(vmflags, "pf");

	if (!e->valid || odd)
		return;
	if (e->stack)
		p->stack = (struct memtrim_range){ e->a, e->b };
	else if (e->file && e->rss_kb > 0) {
		if (e->anon_kb > 0)
			p->skipped++; /* RELRO, or text a debugger patched */
		else
			plan_add(p, e->a, e->b);
	}
}

void memtrim_scan(FILE *f, struct memtrim_plan *p, uintptr_t page)
{
	struct entry e = { 0 };
	char line[512];
	bool rest = false; /* the line read last had no end: skip to its end */

	p->n_file = 0;
	p->skipped = 0;
	p->stack = (struct memtrim_range){ 0, 0 };
	while (fgets(line, sizeof(line), f)) {
		bool whole = strchr(line, '\n') != NULL || feof(f);
		bool tail = rest;

		rest = !whole;
		if (tail)
			continue; /* a long line's rest (a long path): never a field */
		if (line[0] >= 'A' && line[0] <= 'Z') { /* a field of the current entry */
			size_t kb;

			if (sscanf(line, "Rss: %zu kB", &kb) == 1)
				e.rss_kb = kb;
			else if (sscanf(line, "Anonymous: %zu kB", &kb) == 1)
				e.anon_kb = kb;
			else if (strncmp(line, "VmFlags:", 8) == 0) { /* the entry's last field */
				entry_done(p, &e, line + 8);
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
		if (b <= a || (a | b) & (page - 1))
			continue; /* not what the kernel writes: leave it */
		const char *path = pos > 0 ? line + pos : "";

		e.a = a;
		e.b = b;
		e.valid = true;
		e.stack = strncmp(path, "[stack]", 7) == 0;
		e.file = path[0] == '/' && strncmp(path, "/memfd:", 7) != 0 && strchr(perms, 'w') == NULL;
	}
}

void memtrim_plan_free(struct memtrim_plan *p)
{
	if (p->on_heap)
		free(p->file);
	p->file = NULL;
	p->n_file = p->cap = 0;
	p->on_heap = false;
}

MEMTRIM_IDLE_PATH int memtrim_idle(struct memtrim_stats *st)
{
	struct memtrim_stats local = { 0 };
	struct memtrim_range on_stack[RANGES_ON_STACK];
	struct memtrim_plan p = { .file = on_stack, .cap = RANGES_ON_STACK };
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t frame = (uintptr_t)__builtin_frame_address(0);
	FILE *f;

	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));
	f = fopen("/proc/self/smaps", "re");
	if (!f)
		return -errno;
	memtrim_scan(f, &p, page);
	fclose(f);
	/* The heap first (the reading above used it), then the mappings,
	 * last: what runs after a drop faults back in, 64 KiB around each
	 * page it touches (the kernel's fault-around), so as little as
	 * possible runs after them. */
	malloc_trim(0);
	st->skipped = p.skipped;
	for (size_t i = 0; i < p.n_file; i++)
		if (drop(p.file[i].a, p.file[i].b - p.file[i].a) == 0)
			st->file_bytes += p.file[i].b - p.file[i].a;
	memtrim_plan_free(&p);
	/* only the stack this runs on (not from another thread's) */
	if (frame >= p.stack.a + STACK_KEEP + page && frame < p.stack.b) {
		uintptr_t top = (frame - STACK_KEEP) & ~(page - 1);

		if (top > p.stack.a && drop(p.stack.a, top - p.stack.a) == 0)
			st->stack_bytes = top - p.stack.a;
	}
	return 0;
}
