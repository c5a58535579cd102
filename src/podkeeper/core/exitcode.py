"""Exit codes: classification like the runtime, and what each of 0-255 usually means.

Pure: no I/O. `exit_code_for` is containerd's reaper rule (`sys/reaper/reaper_unix.go`
`exitStatus`: 128 + signal); `reason_for` is the containerd CRI reason choice
(`internal/cri/server/helpers.go`, kubelet-semantics §5.2) with the OOM verdict
supplied by the caller, who reads it per instance (issue 3); `explain` and
`explain_reason` back `podkeeper explain CODE`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# containerd `exitSignalOffset` / runc `libcontainer/utils.ExitStatus`.
EXIT_SIGNAL_OFFSET = 128
# containerd marks a container whose task failed to start as exited with 128 (§5.2).
START_ERROR_EXIT_CODE = 128

COMPLETED = "Completed"
ERROR = "Error"
OOM_KILLED = "OOMKilled"
START_ERROR = "StartError"


def exit_code_for(returncode_or_signal: int) -> int:
    """The container exit code for a `subprocess`-style return code.

    Non-negative values are exit statuses (taken modulo 256, as the kernel
    does); `-N` means "killed by signal N" and gives `128 + N`."""
    if returncode_or_signal < 0:
        return EXIT_SIGNAL_OFFSET + (-returncode_or_signal)
    return returncode_or_signal & 0xFF


def signal_for(exit_code: int) -> int | None:
    """The signal number a 129-192 exit code is consistent with, else None."""
    if EXIT_SIGNAL_OFFSET < exit_code <= EXIT_SIGNAL_OFFSET + 64:
        return exit_code - EXIT_SIGNAL_OFFSET
    return None


def reason_for(exit_code: int, oom_killed: bool, start_error: bool) -> str:
    """The terminated-state reason: StartError, OOMKilled, Completed or Error.

    Order as containerd: a failed start wins; then the OOM verdict; then
    exit 0 is Completed and anything else Error. Unlike containerd,
    `oom_killed` must be this instance's verdict (not a cumulative counter,
    kubernetes#140718, nor a child's OOM kill, #104454)."""
    if start_error:
        return START_ERROR
    if oom_killed:
        return OOM_KILLED
    return COMPLETED if exit_code == 0 else ERROR


@dataclass(frozen=True)
class Explanation:
    """What an exit code means.

    `signal` is the signal name when the code is 128+N (e.g. "SIGKILL" for 137);
    `conventions` lists what the code means to the shell, Docker, systemd,
    BSD sysexits, LSB and common language runtimes."""

    code: int
    title: str
    meaning: str
    in_containers: str
    signal: str | None = None
    signal_number: int | None = None
    conventions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["conventions"] = list(self.conventions)
        return d


