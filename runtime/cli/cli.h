/* runtime/cli/cli.h - shared pieces of the berth CLI: global options, tables,
 * sizes, progress. One file per verb group (image.c, ...), as crun does. */
#ifndef BERTH_CLI_H
#define BERTH_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cli_globals {
	const char *root;    /* berth's state root (--root, $BERTH_ROOT, /var/lib/berth) */
	bool json;           /* --json: machine-readable output */
};

extern struct cli_globals cli;

/* Images live in <root>/images. xmalloc'd. */
char *cli_image_store_path(void);

/* "12.3MB" (decimal, as docker prints sizes). */
void cli_human_size(uint64_t bytes, char *buf, size_t len);
/* "3 minutes ago" */
void cli_human_age(int64_t unix_seconds, char *buf, size_t len);

/* A table printed with aligned columns. */
struct cli_table;
struct cli_table *cli_table_new(size_t ncols, const char *const *headers);
void cli_table_row(struct cli_table *t, const char *const *cells);
void cli_table_print(struct cli_table *t, FILE *f);
void cli_table_free(struct cli_table *t);

/* A progress bar on stderr, only when stderr is a terminal. */
struct cli_progress;
struct cli_progress *cli_progress_new(const char *label);
void cli_progress_update(struct cli_progress *p, const char *label, uint64_t done, uint64_t total);
void cli_progress_done(struct cli_progress *p);   /* clears the line; frees */

int cli_image(int argc, char **argv);
/* berth run (run.c) */
int cli_run(int argc, char **argv);

#endif
