#define _GNU_SOURCE
#include "CHostSupport.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
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
    int32_t kind;   // 1: worker pid; 2: failure (step, error); 3: keeper pid (from the forker)
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
    // The report pipe must survive the descriptors' move onto 0..3 (the forker's keepers get it as 3).
    int lifted = lift(report_fd);
    if (lifted >= 0) report_fd = lifted;
    int step = HC_STEP_SETPGID;
    // The worker leads its own process group, so the whole group can be signalled. Not a session of
    // its own: with the kernel's autogroup scheduling every new session is a new scheduling group,
    // and a new group's threads waited up to 130 ms for a CPU while older groups ran (p99 of
    // requests through back-to-back reloads: 25-44 ms, against 8-11 ms in the daemon's session).
    // In the daemon's session, the daemon and its workers are one scheduling group, as they are one
    // cgroup under systemd. (A session for all workers apart from the daemon's made reloads three
    // times slower under load: starting workers then competed only with the busy ones.)
    if (setpgid(0, 0) < 0) goto fail;
    // A lower priority only (always allowed); the daemon gives the group its own back once ready.
    if (r->idle_policy) {
        struct sched_param param = {0};
        sched_setscheduler(0, SCHED_IDLE, &param);
    }
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
    setpgid(0, 0);  // out of the daemon's process group, so a Ctrl-C at the daemon's terminal is the daemon's alone
    pid_t keeper = getpid();
    // vfork: the keeper is one thread with a copy of the forker's (or, without a forker, the daemon's)
    // address space; the worker borrows it until its exec instead of copying its page tables only to
    // drop them (1-3 ms off the median restart in paired runs with 40 apps, before the forker). run_worker ends in execve or _exit, changes no memory
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

// ---- The forker ----
//
// Forking the daemon write-protects all of its memory: afterwards every page one of its threads
// writes takes a copy-on-write fault and a TLB shootdown on the other CPUs. With a fork per keeper,
// back-to-back reloads spent 17% of the daemon's CPU in those faults, in the proxy's threads. So
// the daemon forks one process, the forker, at its first spawn, and the forker forks every keeper
// with CLONE_PARENT: the keeper is the daemon's child as before (reaped through its pidfd, its
// parent-death signal tied to the daemon), but nobody's memory is write-protected but the
// forker's, which does nothing else.
//
// The forker is a fork of a multi-threaded process: like a keeper it makes only system calls (no
// malloc: it keeps its buffer with mmap). Requests come over a socket pair, one at a time: a header,
// the descriptors as SCM_RIGHTS, then the strings. The forker answers on the request's report pipe
// with the keeper's pid; the rest comes from the keeper as before.

typedef struct wire_header {
    uint32_t length;  // bytes after the header: the groups, then path, cwd, argv and envp, each NUL-terminated
    int32_t listen_pid_index;
    int32_t set_ids;
    uint32_t uid;
    uint32_t gid;
    int32_t ngroups;
    int32_t argc;
    int32_t envc;
    int32_t has_cwd;
    int32_t idle_policy;
    int32_t fds;  // bit i: descriptor i of (report, stdin, stdout, stderr, handoff) is attached, in that order
} wire_header;

enum { WIRE_FDS = 5, WIRE_MAX_LENGTH = 64 << 20, WIRE_MAX_GROUPS = 65536 };

static pthread_mutex_t forker_lock = PTHREAD_MUTEX_INITIALIZER;
static int forker_fd = -1;
static pid_t forker_pid = -1;

static int read_full(int fd, char *buffer, size_t length) {
    size_t have = 0;
    while (have < length) {
        ssize_t got = read(fd, buffer + have, length - have);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        have += (size_t)got;
    }
    return 0;
}

// The next NUL-terminated string at *cursor before `end`, or NULL.
static char *next_string(char **cursor, char *end) {
    char *start = *cursor;
    char *nul = memchr(start, '\0', (size_t)(end - start));
    if (!nul) return NULL;
    *cursor = nul + 1;
    return start;
}