# Linux signal numbers (x86/arm; `kill -l`), default action, usual meaning in containers.
_SIGNALS: dict[int, tuple[str, str, str]] = {
    1: (
        "SIGHUP",
        "terminate",
        "Hangup. Daemons often use it to reload configuration; a process without a handler"
        " dies. Sent by a config-reload sidecar, `kill -HUP`, or a closed terminal.",
    ),
    2: (
        "SIGINT",
        "terminate",
        "Interrupt (Ctrl-C). An interactive session (`kubectl run -it`, `kubectl attach`)"
        " was interrupted, or the image sets STOPSIGNAL SIGINT and it was stopped.",
    ),
    3: (
        "SIGQUIT",
        "core",
        "Quit (Ctrl-\\), with a core dump. nginx uses it for graceful shutdown (its STOPSIGNAL);"
        " a JVM prints a thread dump and keeps running, so a 131 is not a JVM.",
    ),
    4: (
        "SIGILL",
        "core",
        "Illegal instruction: a binary built for a newer CPU (e.g. AVX-512, x86-64-v3) or"
        " another architecture than the node, or a deliberate trap (Rust/LLVM `ud2`).",
    ),
    5: (
        "SIGTRAP",
        "core",
        "Trace/breakpoint trap: a debugger, or a runtime's deliberate trap"
        " (`__builtin_trap`, some sanitizers).",
    ),
    6: (
        "SIGABRT",
        "core",
        "abort(): a failed assertion, glibc detecting heap corruption (double free), an"
        " uncaught C++ exception, Node.js `JavaScript heap out of memory`, a JVM fatal error"
        " (hs_err_pid file).",
    ),
    7: (
        "SIGBUS",
        "core",
        "Bus error: a memory-mapped file was truncated, or /dev/shm is full (64 MiB by default"
        " in containers: PostgreSQL, Chromium, PyTorch DataLoader). Mount an emptyDir with"
        " medium: Memory at /dev/shm.",
    ),
    8: (
        "SIGFPE",
        "core",
        "Arithmetic exception: integer division by zero or overflow in native code.",
    ),
    9: (
        "SIGKILL",
        "terminate",
        "Killed; cannot be caught or ignored. Consistent with SIGKILL: OOM killer, kubelet"
        " after grace, or `kill -9`; proof of nothing on its own. Check the reason"
        " (OOMKilled), the memory limit and peak, and whether a stop was in progress.",
    ),
    10: (
        "SIGUSR1",
        "terminate",
        "User-defined signal 1. Some tool expected a handler (log reopen, debug dump) that"
        " this program does not install, so it died.",
    ),
    11: (
        "SIGSEGV",
        "core",
        "Segmentation fault: invalid memory access in native code: a bug, a native library"
        " built for another libc (musl/Alpine vs glibc), a native stack overflow.",
    ),
    12: (
        "SIGUSR2",
        "terminate",
        "User-defined signal 2; as SIGUSR1, a handler was expected but not installed.",
    ),
    13: (
        "SIGPIPE",
        "terminate",
        "Broken pipe: wrote to a pipe or socket whose reader is gone (e.g. `cmd | head`,"
        " a log shipper that died).",
    ),
    14: (
        "SIGALRM",
        "terminate",
        "Alarm clock: an alarm()/setitimer timer fired and no handler was installed.",
    ),
    15: (
        "SIGTERM",
        "terminate",
        "Termination request. The kubelet sends it on pod deletion, a liveness or startup"
        " probe failure, eviction or a rollout; the process did not handle it (default action)."
        " A program that handles SIGTERM and exits 0 reports Completed instead.",
    ),
    16: (
        "SIGSTKFLT",
        "terminate",
        "Stack fault on coprocessor; unused by Linux itself, so somebody sent it explicitly.",
    ),
    17: (
        "SIGCHLD",
        "ignore",
        "Child stopped or exited; ignored by default, so no process dies of it.",
    ),
    18: ("SIGCONT", "continue", "Continue a stopped process; not fatal by default."),
    19: ("SIGSTOP", "stop", "Stop (cannot be caught); the process is paused, not killed."),
    20: ("SIGTSTP", "stop", "Terminal stop (Ctrl-Z); pauses the process, not fatal."),
    21: ("SIGTTIN", "stop", "Background read from a terminal; pauses, not fatal."),
    22: ("SIGTTOU", "stop", "Background write to a terminal; pauses, not fatal."),
    23: (
        "SIGURG",
        "ignore",
        "Urgent socket data; ignored by default. The Go runtime (1.14+) uses it for"
        " goroutine preemption, so it shows up in traces but never kills.",
    ),
    24: (
        "SIGXCPU",
        "core",
        "CPU time limit (RLIMIT_CPU, `ulimit -t`) exceeded. A cgroup CPU limit throttles"
        " instead and never sends this.",
    ),
    25: (
        "SIGXFSZ",
        "core",
        "File size limit (RLIMIT_FSIZE, `ulimit -f`) exceeded while writing a file.",
    ),
    26: ("SIGVTALRM", "terminate", "Virtual timer expired with no handler installed."),
    27: (
        "SIGPROF",
        "terminate",
        "Profiling timer expired: a profiler was attached or left enabled without its handler.",
    ),
    28: ("SIGWINCH", "ignore", "Terminal window size changed; ignored by default."),
    29: (
        "SIGIO",
        "terminate",
        "Asynchronous I/O possible (also SIGPOLL) with no handler installed.",
    ),
    30: ("SIGPWR", "terminate", "Power failure notice; sent explicitly by an init or UPS tool."),
    31: (
        "SIGSYS",
        "core",
        "Bad system call: a seccomp profile (e.g. RuntimeDefault) killed the process for a"
        " forbidden syscall, or a binary needs a newer kernel.",
    ),
}

