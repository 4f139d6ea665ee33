/* tests/images/helper/main.c - berth-testhelper: the static multi-call binary
 * that berth's test images carry and the integration (VM) suites drive, in
 * the spirit of crun's tests/init.c.
 *
 *     berth-testhelper CMD [ARGS]      or a symlink named CMD (e.g. memhog)
 *
 * Every command prints its results as JSON objects, one per line, on stdout
 * (each line written with one write(), so nothing waits in a buffer when the
 * process is killed) and diagnostics on stderr. Exit status 2 means a usage
 * error. `--help` lists the commands; `CMD --help` shows one. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"

const char *helper_cmd;
int helper_argc;
char **helper_argv;
int helper_start_fds[64];
int helper_start_nfds;

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
};

static const struct command commands[] = {
	{ "info", cmd_info, "info\n"
	  "    identity, groups, argv, env, cwd, hostname, capabilities, no_new_privs,\n"
	  "    seccomp mode, cgroup, mounts, rlimits, open fds and umask as one object" },
	{ "ids", cmd_ids, "ids\n"
	  "    {\"uid\",\"euid\",\"suid\",\"gid\",\"egid\",\"sgid\"} (used by escape setuid-gain)" },
	{ "sleep", cmd_sleep, "sleep SECONDS\n"
	  "    sleep (fractions allowed, 'inf' for ever); default signal dispositions,\n"
	  "    so as PID 1 of a pid namespace it ignores SIGTERM like a real app would" },
	{ "exit", cmd_exit, "exit N\n    exit with status N (0-255)" },
	{ "echo", cmd_echo, "echo ARGS...\n    {\"argv\":[ARGS...]}" },
	{ "cat", cmd_cat, "cat [--json] FILE\n"
	  "    copy FILE to stdout raw; with --json print {\"path\",\"content\"} or\n"
	  "    {\"path\",\"errno\"}; exit 1 when FILE cannot be read" },
	{ "write", cmd_write, "write [--append] FILE TEXT\n"
	  "    write TEXT to FILE (created 0644); {\"path\",\"written\",\"errno\"}, exit 1 on error" },
	{ "signals", cmd_signals, "signals [--exit-on SIG,...] [--ignore SIG,...] [--exit-code N]\n"
	  "    print {\"ready\":true,\"pid\":N} once handlers are in place, then\n"
	  "    {\"signal\":\"SIGTERM\"} for each of TERM INT HUP QUIT USR1 USR2 (plus any\n"
	  "    --exit-on signal); exit N (default 0) on an --exit-on signal\n"
	  "    (default TERM,INT); --ignore sets SIG_IGN and prints nothing" },
	{ "ps", cmd_ps, "ps\n"
	  "    {\"pid\",\"ppid\",\"state\",\"uid\",\"comm\",\"cmdline\":[...]} for each process\n"
	  "    in /proc (the processes of the pid namespace whose procfs that is)" },
	{ "kill", cmd_kill, "kill SIG PID\n"
	  "    send SIG (TERM, SIGTERM, 15) to PID: {\"pid\",\"signal\",\"errno\"}, exit 1\n"
	  "    when kill() failed" },
	{ "spew", cmd_spew, "spew LINES [--bytes N]\n"
	  "    LINES lines of N bytes (default 100, at least 11) on stdout as fast as it\n"
	  "    can: line i is i as ten digits, a space, then 'x's; {\"spewed\",\"bytes\"} on stderr" },
	{ "http-server", cmd_http_server,
	  "http-server --port P [--body TEXT|@FILE] [--status N] [--health-status N] [--delay-ms N]\n"
	  "              [--log-requests]   one {\"request\",\"path\",\"status\"} line per request\n"
	  "    HTTP/1.0 and 1.1 keep-alive server on 0.0.0.0 and [::] (port 0: any free);\n"
	  "    GET /health -> health status (default 200, body \"ok\\n\"), anything else ->\n"
	  "    status (default 200) with the body (default \"hello from HOSTNAME\\n\");\n"
	  "    prints {\"listening\":P}; SIGTERM/SIGINT print {\"signal\",\"requests\"} and exit 0" },
	{ "tcp-echo", cmd_tcp_echo, "tcp-echo --port P\n"
	  "    concurrent TCP echo server; prints {\"listening\":P}" },
	{ "udp-echo", cmd_udp_echo, "udp-echo --port P\n"
	  "    UDP echo server; prints {\"listening\":P}" },
	{ "tcp-send", cmd_tcp_send, "tcp-send HOST PORT MSG [--timeout S]\n"
	  "    connect, send MSG, half-close, read until EOF: {\"reply\":\"...\"};\n"
	  "    exit 7 on connect failure or timeout (default 5 s), 6 unknown host" },
	{ "udp-send", cmd_udp_send, "udp-send HOST PORT MSG [--timeout S]\n"
	  "    send MSG (3 tries within the timeout, default 3 s), print the first\n"
	  "    datagram back as {\"reply\":\"...\"}; exit 7 on no reply / refused" },
	{ "tcp-proxy", cmd_tcp_proxy, "tcp-proxy LISTEN_PORT NETNS_PATH HOST PORT\n"
	  "    listen on 0.0.0.0:LISTEN_PORT here, connect to HOST:PORT from inside the\n"
	  "    network namespace NETNS_PATH (needs CAP_SYS_ADMIN), relay; prints {\"listening\":P}" },
	{ "http-get", cmd_http_get, "http-get URL [--header K:V]... [--timeout S]\n"
	  "    GET http://HOST[:PORT]/PATH; body raw on stdout, {\"status\",\"bytes\"} on\n"
	  "    stderr; exit 0 on 2xx, 22 other status, 7 connect failure/timeout,\n"
	  "    6 unknown host, 8 malformed reply. HOST: IPv4, [IPv6] or a name (see resolve)" },
	{ "resolve", cmd_resolve, "resolve NAME\n"
	  "    {\"name\",\"addresses\":[...]} the way http-get/tcp-send/udp-send resolve; exit 6\n"
	  "    if unknown. In order: an IPv4/IPv6 literal; /etc/hosts ($BERTH_HOSTS_FILE\n"
	  "    instead when set); localhost; then DNS: A records (IPv4 only) from the\n"
	  "    nameservers of /etc/resolv.conf ($BERTH_RESOLV_CONF instead when set), the\n"
	  "    first 3, each in order, one UDP query each with a 2 s timeout (TCP when the\n"
	  "    reply is truncated); NXDOMAIN or an answer without A records is final, a\n"
	  "    timeout, SERVFAIL, REFUSED or a malformed reply moves on to the next server.\n"
	  "    A NAME without a dot is tried with each 'search' (or 'domain') suffix first,\n"
	  "    then as it is; a dotted NAME only as it is ('options ndots' is ignored).\n"
	  "    berth-testhelper extension: 'nameserver IPv4:PORT' / '[IPv6]:PORT'" },
	{ "dns-query", cmd_dns_query,
	  "dns-query NAME [--type A|AAAA|SRV|SOA|CNAME|NS|PTR|MX|TXT|ANY|N] [--server IP[:PORT]]\n"
	  "          [--tcp] [--timeout S]\n"
	  "    one query (RD set, random ID) to --server (IPv4[:PORT], IPv6, [IPv6]:PORT;\n"
	  "    default: the first nameserver of resolv.conf, as for resolve), over UDP\n"
	  "    (again over TCP when the reply has TC set: \"tcp\":true) or TCP; timeout\n"
	  "    default 5 s. Prints {\"name\",\"type\",\"server\",\"tcp\",\"rcode\",\"aa\",\"tc\",\n"
	  "    \"ra\",\"answers\",\"authority\",\"additional\"}, records in message order as\n"
	  "    {\"name\",\"type\",\"ttl\", A/AAAA/CNAME/NS/PTR: \"data\"; SRV: \"priority\",\n"
	  "    \"weight\",\"port\",\"target\"; SOA: \"mname\",\"rname\",\"serial\",\"refresh\",\n"
	  "    \"retry\",\"expire\",\"minimum\"; MX: \"preference\",\"exchange\"; TXT: \"data\":[..];\n"
	  "    others: \"rdlength\"}. Exit 0 NOERROR (with or without answers), 6 NXDOMAIN,\n"
	  "    9 another rcode, 7 timeout/unreachable/no nameserver ({\"error\":\"ETIMEDOUT\"}),\n"
	  "    8 malformed reply: wrong ID or question, bad lengths or names\n"
	  "    ({\"error\":\"malformed reply\",\"detail\"})" },
	{ "dns-serve", cmd_dns_serve,
	  "dns-serve [--address A] --port P [--record NAME=IP]... [--ttl N]\n"
	  "    authoritative DNS server on A (default 0.0.0.0) port P (0: any free), UDP\n"
	  "    and TCP: an IPv4 record answers A queries, an IPv6 one AAAA (names\n"
	  "    case-insensitive, repeat --record for several); NXDOMAIN for other names,\n"
	  "    NOERROR without answers for other types; negative answers carry an SOA\n"
	  "    (owner '.', minimum = TTL); TTL default 10. UDP replies over 512 bytes\n"
	  "    are sent truncated (TC). Prints {\"listening\":\"A:P\"}, then 'query NAME\n"
	  "    TYPE from IP' on stderr per query; SIGTERM prints {\"signal\",\"queries\"}\n"
	  "    and exits 0" },
	{ "memhog", cmd_memhog, "memhog MIB [--step MIB] [--hold SECONDS|inf]\n"
	  "    allocate and touch MIB MiB in steps (default 4), {\"allocated_mib\":N} per\n"
	  "    step, {\"done\":true,...} at the end, then hold (default inf)" },
	{ "cpuburn", cmd_cpuburn, "cpuburn [--ms N] [--threads N]\n"
	  "    spin N threads (default 1) for N ms wall (default 1000), then print\n"
	  "    {\"wall_ms\",\"cpu_ms\",\"ratio\",\"threads\"} (cpu = process CPU time)" },
	{ "forkbomb", cmd_forkbomb, "forkbomb [--max N] [--hold-ms N]\n"
	  "    fork pausing children until fork fails or N (default 10000):\n"
	  "    {\"forked\":N,\"errno\":\"EAGAIN\"|null}; hold, then kill and reap all:\n"
	  "    {\"reaped\":N}" },
	{ "diskfill", cmd_diskfill, "diskfill PATH [--max-mib N] [--unlink]\n"
	  "    write PATH (or PATH/diskfill.bin for a directory) in 1 MiB chunks until an\n"
	  "    error or N MiB, fsync: {\"written_mib\",\"errno\",\"path\"}; exit 0 when it\n"
	  "    stopped at ENOSPC/EDQUOT or N MiB, 1 otherwise" },
	{ "tty", cmd_tty, "tty\n"
	  "    {\"stdin_tty\",\"stdout_tty\",\"stderr_tty\",\"ttyname\",\"pid\",\"sid\",\"pgrp\",\"tty_nr\",\n"
	  "    \"tcgetpgrp\",\"foreground\",\"ctty\",\"ctty_errno\",\"rows\",\"cols\"}: the terminal\n"
	  "    of stdin, the session and whether /dev/tty opens (a controlling terminal)" },
	{ "escape", cmd_escape, "escape NAME [--path P] | --all [--path P] | --list\n"
	  "    named container escape attempts, each undone if it worked:\n"
	  "    {\"escape\",\"result\":\"denied|allowed|inconclusive\",\"errno\",\"detail\"};\n"
	  "    NAME exits 0 denied, 1 allowed, 3 inconclusive; --all exits with the\n"
	  "    number allowed. NEVER run NAME/--all outside a container." },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_help(void)
{
	char line[256];
	size_t i;

	snprintf(line, sizeof(line),
		 "usage: berth-testhelper CMD [ARGS]   (or through a symlink named CMD)\n"
		 "Results: one JSON object per line on stdout; diagnostics on stderr.\n\n"
		 "commands:\n");
	(void)write_all(STDOUT_FILENO, line, strlen(line));
	for (i = 0; i < N_COMMANDS; i++) {
		(void)write_all(STDOUT_FILENO, "  ", 2);
		(void)write_all(STDOUT_FILENO, commands[i].usage, strlen(commands[i].usage));
		(void)write_all(STDOUT_FILENO, "\n", 1);
	}
}

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/* Before anything else opens a descriptor: what did we inherit? */
static void snapshot_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d) {
		/* no /proc: probe the low numbers */
		for (int fd = 3; fd < 1024 && helper_start_nfds < 64; fd++)
			if (fcntl(fd, F_GETFD) >= 0)
				helper_start_fds[helper_start_nfds++] = fd;
		return;
	}
	while ((de = readdir(d)) && helper_start_nfds < 64) {
		long long fd;

		if (!parse_ll(de->d_name, 0, 1 << 30, &fd) || fd <= 2 || fd == dirfd(d))
			continue;
		helper_start_fds[helper_start_nfds++] = (int)fd;
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	const struct command *cmd;
	const char *base;

	snapshot_fds();
	helper_argc = argc;
	helper_argv = argv;

	base = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;
	base = base ? base + 1 : (argc > 0 && argv[0] ? argv[0] : "");
	cmd = find_command(base);
	if (!cmd) {
		if (argc < 2) {
			helper_cmd = "";
			hdiag("missing command (see --help)");
			return EXIT_USAGE;
		}
		if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
			print_help();
			return 0;
		}
		cmd = find_command(argv[1]);
		if (!cmd) {
			helper_cmd = "";
			hdiag("unknown command '%s' (see --help)", argv[1]);
			return EXIT_USAGE;
		}
		argc--;
		argv++;
	}
	helper_cmd = cmd->name;
	/* echo prints whatever it is given */
	if (cmd->fn != cmd_echo && argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		(void)write_all(STDOUT_FILENO, "usage: berth-testhelper ", 24);
		(void)write_all(STDOUT_FILENO, cmd->usage, strlen(cmd->usage));
		(void)write_all(STDOUT_FILENO, "\n", 1);
		return 0;
	}
	return cmd->fn(argc, argv);
}
