/* berth-vm-poweroff N: end the test guest at once with status N.
 *
 * Writes N to QEMU's isa-debug-exit port (0xf4), after which QEMU exits with
 * status (N << 1) | 1. Without that device it falls back to reboot(2) power
 * off, so the guest never hangs at the end of a run. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>
#include <sys/reboot.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int rc = argc > 1 ? atoi(argv[1]) : 0;

	sync();
	if (ioperm(0xf4, 1, 1) == 0)
		outb((unsigned char)(rc & 0x7f), 0xf4);
	else
		perror("berth-vm-poweroff: ioperm 0xf4");
	reboot(RB_POWER_OFF);
	perror("berth-vm-poweroff: reboot");
	return 1;
}
