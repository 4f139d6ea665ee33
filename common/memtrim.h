/* common/memtrim.h - give back the memory a long-lived, mostly idle
 * process (berth-shim) keeps mapped after its busy start.
 *
 * A process's RSS counts every page it has touched and still maps, shared
 * ones included: the text and read-only data of the binary and of each
 * library it ran during set-up stay in its page tables although idling
 * runs a few pages of them. memtrim_idle() drops those mappings of clean
 * file pages (they stay in the page cache, shared; the idle loop faults
 * back, as minor faults, the few it runs), the stack below the caller's
 * frame, and freed heap. It never drops a page whose content only this
 * process has: a mapping with anonymous (copied-on-write) pages, such as
 * the relocated GOT under RELRO, is left whole. */
#ifndef BERTH_COMMON_MEMTRIM_H
#define BERTH_COMMON_MEMTRIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct memtrim_stats {
	size_t file_bytes;  /* clean file-backed mappings dropped (their size) */
	size_t stack_bytes; /* stack below the caller's frame dropped */
	unsigned skipped;   /* unwritable file mappings left (anonymous pages) */
};

/* Single-threaded callers only (another thread's stack or a mapping that
 * changes while /proc/self/smaps is read would be missed, not harmed).
 * 0, or -errno when /proc/self/smaps cannot be read (nothing dropped).
 * st may be NULL. */
int memtrim_idle(struct memtrim_stats *st);

/* What memtrim_idle would drop, as read from a smaps text. */
struct memtrim_range {
	uintptr_t a, b;
};
struct memtrim_plan {
	struct memtrim_range *file; /* clean file mappings with resident pages */
	size_t n_file, cap;         /* the caller may hand in a buffer (file, cap) */
	bool on_heap;               /* file was grown on the heap: memtrim_plan_free */
	struct memtrim_range stack; /* [stack], or { 0, 0 } */
	unsigned skipped;           /* unwritable file mappings with anonymous pages */
};

/* Reads /proc/PID/smaps text from f into p. Entries that are not as the
 * kernel writes them (an end not above the start, addresses not on page
 * boundaries, a header too long for one read is cut: its path is enough)
 * are left out, never guessed at: what is listed here gets unmapped. */
void memtrim_scan(FILE *f, struct memtrim_plan *p, uintptr_t page);
void memtrim_plan_free(struct memtrim_plan *p);

/* Marks a function the process runs while it idles (its event loop and
 * what that calls on a quiet turn). The linker places every such
 * function side by side in .text.hot, so once memtrim_idle has dropped
 * the text, the idle loop faults back one fault-around window (64 KiB)
 * of the binary rather than one per file its functions came from. Not
 * inlined: a copy inlined into a caller would sit in that caller's text. */
#define MEMTRIM_IDLE_PATH __attribute__((section(".text.hot.berth_idle"), noinline))

#endif
