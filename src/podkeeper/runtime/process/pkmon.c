/*
 * pkmon: the per-container monitor of podkeeper's process runtime (issue 13 item 6).
 *
 * The containerd-shim / conmon pattern: the monitor, not the agent, is the parent
 * of the container's main process, so the container neither dies nor loses its
 * exit status when the agent is killed. It lives in its own session, ignores the
 * signals a terminal or the agent's process group could send it, and exits right
 * after the container did, leaving the exit status in a file the agent (this one
 * or the next) reads.
 *
 *   pkmon STATUS_FILE NEWPID FD -- ARGV...
 *
 * NEWPID "1": the container is PID 1 of a new PID namespace (unshare(CLONE_NEWPID)
 * here, then fork), as runc makes it; "0": it shares the host's.
 * File descriptor FD is a pipe: pkmon writes the container's pid (as the host sees
 * it) there in decimal and closes it; any start-up failure is written there as
 * "error: ..." instead.
 * STATUS_FILE gets, once the container's main process has ended,
 *   "<exit code> <signal or 0> <finish time, ns since the epoch>\n"
 * written to STATUS_FILE.tmp and renamed, so readers never see half of it. The
 * exit code is 128+signal for a signal death (containerd's reaper). Before the
 * main process is reaped (its zombie keeps the process group id from being
 * reused), whatever is left of its process group is SIGKILLed, as the kernel
 * does to a PID namespace whose init dies.
 *
 * Built on demand by runtime/process/monitor.py with the host's C compiler.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const int ignored[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU};

static int pipe_fd = -1;

static int report(const char *msg) {
    dprintf(pipe_fd, "error: %s: %s\n", msg, strerror(errno));
    return 125;
}

int main(int argc, char **argv) {
    if (argc < 6 || strcmp(argv[4], "--") != 0) {
        fprintf(stderr, "usage: pkmon STATUS_FILE NEWPID FD -- ARGV...\n");
        return 125;
    }
    const char *status_file = argv[1];
    int newpid = argv[2][0] == '1';
    pipe_fd = atoi(argv[3]);
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) signal(ignored[i], SIG_IGN);
    if (newpid && unshare(CLONE_NEWPID) != 0) return report("unshare(CLONE_NEWPID)");
    pid_t child = fork();
    if (child < 0) return report("fork");
    if (child == 0) {
        /* Ignored signals stay ignored across exec: give the container the defaults. */
        for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) signal(ignored[i], SIG_DFL);
        setsid();
        close(pipe_fd);
        execvp(argv[5], argv + 5);
        fprintf(stderr, "pkmon: exec %s: %s\n", argv[5], strerror(errno));
        _exit(127);
    }
    dprintf(pipe_fd, "%d\n", (int)child);
    close(pipe_fd);

    siginfo_t si;
    memset(&si, 0, sizeof si);
    while (waitid(P_PID, child, &si, WEXITED | WNOWAIT) != 0) {
        if (errno != EINTR) return 125;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int sig = (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED) ? si.si_status : 0;
    int code = sig ? 128 + sig : si.si_status;

    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", status_file) < (int)sizeof tmp) {
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dprintf(fd, "%d %d %lld\n", code, sig,
                    (long long)ts.tv_sec * 1000000000LL + (long long)ts.tv_nsec);
            close(fd);
            rename(tmp, status_file);
        }
    }
    kill(-child, SIGKILL); /* the rest of its process group, while the zombie holds the id */
    waitpid(child, NULL, 0);
    return 0;
}
