/* runtime/cli/util.c - tables, sizes, ages, progress for the berth CLI */
#include "runtime/cli/cli.h"
#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct cli_globals cli;

char *cli_image_store_path(void)
{
	return xasprintf("%s/images", cli.root);
}

void cli_human_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1000 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%lluB", (unsigned long long)bytes);
	else
		snprintf(buf, len, v < 10 ? "%.2f%s" : v < 100 ? "%.1f%s" : "%.0f%s", v, units[u]);
}

void cli_human_age(int64_t t, char *buf, size_t len)
{
	int64_t d = (int64_t)time(NULL) - t;

	if (t <= 0)
		snprintf(buf, len, "unknown");
	else if (d < 60)
		snprintf(buf, len, "%s", d < 2 ? "just now" : "seconds ago");
	else if (d < 3600)
		snprintf(buf, len, "%lld minute%s ago", (long long)(d / 60), d / 60 == 1 ? "" : "s");
	else if (d < 86400)
		snprintf(buf, len, "%lld hour%s ago", (long long)(d / 3600), d / 3600 == 1 ? "" : "s");
	else
		snprintf(buf, len, "%lld day%s ago", (long long)(d / 86400), d / 86400 == 1 ? "" : "s");
}

struct cli_table {
	size_t ncols, nrows;
	char **cells;   /* (nrows + 1) * ncols, row 0 the headers */
};

struct cli_table *cli_table_new(size_t ncols, const char *const *headers)
{
	struct cli_table *t = xzalloc(sizeof(*t));

	t->ncols = ncols;
	cli_table_row(t, headers);
	return t;
}

void cli_table_row(struct cli_table *t, const char *const *cells)
{
	t->cells = xreallocarray(t->cells, (t->nrows + 1) * t->ncols, sizeof(char *));
	for (size_t c = 0; c < t->ncols; c++)
		t->cells[t->nrows * t->ncols + c] = xstrdup(cells[c] ? cells[c] : "");
	t->nrows++;
}

void cli_table_print(struct cli_table *t, FILE *f)
{
	size_t *w = xcalloc(t->ncols, sizeof(*w));

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t l = strlen(t->cells[r * t->ncols + c]);

			if (l > w[c])
				w[c] = l;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			if (c + 1 == t->ncols)
				fprintf(f, "%s\n", s);
			else
				fprintf(f, "%-*s   ", (int)w[c], s);
		}
	}
	free(w);
}

void cli_table_free(struct cli_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

struct cli_progress {
	char *label;
	bool tty;
	struct timespec last;
	bool shown;
};

struct cli_progress *cli_progress_new(const char *label)
{
	struct cli_progress *p = xzalloc(sizeof(*p));

	p->label = xstrdup(label);
	p->tty = isatty(STDERR_FILENO) && !cli.json;
	return p;
}

void cli_progress_update(struct cli_progress *p, const char *label, uint64_t done, uint64_t total)
{
	struct timespec now;
	char a[32], b[32], bar[31];
	int fill;

	if (!p->tty)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	/* at most ~10 redraws a second, and always the last one */
	if (done < total && p->shown &&
	    (now.tv_sec - p->last.tv_sec) * 1000 + (now.tv_nsec - p->last.tv_nsec) / 1000000 < 100)
		return;
	p->last = now;
	p->shown = true;
	if (label && strcmp(label, p->label)) {
		free(p->label);
		p->label = xstrdup(label);
	}
	fill = total ? (int)(done * 30 / (total ? total : 1)) : 0;
	if (fill > 30)
		fill = 30;
	memset(bar, '=', (size_t)fill);
	memset(bar + fill, ' ', (size_t)(30 - fill));
	bar[30] = '\0';
	if (fill > 0 && fill < 30)
		bar[fill - 1] = '>';
	cli_human_size(done, a, sizeof(a));
	cli_human_size(total, b, sizeof(b));
	fprintf(stderr, "\r\033[K%-28.28s [%s] %s/%s", p->label, bar, a, b);
	fflush(stderr);
}

void cli_progress_done(struct cli_progress *p)
{
	if (p == NULL)
		return;
	if (p->tty && p->shown) {
		fprintf(stderr, "\r\033[K");
		fflush(stderr);
	}
	free(p->label);
	free(p);
}
