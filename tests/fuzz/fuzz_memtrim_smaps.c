/* fuzz_memtrim_smaps: the /proc/self/smaps reader of common/memtrim.c.
 * What it lists gets unmapped, so beyond not crashing: every range it
 * returns is non-empty and on page boundaries, and the buffer handed in
 * (two entries, so growing it is exercised) is never written past. */
#include "common/memtrim.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct memtrim_range buf[3];
	struct memtrim_plan p = { .file = buf, .cap = 2 };
	FILE *f;

	if (size == 0)
		return 0;
	f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	memset(&buf[2], 0xa5, sizeof(buf[2]));
	memtrim_scan(f, &p, 4096);
	fclose(f);
	for (size_t i = 0; i < p.n_file; i++)
		if (p.file[i].b <= p.file[i].a || ((p.file[i].a | p.file[i].b) & 4095))
			abort();
	if (p.stack.b && (p.stack.b <= p.stack.a || ((p.stack.a | p.stack.b) & 4095)))
		abort();
	if (p.n_file > p.cap || (!p.on_heap && p.n_file > 2))
		abort();
	for (size_t k = 0; k < sizeof(buf[2]); k++)
		if (((unsigned char *)&buf[2])[k] != 0xa5)
			abort();
	memtrim_plan_free(&p);
	return 0;
}
