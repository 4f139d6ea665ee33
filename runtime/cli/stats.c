/* runtime/cli/stats.c - berth stats: live resource use of tasks (not built yet). */
#include "runtime/cli/cli.h"

int cli_stats(int argc, char **argv)
{
	return cli_unsupported(argc, argv);
}
