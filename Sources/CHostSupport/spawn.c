#define _GNU_SOURCE
#include "CHostSupport.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

// Everything between fork and exec below uses only async-signal-safe calls: the daemon is
// multi-threaded, and after fork only the calling thread exists, with any lock it did not hold
// possibly held forever. No malloc, no stdio, no Swift.

typedef struct message {
    int32_t kind;   // 1: worker pid; 2: failure (step, error)
    int32_t a;
    int32_t b;
} message;

static void send_message(int fd, int32_t kind, int32_t a, int32_t b) {
    message m = {kind, a, b};
    ssize_t ignored = write(fd, &m, sizeof m);
    (void)ignored;
}

static void reset_signals(void) {
    // SIG_IGN survives exec (NIO ignores SIGPIPE); handlers do not, but reset all to be plain.
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        sigaction(sig, &action, NULL);
    }
}

// Moves `fd` above every target descriptor so that dup2 onto 0..3 never clobbers a source.
static int lift(int fd) {
    if (fd < 0 || fd > 3) return fd;
    return fcntl(fd, F_DUPFD_CLOEXEC, 10);
}

static void write_pid(char *slot, pid_t pid) {
    // slot points after "LISTEN_PID="; room for 10 digits and the NUL.
    char digits[12];
    int n = 0;
    unsigned int value = (unsigned int)pid;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value && n < 10);
    for (int i = 0; i < n; i++) slot[i] = digits[n - 1 - i];
    slot[n] = '\0';
}

