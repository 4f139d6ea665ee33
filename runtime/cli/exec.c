/* runtime/cli/exec.c - berth exec: run a process in a running container (not built yet). */
#include "runtime/cli/cli.h"

int cli_exec(int argc, char **argv)
{
	return cli_unsupported(argc, argv);
}
