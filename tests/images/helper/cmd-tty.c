/* tests/images/helper/cmd-tty.c - `tty`: the process's terminal, as berth
 * exec -t must set it up (a session of its own whose controlling terminal
 * is its stdin, the process in the foreground). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "helper.h"

/* Field n (1-based, as proc(5) numbers them) of /proc/self/stat; -1 when
 * unreadable. The command name (field 2) may hold spaces: count after ')'. */
static long long stat_field(int n)
{
	char *txt = read_file("/proc/self/stat", 4096, NULL);
	char *p = txt ? strrchr(txt, ')') : NULL;
	long long v = -1;

	if (p) {
		int field = 2;

		for (p++; *p && field < n; p++)
			if (*p == ' ')
				field++;
		if (field == n)
			v = strtoll(p, NULL, 10);
	}
	free(txt);
	return v;
}

int cmd_tty(int argc, char **argv)
{
	struct jw w = { 0 };
	struct winsize ws;
	char name[256];
	int fd, ctty_err = 0;
	pid_t fg;

	if (argc > 1)
		husage("tty takes no arguments");
	jw_obj_begin(&w);
	jw_kbool(&w, "stdin_tty", isatty(0));
	jw_kbool(&w, "stdout_tty", isatty(1));
	jw_kbool(&w, "stderr_tty", isatty(2));
	jw_kstr(&w, "ttyname", ttyname_r(0, name, sizeof(name)) == 0 ? name : NULL);
	jw_kint(&w, "pid", getpid());
	jw_kint(&w, "sid", getsid(0));
	jw_kint(&w, "pgrp", getpgrp());
	/* proc(5): 7 tty_nr (0: no controlling terminal), 8 tpgid */
	jw_kint(&w, "tty_nr", stat_field(7));
	fg = tcgetpgrp(0);
	jw_kint(&w, "tcgetpgrp", fg);
	jw_kbool(&w, "foreground", fg >= 0 && fg == getpgrp());
	/* /dev/tty opens only for a process with a controlling terminal */
	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		ctty_err = errno;
	else
		close(fd);
	jw_kbool(&w, "ctty", fd >= 0);
	jw_kerrno(&w, "ctty_errno", ctty_err);
	if (ioctl(0, TIOCGWINSZ, &ws) == 0) {
		jw_kint(&w, "rows", ws.ws_row);
		jw_kint(&w, "cols", ws.ws_col);
	}
	jw_obj_end(&w);
	jw_emit(&w);
	jw_free(&w);
	return 0;
}