static void run_worker(const hc_spawn_request *r, int report_fd, pid_t keeper) {
    int step = HC_STEP_SETSID;
    // A new session: the worker leads its own process group, so the whole group can be signalled.
    if (setsid() < 0) goto fail;
    // The worker dies with its keeper; re-check in case the keeper died before prctl took effect.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != keeper) _exit(127);
    step = HC_STEP_CHDIR;
    if (r->cwd && chdir(r->cwd) < 0) goto fail;
    if (r->set_ids) {
        // setgroups and setgid before setuid: after setuid a non-root process can no longer change groups.
        step = HC_STEP_SETGROUPS;
        if (setgroups((size_t)r->ngroups, r->groups) < 0) goto fail;
        step = HC_STEP_SETGID;
        if (setgid(r->gid) < 0) goto fail;
        step = HC_STEP_SETUID;
        if (setuid(r->uid) < 0) goto fail;
    }
    step = HC_STEP_DUP;
    int in = r->stdin_fd;
    if (in < 0) {
        in = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (in < 0) goto fail;
    }
    int sources[4] = {lift(in), lift(r->stdout_fd), lift(r->stderr_fd), lift(r->handoff_fd)};
    for (int target = 0; target < 4; target++) {
        if (sources[target] < 0) {
            if (target == 3) close(3);
            continue;
        }
        if (dup2(sources[target], target) < 0) goto fail;
    }
    // Everything else is closed at exec (the report pipe included, which is how the daemon learns that exec worked).
    if (syscall(SYS_close_range, 4U, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        for (int fd = 4; fd < 65536; fd++) {
            if (fd != report_fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
    }
    if (r->listen_pid_index >= 0) {
        char *entry = r->envp[r->listen_pid_index];
        write_pid(entry + strlen("LISTEN_PID="), getpid());
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    step = HC_STEP_EXEC;
    execve(r->path, r->argv, r->envp);
fail:
    send_message(report_fd, 2, step, errno);
    _exit(127);
}

static void mirror_exit(int status) {
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        // Die of the same signal, without a core file of the keeper.
        struct rlimit none = {0, 0};
        setrlimit(RLIMIT_CORE, &none);
        signal(sig, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        kill(getpid(), sig);
        _exit(128 + sig);
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 127);
}

// Closes every descriptor from 3 up except those in `keep` (the keeper must not hold the daemon's
// listeners, control socket or other workers' pipes).
static void close_except(int *keep, int n) {
    // Sort the few descriptors to keep (insertion sort: no library calls).
    for (int i = 1; i < n; i++) {
        int v = keep[i], j = i - 1;
        while (j >= 0 && keep[j] > v) {
            keep[j + 1] = keep[j];
            j--;
        }
        keep[j + 1] = v;
    }
    unsigned int from = 3;
    for (int i = 0; i < n; i++) {
        if (keep[i] < (int)from) continue;
        if ((unsigned int)keep[i] > from) syscall(SYS_close_range, from, (unsigned int)keep[i] - 1, 0U);
        from = (unsigned int)keep[i] + 1;
    }
    syscall(SYS_close_range, from, ~0U, 0U);
}

static void run_keeper(const hc_spawn_request *r, int report_fd, pid_t daemon) {
    reset_signals();
    int keep[5] = {report_fd, r->stdin_fd, r->stdout_fd, r->stderr_fd, r->handoff_fd};
    close_except(keep, 5);
    // Signals stay blocked (the daemon blocked them all around fork); the keeper takes them with sigtimedwait.
    // SIGUSR1 is the parent-death signal: the daemon died.
    prctl(PR_SET_PDEATHSIG, SIGUSR1);
    if (getppid() != daemon) _exit(127);
    prctl(PR_SET_NAME, "hostctl-keeper");  // so that `ps -o comm` and `top` tell keepers from the daemon
    setsid();  // out of the daemon's process group, so a Ctrl-C at the daemon's terminal is the daemon's alone
    pid_t keeper = getpid();
    // vfork: the keeper is one thread with a copy of the daemon's whole address space; the worker
    // borrows it until its exec instead of copying its page tables only to drop them (1-3 ms off the
    // median restart in paired runs with 40 apps). run_worker ends in execve or _exit, changes no memory
    // the keeper reads afterwards (only the LISTEN_PID slot of the request's environment) and makes
    // only system calls; the keeper, all its signals blocked, waits until then.
    pid_t worker = vfork();
    if (worker < 0) {
        send_message(report_fd, 2, HC_STEP_FORK, errno);
        _exit(127);
    }
    if (worker == 0) run_worker(r, report_fd, keeper);
    send_message(report_fd, 1, worker, 0);
    close(report_fd);
    // The worker's descriptors are the worker's: the keeper keeps none of them open.
    if (r->stdout_fd > 2) close(r->stdout_fd);
    if (r->stderr_fd > 2) close(r->stderr_fd);
    if (r->handoff_fd > 2) close(r->handoff_fd);
    for (int fd = 0; fd < 3; fd++) close(fd);

    sigset_t wanted;
    sigemptyset(&wanted);
    sigaddset(&wanted, SIGUSR1);
    sigaddset(&wanted, SIGCHLD);
    sigaddset(&wanted, SIGTERM);
    sigaddset(&wanted, SIGINT);
    sigaddset(&wanted, SIGHUP);
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&wanted, &info);
        if (sig < 0) continue;
        if (sig == SIGCHLD) {
            int status;
            pid_t done = waitpid(worker, &status, WNOHANG);
            if (done == worker) mirror_exit(status);
            continue;
        }
        if (sig == SIGUSR1 && getppid() == daemon) continue;
        // The daemon is gone (or someone asked the keeper to stop): nothing of the worker may outlive it.
        kill(-worker, SIGKILL);
        kill(worker, SIGKILL);
        int status;
        while (waitpid(worker, &status, 0) < 0 && errno == EINTR) {}
        _exit(137);
    }
}

int hc_spawn(const hc_spawn_request *request, hc_spawn_result *result) {
    memset(result, 0, sizeof *result);
    result->keeper_pidfd = -1;
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) {
        result->error = errno;
        result->step = HC_STEP_PIPE;
        return -1;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t daemon = getpid();
    pid_t keeper = fork();
    if (keeper == 0) {
        close(report[0]);
        run_keeper(request, report[1], daemon);
        _exit(127);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(report[1]);
    if (keeper < 0) {
        close(report[0]);
        result->error = fork_errno;
        result->step = HC_STEP_FORK;
        return -1;
    }
    result->keeper_pid = keeper;
    result->keeper_pidfd = hc_pidfd_open(keeper);
    // Read until EOF: the keeper closes its end after sending the worker's pid, the worker's end
    // closes at exec. A failure message arrives before EOF.
    message m;
    ssize_t got;
    size_t have = 0;
    char *buffer = (char *)&m;
    for (;;) {
        got = read(report[0], buffer + have, sizeof m - have);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        have += (size_t)got;
        if (have < sizeof m) continue;
        have = 0;
        if (m.kind == 1) result->worker_pid = m.a;
        if (m.kind == 2 && result->error == 0) {
            result->step = m.a;
            result->error = m.b;
        }
    }
    close(report[0]);
    if (result->worker_pid == 0 && result->error == 0) {
        result->error = ECHILD;
        result->step = HC_STEP_KEEPER;
    }
    return result->error == 0 ? 0 : -1;
}

int hc_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int hc_pidfd_send_signal(int pidfd, int signal) { return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0); }

int hc_pipe_cloexec(int *fds, int extra_flags) { return pipe2(fds, O_CLOEXEC | extra_flags); }

int hc_reserve(int fd, int64_t offset, int64_t length) {
    return fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
}

int hc_pidfd_reap(int pidfd, int *status) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED | WNOHANG) < 0) return -1;
    if (info.si_pid == 0) return 0;
    if (info.si_code == CLD_EXITED) {
        *status = (info.si_status & 0xff) << 8;
    } else {
        *status = info.si_status & 0x7f;
    }
    return 1;
}

int hc_wifexited(int status) { return WIFEXITED(status); }
int hc_wexitstatus(int status) { return WEXITSTATUS(status); }
int hc_wifsignaled(int status) { return WIFSIGNALED(status); }
int hc_wtermsig(int status) { return WTERMSIG(status); }
