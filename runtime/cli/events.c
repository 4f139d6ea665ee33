/* runtime/cli/events.c - berth events: task state changes (not built yet). */
#include "runtime/cli/cli.h"

int cli_events(int argc, char **argv)
{
	return cli_unsupported(argc, argv);
}