// Receives one request into `r` (its strings in *buffer, grown with mmap) and its descriptors into
// `fds` (-1 where none came). -1 when the daemon closed its end or the request is malformed.
static int forker_receive(int fd, hc_spawn_request *r, int fds[WIRE_FDS], char **buffer, size_t *capacity) {
    wire_header h;
    union {
        char bytes[CMSG_SPACE(WIRE_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {&h, sizeof h};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof control.bytes;
    ssize_t got;
    do {
        got = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
    } while (got < 0 && errno == EINTR);
    int received[WIRE_FDS];
    int count = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < n && count < WIRE_FDS; i++) memcpy(&received[count++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
    // The header's bits say which of the five the descriptors that came are, in order.
    int expected = 0;
    for (int i = 0; i < WIRE_FDS; i++) {
        fds[i] = -1;
        if (got != (ssize_t)sizeof h || !(h.fds & (1 << i))) continue;
        if (expected < count) fds[i] = received[expected];
        expected++;
    }
    if (got != (ssize_t)sizeof h || expected != count || (msg.msg_flags & MSG_CTRUNC) || h.length > WIRE_MAX_LENGTH ||
        h.ngroups < 0 || h.ngroups > WIRE_MAX_GROUPS || h.argc < 1 || h.envc < 0 ||
        h.argc > WIRE_MAX_LENGTH / 2 || h.envc > WIRE_MAX_LENGTH / 2)
        goto malformed;
    // The strings, then (8-byte aligned) the argv and envp pointer arrays.
    size_t pointers = ((size_t)h.length + 7) & ~(size_t)7;
    size_t need = pointers + ((size_t)h.argc + (size_t)h.envc + 2) * sizeof(char *);
    if (need > *capacity) {
        if (*buffer) munmap(*buffer, *capacity);
        size_t size = (need + 65535) & ~(size_t)65535;
        void *area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        *buffer = NULL;
        *capacity = 0;
        if (area == MAP_FAILED) goto malformed;
        *buffer = area;
        *capacity = size;
    }
    if (read_full(fd, *buffer, h.length) < 0) goto malformed;
    char *cursor = *buffer + (size_t)h.ngroups * sizeof(gid_t);
    char *end = *buffer + h.length;
    if (cursor > end) goto malformed;
    memset(r, 0, sizeof *r);
    r->groups = (const gid_t *)*buffer;
    r->ngroups = h.ngroups;
    r->set_ids = h.set_ids;
    r->uid = h.uid;
    r->gid = h.gid;
    r->idle_policy = h.idle_policy;
    r->listen_pid_index = h.listen_pid_index < h.envc ? h.listen_pid_index : -1;
    r->stdin_fd = fds[1];
    r->stdout_fd = fds[2];
    r->stderr_fd = fds[3];
    r->handoff_fd = fds[4];
    if (!(r->path = next_string(&cursor, end))) goto malformed;
    if (h.has_cwd && !(r->cwd = next_string(&cursor, end))) goto malformed;
    char **argv = (char **)(*buffer + pointers);
    char **envp = argv + h.argc + 1;
    for (int i = 0; i < h.argc; i++)
        if (!(argv[i] = next_string(&cursor, end))) goto malformed;
    argv[h.argc] = NULL;
    for (int i = 0; i < h.envc; i++)
        if (!(envp[i] = next_string(&cursor, end))) goto malformed;
    envp[h.envc] = NULL;
    r->argv = argv;
    r->envp = envp;
    return 0;
malformed:
    for (int i = 0; i < count; i++) close(received[i]);
    return -1;
}

static void forker_loop(int fd, pid_t daemon) {
    char *buffer = NULL;
    size_t capacity = 0;
    for (;;) {
        hc_spawn_request r;
        int fds[WIRE_FDS];
        // The daemon closed its end (it exited) or sent what it never sends: the forker is done,
        // and the daemon forks a new one at its next spawn.
        if (forker_receive(fd, &r, fds, &buffer, &capacity) < 0) _exit(0);
        int report = fds[0];
        // A raw clone: glibc's fork would run the daemon's atfork handlers, whose locks may be held forever here.
        pid_t keeper = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
        if (keeper == 0) {
            run_keeper(&r, report, daemon);
            _exit(127);
        }
        if (keeper < 0) {
            send_message(report, 2, HC_STEP_FORK, errno);
        } else {
            send_message(report, 3, keeper, 0);
        }
        for (int i = 0; i < WIRE_FDS; i++)
            if (fds[i] >= 0) close(fds[i]);
    }
}

// fork() with every signal blocked around it: the child keeps them all blocked (no handler of the
// daemon's may run in it), the parent gets its mask back. errno is fork's.
static pid_t fork_blocked(void) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) return 0;
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = fork_errno;
    return pid;
}

// Forks the forker. Called with forker_lock held.
static int forker_start(void) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) return -1;
    pid_t daemon = getpid();
    pid_t pid = fork_blocked();
    if (pid == 0) {
        int keep[1] = {pair[1]};
        close_except(keep, 1);
        // Nothing of the daemon's standard descriptors stays open in it (a pipe would never see EOF).
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int target = 0; target < 3; target++) {
            if (null >= 0) {
                dup2(null, target);
            } else {
                close(target);
            }
        }
        if (null > 2) close(null);
        // Out of the daemon's process group (a Ctrl-C at its terminal is the daemon's alone), but in
        // its session, like the keepers and workers (see run_worker).
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != daemon) _exit(0);
        prctl(PR_SET_NAME, "hostctl-forker");
        forker_loop(pair[1], daemon);
        _exit(0);
    }
    int fork_errno = errno;
    close(pair[1]);
    if (pid < 0) {
        close(pair[0]);
        errno = fork_errno;
        return -1;
    }
    forker_fd = pair[0];
    forker_pid = pid;
    return 0;
}

