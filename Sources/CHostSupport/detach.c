#define _GNU_SOURCE
#include "CHostSupport.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int hc_spawn_detached(const char *path, char *const *argv, char *const *envp, int output_fd) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) return -1;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t child = fork();
    if (child == 0) {
        // Only async-signal-safe calls from here to exec.
        setsid();
        pid_t daemon = fork();
        if (daemon != 0) _exit(daemon < 0 ? 127 : 0);
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; sig++) {
            if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &action, NULL);
        }
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int out = fcntl(output_fd, F_DUPFD_CLOEXEC, 10);
        if (null < 0 || out < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) goto fail;
        syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
        pid_t self = getpid();
        ssize_t ignored = write(report[1], &self, sizeof self);
        (void)ignored;
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(path, argv, envp);
    fail:;
        int error = -errno;
        ignored = write(report[1], &error, sizeof error);
        (void)ignored;
        _exit(127);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(report[1]);
    if (child < 0) {
        close(report[0]);
        errno = fork_errno;
        return -1;
    }
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    int values[2] = {0, 0};
    int count = 0;
    for (;;) {
        int value;
        ssize_t got = read(report[0], &value, sizeof value);
        if (got < 0 && errno == EINTR) continue;
        if (got != sizeof value) break;
        if (count < 2) values[count++] = value;
    }
    close(report[0]);
    if (count == 0) {
        errno = ECHILD;
        return -1;
    }
    if (count > 1 && values[1] < 0) {
        errno = -values[1];
        return -1;
    }
    if (values[0] < 0) {
        errno = -values[0];
        return -1;
    }
    return values[0];
}

int hc_block_signals(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    return pthread_sigmask(SIG_BLOCK, &set, NULL) == 0 ? 0 : -1;
}

int hc_wait_signal(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    int sig = 0;
    for (;;) {
        int result = sigwait(&set, &sig);
        if (result == 0) return sig;
        if (result != EINTR) return -1;
    }
}