_RT_NOTE = (
    "A real-time signal; the default action terminates. Applications and init systems"
    " use them privately."
)


def signal_name(n: int) -> str:
    """The Linux name of signal `n` (`SIGKILL`, `SIGRTMIN+3`), or `signal N` when out of range."""
    if n in _SIGNALS:
        return _SIGNALS[n][0]
    if 32 <= n <= 64:
        return _rt_signal_name(n)
    return f"signal {n}"


def _rt_signal_name(n: int) -> str:
    """Name as bash `kill -l` prints it (glibc SIGRTMIN is 34: 32 and 33 are NPTL's)."""
    if n == 32:
        return "SIGRTMIN-2 (glibc-internal SIGCANCEL)"
    if n == 33:
        return "SIGRTMIN-1 (glibc-internal SIGSETXID)"
    if n == 34:
        return "SIGRTMIN"
    if n == 64:
        return "SIGRTMAX"
    if n <= 49:
        return f"SIGRTMIN+{n - 34}"
    return f"SIGRTMAX-{64 - n}"


def _signal_explanation(code: int, n: int) -> Explanation:
    if n in _SIGNALS:
        name, action, usual = _SIGNALS[n]
    else:
        name, action = _rt_signal_name(n), "terminate"
        usual = _RT_NOTE
        if n == 37:
            usual += (
                " SIGRTMIN+3 is systemd's halt request: the STOPSIGNAL of systemd-in-a-container"
                " images."
            )
    conventions = [f"shell: {code} = 128 + {n}, the process was killed by signal {n} ({name})"]
    if action in ("ignore", "stop", "continue"):
        meaning = (
            f"128 + {n} ({name}). The default action of {name} is to {action}, so a death by"
            f" this signal is practically impossible: most likely the program chose exit({code})"
            " itself, or installed a handler that re-raised a fatal signal."
        )
    else:
        core = " (with a core dump when enabled)" if action == "core" else ""
        meaning = f"Killed by signal {n} ({name}){core}, or the program called exit({code})."
    if n == 9:
        conventions += [
            "Kubernetes: OOMKilled containers and ContainerStatusUnknown report 137",
            "timeout(1) -s KILL, docker kill, kubectl delete --grace-period=0 --force",
        ]
    if n == 15:
        conventions.append("JVM, Go and most runtimes without a SIGTERM handler exit 143 on stop")
    if n == 2:
        conventions.append("bash: Ctrl-C of a foreground script")
    if n == 6:
        conventions.append("JVM -XX:+CrashOnOutOfMemoryError aborts: 134")
    return Explanation(
        code=code,
        title=f"{name} (128+{n})",
        meaning=meaning,
        in_containers=usual,
        signal=name.split(" ")[0],
        signal_number=n,
        conventions=tuple(conventions),
    )


