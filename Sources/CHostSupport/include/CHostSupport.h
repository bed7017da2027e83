#ifndef CHOSTSUPPORT_H
#define CHOSTSUPPORT_H

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/wait.h>

/// What to start. Every pointer is borrowed for the duration of hc_spawn only.
typedef struct hc_spawn_request {
    /// The executable's path (already resolved against PATH by the caller).
    const char *_Nullable path;
    /// NULL-terminated argument vector, argv[0] included.
    char *_Nullable const *_Nullable argv;
    /// NULL-terminated environment.
    char *_Nullable const *_Nullable envp;
    /// Index into envp of a writable "LISTEN_PID=" entry with room for 10 digits, or -1.
    /// The child writes its own pid there before exec (posix_spawn cannot).
    int listen_pid_index;
    /// The working directory, or NULL to keep the daemon's.
    const char *_Nullable cwd;
    /// Descriptors that become the child's 0, 1, 2 and 3 (-1: 0 gets /dev/null; 3 is left closed).
    int stdin_fd, stdout_fd, stderr_fd, handoff_fd;
    /// When set_ids is 1: drop to uid/gid with these supplementary groups (root only).
    int set_ids;
    uid_t uid;
    gid_t gid;
    const gid_t *_Nullable groups;
    int ngroups;
    /// When 1: the worker starts under SCHED_IDLE (sched_setscheduler before exec; its threads inherit it).
    int idle_policy;
} hc_spawn_request;

/// What happened. On success error == 0.
typedef struct hc_spawn_result {
    /// The keeper: the process the daemon waits on. Its exit status mirrors the worker's.
    pid_t keeper_pid;
    /// The worker: the process running the command; also its process group id.
    pid_t worker_pid;
    /// A pidfd of the keeper (readable when it exits), or -1 when the kernel has none.
    int keeper_pidfd;
    /// 0, or the errno of the step that failed.
    int error;
    /// Which step failed: HC_STEP_*.
    int step;
} hc_spawn_result;

enum {
    HC_STEP_NONE = 0,
    HC_STEP_PIPE = 1,
    HC_STEP_FORK = 2,
    HC_STEP_SETPGID = 3,
    HC_STEP_CHDIR = 4,
    HC_STEP_SETGROUPS = 5,
    HC_STEP_SETGID = 6,
    HC_STEP_SETUID = 7,
    HC_STEP_DUP = 8,
    HC_STEP_EXEC = 9,
    HC_STEP_KEEPER = 10,
};

/// Starts a worker behind a keeper process:
///
///   daemon ── keeper ── worker (own process group, pgid = worker pid, in the daemon's session)
///
/// The keeper is a forked process that runs only async-signal-safe system calls: it gets a
/// parent-death signal, and when the daemon dies for any reason (SIGKILL included) it kills the
/// worker's whole process group, grandchildren included, then exits. When the worker exits, the
/// keeper exits with the same status (or dies of the same signal), so the daemon learns the
/// worker's exit by reaping the keeper. The worker gets PR_SET_PDEATHSIG(SIGKILL) against the keeper.
///
/// The keeper is forked by the forker, a process forked from the caller at its first spawn that
/// does nothing else (with CLONE_PARENT: the keeper is still the caller's child). Forking the caller
/// itself write-protects all its memory each time, so every page its threads touch afterwards takes
/// a copy-on-write fault and a TLB shootdown. When the forker is gone the caller forks a new one, and
/// forks the keeper itself when it cannot.
///
/// Exec failures (not found, not executable, bad interpreter, chdir, setuid) are reported with
/// their errno through a close-on-exec pipe, so they are never mistaken for a crash.
///
/// PR_SET_PDEATHSIG fires when the spawning *thread* exits: call this from one long-lived thread.
/// Returns 0 on success, -1 with result->error and result->step set.
int hc_spawn(const hc_spawn_request *_Nonnull request, hc_spawn_result *_Nonnull result);

/// The forker's pid, or -1 while there is none (tests kill it to see the next spawn recover).
pid_t hc_forker_pid(void);
/// The corresponding system call is `pidfd_open` (-1 and errno on failure).
int hc_pidfd_open(pid_t pid);

/// The corresponding system call is `pidfd_send_signal` (-1 and errno on failure).
int hc_pidfd_send_signal(int pidfd, int signal);

/// The corresponding C function is `pipe2(fds, O_CLOEXEC | extra_flags)`.
int hc_pipe_cloexec(int *_Nonnull fds, int extra_flags);

/// Allocates the file's blocks from `offset` for `length` bytes without changing its size:
/// `fallocate(fd, FALLOC_FL_KEEP_SIZE, offset, length)` (-1 and errno on failure).
int hc_reserve(int fd, int64_t offset, int64_t length);

/// Puts the calling thread in the SCHED_BATCH policy at its current nice value: it keeps its share
/// of the CPU, but waking up it does not preempt the thread running (-1 and errno on failure).
int hc_thread_batch(void);

/// The calling thread's id (gettid), as in /proc/self/task.
int hc_thread_id(void);

/// Waits for the keeper behind `pidfd` without blocking: 1 and the status when it exited, 0 while
/// it runs, -1 on error. The status is in waitpid form (WIFEXITED, WEXITSTATUS, WTERMSIG work on it).
int hc_pidfd_reap(int pidfd, int *_Nonnull status);

/// The wait-status helpers, which are macros in C.
int hc_wifexited(int status);
int hc_wexitstatus(int status);
int hc_wifsignaled(int status);
int hc_wtermsig(int status);

#endif

/// Starts `path` detached from the caller, the way `hostctl start` starts the daemon: a double fork
/// so it is nobody's child but init's, a new session, stdin from /dev/null, stdout and stderr to
/// `output_fd`, every other descriptor closed. Returns the daemon's pid, or -1 with errno set
/// (an exec failure's errno comes back through a close-on-exec pipe).
int hc_spawn_detached(const char *_Nonnull path, char *_Nullable const *_Nonnull argv,
                      char *_Nullable const *_Nonnull envp, int output_fd);

/// Blocks `signals` (an array of `count` signal numbers) in the calling thread; threads created
/// afterwards inherit the mask. Returns 0 or -1.
int hc_block_signals(const int *_Nonnull signals, int count);

/// Waits for one of the signals (which must be blocked) and returns its number, or -1.
int hc_wait_signal(const int *_Nonnull signals, int count);

/// A non-blocking datagram socket bound at `path` (replacing a stale file) that receives sd_notify
/// messages with their sender's credentials (SO_PASSCRED); -1 and errno on failure.
int hc_notify_socket(const char *_Nonnull path);

/// Receives one datagram into `buffer`; the sender's pid and uid go to `pid` and `uid`. Returns its
/// length, or -1 with errno (EAGAIN when none is waiting). Passed file descriptors are closed.
long hc_notify_receive(int fd, char *_Nonnull buffer, long size, int *_Nonnull pid, unsigned *_Nonnull uid);
