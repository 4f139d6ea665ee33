/* runtime/container/childmsg.h - the one message a container's child sends
 * back over the sync socket when a step fails.
 *
 * Shared by the launcher (launch.c) and berth-init's exec mode, which does
 * the container's final execve (runtime/init/berth_init.c): no berth
 * dependencies, plain C only. */
#ifndef BERTH_RUNTIME_CONTAINER_CHILDMSG_H
#define BERTH_RUNTIME_CONTAINER_CHILDMSG_H

/* The step, the errno and a short detail (paths, names). Fixed size: one
 * SOCK_SEQPACKET message. */
struct ctr_child_msg {
	char step[32];
	int err;
	char detail[476];
};

/* argv[0] that puts berth-init in exec mode:
 *
 *     berth-exec SYNC_FD N CANDIDATE_1 .. CANDIDATE_N ARGV...
 *
 * execve each candidate path in turn with ARGV and the environment, the way
 * the launcher's PATH search ordered them; on failure send a ctr_child_msg
 * (step "exec") on SYNC_FD and exit 127. SYNC_FD is made close-on-exec first,
 * so the launcher sees EOF exactly when the program has been exec'd. */
#define CTR_EXEC_ARGV0 "berth-exec"

/* argv[1] that puts berth-init in pause mode (`berth-init --pause`): the
 * holder of a task's shared pid namespace (pidMode task). As PID 1 it reaps
 * every process that ends up as its child, for as long as it runs, and
 * exits 0 on SIGTERM or SIGINT sent from outside its pid namespace (the
 * supervisor); the same signals from a process of the task are ignored, as
 * is everything else. Not PID 1 (tests): a child subreaper that exits on
 * SIGTERM or SIGINT from anyone. Non-dumpable, so the task's containers,
 * which see it, cannot open its /proc files. */
#define CTR_PAUSE_ARG "--pause"

#endif