# systemd `src/shared/exit-status.h`: 200.. are systemd's own "could not set up the service".
_SYSTEMD: dict[int, tuple[str, str]] = {
    200: ("EXIT_CHDIR", "could not change to WorkingDirectory="),
    201: ("EXIT_NICE", "could not set the nice level"),
    202: ("EXIT_FDS", "could not close unwanted file descriptors"),
    203: ("EXIT_EXEC", "the actual process execution failed (binary missing or not executable)"),
    204: ("EXIT_MEMORY", "failed due to lack of memory"),
    205: ("EXIT_LIMITS", "could not set resource limits"),
    206: ("EXIT_OOM_ADJUST", "could not adjust the OOM score"),
    207: ("EXIT_SIGNAL_MASK", "could not set the signal mask"),
    208: ("EXIT_STDIN", "could not set up standard input"),
    209: ("EXIT_STDOUT", "could not set up standard output"),
    210: ("EXIT_CHROOT", "could not change root directory (RootDirectory=)"),
    211: ("EXIT_IOPRIO", "could not set the I/O priority"),
    212: ("EXIT_TIMERSLACK", "could not set the timer slack"),
    213: ("EXIT_SECUREBITS", "could not set the secure bits"),
    214: ("EXIT_SETSCHEDULER", "could not set the scheduling parameters"),
    215: ("EXIT_CPUAFFINITY", "could not set the CPU affinity"),
    216: ("EXIT_GROUP", "could not determine or change the group (Group=)"),
    217: ("EXIT_USER", "could not determine or change the user (User=)"),
    218: ("EXIT_CAPABILITIES", "could not drop or apply capabilities"),
    219: ("EXIT_CGROUP", "could not set up the service's cgroup"),
    220: ("EXIT_SETSID", "could not create a new session"),
    221: ("EXIT_CONFIRM", "execution cancelled by the user (confirmation spawn)"),
    222: ("EXIT_STDERR", "could not set up standard error"),
    224: ("EXIT_PAM", "PAM session setup failed"),
    225: ("EXIT_NETWORK", "could not set up network namespacing (PrivateNetwork=)"),
    226: ("EXIT_NAMESPACE", "could not set up mount namespacing"),
    227: ("EXIT_NO_NEW_PRIVILEGES", "could not disable new privileges"),
    228: ("EXIT_SECCOMP", "could not apply the system call filter"),
    229: ("EXIT_SELINUX_CONTEXT", "could not determine or change the SELinux context"),
    230: ("EXIT_PERSONALITY", "could not set the execution domain (Personality=)"),
    231: ("EXIT_APPARMOR_PROFILE", "could not prepare or switch the AppArmor profile"),
    232: ("EXIT_ADDRESS_FAMILIES", "could not restrict address families"),
    233: ("EXIT_RUNTIME_DIRECTORY", "could not create RuntimeDirectory="),
    235: ("EXIT_CHOWN", "could not chown the socket or directories"),
    236: ("EXIT_SMACK_PROCESS_LABEL", "could not set the SMACK label"),
    237: ("EXIT_KEYRING", "could not set up the kernel keyring"),
    238: ("EXIT_STATE_DIRECTORY", "could not create StateDirectory="),
    239: ("EXIT_CACHE_DIRECTORY", "could not create CacheDirectory="),
    240: ("EXIT_LOGS_DIRECTORY", "could not create LogsDirectory="),
    241: ("EXIT_CONFIGURATION_DIRECTORY", "could not create ConfigurationDirectory="),
    242: ("EXIT_NUMA_POLICY", "could not set the NUMA policy"),
    243: ("EXIT_CREDENTIALS", "could not set up service credentials"),
    244: ("EXIT_BPF", "could not apply BPF restrictions"),
    245: ("EXIT_KSM", "could not set up kernel samepage merging"),
    246: ("EXIT_LANDLOCK_CONFIG", "could not apply the Landlock configuration"),
}

# BSD `sysexits.h`.
_SYSEXITS: dict[int, tuple[str, str]] = {
    64: ("EX_USAGE", "command line usage error"),
    65: ("EX_DATAERR", "data format error"),
    66: ("EX_NOINPUT", "cannot open input"),
    67: ("EX_NOUSER", "addressee unknown"),
    68: ("EX_NOHOST", "host name unknown"),
    69: ("EX_UNAVAILABLE", "service unavailable"),
    70: ("EX_SOFTWARE", "internal software error"),
    71: ("EX_OSERR", "system error (e.g. cannot fork)"),
    72: ("EX_OSFILE", "critical OS file missing"),
    73: ("EX_CANTCREAT", "cannot create (user) output file"),
    74: ("EX_IOERR", "input/output error"),
    75: ("EX_TEMPFAIL", "temporary failure; the user is invited to retry"),
    76: ("EX_PROTOCOL", "remote error in protocol"),
    77: ("EX_NOPERM", "permission denied"),
    78: ("EX_CONFIG", "configuration error"),
}