// Ends and reaps the forker. Called with forker_lock held.
static void forker_forget(void) {
    if (forker_pid < 0) return;
    close(forker_fd);
    kill(forker_pid, SIGKILL);
    int status;
    while (waitpid(forker_pid, &status, 0) < 0 && errno == EINTR) {}
    forker_fd = -1;
    forker_pid = -1;
}

static int send_all(int fd, struct msghdr *msg) {
    while (msg->msg_iovlen > 0) {
        ssize_t sent = sendmsg(fd, msg, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) continue;
        if (sent < 0) return -1;
        // The descriptors went with the first byte.
        msg->msg_control = NULL;
        msg->msg_controllen = 0;
        while (msg->msg_iovlen > 0 && (size_t)sent >= msg->msg_iov->iov_len) {
            sent -= (ssize_t)msg->msg_iov->iov_len;
            msg->msg_iov++;
            msg->msg_iovlen--;
        }
        if (msg->msg_iovlen > 0) {
            msg->msg_iov->iov_base = (char *)msg->msg_iov->iov_base + sent;
            msg->msg_iov->iov_len -= (size_t)sent;
        }
    }
    return 0;
}

// Hands `r` to the forker. Called with forker_lock held; -1 when the forker is gone (or the request cannot be sent).
static int forker_send(const hc_spawn_request *r, int report_fd) {
    wire_header h;
    memset(&h, 0, sizeof h);
    h.listen_pid_index = r->listen_pid_index;
    h.set_ids = r->set_ids;
    h.uid = r->uid;
    h.gid = r->gid;
    h.ngroups = r->set_ids ? r->ngroups : 0;
    h.has_cwd = r->cwd != NULL;
    h.idle_policy = r->idle_policy;
    size_t length = (size_t)h.ngroups * sizeof(gid_t) + strlen(r->path) + 1 + (r->cwd ? strlen(r->cwd) + 1 : 0);
    for (; r->argv[h.argc]; h.argc++) length += strlen(r->argv[h.argc]) + 1;
    for (; r->envp[h.envc]; h.envc++) length += strlen(r->envp[h.envc]) + 1;
    if (length > WIRE_MAX_LENGTH || h.ngroups > WIRE_MAX_GROUPS || h.argc < 1) return -1;
    h.length = (uint32_t)length;
    char *payload = malloc(length);
    if (!payload) return -1;
    char *cursor = payload;
    if (h.ngroups > 0) memcpy(cursor, r->groups, (size_t)h.ngroups * sizeof(gid_t));
    cursor += (size_t)h.ngroups * sizeof(gid_t);
#define PUT(string)                               \
    do {                                          \
        size_t size = strlen(string) + 1;         \
        memcpy(cursor, (string), size);           \
        cursor += size;                           \
    } while (0)
    PUT(r->path);
    if (r->cwd) PUT(r->cwd);
    for (int i = 0; i < h.argc; i++) PUT(r->argv[i]);
    for (int i = 0; i < h.envc; i++) PUT(r->envp[i]);
#undef PUT
    int all[WIRE_FDS] = {report_fd, r->stdin_fd, r->stdout_fd, r->stderr_fd, r->handoff_fd};
    int fds[WIRE_FDS];
    int count = 0;
    for (int i = 0; i < WIRE_FDS; i++) {
        if (all[i] < 0) continue;
        h.fds |= 1 << i;
        fds[count++] = all[i];
    }
    union {
        char bytes[CMSG_SPACE(WIRE_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct iovec iov[2] = {{&h, sizeof h}, {payload, length}};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    msg.msg_control = control.bytes;
    msg.msg_controllen = CMSG_SPACE((size_t)count * sizeof(int));
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN((size_t)count * sizeof(int));
    memcpy(CMSG_DATA(c), fds, (size_t)count * sizeof(int));
    int sent = send_all(forker_fd, &msg);
    free(payload);
    return sent;
}

// Hands the request to the forker (forking one when there is none). -1 when no forker can take it.
static int spawn_via_forker(const hc_spawn_request *r, int report_fd) {
    pthread_mutex_lock(&forker_lock);
    int handed = -1;
    for (int attempt = 0; attempt < 2 && handed < 0; attempt++) {
        if (forker_fd < 0 && forker_start() < 0) break;
        handed = forker_send(r, report_fd);
        if (handed < 0) forker_forget();
    }
    pthread_mutex_unlock(&forker_lock);
    return handed;
}

pid_t hc_forker_pid(void) {
    pthread_mutex_lock(&forker_lock);
    pid_t pid = forker_pid;
    pthread_mutex_unlock(&forker_lock);
    return pid;
}

// Forks the keeper from the caller itself, when no forker can.
static pid_t fork_keeper(const hc_spawn_request *request, int report_fd) {
    pid_t daemon = getpid();
    pid_t keeper = fork_blocked();
    if (keeper == 0) run_keeper(request, report_fd, daemon);
    return keeper;
}

// A close-on-exec report pipe, or -1 with the failure in `result`.
static int open_report(int report[2], hc_spawn_result *result) {
    if (pipe2(report, O_CLOEXEC) == 0) return 0;
    result->error = errno;
    result->step = HC_STEP_PIPE;
    return -1;
}

// Reads the report pipe until EOF: the forker's keeper pid (when it forked the keeper), the
// worker's pid from the keeper, or a failure. The keeper closes its end after sending the worker's
// pid, the worker's end closes at exec; a failure message arrives before EOF.
static void read_report(int fd, hc_spawn_result *result) {
    message m;
    size_t have = 0;
    char *buffer = (char *)&m;
    for (;;) {
        ssize_t got = read(fd, buffer + have, sizeof m - have);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        have += (size_t)got;
        if (have < sizeof m) continue;
        have = 0;
        if (m.kind == 1) result->worker_pid = m.a;
        if (m.kind == 3 && result->keeper_pid == 0) {
            result->keeper_pid = m.a;
            result->keeper_pidfd = hc_pidfd_open(m.a);
        }
        if (m.kind == 2 && result->error == 0) {
            result->step = m.a;
            result->error = m.b;
        }
    }
}

int hc_spawn(const hc_spawn_request *request, hc_spawn_result *result) {
    memset(result, 0, sizeof *result);
    result->keeper_pidfd = -1;
    int report[2];
    if (open_report(report, result) < 0) return -1;
    if (spawn_via_forker(request, report[1]) == 0) {
        close(report[1]);
        read_report(report[0], result);
        close(report[0]);
        if (result->keeper_pid != 0 || result->error != 0) goto done;
        // The forker died before it forked a keeper: forget it, and fork the keeper here.
        pthread_mutex_lock(&forker_lock);
        forker_forget();
        pthread_mutex_unlock(&forker_lock);
        if (open_report(report, result) < 0) return -1;
    }
    pid_t keeper = fork_keeper(request, report[1]);
    int fork_errno = errno;
    close(report[1]);
    if (keeper < 0) {
        close(report[0]);
        result->error = fork_errno;
        result->step = HC_STEP_FORK;
        return -1;
    }
    result->keeper_pid = keeper;
    result->keeper_pidfd = hc_pidfd_open(keeper);
    read_report(report[0], result);
    close(report[0]);
done:
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

int hc_thread_batch(void) {
    struct sched_param param;
    memset(&param, 0, sizeof param);
    int error = pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);
    if (error != 0) {
        errno = error;
        return -1;
    }
    return 0;
}

int hc_thread_id(void) { return (int)syscall(SYS_gettid); }

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
