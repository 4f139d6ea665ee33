/* tests/images/helper/cmd-spew.c - `spew LINES [--bytes N]`: LINES numbered
 * lines of exactly N bytes (without the newline) on stdout, as fast as the
 * pipe takes them, for log rotation tests. Line i (from 1) is its number as
 * ten digits, a space, and 'x' up to N bytes: "0000000001 xxxx...". Then
 * {"spewed":LINES,"bytes":N} on stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"

#define SPEW_MIN_BYTES 11          /* the number and its space */
#define SPEW_MAX_BYTES (1 << 20)
#define SPEW_CHUNK (256 << 10)

int cmd_spew(int argc, char **argv)
{
	long long lines = -1, bytes = 100, i;
	size_t fill = 0, cap;
	char *buf, *line, errline[96];

	for (int a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--bytes") && a + 1 < argc) {
			if (!parse_ll(argv[++a], SPEW_MIN_BYTES, SPEW_MAX_BYTES, &bytes))
				husage("--bytes: %d to %d", SPEW_MIN_BYTES, SPEW_MAX_BYTES);
		} else if (lines < 0 && parse_ll(argv[a], 0, 1000000000LL, &lines)) {
			continue;
		} else {
			husage("usage: spew LINES [--bytes N]");
		}
	}
	if (lines < 0)
		husage("usage: spew LINES [--bytes N]");
	cap = (size_t)bytes + 1 > SPEW_CHUNK ? (size_t)bytes + 1 : SPEW_CHUNK;
	buf = xmalloc(cap);
	line = xmalloc((size_t)bytes + 2);
	memset(line, 'x', (size_t)bytes);
	line[bytes] = '\n';
	for (i = 1; i <= lines; i++) {
		char num[16];

		snprintf(num, sizeof(num), "%010lld ", i % 10000000000LL);
		memcpy(line, num, SPEW_MIN_BYTES);
		if (fill + (size_t)bytes + 1 > cap) {
			if (!write_all(STDOUT_FILENO, buf, fill)) {
				hdiag("write: %s", errno_name(errno));
				return 1;
			}
			fill = 0;
		}
		memcpy(buf + fill, line, (size_t)bytes + 1);
		fill += (size_t)bytes + 1;
	}
	if (fill && !write_all(STDOUT_FILENO, buf, fill)) {
		hdiag("write: %s", errno_name(errno));
		return 1;
	}
	snprintf(errline, sizeof(errline), "{\"spewed\":%lld,\"bytes\":%lld}\n", lines, bytes);
	(void)write_all(STDERR_FILENO, errline, strlen(errline));
	free(buf);
	free(line);
	return 0;
}