# LSB init-script `start` exit codes (also systemd's 2-7).
_LSB: dict[int, str] = {
    2: "invalid or excess arguments (EXIT_INVALIDARGUMENT)",
    3: "unimplemented feature (EXIT_NOTIMPLEMENTED)",
    4: "user had insufficient privilege (EXIT_NOPERMISSION)",
    5: "program is not installed (EXIT_NOTINSTALLED)",
    6: "program is not configured (EXIT_NOTCONFIGURED)",
    7: "program is not running (EXIT_NOTRUNNING)",
}

_APP_DEFINED = (
    "Application-defined: no shell, runtime or signal meaning. Read the container's logs"
    " (`podkeeper logs -p`) and the program's documentation."
)

# Codes with their own entry: (title, meaning, in_containers, conventions).
_SPECIAL: dict[int, tuple[str, str, str, tuple[str, ...]]] = {
    0: (
        "Success",
        "The process exited normally with status 0.",
        "Reason Completed. With restartPolicy Always a container that exits 0 is still"
        " restarted, and one that keeps exiting goes into CrashLoopBackOff: a server must"
        " not exit; a one-shot task belongs in a Job (restartPolicy OnFailure/Never).",
        ("C: EXIT_SUCCESS", "shell: success"),
    ),
    1: (
        "General error",
        "A catch-all failure: the program reported an error and exited 1.",
        "Reason Error. Most runtimes use 1 for an unhandled error: an uncaught exception in"
        " Python, Node.js or Java `main`, Go `log.Fatal`, a failed shell command under"
        " `set -e`. The cause is in the logs: `podkeeper logs -p`.",
        (
            "C: EXIT_FAILURE",
            "shell: general error",
            "Python: uncaught exception",
            "Node.js: uncaught exception",
            "Java: uncaught exception in main",
            "Go: log.Fatal, os.Exit(1)",
        ),
    ),
    2: (
        "Misuse / usage error",
        "Incorrect usage: bad command-line arguments, a shell syntax error, or a Go panic.",
        "Check `command`/`args` (after $(VAR) expansion) and the script's syntax. A Go program"
        " that panics (nil pointer, index out of range, unrecovered panic) exits 2 with a"
        " goroutine trace in the logs.",
        (
            "shell: misuse of shell builtins / syntax error",
            "Go: unrecovered panic, fatal runtime error",
            "Python: argparse usage error, cannot open the script file",
            f"LSB: {_LSB[2]}",
        ),
    ),
    3: (
        "Application error 3",
        "The program exited 3.",
        "A JVM with -XX:+ExitOnOutOfMemoryError exits 3 when its heap is exhausted (a Java"
        " OutOfMemoryError, not a kernel OOM kill).",
        (f"LSB: {_LSB[3]}", "JVM: -XX:+ExitOnOutOfMemoryError"),
    ),
    124: (
        "Timed out (timeout(1))",
        "The command run by coreutils `timeout` exceeded its time limit and got SIGTERM.",
        "A wrapper `timeout N cmd` in the entrypoint expired; the wrapped program was stopped.",
        ("timeout(1): the command timed out",),
    ),
    125: (
        "Container runtime could not run the command",
        "The wrapper itself failed: `docker run` (daemon error, bad flag) or `timeout` failed.",
        "Seen with Docker/Podman run failures and `timeout` errors; under Kubernetes a failed"
        " start is reported as StartError (exit 128) instead.",
        (
            "Docker CLI / Podman: docker run itself failed (daemon error)",
            "timeout(1): timeout itself failed",
        ),
    ),
    126: (
        "Command cannot be executed",
        "The command was found but could not be executed: permission denied (no x bit),"
        " a directory, a wrong-architecture binary, or a script whose interpreter line is bad.",
        "A script in the image without the executable bit, a volume mounted noexec, a"
        " Windows CRLF `#!/bin/sh\\r` line, or a binary built for another CPU architecture.",
        (
            "shell: command invoked cannot execute",
            "Docker CLI: contained command cannot be invoked",
            "timeout(1): the command could not be run",
        ),
    ),
    127: (
        "Command not found",
        "The shell could not find the command (not in PATH, typo, missing package), or a"
        " script's interpreter does not exist.",
        "A `sh -c` entrypoint calling a tool the image does not have, PATH missing from"
        " the container's env, or `#!/bin/bash` in an image that only has /bin/sh. Without a"
        " shell, a missing binary is a StartError (128) instead.",
        (
            "shell: command not found",
            "Docker CLI: contained command cannot be found",
            "timeout(1): the command was not found",
        ),
    ),
    128: (
        "Invalid exit argument / start failure",
        "`exit` was given an invalid argument, or (under Kubernetes) the container never started.",
        "Reason StartError: containerd marks a container whose process could not be"
        " started (missing binary, bad workingDir, permission denied) as exited with 128 and"
        " puts runc's error in the message. Read that message: it names the path.",
        (
            "shell: invalid argument to exit",
            "containerd CRI: StartError is reported with exit code 128",
        ),
    ),
    255: (
        "Exit status out of range",
        "The program called exit(-1) (or another value out of 0-255 reduced to 255), or ssh"
        " failed (ssh returns 255 for its own errors).",
        "Often `exit -1` / `process.exit(-1)` / `System.exit(-1)` in application code, an"
        " ssh-based entrypoint that could not connect, or systemd propagating an abnormal"
        " exit (EXIT_EXCEPTION).",
        (
            "shell: exit status out of range (exit -1)",
            "ssh: connection or protocol error",
            "systemd: EXIT_EXCEPTION",
        ),
    ),
}


