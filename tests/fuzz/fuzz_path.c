/* fuzz_path: lexical path handling that image unpack will trust.
 * Invariants: clean() is idempotent; a path accepted as safe-relative cleans
 * to something relative with no ".." component. */
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool has_dotdot(const char *p)
{
	size_t n = strlen(p);

	for (size_t i = 0; i + 1 < n + 1; i++) {
		if ((i == 0 || p[i - 1] == '/') && p[i] == '.' && i + 1 < n && p[i + 1] == '.' &&
		    (i + 2 == n || p[i + 2] == '/'))
			return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = xstrndup((const char *)data, size);   /* stops at an embedded NUL */
	char *c1 = fs_path_clean(in);
	char *c2 = fs_path_clean(c1);

	if (strcmp(c1, c2) != 0)
		abort();   /* not idempotent */
	if (fs_path_is_safe_relative(in)) {
		if (c1[0] == '/' || has_dotdot(c1))
			abort();   /* accepted something that leaves the root */
	}
	free(fs_path_join(in, c1));
	free(c2);
	free(c1);
	free(in);
	return 0;
}