def _build(code: int) -> Explanation:
    sig = signal_for(code)
    if code in _SPECIAL:
        title, meaning, in_containers, conventions = _SPECIAL[code]
        return Explanation(code, title, meaning, in_containers, conventions=conventions)
    if sig is not None:
        return _signal_explanation(code, sig)
    if code in _LSB:
        return Explanation(
            code,
            f"LSB: {_LSB[code]}",
            f"Init-script convention: {_LSB[code]}; otherwise application-defined.",
            _APP_DEFINED,
            conventions=(f"LSB: {_LSB[code]}",),
        )
    if code in _SYSEXITS:
        name, what = _SYSEXITS[code]
        return Explanation(
            code,
            f"{name} ({what})",
            f"BSD sysexits.h: {what}.",
            "Programs that follow sysexits.h (mail tools, some CLIs and Python programs"
            " using os.EX_*) use it; otherwise application-defined.",
            conventions=(f"BSD sysexits.h: {name}",),
        )
    if code in _SYSTEMD:
        name, what = _SYSTEMD[code]
        return Explanation(
            code,
            f"systemd {name}",
            f"systemd could not start the service: {what}.",
            "Only meaningful when systemd (or a systemd-run wrapper) started the process,"
            " e.g. systemd as PID 1 inside the container; otherwise application-defined.",
            conventions=(f"systemd: {name}: {what}",),
        )
    return Explanation(
        code,
        f"Application-defined exit code {code}",
        f"The program called exit({code}).",
        _APP_DEFINED,
    )


_TABLE: tuple[Explanation, ...] = tuple(_build(c) for c in range(256))


def explain(code: int) -> Explanation:
    """The explanation of exit code `code` (0-255). Raises ValueError outside that range."""
    if not 0 <= code <= 255:
        raise ValueError(f"exit codes are 0-255, got {code} (a process's status is taken mod 256)")
    return _TABLE[code]


def all_explanations() -> tuple[Explanation, ...]:
    """The whole 0-255 table, in order."""
    return _TABLE


@dataclass(frozen=True)
class ReasonExplanation:
    """What a Kubernetes container/pod reason means and what to do next."""

    reason: str
    meaning: str
    next_step: str
    exit_code: int | None = None  # the code the reason usually comes with

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_REASONS: dict[str, ReasonExplanation] = {
    r.reason: r
    for r in (
        ReasonExplanation(
            "OOMKilled",
            "The kernel OOM killer killed the container's process because its cgroup reached"
            " resources.limits.memory (or the node ran out of memory). podkeeper reports it"
            " only when this instance's cgroup counted an OOM kill and the main process died"
            " of SIGKILL.",
            "Compare the memory peak with the limit; raise the limit or lower the usage. For a"
            " JVM the heap is only part of it: metaspace, thread stacks, direct buffers and"
            " native libraries count too (-XX:MaxRAMPercentage).",
            137,
        ),
        ReasonExplanation(
            "Error",
            "The container exited with a non-zero code (including death by a signal, 128+N).",
            "Run `podkeeper explain CODE` for the code, and read `podkeeper logs -p`.",
        ),
        ReasonExplanation(
            "Completed",
            "The container exited with code 0.",
            "Expected for init containers and Jobs; for a long-running container under"
            " restartPolicy Always, it should not exit at all.",
            0,
        ),
        ReasonExplanation(
            "StartError",
            "The container's process could not be started (containerd/runc: missing binary,"
            " bad workingDir, permission denied). The exit code is 128 and the message names"
            " the path.",
            "Fix `command`, `workingDir` or the file's permissions as the message says.",
            128,
        ),
        ReasonExplanation(
            "ContainerCannotRun",
            "The dockershim-era name for a container that could not start (StartError today).",
            "As StartError: read the message. FallbackToLogsOnError does not read logs for it.",
            128,
        ),
        ReasonExplanation(
            "ContainerStatusUnknown",
            "The container could not be located by the runtime any more (node restarted, the"
            " runtime lost it): the kubelet reports it as terminated with 137 without knowing"
            " how it ended.",
            "Nothing is known about the real exit: look at the node and runtime logs around"
            " the time it vanished.",
            137,
        ),
        ReasonExplanation(
            "CrashLoopBackOff",
            "A waiting state, not an exit reason: the container keeps exiting and the kubelet"
            " waits before restarting it again (10 s doubling up to 300 s, reset after 10"
            " minutes of running).",
            "Look at lastState (exit code and reason) and `podkeeper logs -p` for why it exits.",
        ),
        ReasonExplanation(
            "Evicted",
            "The kubelet evicted the pod under node pressure (memory, disk, PIDs) or the API"
            " evicted it (drain); containers got SIGTERM and the pod phase is Failed.",
            "Check node pressure and the pod's requests/priority; set requests close to real"
            " usage so the pod is not the first to go.",
        ),
        ReasonExplanation(
            "DeadlineExceeded",
            "The pod ran longer than spec.activeDeadlineSeconds and was killed; phase Failed.",
            "Raise activeDeadlineSeconds or make the work finish sooner.",
        ),
        ReasonExplanation(
            "CreateContainerConfigError",
            "The container could not be configured: a missing ConfigMap/Secret key, an"
            " unsupported env fieldRef, an invalid volume mount. It never started.",
            "Fix the env/volume reference the message names.",
        ),
        ReasonExplanation(
            "CreateContainerError",
            "The runtime failed to create the container (before start).",
            "Read the message; it carries the runtime's error.",
        ),
        ReasonExplanation(
            "RunContainerError",
            "The runtime created the container but failed to start it.",
            "Read the message; it carries the runtime's error (often the StartError text).",
        ),
        ReasonExplanation(
            "PostStartHookError",
            "The postStart hook failed, so the kubelet killed the container.",
            "Fix the hook's command or endpoint; its output is in the FailedPostStartHook event.",
        ),
    )
}


def explain_reason(reason: str) -> ReasonExplanation | None:
    """The explanation of a Kubernetes reason string (exact spelling), or None if unknown."""
    return _REASONS.get(reason)


def known_reasons() -> tuple[str, ...]:
    return tuple(_REASONS)
