"""The 170 Kubernetes node conformance cases of `shared/spec/e2e-node-conformance.md`
(besides probes) as a table: one `Case` per case id, each with its pod manifests (and
ConfigMaps/Secrets) for a runtime and the e2e test's own assertions.

`tests/e2e/test_node_conformance.py` applies every case of a runtime in one `podkeeper
up -d -f`, polls, and judges each case; `scripts/conformance_table.py` prints the table.

Deviations from the e2e tests, each forced by what this host has (and said per case):
- agnhost is not available: `mounttest` is the shell function `MOUNTTEST` below, printing
  the same lines (`content of file "P": …`, `mode of file "P": <Go FileMode>`, `perms of
  file "P": …`, `mount type of "P": …`); `entrypoint-tester` is a script in a local image;
  the lifecycle-hook handler (agnhost netexec) is busybox httpd with a CGI script that
  appends each request (`GET /echo?msg=…`) to a hostPath file, so the pre-stop request
  is still readable after the pod is gone.
- podkeeper has no `exec`: where the e2e test execs a command into a running container
  (EX8, ED15, SC9) the container runs that command itself and prints the outcome.
- The process runtime runs host commands (no image): `pause` is a shell that exits on
  SIGTERM, busybox applets come from the host (dash, coreutils, iproute2).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podkeeper.runtime.cri.testimages import BUSYBOX_IMAGE

PROCESS, CONTAINERD = "process", "containerd"
RUNTIMES = (PROCESS, CONTAINERD)

AGNHOST_IMAGE = "podkeeper.local/agnhost-lite:1.0"
NONEWPRIVS_IMAGE = "podkeeper.local/nonewprivs:1.0"

# agnhost `mounttest` (test/images/agnhost/mounttest/mt.go) as a POSIX shell function
# (dash on the host, busybox ash in the images). Go's FileMode.String(): the type and
# special letters from "dalTLDpSugct?" in that order ('-' if none), then rwxrwxrwx;
# FileMode.Perm() prints only '-' and the permission bits. os.Stat follows symlinks
# (the atomic writer's files are symlinks into ..data): stat -L.
MOUNTTEST = r"""
mt_rwx() { a=$(printf %04d "$(stat -L -c %a "$1")"); out=""
  p=${a#?}; for i in 1 2 3; do d=$(echo "$p" | cut -c$i)
    if [ $((d & 4)) -ne 0 ]; then out="${out}r"; else out="${out}-"; fi
    if [ $((d & 2)) -ne 0 ]; then out="${out}w"; else out="${out}-"; fi
    if [ $((d & 1)) -ne 0 ]; then out="${out}x"; else out="${out}-"; fi
  done; echo "$out"; }
mt_mode() { a=$(printf %04d "$(stat -L -c %a "$1")"); s=$(echo "$a" | cut -c1); pre=""
  [ -d "$1" ] && pre=d
  [ $((s & 4)) -ne 0 ] && pre="${pre}u"; [ $((s & 2)) -ne 0 ] && pre="${pre}g"
  [ $((s & 1)) -ne 0 ] && pre="${pre}t"; [ -z "$pre" ] && pre=-
  echo "$pre$(mt_rwx "$1")"; }
mounttest() { rt=180
  for a in "$@"; do case "$a" in --retry_time=*) rt=${a#*=};; esac; done
  for a in "$@"; do v=${a#*=}
    case "$a" in
      --fs_type=*) echo "mount type of \"$v\": $(stat -f -c %T "$v")";;
      --new_file_0644=*) printf 'mount-tester new file\n' >"$v"; chmod 0644 "$v";;
      --new_file_0666=*) printf 'mount-tester new file\n' >"$v"; chmod 0666 "$v";;
      --new_file_0777=*) printf 'mount-tester new file\n' >"$v"; chmod 0777 "$v";;
      --file_mode=*) echo "mode of file \"$v\": $(mt_mode "$v")";;
      --file_perm=*) echo "perms of file \"$v\": -$(mt_rwx "$v")";;
      --file_content=*) echo "content of file \"$v\": $(cat "$v")";;
      --file_content_in_loop=*) i=0
        while [ $i -lt "$rt" ]; do
          if c=$(cat "$v" 2>/dev/null); then echo "content of file \"$v\": $c"
          else echo "Error reading file $v: open $v: no such file or directory"; fi
          sleep 1; i=$((i + 1)); done;;
    esac
  done; }
"""

# A pause that ends on SIGTERM as the pause image does (a shell PID 1 with no trap
# would ignore it and wait out the grace period).
PAUSE = "trap 'exit 0' TERM; while :; do sleep 1; done"

# The lifecycle-hook handler: busybox httpd serving /log with this CGI script, which
# appends the request line to /log/requests (a hostPath file the test reads).
ECHO_CGI = """#!/bin/sh
echo "GET /echo?$QUERY_STRING" >>/log/requests
printf 'Content-Type: text/plain\\r\\n\\r\\n%s' "$QUERY_STRING"
"""


@dataclass
class Env:
    """What a case's manifests depend on: the runtime, and a host folder for hostPath."""

    rt: str
    hostdir: Path
    nonewprivs: str = "/usr/local/bin/nonewprivs"  # a setuid-root program printing its euid

    @property
    def busybox(self) -> str:
        return BUSYBOX_IMAGE if self.rt == CONTAINERD else "busybox"

    @property
    def bb(self) -> str:
        """How a busybox applet missing from the host is called (httpd, wget)."""
        return "busybox " if self.rt == CONTAINERD else "/bin/busybox "

    def casedir(self, cid: str) -> Path:
        d = self.hostdir / cid.lower()
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o777)
        return d


@dataclass
class Spec:
    """A case's objects, its assertions and when to judge them.

    `check(x)` raises AssertionError until the case holds; it is retried every poll
    once `gate(x)` is true (default: every pod of the case is Succeeded or Failed),
    until it passes or the case's time is up. `step(x)` runs every poll before that
    (updates, deletes)."""

    objs: list[dict[str, Any]]
    check: Callable[[Any], None]
    gate: Callable[[Any], bool] | None = None
    step: Callable[[Any], None] | None = None
    timeout: float = 180.0
    # Seconds the check may keep failing once the gate is open (logs and statuses settle)
    # before the case is judged failed; None: until the timeout (checks that wait for a
    # restart back-off or a volume update).
    settle: float | None = 60.0


@dataclass
class Case:
    id: str
    group: str
    name: str
    build: Callable[[Env], Spec] | None
    skip: dict[str, str] = field(default_factory=dict)  # runtime or "*" -> reason
    xfail: dict[str, str] = field(default_factory=dict)
    api: Callable[[Any], None] | None = None  # API-only: runs against the agent, no pod table

    def skip_reason(self, rt: str) -> str | None:
        return self.skip.get(rt) or self.skip.get("*")

    def xfail_reason(self, rt: str) -> str | None:
        return self.xfail.get(rt) or self.xfail.get("*")


CASES: list[Case] = []


def case(
    cid: str,
    name: str,
    skip: dict[str, str] | None = None,
    xfail: dict[str, str] | None = None,
) -> Callable[[Callable[[Env], Spec]], Callable[[Env], Spec]]:
    def deco(fn: Callable[[Env], Spec]) -> Callable[[Env], Spec]:
        CASES.append(Case(cid, _group(cid), name, fn, dict(skip or {}), dict(xfail or {})))
        return fn

    return deco


def listed(cid: str, name: str, skip: str) -> None:
    """A case that cannot run here, with why (both runtimes)."""
    CASES.append(Case(cid, _group(cid), name, None, {"*": skip}))


def api_case(
    cid: str, name: str, fn: Callable[[Any], None], xfail: dict[str, str] | None = None
) -> None:
    CASES.append(Case(cid, _group(cid), name, None, {}, dict(xfail or {}), api=fn))


def _group(cid: str) -> str:
    return re.sub(r"\d+$", "", cid)


# -- manifest helpers -------------------------------------------------------------------


def pod(
    name: str,
    containers: list[dict[str, Any]],
    *,
    restart: str = "Never",
    grace: int = 2,
    init: list[dict[str, Any]] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    namespace: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    body: dict[str, Any] = {
        "containers": containers,
        "restartPolicy": restart,
        "terminationGracePeriodSeconds": grace,
        **spec,
    }
    if init:
        body["initContainers"] = init
    if volumes:
        body["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": body}


def ctr(e: Env, name: str, script: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "image": e.busybox}
    if script == "env":
        # `env` itself, not `sh -c env`: dash and busybox ash drop variables whose names
        # are not shell identifiers (data-1, p-data-1) from the environment they pass on.
        out["command"] = ["env"]
    elif script is not None:
        out["command"] = ["/bin/sh", "-c", script]
    out.update(extra)
    return out


def mt(e: Env, name: str, *flags: str, **extra: Any) -> dict[str, Any]:
    """A container running agnhost `mounttest` with `flags`."""
    return ctr(e, name, MOUNTTEST + "\nmounttest " + " ".join(flags), **extra)


def configmap(name: str, namespace: str | None = None, **data: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def secret(name: str, namespace: str | None = None, **data: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    enc = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": enc}


def kv(**data: str) -> dict[str, str]:
    """Keys with dashes (data-1) given as data_1."""
    return {k.replace("_", "-"): v for k, v in data.items()}


# -- assertion helpers (x: the runner's view of one case, see test_node_conformance.Ctx) --


def terminal(*pods: str) -> Callable[[Any], bool]:
    return lambda x: all(x.phase(p) in ("Succeeded", "Failed") for p in pods)


def running(*pods: str) -> Callable[[Any], bool]:
    return lambda x: all(x.phase(p) == "Running" for p in pods)


def expect_phase(x: Any, p: str, phase: str) -> None:
    got = x.phase(p)
    assert got == phase, f"pod {p}: phase {got}, expected {phase}; {_states(x, p)}"


def _states(x: Any, p: str) -> str:
    """The containers' states and log tails, for a failure message."""
    st = (x.pod(p) or {}).get("status", {})
    out = []
    for s in st.get("initContainerStatuses", []) + st.get("containerStatuses", []):
        out.append(f"{s['name']}: {s.get('state')} log {x.log(p, s['name'])[-300:]!r}")
    return "; ".join(out)


def expect_log(x: Any, p: str, c: str | None, *subs: str, regex: bool = False) -> None:
    log = x.log(p, c)
    for s in subs:
        found = re.search(s, log) if regex else s in log
        assert found, f"pod {p} container {c}: {s!r} not in the log {log[-600:]!r}; {_states(x, p)}"


def output_case(
    cid: str,
    name: str,
    objs: Callable[[Env, str], list[dict[str, Any]]],
    subs: Callable[[str], list[str]],
    *,
    container: str | None = None,
    regex: bool = False,
    skip: dict[str, str] | None = None,
    xfail: dict[str, str] | None = None,
) -> None:
    """TestContainerOutput: the pod (named after the case) Succeeds and each string is
    in the container's log."""
    p = cid.lower()

    def build(e: Env) -> Spec:
        def check(x: Any) -> None:
            expect_phase(x, p, "Succeeded")
            expect_log(x, p, container, *subs(p), regex=regex)

        return Spec(objs(e, p), check, terminal(p))

    CASES.append(Case(cid, _group(cid), name, build, dict(skip or {}), dict(xfail or {})))


# == RT runtime.go ===================================================================

NO_IMAGES = "the process runtime runs host commands: it has no images to pull"
REGISTRY = "needs an image registry (no network here; images are never pulled)"

# runtime.go's restart counter: run 1 exits 1, run 2 exits 0, then it runs on.
_RT1_SCRIPT = (
    "f=/restart-count/restartCount; n=$(cat $f 2>/dev/null || echo 0); n=$((n + 1));"
    " echo $n >$f; if [ $n -eq 1 ]; then exit 1; fi; if [ $n -eq 2 ]; then exit 0; fi;"
    " " + PAUSE
)
_RT1 = {  # restartPolicy -> (restartCount, phase, ready, state)
    "Always": (2, "Running", True, "running"),
    "OnFailure": (1, "Succeeded", False, "terminated"),
    "Never": (0, "Failed", False, "terminated"),
}


@case("RT1", "exiting container: restartCount, phase, Ready and state per restartPolicy")
def rt1(e: Env) -> Spec:
    names = {pol: f"rt1-{pol.lower()}" for pol in _RT1}
    objs = [
        pod(
            names[pol],
            [
                ctr(
                    e,
                    "terminate-cmd",
                    _RT1_SCRIPT,
                    volumeMounts=[{"name": "rc", "mountPath": "/restart-count"}],
                )
            ],
            restart=pol,
            volumes=[{"name": "rc", "emptyDir": {"medium": "Memory"}}],
        )
        for pol in _RT1
    ]

    def check(x: Any) -> None:
        for pol, (count, phase, ready, state) in _RT1.items():
            if x.mark.get("states_ok"):
                break
            p = names[pol]
            st = x.cs(p, "terminate-cmd")
            assert st["restartCount"] == count, f"{p}: restartCount {st['restartCount']}"
            expect_phase(x, p, phase)
            assert x.ready(p) == ready, f"{p}: Ready {x.ready(p)}"
            assert state in st["state"], f"{p}: state {st['state']}"
        x.mark["states_ok"] = True
        # delete (grace 0) -> gone: judged as the last step
        for p in names.values():
            if not x.mark.get(f"del-{p}"):
                res = x.cli("delete", "pod", p, "--grace-period", "0", "--no-wait")
                x.mark[f"del-{p}"] = f"exit {res.code}: {res.out.strip()} {res.err.strip()}"
        for p in names.values():
            assert x.gone(p), f"{p}: still there after its delete ({x.mark[f'del-{p}']})"

    def gate(x: Any) -> bool:  # stays open once the pods are deleted
        x.mark["gate"] = x.mark.get("gate") or x.phase(names["Never"]) == "Failed"
        return bool(x.mark["gate"])

    return Spec(objs, check, gate, timeout=200, settle=None)


def _term_msg(cid: str, name: str, script: str, phase: str, msg: str, **extra: Any) -> None:
    p = cid.lower()

    def build(e: Env) -> Spec:
        def check(x: Any) -> None:
            expect_phase(x, p, phase)
            term = x.cs(p, "termination-message-container")["state"].get("terminated", {})
            assert term.get("message", "") == msg, f"message {term.get('message')!r} != {msg!r}"

        c = ctr(e, "termination-message-container", script, **extra)
        return Spec([pod(p, [c])], check, terminal(p))

    CASES.append(Case(cid, "RT", name, build))


_term_msg(
    "RT2",
    "termination message from TerminationMessagePath",
    "/bin/echo -n DONE > /dev/termination-log",
    "Succeeded",
    "DONE",
    terminationMessagePath="/dev/termination-log",
    securityContext={"runAsUser": 0},
)
_term_msg(
    "RT3",
    "termination message as non-root user at a non-default path",
    "/bin/echo -n DONE > /dev/termination-custom-log",
    "Succeeded",
    "DONE",
    terminationMessagePath="/dev/termination-custom-log",
    securityContext={"runAsUser": 10000},
)
_term_msg(
    "RT4",
    "termination message from log output (FallbackToLogsOnError, failed)",
    "/bin/echo -n DONE; /bin/false",
    "Failed",
    "DONE",
    terminationMessagePolicy="FallbackToLogsOnError",
)
_term_msg(
    "RT5",
    "termination message empty when the pod succeeds (FallbackToLogsOnError)",
    "/bin/echo -n DONE; /bin/true",
    "Succeeded",
    "",
    terminationMessagePolicy="FallbackToLogsOnError",
)
_term_msg(
    "RT6",
    "termination message from file when the pod succeeds (FallbackToLogsOnError)",
    "/bin/echo -n OK > /dev/termination-log; /bin/echo DONE; /bin/true",
    "Succeeded",
    "OK",
    terminationMessagePolicy="FallbackToLogsOnError",
)


@case("RT7", "image from an invalid registry is not pulled", skip={PROCESS: NO_IMAGES})
def rt7(e: Env) -> Spec:
    p = "rt7"
    c = {
        "name": "image-pull-test",
        "image": "invalid.registry.invalid/invalid/alpine:3.1",
        "imagePullPolicy": "Always",
        "command": ["/bin/sh", "-c", "true"],
    }

    def check(x: Any) -> None:
        waiting = x.cs(p, "image-pull-test")["state"].get("waiting", {})
        assert waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull")
        expect_phase(x, p, "Pending")

    return Spec([pod(p, [c])], check, lambda x: x.pod(p) is not None)


listed("RT8", "pull an image (agnhost, pull Always)", REGISTRY)
listed("RT9", "no pull from a private registry without a secret", REGISTRY)
listed("RT10", "pull from a private registry with a secret", REGISTRY)


# == LH lifecycle_hook.go ============================================================

NO_TLS = (
    "needs an HTTPS handler (agnhost netexec --tls-cert-file); busybox httpd, the"
    " handler here, has no TLS"
)


def _lh(cid: str, name: str, hook: str, action: str, restartable: bool) -> None:
    p = cid.lower()
    msg = hook.lower()  # poststart / prestop

    def build(e: Env) -> Spec:
        d = e.casedir(cid)
        cgi = d / "cgi-bin"
        cgi.mkdir(exist_ok=True)
        (cgi / "echo").write_text(ECHO_CGI)
        (cgi / "echo").chmod(0o755)
        requests = d / "requests"
        path = f"/cgi-bin/echo?msg={msg}"
        if action == "exec":
            handler: dict[str, Any] = {
                "exec": {
                    "command": ["sh", "-c", f"{e.bb}wget -q -O- 'http://127.0.0.1:8080{path}'"]
                }
            }
        else:
            handler = {"httpGet": {"path": path, "port": 8080}}
        redirect = ctr(
            e,
            "container-redirect",
            f"exec {e.bb}httpd -f -vv -p 8080 -h /log",
            restartPolicy="Always",
            volumeMounts=[{"name": "log", "mountPath": "/log"}],
            startupProbe={
                "httpGet": {"path": "/cgi-bin/echo?msg=startup", "port": 8080},
                "periodSeconds": 1,
                "failureThreshold": 60,
            },
        )
        hooked = ctr(e, "pod-with-hook", PAUSE, lifecycle={hook: handler})
        init = [redirect]
        containers = [hooked]
        if restartable:
            init.append(hooked | {"restartPolicy": "Always"})
            containers = [ctr(e, "main", PAUSE)]
        obj = pod(
            p,
            containers,
            restart="Always",
            init=init,
            volumes=[{"name": "log", "hostPath": {"path": str(d)}}],
        )

        def seen(text: str) -> bool:
            try:
                return text in requests.read_text()
            except FileNotFoundError:
                return False

        def step(x: Any) -> None:
            if x.mark.get("deleted") or x.phase(p) != "Running":
                return
            if hook == "postStart" and not seen("GET /echo?msg=poststart"):
                return
            x.cli("delete", "pod", p, "--grace-period", "15", "--no-wait")
            x.mark["deleted"] = True

        def check(x: Any) -> None:
            assert x.mark.get("deleted"), "the pod was never deleted (not Running?)"
            assert x.gone(p), "the pod is not gone after its delete"
            assert seen(f"GET /echo?msg={msg}"), (
                f"the handler saw no {msg} request: {requests.read_text()!r}"
                if requests.exists()
                else "the handler saw no request"
            )

        return Spec([obj], check, lambda x: bool(x.mark.get("deleted")), step, timeout=200)

    skip = {"*": NO_TLS} if action == "https" else {}
    CASES.append(Case(cid, "LH", name, build, skip))


for _i, (_hook, _act) in enumerate(
    [
        ("postStart", "exec"),
        ("preStop", "exec"),
        ("postStart", "http"),
        ("postStart", "https"),
        ("preStop", "http"),
        ("preStop", "https"),
    ]
):
    _lh(
        f"LH{_i + 1}",
        f"{_hook} {_act} hook",
        _hook,
        _act,
        False,
    )
    _lh(
        f"LH{_i + 7}",
        f"restartable init container {_hook} {_act} hook",
        _hook,
        _act,
        True,
    )


def _sleep_hook(
    cid: str, name: str, sleep: int, pod_grace: int, delete_grace: int | None, lo: float, hi: float
) -> None:
    """LH13/14/16: the time from the delete to the pod's end (the e2e reads finishedAt,
    kept by a finalizer; podkeeper has no finalizers, so the end is when the pod goes)."""
    p = cid.lower()

    def build(e: Env) -> Spec:
        c = ctr(
            e,
            "pod-with-prestop-sleep-hook",
            PAUSE,
            lifecycle={"preStop": {"sleep": {"seconds": sleep}}},
        )

        def step(x: Any) -> None:
            if x.mark.get("deleted_at") is None and x.phase(p) == "Running":
                args = ["delete", "pod", p, "--no-wait"]
                if delete_grace is not None:
                    args += ["--grace-period", str(delete_grace)]
                x.mark["deleted_at"] = x.now()
                x.cli(*args)

        def check(x: Any) -> None:
            assert x.gone(p), "not gone yet"
            took = x.gone_at(p) - x.mark["deleted_at"]
            assert lo <= took <= hi, (
                f"the pod ended {took:.1f} s after its delete, not in [{lo}, {hi}]"
            )

        return Spec(
            [pod(p, [c], restart="Always", grace=pod_grace)],
            check,
            lambda x: x.mark.get("deleted_at") is not None and x.gone(p),
            step,
            timeout=200,
        )

    CASES.append(Case(cid, "LH", name, build))


# The upper bounds get 15 s for polling and CLI start-up on a loaded 2-core machine.
_sleep_hook("LH13", "preStop sleep action (sleep 50, grace 100)", 50, 100, None, 50.0, 115.0)
_sleep_hook(
    "LH14", "preStop sleep cut short by a smaller delete grace (30)", 50, 100, 30, 30.0, 65.0
)
_sleep_hook("LH16", "preStop sleep of zero seconds", 0, 30, None, 0.0, 30.0)


@case("LH15", "preStop sleep ignored for a container that exited by itself")
def lh15(e: Env) -> Spec:
    p = "lh15"
    c = ctr(
        e,
        "pod-with-prestop-sleep-hook",
        "sleep 3",
        lifecycle={"preStop": {"sleep": {"seconds": 10}}},
    )

    def check(x: Any) -> None:
        term = x.cs(p, "pod-with-prestop-sleep-hook")["state"]["terminated"]
        took = x.ts(term["finishedAt"]) - x.ts(term["startedAt"])
        assert 0 <= took <= 10, f"finishedAt - startedAt = {took} s"

    return Spec([pod(p, [c], grace=30)], check, terminal(p))


# == IC init_container.go ============================================================


def _cond(x: Any, p: str, ctype: str) -> dict[str, Any]:
    for c in (x.pod(p) or {}).get("status", {}).get("conditions", []):
        if c["type"] == ctype:
            return dict(c)
    return {}


def _init_done(x: Any, p: str, n: int) -> None:
    st = x.pod(p)["status"].get("initContainerStatuses", [])
    assert len(st) == n, f"{len(st)} init statuses"
    for s in st:
        assert s.get("ready") is True, f"{s['name']} not ready"
        term = s["state"].get("terminated", {})
        assert term.get("exitCode") == 0, f"{s['name']}: {s['state']}"


@case("IC1", "init containers run on a RestartNever pod")
def ic1(e: Env) -> Spec:
    p = "ic1"
    obj = pod(
        p,
        [ctr(e, "run1", "true")],
        init=[ctr(e, "init1", "true"), ctr(e, "init2", "true")],
    )

    def check(x: Any) -> None:
        expect_phase(x, p, "Succeeded")
        assert _cond(x, p, "Initialized").get("status") == "True"
        _init_done(x, p, 2)

    return Spec([obj], check, terminal(p))


@case("IC2", "init containers run on a RestartAlways pod")
def ic2(e: Env) -> Spec:
    p = "ic2"
    obj = pod(
        p,
        [ctr(e, "run1", PAUSE, resources={"limits": {"cpu": "100m"}})],
        restart="Always",
        init=[ctr(e, "init1", "true"), ctr(e, "init2", "true")],
    )

    def check(x: Any) -> None:
        expect_phase(x, p, "Running")
        assert _cond(x, p, "Initialized").get("status") == "True"
        _init_done(x, p, 2)

    return Spec([obj], check, running(p))


@case("IC3", "app containers do not start if an init container fails (RestartAlways)")
def ic3(e: Env) -> Spec:
    p = "ic3"
    obj = pod(
        p,
        [ctr(e, "run1", PAUSE)],
        restart="Always",
        init=[ctr(e, "init1", "false"), ctr(e, "init2", "true")],
    )

    def check(x: Any) -> None:
        assert x.cs(p, "init1")["restartCount"] >= 3, "init1 restarted fewer than 3 times"
        for c in ("init2", "run1"):
            w = x.cs(p, c)["state"].get("waiting", {})
            assert w.get("reason") == "PodInitializing", f"{c}: {x.cs(p, c)['state']}"
        expect_phase(x, p, "Pending")
        cond = _cond(x, p, "Initialized")
        assert cond.get("status") == "False" and cond.get("reason") == "ContainersNotInitialized"
        assert cond.get("message") == "containers with incomplete status: [init1 init2]", cond

    return Spec([obj], check, lambda x: x.pod(p) is not None, timeout=240, settle=None)


@case("IC4", "init container failure fails a RestartNever pod")
def ic4(e: Env) -> Spec:
    p = "ic4"
    obj = pod(
        p,
        [ctr(e, "run1", "true")],
        init=[ctr(e, "init1", "true"), ctr(e, "init2", "false")],
    )

    def check(x: Any) -> None:
        term = x.cs(p, "init2")["state"].get("terminated", {})
        assert term.get("exitCode", 0) != 0, x.cs(p, "init2")
        expect_phase(x, p, "Failed")
        cond = _cond(x, p, "Initialized")
        assert cond.get("status") == "False" and cond.get("reason") == "ContainersNotInitialized"
        assert cond.get("message") == "containers with incomplete status: [init2]", cond
        assert "waiting" in x.cs(p, "run1")["state"], x.cs(p, "run1")

    return Spec([obj], check, terminal(p))


# == PO pods.go ======================================================================


@case("PO1", "a pod gets a host IP")
def po1(e: Env) -> Spec:
    p = "po1"

    def check(x: Any) -> None:
        assert x.pod(p)["status"].get("hostIP"), "no status.hostIP"

    return Spec([pod(p, [ctr(e, "c", PAUSE)], restart="Always")], check, running(p))


@case("PO2", "a pod is submitted and removed (grace 30)")
def po2(e: Env) -> Spec:
    p = "po2"

    def step(x: Any) -> None:
        if not x.mark.get("deleted") and x.phase(p) == "Running":
            x.cli("delete", "pod", p, "--grace-period", "30", "--no-wait")
            x.mark["deleted"] = True
            x.mark["after"] = x.http("GET", f"/api/v1/namespaces/default/pods/{p}")[1]

    def check(x: Any) -> None:
        # The object read right after the delete: deletionTimestamp set, grace != 0.
        last = x.mark["after"]
        assert last["metadata"].get("deletionTimestamp"), "never seen with a deletionTimestamp"
        assert last["metadata"].get("deletionGracePeriodSeconds", 30) != 0
        assert x.gone(p), "not gone"

    return Spec(
        [pod(p, [ctr(e, "c", PAUSE)], restart="Always", labels={"time": "1"}, grace=30)],
        check,
        lambda x: bool(x.mark.get("deleted")),
        step,
    )


@case("PO3", "a pod's labels are updated")
def po3(e: Env) -> Spec:
    p = "po3"

    def step(x: Any) -> None:
        if not x.mark.get("patched") and x.phase(p) == "Running":
            x.patch(p, {"metadata": {"labels": {"time": "updated"}}})
            x.mark["patched"] = True

    def check(x: Any) -> None:
        expect_phase(x, p, "Running")
        got = [q for q in x.list_pods("time=updated")]
        assert [q["metadata"]["name"] for q in got] == [p], got

    return Spec(
        [pod(p, [ctr(e, "c", PAUSE)], restart="Always", labels={"time": "0"})],
        check,
        lambda x: bool(x.mark.get("patched")),
        step,
    )


@case("PO4", "activeDeadlineSeconds can be updated on a running pod")
def po4(e: Env) -> Spec:
    p = "po4"

    def step(x: Any) -> None:
        if not x.mark.get("patched") and x.phase(p) == "Running":
            x.patch(p, {"spec": {"activeDeadlineSeconds": 5}})
            x.mark["patched"] = True

    def check(x: Any) -> None:
        expect_phase(x, p, "Failed")
        assert x.pod(p)["status"].get("reason") == "DeadlineExceeded", x.pod(p)["status"]

    return Spec(
        [pod(p, [ctr(e, "c", PAUSE)], restart="Always")],
        check,
        lambda x: bool(x.mark.get("patched")),
        step,
    )


@case("PO5", "environment variables for services")
def po5(e: Env) -> Spec:
    p = "po5"
    server = pod(
        "po5-server",
        [ctr(e, "srv", PAUSE, ports=[{"containerPort": 8080}])],
        restart="Always",
        labels={"name": "po5-server"},
    )
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "fooservice"},
        "spec": {
            "selector": {"name": "po5-server"},
            "ports": [{"port": 8765, "targetPort": 8080}],
        },
    }
    # Created after the Service (the kubelet sets the variables of the Services that
    # exist when the container starts): a start delay through an init container.
    client = pod(p, [ctr(e, "env3cont", "env")], init=[ctr(e, "wait", "sleep 3")])

    def check(x: Any) -> None:
        expect_phase(x, p, "Succeeded")
        expect_log(
            x,
            p,
            None,
            "FOOSERVICE_SERVICE_HOST=",
            "FOOSERVICE_SERVICE_PORT=",
            "FOOSERVICE_PORT=",
            "FOOSERVICE_PORT_8765_TCP_PORT=",
            "FOOSERVICE_PORT_8765_TCP_PROTO=",
            "FOOSERVICE_PORT_8765_TCP=",
            "FOOSERVICE_PORT_8765_TCP_ADDR=",
        )

    return Spec([svc, server, client], check, terminal(p))


listed(
    "PO6",
    "remote command execution over websockets",
    "not automated in this table: needs a websocket exec client against the API listener",
)
listed(
    "PO7",
    "retrieving logs over websockets",
    "not automated in this table: needs a websocket log client against the API listener",
)
listed("PO8", "back-off timer reset on image update", "[Slow] (about 7 min) and needs nginx")
listed("PO9", "back-off capped at MaxContainerBackOff", "[Slow] (about 27 min)")


@case("PO10", "pod readiness gates")
def po10(e: Env) -> Spec:
    p = "po10"
    obj = pod(
        p,
        [ctr(e, "c", PAUSE)],
        restart="Always",
        readinessGates=[
            {"conditionType": "k8s.io/test-condition1"},
            {"conditionType": "k8s.io/test-condition2"},
        ],
    )

    def cond(x: Any, which: str, status: str) -> None:
        conds = [
            c
            for c in x.pod(p)["status"].get("conditions", [])
            if c["type"] != f"k8s.io/test-condition{which}"
        ]
        conds.append({"type": f"k8s.io/test-condition{which}", "status": status})
        x.patch_status(p, {"status": {"conditions": conds}})

    def step(x: Any) -> None:
        m = x.mark
        if x.phase(p) != "Running":
            return
        stage = m.get("stage", 0)
        if stage == 0:
            assert not x.ready(p), "Ready without its gates"
            cond(x, "1", "True")
            m["stage"], m["t"] = 1, x.now()
        elif stage == 1 and x.now() - m["t"] >= 10:
            m["not_ready_1"] = not x.ready(p)
            cond(x, "2", "True")
            m["stage"] = 2
        elif stage == 2 and x.ready(p):
            m["ready_2"] = True
            cond(x, "1", "False")
            m["stage"] = 3
        elif stage == 3 and not x.ready(p):
            m["stage"] = 4

    def check(x: Any) -> None:
        assert x.mark.get("not_ready_1"), "Ready with one gate True"
        assert x.mark.get("ready_2"), "not Ready with both gates True"
        assert x.mark.get("stage") == 4, "still Ready with condition1 False"

    return Spec([obj], check, lambda x: x.mark.get("stage", 0) >= 2, step, timeout=150)


# == EX expansion.go =================================================================


def _env(**values: str) -> list[dict[str, Any]]:
    return [{"name": k, "value": v} for k, v in values.items()]


def _field(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


output_case(
    "EX1",
    "compose env vars into new env vars",
    lambda e, p: [
        pod(
            p,
            [
                ctr(
                    e,
                    "dapi-container",
                    "env",
                    env=_env(FOO="foo-value", BAR="bar-value", FOOBAR="$(FOO);;$(BAR)"),
                )
            ],
        )
    ],
    lambda p: ["FOO=foo-value", "BAR=bar-value", "FOOBAR=foo-value;;bar-value"],
)
output_case(
    "EX2",
    "substitute values in a container's command",
    lambda e, p: [
        pod(
            p,
            [
                ctr(
                    e,
                    "dapi-container",
                    'TEST_VAR=wrong echo "$(TEST_VAR)"',
                    env=_env(TEST_VAR="test-value"),
                )
            ],
        )
    ],
    lambda p: ["test-value"],
)
output_case(
    "EX3",
    "substitute values in a container's args",
    lambda e, p: [
        pod(
            p,
            [
                {
                    "name": "dapi-container",
                    "image": e.busybox,
                    "command": ["sh", "-c"],
                    "args": ['TEST_VAR=wrong echo "$(TEST_VAR)"'],
                    "env": _env(TEST_VAR="test-value"),
                }
            ],
        )
    ],
    lambda p: ["test-value"],
)
output_case(
    "EX4",
    "substitute values in a volume subpath (subPathExpr)",
    lambda e, p: [
        pod(
            p,
            [
                ctr(
                    e,
                    "dapi-container",
                    f"test -d /testcontainer/{p};echo $?",
                    env=[_field("POD_NAME", "metadata.name")],
                    volumeMounts=[
                        {
                            "name": "workdir1",
                            "mountPath": "/logscontainer",
                            "subPathExpr": "$(POD_NAME)",
                        },
                        {"name": "workdir1", "mountPath": "/testcontainer"},
                    ],
                )
            ],
            volumes=[{"name": "workdir1", "emptyDir": {}}],
        )
    ],
    lambda p: ["0"],
)


def _subpath_fails(cid: str, name: str, value: str) -> None:
    p = cid.lower()

    def build(e: Env) -> Spec:
        c = ctr(
            e,
            "dapi-container",
            "true",
            env=_env(POD_NAME=value),
            volumeMounts=[
                {"name": "workdir1", "mountPath": "/logscontainer", "subPathExpr": "$(POD_NAME)"}
            ],
        )
        obj = pod(p, [c], volumes=[{"name": "workdir1", "emptyDir": {}}])

        def check(x: Any) -> None:
            w = x.cs(p, "dapi-container")["state"].get("waiting", {})
            assert w.get("reason") == "CreateContainerConfigError", x.cs(p, "dapi-container")

        return Spec([obj], check, lambda x: x.pod(p) is not None, timeout=120)

    CASES.append(Case(cid, "EX", name, build))


_subpath_fails("EX5", "subPathExpr with backticks (..) fails: CreateContainerConfigError", "..")
_subpath_fails("EX6", "subPathExpr with an absolute path fails: CreateContainerConfigError", "/tmp")


def _ex78_pod(e: Env, p: str, script: str, annotations: dict[str, str] | None) -> dict[str, Any]:
    c = ctr(
        e,
        "dapi-container",
        script,
        env=[*_env(POD_NAME="foo"), _field("ANNOTATION", "metadata.annotations['mysubpath']")],
        volumeMounts=[
            {
                "name": "workdir1",
                "mountPath": "/subpath_mount",
                "subPathExpr": "$(ANNOTATION)/$(POD_NAME)",
            },
            {"name": "workdir1", "mountPath": "/volume_mount"},
        ],
    )
    return pod(
        p,
        [c],
        restart="Always",
        annotations=annotations,
        volumes=[{"name": "workdir1", "emptyDir": {}}],
    )


@case("EX7", "a failing subPathExpr is fixed by an annotation during the pod's life")
def ex7(e: Env) -> Spec:
    """[Slow] in the e2e (Pending for 2 min); here Pending is held for 15 s."""
    p = "ex7"

    def step(x: Any) -> None:
        m = x.mark
        if x.pod(p) is None or m.get("patched_at"):
            return
        m.setdefault("first", x.now())
        if x.phase(p) != "Pending":
            m["left_pending"] = x.phase(p)
        if x.now() - m["first"] >= 15:
            x.patch(p, {"metadata": {"annotations": {"mysubpath": "mypath"}}})
            m["patched_at"] = x.now()

    def check(x: Any) -> None:
        assert not x.mark.get("left_pending"), f"phase {x.mark.get('left_pending')} before the fix"
        expect_phase(x, p, "Running")

    return Spec(
        [_ex78_pod(e, p, PAUSE, None)], check, lambda x: bool(x.mark.get("patched_at")), step
    )


@case("EX8", "write into subpaths in a container (the container runs the e2e's exec itself)")
def ex8(e: Env) -> Spec:
    p = "ex8"
    script = (
        "touch /volume_mount/mypath/foo/test.log && test -f /subpath_mount/test.log"
        " && echo WROTE-SUBPATH; " + PAUSE
    )

    def step(x: Any) -> None:
        if x.mark.get("patched_at") or x.phase(p) != "Running":
            return
        if "WROTE-SUBPATH" in x.log(p, None):
            x.patch(p, {"metadata": {"annotations": {"mysubpath": "mynewpath"}}})
            x.mark["patched_at"] = x.now()

    def check(x: Any) -> None:
        expect_log(x, p, None, "WROTE-SUBPATH")
        assert x.now() - x.mark["patched_at"] >= 5, "judged 5 s after the annotation change"
        expect_phase(x, p, "Running")
        assert x.cs(p, "dapi-container")["restartCount"] == 0

    return Spec(
        [_ex78_pod(e, p, script, {"mysubpath": "mypath"})],
        check,
        lambda x: bool(x.mark.get("patched_at")),
        step,
    )


# == CM, SE configmap.go, secrets.go (env) ===========================================

_DATA = kv(data_1="value-1", data_2="value-2", data_3="value-3")
_SDATA = {k: v + "\n" for k, v in _DATA.items()}


def _ref(kind: str, obj: str, key: str) -> dict[str, Any]:
    return {kind: {"name": obj, "key": key}}


output_case(
    "CM1",
    "ConfigMap consumable via an environment variable",
    lambda e, p: [
        configmap(p, **_DATA),
        pod(
            p,
            [
                ctr(
                    e,
                    "env-test",
                    "env",
                    env=[
                        {
                            "name": "CONFIG_DATA_1",
                            "valueFrom": _ref("configMapKeyRef", p, "data-1"),
                        }
                    ],
                )
            ],
        ),
    ],
    lambda p: ["CONFIG_DATA_1=value-1"],
)
output_case(
    "CM2",
    "ConfigMap consumable via the environment (envFrom, prefix p-)",
    lambda e, p: [
        configmap(p, **_DATA),
        pod(
            p,
            [
                ctr(
                    e,
                    "env-test",
                    "env",
                    envFrom=[
                        {"configMapRef": {"name": p}},
                        {"prefix": "p-", "configMapRef": {"name": p}},
                    ],
                )
            ],
        ),
    ],
    lambda p: ["data-1=value-1", "data-2=value-2", "data-3=value-3", "p-data-1=value-1"],
)
output_case(
    "SE1",
    "Secret consumable from pods in env vars",
    lambda e, p: [
        secret(p, **_DATA),
        pod(
            p,
            [
                ctr(
                    e,
                    "secret-env-test",
                    "env",
                    env=[{"name": "SECRET_DATA", "valueFrom": _ref("secretKeyRef", p, "data-1")}],
                )
            ],
        ),
    ],
    lambda p: ["SECRET_DATA=value-1"],
)
output_case(
    "SE2",
    "Secret consumable via the environment (envFrom, prefix p-)",
    lambda e, p: [
        secret(p, **_SDATA),
        pod(
            p,
            [
                ctr(
                    e,
                    "env-test",
                    "env",
                    envFrom=[
                        {"secretRef": {"name": p}},
                        {"prefix": "p-", "secretRef": {"name": p}},
                    ],
                )
            ],
        ),
    ],
    lambda p: ["data-1=value-1", "data-2=value-2", "data-3=value-3", "p-data-1=value-1"],
)
_PREFIXES = ["", "1-", "$_-", "ABC_", "#@!"]
output_case(
    "SE5",
    "Secret env variable names with various prefixes",
    lambda e, p: [
        secret(p, **_DATA),
        pod(
            p,
            [
                ctr(
                    e,
                    "env-test",
                    "env",
                    envFrom=[
                        ({"prefix": pre} if pre else {}) | {"secretRef": {"name": p}}
                        for pre in _PREFIXES
                    ],
                )
            ],
        ),
    ],
    lambda p: [f"{pre}data-{n}=value-{n}" for pre in _PREFIXES for n in (1, 2, 3)],
)
output_case(
    "CM6",
    "ConfigMap env variable names with various prefixes (as SE5)",
    lambda e, p: [
        configmap(p, **_DATA),
        pod(
            p,
            [
                ctr(
                    e,
                    "env-test",
                    "env",
                    envFrom=[
                        ({"prefix": pre} if pre else {}) | {"configMapRef": {"name": p}}
                        for pre in _PREFIXES
                    ],
                )
            ],
        ),
    ],
    lambda p: [f"{pre}data-{n}=value-{n}" for pre in _PREFIXES for n in (1, 2, 3)],
)


# == DA downwardapi.go (env) =========================================================

_RES = {"requests": {"cpu": "250m", "memory": "32Mi"}, "limits": {"cpu": "1250m", "memory": "64Mi"}}


def _rf(name: str, resource: str) -> dict[str, Any]:
    return {
        "name": name,
        "valueFrom": {
            "resourceFieldRef": {"containerName": "dapi-container", "resource": resource}
        },
    }


def _da(e: Env, p: str, env: list[dict[str, Any]], resources: bool = True) -> list[dict[str, Any]]:
    extra = {"resources": _RES} if resources else {}
    return [pod(p, [ctr(e, "dapi-container", "env", env=env, **extra)])]


_IP = r"(\d+\.\d+\.\d+\.\d+|[0-9a-fA-F:]+)"
output_case(
    "DA1",
    "pod name, namespace and IP address as env vars",
    lambda e, p: _da(
        e,
        p,
        [
            _field("POD_NAME", "metadata.name"),
            _field("POD_NAMESPACE", "metadata.namespace"),
            _field("POD_IP", "status.podIP"),
        ],
    ),
    lambda p: [f"POD_NAME={p}", "POD_NAMESPACE=default", f"POD_IP={_IP}"],
    regex=True,
)
output_case(
    "DA2",
    "host IP as an env var",
    lambda e, p: _da(e, p, [_field("HOST_IP", "status.hostIP")]),
    lambda p: [f"HOST_IP={_IP}"],
    regex=True,
)
output_case(
    "DA3",
    "hostIPs as an env var (the copy read uses status.hostIP)",
    lambda e, p: _da(e, p, [_field("HOST_IP", "status.hostIP")]),
    lambda p: [f"HOST_IP={_IP}"],
    regex=True,
)
output_case(
    "DA4",
    "container's limits and requests as env vars",
    lambda e, p: _da(
        e,
        p,
        [
            _rf("CPU_LIMIT", "limits.cpu"),
            _rf("MEMORY_LIMIT", "limits.memory"),
            _rf("CPU_REQUEST", "requests.cpu"),
            _rf("MEMORY_REQUEST", "requests.memory"),
        ],
    ),
    lambda p: ["CPU_LIMIT=2", "MEMORY_LIMIT=67108864", "CPU_REQUEST=1", "MEMORY_REQUEST=33554432"],
)
output_case(
    "DA5",
    "default limits.cpu/memory from node allocatable",
    lambda e, p: _da(
        e, p, [_rf("CPU_LIMIT", "limits.cpu"), _rf("MEMORY_LIMIT", "limits.memory")], False
    ),
    lambda p: ["CPU_LIMIT=[1-9]", "MEMORY_LIMIT=[1-9]"],
    regex=True,
)
output_case(
    "DA6",
    "pod UID as an env var",
    lambda e, p: _da(e, p, [_field("POD_UID", "metadata.uid")]),
    lambda p: ["POD_UID=[a-z0-9]{8}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{12}"],
    regex=True,
)


# == CT containers.go ================================================================


def _ct(cid: str, name: str, command: list[str] | None, args: list[str] | None, want: str) -> None:
    p = cid.lower()

    def build(e: Env) -> Spec:
        c: dict[str, Any] = {"name": "agnhost-container", "image": AGNHOST_IMAGE}
        if command:
            c["command"] = command
        if args:
            c["args"] = args
        obj = pod(p, [c], grace=1)

        def check(x: Any) -> None:
            expect_log(x, p, None, want)

        gate = running(p) if want == "Paused" else terminal(p)
        return Spec([obj], check, gate)

    CASES.append(Case(cid, "CT", name, build, {PROCESS: NO_IMAGES}))


_ct("CT1", "image defaults when command and args are blank", None, None, "Paused")
_ct(
    "CT2",
    "override the image's default arguments (cmd)",
    None,
    ["entrypoint-tester", "override", "arguments"],
    "[/agnhost entrypoint-tester override arguments]",
)
_ct(
    "CT3",
    "override the image's default command (entrypoint)",
    ["/agnhost-2"],
    ["entrypoint-tester"],
    "[/agnhost-2 entrypoint-tester]",
)
_ct(
    "CT4",
    "override the image's default command and arguments",
    ["/agnhost-2"],
    ["entrypoint-tester", "override", "arguments"],
    "[/agnhost-2 entrypoint-tester override arguments]",
)


# == SC security_context.go, privileged.go ===========================================

NO_ROOTFS = (
    "the process runtime has no root filesystem of its own to make read-only"
    " (readOnlyRootFilesystem is warned about)"
)


def _sc(cid: str, name: str, script: str, phase: str, sc: dict[str, Any], **kw: Any) -> None:
    def objs(e: Env, p: str) -> list[dict[str, Any]]:
        return [pod(p, [ctr(e, "test-container", script, securityContext=sc)])]

    p = cid.lower()

    def build(e: Env) -> Spec:
        def check(x: Any) -> None:
            expect_phase(x, p, phase)
            for s in kw.get("logs", []):
                expect_log(x, p, None, s)

        return Spec(objs(e, p), check, terminal(p))

    CASES.append(Case(cid, "SC", name, build, {}, dict(kw.get("xfail", {}))))


_sc("SC1", "runAsUser 65534", "test $(id -u) -eq 65534", "Succeeded", {"runAsUser": 65534})
_sc("SC2", "runAsUser 0", "test $(id -u) -eq 0", "Succeeded", {"runAsUser": 0})
_sc(
    "SC3",
    "readOnlyRootFilesystem=true: the root filesystem is read-only",
    "touch checkfile",
    "Failed",
    {"readOnlyRootFilesystem": True},
    xfail={PROCESS: NO_ROOTFS},
)
_sc(
    "SC4",
    "readOnlyRootFilesystem=false: the root filesystem is writable",
    "touch checkfile",
    "Succeeded",
    {"readOnlyRootFilesystem": False},
)
_sc(
    "SC5",
    "privileged=false: unprivileged",
    "ip link add dummy0 type dummy || true",
    "Succeeded",
    {"privileged": False},
    logs=["Operation not permitted"],
)


def _nnp(cid: str, name: str, ape: bool | None, want: str) -> None:
    p = cid.lower()

    def build(e: Env) -> Spec:
        sc: dict[str, Any] = {"runAsUser": 1000}
        if ape is not None:
            sc["allowPrivilegeEscalation"] = ape
        c = {"name": "test-container", "image": NONEWPRIVS_IMAGE, "command": [e.nonewprivs]}
        c["securityContext"] = sc

        def check(x: Any) -> None:
            expect_phase(x, p, "Succeeded")
            expect_log(x, p, None, want)

        return Spec([pod(p, [c])], check, terminal(p))

    CASES.append(Case(cid, "SC", name, build))


_nnp("SC6", "privilege escalation allowed when unset and uid != 0", None, "Effective uid: 0")
_nnp(
    "SC7",
    "no privilege escalation when allowPrivilegeEscalation=false",
    False,
    "Effective uid: 1000",
)
_nnp(
    "SC8",
    "privilege escalation allowed when allowPrivilegeEscalation=true",
    True,
    "Effective uid: 0",
)


@case("SC9", "privileged commands in a privileged container only (run by the container)")
def sc9(e: Env) -> Spec:
    p = "sc9"
    # The e2e adds a dummy link; this kernel has no dummy link type ("Unknown device
    # type"), so a veth pair stands in: the same CAP_NET_ADMIN check comes first.
    script = "ip link add sc9a type veth peer name sc9b && echo ADD-OK || echo ADD-FAILED; " + PAUSE
    obj = pod(
        p,
        [
            ctr(e, "privileged-container", script, securityContext={"privileged": True}),
            ctr(e, "not-privileged-container", script, securityContext={"privileged": False}),
        ],
        restart="Always",
    )

    def check(x: Any) -> None:
        expect_log(x, p, "privileged-container", "ADD-OK")
        expect_log(x, p, "not-privileged-container", "ADD-FAILED", "Operation not permitted")

    return Spec([obj], check, running(p))


# == SY sysctl.go ====================================================================


def _sy(cid: str, name: str, sysctl: str, ok: bool) -> None:
    p = cid.lower()

    def build(e: Env) -> Spec:
        key = sysctl.split("=")[0]
        c = ctr(e, "test-container", f"sysctl {key.replace('/', '.')}")
        obj = pod(
            p,
            [c],
            securityContext={"sysctls": [{"name": key, "value": sysctl.split("=")[1]}]},
        )

        def check(x: Any) -> None:
            if ok:
                reasons = [ev["reason"] for ev in x.events(p)]
                first = next(
                    (
                        r
                        for r in reasons
                        if r in ("Started", "Killing", "Failed", "SysctlForbidden")
                    ),
                    None,
                )
                assert first == "Started", f"events: {reasons}"
                expect_phase(x, p, "Succeeded")
                expect_log(x, p, None, "kernel.shm_rmid_forced = 1")
            else:
                expect_phase(x, p, "Failed")
                assert x.pod(p)["status"].get("reason") == "SysctlForbidden", x.pod(p)["status"]

        return Spec([obj], check, terminal(p))

    CASES.append(Case(cid, "SY", name, build, {}, {}))


_sy("SY1", "sysctls are set", "kernel.shm_rmid_forced=1", True)
_sy(
    "SY3",
    "an unsafe sysctl not enabled on the node is refused (SysctlForbidden)",
    "kernel.msgmax=10000000000",
    False,
)
_sy("SY4", "sysctls with slashes as separator", "kernel/shm_rmid_forced=1", True)


# == KU kubelet.go, kubelet_etc_hosts.go, pod_admission.go ===========================


@case("KU1", "a busybox command's output is in the logs")
def ku1(e: Env) -> Spec:
    p = "ku1"

    def check(x: Any) -> None:
        assert x.log(p, None) == "Hello World\n", repr(x.log(p, None))

    obj = pod(p, [ctr(e, "busybox", "echo 'Hello World' ; " + PAUSE)], restart="Always")
    return Spec([obj], check, running(p))


@case("KU2", "an always-failing command has a terminated reason")
def ku2(e: Env) -> Spec:
    p = "ku2"

    def check(x: Any) -> None:
        sts = x.pod(p)["status"]["containerStatuses"]
        assert len(sts) == 1
        term = sts[0]["state"].get("terminated")
        assert term and term["exitCode"] != 0 and term.get("reason"), sts[0]

    return Spec([pod(p, [ctr(e, "bin-false", "/bin/false")])], check, terminal(p))


@case("KU3", "an always-failing pod can be deleted")
def ku3(e: Env) -> Spec:
    p = "ku3"

    def check(x: Any) -> None:
        if "deleted" not in x.mark:
            x.mark["deleted"] = x.cli("delete", "pod", p, "--no-wait").code
        assert x.mark["deleted"] == 0, "delete failed"

    return Spec([pod(p, [ctr(e, "bin-false", "/bin/false")])], check, terminal(p))


_ALIAS_LINE = "123.45.67.89\tfoo\tbar"


def _ku_aliases(cid: str, name: str, host_network: bool) -> None:
    p = cid.lower()

    def build(e: Env) -> Spec:
        extra = {"hostNetwork": True} if host_network else {}
        obj = pod(
            p,
            [ctr(e, "busybox-host-aliases", "cat /etc/hosts; " + PAUSE)],
            restart="Always",
            hostAliases=[{"ip": "123.45.67.89", "hostnames": ["foo", "bar"]}],
            **extra,
        )

        def check(x: Any) -> None:
            expect_log(x, p, None, _ALIAS_LINE)

        return Spec([obj], check, running(p))

    CASES.append(Case(cid, "KU", name, build))


_ku_aliases("KU4", "hostAliases are written to /etc/hosts", False)
_ku_aliases("KU6", "hostAliases are written to /etc/hosts with hostNetwork", True)


@case(
    "KU5",
    "a read-only busybox container cannot write to its root filesystem",
    xfail={PROCESS: NO_ROOTFS},
)
def ku5(e: Env) -> Spec:
    p = "ku5"
    c = ctr(
        e,
        "busybox-readonly-fs",
        "echo test > /file; " + PAUSE,
        securityContext={"readOnlyRootFilesystem": True},
    )

    def check(x: Any) -> None:
        assert x.log(p, None) == "/bin/sh: can't create /file: Read-only file system\n", repr(
            x.log(p, None)
        )

    return Spec([pod(p, [c], restart="Always")], check, running(p))


_MANAGED = "# Kubernetes-managed hosts file."


@case("KU7", "the kubelet manages /etc/hosts (not with hostNetwork or a mounted /etc/hosts)")
def ku7(e: Env) -> Spec:
    a, b = "ku7-a", "ku7-b"
    cat = "cat /etc/hosts; " + PAUSE
    pa = pod(
        a,
        [
            ctr(e, "busybox-1", cat),
            ctr(e, "busybox-2", cat),
            ctr(
                e,
                "busybox-3",
                cat,
                volumeMounts=[{"name": "host-etc-hosts", "mountPath": "/etc/hosts"}],
            ),
        ],
        restart="Always",
        volumes=[{"name": "host-etc-hosts", "hostPath": {"path": "/etc/hosts"}}],
    )
    pb = pod(
        b, [ctr(e, "busybox-1", cat), ctr(e, "busybox-2", cat)], restart="Always", hostNetwork=True
    )

    def check(x: Any) -> None:
        for p, c, managed in (
            (a, "busybox-1", True),
            (a, "busybox-2", True),
            (a, "busybox-3", False),
            (b, "busybox-1", False),
            (b, "busybox-2", False),
        ):
            log = x.log(p, c)
            assert log, f"{p}/{c}: no /etc/hosts printed yet"
            assert (_MANAGED in log) == managed, f"{p}/{c}: managed={managed}: {log!r}"

    return Spec([pa, pb], check, running(a, b))


@case("KU8", "a pod for another OS is rejected (PodOSNotSupported)")
def ku8(e: Env) -> Spec:
    p = "ku8"

    def check(x: Any) -> None:
        expect_phase(x, p, "Failed")
        assert x.pod(p)["status"].get("reason") == "PodOSNotSupported", x.pod(p)["status"]

    obj = pod(p, [ctr(e, "c", PAUSE)], restart="Always", os={"name": "windows"})
    return Spec([obj], check, lambda x: x.pod(p) is not None, timeout=120)


# == CV, SV, PC, PS configmap_volume.go, secrets_volume.go, projected_*.go ===========


def _src_vol(
    kind: str, vol: str, obj: str, projected: bool, default_mode: int | None = None, **src: Any
) -> dict[str, Any]:
    """A configMap/secret volume, plain or as the single source of a projected volume."""
    ref = {"name": obj} if kind == "configMap" else {"secretName": obj}
    if projected:
        body: dict[str, Any] = {"sources": [{kind: {"name": obj, **src}}]}
        if default_mode is not None:
            body["defaultMode"] = default_mode
        return {"name": vol, "projected": body}
    if default_mode is not None:
        ref["defaultMode"] = default_mode
    return {"name": vol, kind: ref | src}


def _mount(vol: str, path: str) -> dict[str, Any]:
    return {"name": vol, "mountPath": path, "readOnly": True}


def _kv_volume_cases(prefix: str, kind: str, projected: bool) -> None:
    """CV1-10 / SV1-8 and their projected mirrors PC1-9 / PS1-7 (as named in the spec)."""
    is_cm = kind == "configMap"
    noun = "ConfigMap" if is_cm else "Secret"
    what = ("projected-" if projected else "") + ("configmap" if is_cm else "secret")
    mp = f"/etc/{what}-volume"
    many = f"/etc/{what}-volumes"
    make = configmap if is_cm else secret

    def simple(
        cid: str,
        name: str,
        *,
        default_mode: int | None = None,
        items: list[dict[str, Any]] | None = None,
        path: str = "data-1",
        value: str = "value-1",
        mode: str = "-rw-r--r--",
        pod_sc: dict[str, Any] | None = None,
        two_mounts: bool = False,
        other_ns: bool = False,
    ) -> None:
        def objs(e: Env, p: str) -> list[dict[str, Any]]:
            src: dict[str, Any] = {"items": items} if items else {}
            vols = [_src_vol(kind, "vol", p, projected, default_mode, **src)]
            mounts = [_mount("vol", mp)]
            flags = [f"--file_content={mp}/{path}", f"--file_mode={mp}/{path}"]
            if two_mounts:
                vols.append(_src_vol(kind, "vol2", p, projected, default_mode, **src))
                mounts.append(_mount("vol2", f"{mp}-2"))
                flags.append(f"--file_content={mp}-2/{path}")
            spec: dict[str, Any] = {"securityContext": pod_sc} if pod_sc else {}
            out = [make(p, **_DATA)]
            if other_ns:
                out = [make(p, namespace=f"{p}-other", **kv(data_1="other-ns-value")), *out]
            return [
                *out,
                pod(p, [mt(e, "test", *flags, volumeMounts=mounts)], volumes=vols, **spec),
            ]

        lines = [f'content of file "{mp}/{path}": {value}', f'mode of file "{mp}/{path}": {mode}']
        if two_mounts:
            lines.append(f'content of file "{mp}-2/{path}": {value}')
        output_case(cid, name, objs, lambda p: lines)

    def updates(cid: str, name: str) -> None:
        p = cid.lower()

        def build(e: Env) -> Spec:
            c = mt(
                e,
                "test",
                "--break_on_expected_content=false",
                "--retry_time=150",
                f"--file_content_in_loop={mp}/data-1",
                volumeMounts=[_mount("vol", mp)],
            )
            obj = pod(p, [c], volumes=[_src_vol(kind, "vol", p, projected)])

            def step(x: Any) -> None:
                if not x.mark.get("updated") and "value-1" in x.log(p, None):
                    x.apply(make(p, **kv(data_1="value-2", data_3="value-3")))
                    x.mark["updated"] = True

            def check(x: Any) -> None:
                assert x.mark.get("updated"), "value-1 never read"
                expect_log(x, p, None, f'content of file "{mp}/data-1": value-2')

            return Spec(
                [make(p, **kv(data_1="value-1")), obj], check, running(p), step, settle=None
            )

        CASES.append(Case(cid, _group(cid), name, build))

    def optional(cid: str, name: str) -> None:
        p = cid.lower()
        files = {"delete": "data-1", "update": "data-3", "create": "data-1"}

        def build(e: Env) -> Spec:
            containers = [
                mt(
                    e,
                    f"{d}-volume-test",
                    "--break_on_expected_content=false",
                    "--retry_time=150",
                    f"--file_content_in_loop={many}/{d}/{f}",
                    volumeMounts=[_mount(f"{d}-volume", f"{many}/{d}")],
                )
                for d, f in files.items()
            ]
            vols = [
                _src_vol(kind, f"{d}-volume", f"{p}-{d}", projected, optional=True) for d in files
            ]
            objs = [
                make(f"{p}-delete", **_DATA),
                make(f"{p}-update", **kv(data_1="value-1")),
                pod(p, containers, volumes=vols, restart="Never"),
            ]
            err = "Error reading file {}/{}/{}"
            before = {
                "create": err.format(many, "create", "data-1"),
                "update": err.format(many, "update", "data-3"),
                "delete": f'content of file "{many}/delete/data-1": value-1',
            }
            after = {
                "create": f'content of file "{many}/create/data-1": value-1',
                "update": f'content of file "{many}/update/data-3": value-3',
                "delete": err.format(many, "delete", "data-1"),
            }

            def step(x: Any) -> None:
                if x.mark.get("changed") or x.phase(p) != "Running":
                    return
                logs = {d: x.log(p, f"{d}-volume-test") for d in files}
                if all(before[d] in logs[d] for d in files):
                    x.mark["offsets"] = {d: len(logs[d]) for d in files}
                    kindword = "configmap" if is_cm else "secret"
                    x.cli("delete", kindword, f"{p}-delete")
                    x.apply(
                        make(f"{p}-update", **kv(data_3="value-3")), make(f"{p}-create", **_DATA)
                    )
                    x.mark["changed"] = True

            def check(x: Any) -> None:
                assert x.mark.get("changed"), "the initial contents were never all seen"
                for d in files:
                    tail = x.log(p, f"{d}-volume-test")[x.mark["offsets"][d] :]
                    assert after[d] in tail, f"{d}: {after[d]!r} not in {tail[-300:]!r}"

            return Spec(objs, check, running(p), step, timeout=200, settle=None)

        CASES.append(Case(cid, _group(cid), name, build))

    c = prefix
    if is_cm:
        # CV1-CV10 and PC1-PC9 are the same cases but for the wording, CV8 (binary data,
        # plain volumes only) and so the numbering after it.
        pre = "projected " if projected else ""
        where = "" if projected else " in a volume"
        number = iter(range(1, 11))

        def nid() -> str:
            return f"{c}{next(number)}"

        simple(nid(), f"{pre}{noun} in a volume")
        simple(
            nid(),
            f"{pre}{noun}{where} with defaultMode 0400",
            default_mode=0o400,
            mode="-r--------",
        )
        simple(nid(), f"{pre}{noun}{where} as non-root", pod_sc={"runAsUser": 1000})
        m = [{"key": "data-2", "path": "path/to/data-2"}]
        mapped: dict[str, Any] = {"items": m, "path": "path/to/data-2", "value": "value-2"}
        simple(nid(), f"{pre}{noun}{where} with mappings", **mapped)
        simple(
            nid(),
            f"{pre}{noun} with mappings and item mode 0400",
            **(mapped | {"items": [m[0] | {"mode": 0o400}], "mode": "-r--------"}),
        )
        simple(
            nid(),
            f"{pre}{noun} with mappings as non-root",
            **mapped,
            pod_sc={"runAsUser": 1000},
        )
        updates(nid(), f"{pre}{noun} updates are reflected in the volume")
        if not projected:
            next(number)
            _cv8()
        optional(nid(), f"optional {pre}{noun} updates are reflected in the volume")
        simple(nid(), f"{pre}{noun} in multiple volumes of one pod", two_mounts=True)
    else:
        pre = "projected " if projected else ""
        m = [{"key": "data-1", "path": "new-path-data-1"}]
        mm = [m[0] | {"mode": 0o400}]
        nonroot = {"runAsUser": 1000, "fsGroup": 1001}
        rows: list[tuple[str, dict[str, Any]]] = [
            (f"{pre}{noun} in a volume", {}),
            (f"{pre}{noun} with defaultMode 0400", {"default_mode": 0o400, "mode": "-r--------"}),
            (
                f"{pre}{noun} as non-root with defaultMode 0440 and fsGroup",
                {"default_mode": 0o440, "mode": "-r--r-----", "pod_sc": nonroot},
            ),
            (f"{pre}{noun} with mappings", {"items": m, "path": "new-path-data-1"}),
            (
                f"{pre}{noun} with mappings and item mode 0400",
                {"items": mm, "path": "new-path-data-1", "mode": "-r--------"},
            ),
        ]
        if projected:  # PS1 plain, PS2 non-root+fsGroup, PS3 defaultMode (spec order)
            rows[1], rows[2] = rows[2], rows[1]
        for i, (title, kw) in enumerate(rows):
            simple(f"{c}{i + 1}", title, **kw)
        if projected:
            simple(f"{c}6", f"{pre}{noun} in multiple volumes of one pod", two_mounts=True)
            optional(f"{c}7", f"optional {pre}{noun} updates are reflected in the volume")
        else:
            simple(
                f"{c}6",
                f"{noun} in a volume despite a same-named one in another namespace",
                other_ns=True,
            )
            simple(f"{c}7", f"{noun} in multiple volumes of one pod", two_mounts=True)
            optional(f"{c}8", f"optional {noun} updates are reflected in the volume")


def _cv8() -> None:
    p = "cv8"
    mp = "/etc/configmap-volume"

    def build(e: Env) -> Spec:
        cm = configmap(p, **kv(data_1="value-1"))
        cm["binaryData"] = {"dump.bin": base64.b64encode(bytes.fromhex("decafebad0feff")).decode()}
        mounts = [_mount("vol", mp)]
        obj = pod(
            p,
            [
                mt(
                    e,
                    "configmap-volume-data-test",
                    f"--file_content={mp}/data-1",
                    volumeMounts=mounts,
                ),
                ctr(
                    e,
                    "configmap-volume-binary-test",
                    f"hexdump -C {mp}/dump.bin",
                    volumeMounts=mounts,
                ),
            ],
            volumes=[{"name": "vol", "configMap": {"name": p}}],
        )

        def check(x: Any) -> None:
            expect_phase(x, p, "Succeeded")
            expect_log(x, p, "configmap-volume-data-test", "value-1")
            expect_log(x, p, "configmap-volume-binary-test", "de ca fe ba d0 fe ff")

        return Spec([cm, obj], check, terminal(p))

    CASES.append(Case("CV8", "CV", "ConfigMap binary data in a volume", build))


_kv_volume_cases("CV", "configMap", False)
_kv_volume_cases("SV", "secret", False)
_kv_volume_cases("PC", "configMap", True)
_kv_volume_cases("PS", "secret", True)


# == DV, PD downwardapi_volume.go, projected_downwardapi.go ==========================

_DV_ITEMS = [
    {"path": "podname", "fieldRef": {"fieldPath": "metadata.name"}},
    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
    {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}},
] + [
    {"path": path, "resourceFieldRef": {"containerName": "client-container", "resource": res}}
    for path, res in (
        ("cpu_limit", "limits.cpu"),
        ("cpu_request", "requests.cpu"),
        ("memory_limit", "limits.memory"),
        ("memory_request", "requests.memory"),
    )
]


def _dv_volume(
    projected: bool, item_mode: int | None = None, default_mode: int | None = None
) -> dict[str, Any]:
    items = [dict(i) for i in _DV_ITEMS]
    if item_mode is not None:
        items[0]["mode"] = item_mode
    if projected:
        body: dict[str, Any] = {"sources": [{"downwardAPI": {"items": items}}]}
    else:
        body = {"items": items}
    if default_mode is not None:
        body["defaultMode"] = default_mode
    return {"name": "podinfo", ("projected" if projected else "downwardAPI"): body}


def _dv_cases(prefix: str, projected: bool) -> None:
    pre = "projected " if projected else ""

    def dpod(e: Env, p: str, flags: list[str], resources: bool = True, **kw: Any) -> dict[str, Any]:
        extra = {"resources": _RES} if resources else {}
        c = mt(
            e,
            "client-container",
            *flags,
            volumeMounts=[{"name": "podinfo", "mountPath": "/etc/podinfo"}],
            **extra,
        )
        vol = _dv_volume(projected, kw.pop("item_mode", None), kw.pop("default_mode", None))
        return pod(p, [c], volumes=[vol], **kw)

    c = prefix
    output_case(
        f"{c}1",
        f"{pre}downward API volume: podname only",
        lambda e, p: [dpod(e, p, ["--file_content=/etc/podinfo/podname"])],
        lambda p: [f"{p}\n"],
    )
    output_case(
        f"{c}2",
        f"{pre}downward API volume: defaultMode 0400",
        lambda e, p: [dpod(e, p, ["--file_mode=/etc/podinfo/podname"], default_mode=0o400)],
        lambda p: ['mode of file "/etc/podinfo/podname": -r--------'],
    )
    output_case(
        f"{c}3",
        f"{pre}downward API volume: item mode 0400",
        lambda e, p: [dpod(e, p, ["--file_mode=/etc/podinfo/podname"], item_mode=0o400)],
        lambda p: ['mode of file "/etc/podinfo/podname": -r--------'],
    )

    def update(
        cid: str,
        name: str,
        what: str,
        first: dict[str, str],
        patch: dict[str, str],
        want1: str,
        want2: str,
    ) -> None:
        p = cid.lower()

        def build(e: Env) -> Spec:
            flags = [
                "--break_on_expected_content=false",
                "--retry_time=150",
                f"--file_content_in_loop=/etc/podinfo/{what}",
            ]
            obj = dpod(e, p, flags, **{what: first})

            def step(x: Any) -> None:
                if not x.mark.get("patched") and want1 in x.log(p, None):
                    x.patch(p, {"metadata": {what: patch}})
                    x.mark["patched"] = True

            def check(x: Any) -> None:
                assert x.mark.get("patched"), f"{want1!r} never read"
                expect_log(x, p, None, want2)

            return Spec([obj], check, running(p), step, settle=None)

        CASES.append(Case(cid, _group(cid), name, build))

    update(
        f"{c}4",
        f"{pre}downward API volume: labels update",
        "labels",
        {"key1": "value1", "key2": "value2"},
        {"key3": "value3"},
        'key1="value1"\n',
        'key3="value3"\n',
    )
    update(
        f"{c}5",
        f"{pre}downward API volume: annotations update",
        "annotations",
        {"builder": "bar"},
        {"builder": "foo"},
        'builder="bar"\n',
        'builder="foo"\n',
    )
    for i, (f, want) in enumerate(
        [
            ("cpu_limit", "2\n"),
            ("memory_limit", "67108864\n"),
            ("cpu_request", "1\n"),
            ("memory_request", "33554432\n"),
        ]
    ):
        output_case(
            f"{c}{i + 6}",
            f"{pre}downward API volume: container's {f.replace('_', ' ')}",
            lambda e, p, f=f: [dpod(e, p, [f"--file_content=/etc/podinfo/{f}"])],
            lambda p, f=f, want=want: [f'content of file "/etc/podinfo/{f}": {want}'],
        )
    for i, f in enumerate(["cpu_limit", "memory_limit"]):
        output_case(
            f"{c}{i + 10}",
            f"{pre}downward API volume: node allocatable as default {f.split('_')[0]} limit",
            lambda e, p, f=f: [dpod(e, p, [f"--file_content=/etc/podinfo/{f}"], resources=False)],
            lambda p, f=f: [f'content of file "/etc/podinfo/{f}": [1-9]'],
            regex=True,
        )


_dv_cases("DV", False)
_dv_cases("PD", True)


@case("PX1", "projected volume with downwardAPI, Secret and ConfigMap sources")
def px1(e: Env) -> Spec:
    p = "px1"
    vol = {
        "name": "podinfo",
        "projected": {
            "sources": [
                {
                    "downwardAPI": {
                        "items": [{"path": "podname", "fieldRef": {"fieldPath": "metadata.name"}}]
                    }
                },
                {"secret": {"name": p, "items": [{"key": "secret-data", "path": "secret-data"}]}},
                {
                    "configMap": {
                        "name": p,
                        "items": [{"key": "configmap-data", "path": "configmap-data"}],
                    }
                },
            ]
        },
    }
    c = ctr(
        e,
        "projected-all-volume-test",
        "cat /all/podname /all/secret-data /all/configmap-data",
        volumeMounts=[{"name": "podinfo", "mountPath": "/all", "readOnly": False}],
    )
    objs = [
        secret(p, **{"secret-data": "secret-value-1"}),
        configmap(p, **{"configmap-data": "configmap-value-1"}),
        pod(p, [c], volumes=[vol]),
    ]

    def check(x: Any) -> None:
        expect_phase(x, p, "Succeeded")
        expect_log(x, p, None, p, "secret-value-1", "configmap-value-1")

    return Spec(objs, check, terminal(p))


# == ED empty_dir.go =================================================================


def _ed_pod(e: Env, p: str, flags: list[str], medium: str, uid: int | None) -> dict[str, Any]:
    sc: dict[str, Any] = {"seLinuxOptions": {"level": "s0"}}
    if uid is not None:
        sc["runAsUser"] = uid
    ed: dict[str, Any] = {"medium": "Memory"} if medium == "tmpfs" else {}
    c = mt(
        e,
        "test-container",
        *flags,
        volumeMounts=[{"name": "test-volume", "mountPath": "/test-volume"}],
    )
    return pod(p, [c], volumes=[{"name": "test-volume", "emptyDir": ed}], securityContext=sc)


output_case(
    "ED1",
    "emptyDir on tmpfs has the correct mode",
    lambda e, p: [
        _ed_pod(e, p, ["--fs_type=/test-volume", "--file_perm=/test-volume"], "tmpfs", None)
    ],
    lambda p: ['perms of file "/test-volume": -rwxrwxrwx', 'mount type of "/test-volume": tmpfs'],
)
output_case(
    "ED2",
    "emptyDir on the default medium has the correct mode",
    lambda e, p: [_ed_pod(e, p, ["--file_perm=/test-volume"], "default", None)],
    lambda p: ['perms of file "/test-volume": -rwxrwxrwx'],
)
_PERMS = {"0644": "-rw-r--r--", "0666": "-rw-rw-rw-", "0777": "-rwxrwxrwx"}
_n = 3
for _medium in ("tmpfs", "default"):
    for _who in ("root", "non-root"):
        for _mode, _perm in _PERMS.items():

            def _objs(
                e: Env, p: str, medium: str = _medium, who: str = _who, mode: str = _mode
            ) -> list[dict[str, Any]]:
                f = "/test-volume/test-file"
                flags = (["--fs_type=/test-volume"] if medium == "tmpfs" else []) + [
                    f"--new_file_{mode}={f}",
                    f"--file_perm={f}",
                    f"--file_content={f}",
                ]
                return [_ed_pod(e, p, flags, medium, 1001 if who == "non-root" else None)]

            def _subs(p: str, medium: str = _medium, perm: str = _perm) -> list[str]:
                f = "/test-volume/test-file"
                out = [
                    f'perms of file "{f}": {perm}',
                    f'content of file "{f}": mount-tester new file',
                ]
                return out + (['mount type of "/test-volume": tmpfs'] if medium == "tmpfs" else [])

            output_case(f"ED{_n}", f"emptyDir ({_who},{_mode},{_medium})", _objs, _subs)
            _n += 1


@case("ED15", "emptyDir shared between containers (the reader runs the e2e's exec itself)")
def ed15(e: Env) -> Spec:
    p = "ed15"
    f = "/usr/share/volumeshare/shareddata.txt"
    main = ctr(
        e,
        "busybox-main-container",
        f"while [ ! -s {f} ]; do sleep 0.5; done; cat {f}; " + PAUSE,
        volumeMounts=[{"name": "shared-data", "mountPath": "/usr/share/volumeshare"}],
    )
    sub = ctr(
        e,
        "busybox-sub-container",
        "echo Hello from the busy-box sub-container > /pod-data/shareddata.txt",
        volumeMounts=[{"name": "shared-data", "mountPath": "/pod-data"}],
    )

    def check(x: Any) -> None:
        log = x.log(p, "busybox-main-container")
        assert log.strip() == "Hello from the busy-box sub-container", repr(log)

    obj = pod(p, [main, sub], restart="Never", volumes=[{"name": "shared-data", "emptyDir": {}}])
    return Spec([obj], check, lambda x: x.pod(p) is not None)


# == HP host_path.go =================================================================


output_case(
    "HP1",
    "hostPath /tmp has the correct mode",
    lambda e, p: [
        pod(
            p,
            [
                mt(
                    e,
                    "test-container-1",
                    "--file_mode=/test-volume",
                    volumeMounts=[{"name": "test-volume", "mountPath": "/test-volume"}],
                )
            ],
            volumes=[{"name": "test-volume", "hostPath": {"path": "/tmp"}}],
        )
    ],
    lambda p: ['mode of file "/test-volume": dg?trwxrwx'],
    regex=True,
)


def _hp(cid: str, name: str, sub_path: bool) -> None:
    p = cid.lower()

    def build(e: Env) -> Spec:
        # A 1777 folder of its own stands in for /tmp (the e2e writes /tmp/test-file).
        d = e.casedir(cid)
        d.chmod(0o1777)
        f = "/test-volume/test-file"
        wm: dict[str, Any] = {"name": "test-volume", "mountPath": "/test-volume"}
        if sub_path:
            wm["subPath"] = "sub-path"
        read = "/test-volume/sub-path/test-file" if sub_path else f
        writer = mt(
            e,
            "test-container-1",
            f"--new_file_0644={f}",
            f"--file_mode={f}",
            volumeMounts=[wm],
            securityContext={"privileged": True},
        )
        reader = mt(
            e,
            "test-container-2",
            f"--file_content_in_loop={read}",
            "--retry_time=15",
            volumeMounts=[{"name": "test-volume", "mountPath": "/test-volume"}],
        )
        obj = pod(
            p, [writer, reader], volumes=[{"name": "test-volume", "hostPath": {"path": str(d)}}]
        )

        def check(x: Any) -> None:
            expect_phase(x, p, "Succeeded")
            expect_log(x, p, "test-container-2", f'content of file "{read}": mount-tester new file')

        return Spec([obj], check, terminal(p))

    CASES.append(Case(cid, "HP", name, build))


_hp("HP2", "hostPath read/write between containers", False)
_hp("HP3", "hostPath with subPath (the kubelet creates the subPath folder)", True)


# == API-only cases (no pod table): CM3-5, SE3-4, CV11, SV9, SY2, PO11-13 =============
# x.http(method, path, body, content_type) -> (status, body) against the agent's API.

_CM = "/api/v1/namespaces/default/configmaps"
_SEC = "/api/v1/namespaces/default/secrets"
_PODS = "/api/v1/namespaces/default/pods"
_MERGE = "application/merge-patch+json"


def _ok(status: int, body: Any, what: str) -> Any:
    assert 200 <= status < 300, f"{what}: HTTP {status}: {body}"
    return body


def _cm3(x: Any) -> None:
    status, body = x.http("POST", _CM, configmap("cm3", **{"": "value"}))
    assert status == 422, f"a ConfigMap with an empty key was accepted: {status} {body}"


def _cm4(x: Any) -> None:
    _ok(*x.http("POST", _CM, configmap("cm4", data_1="value-1")), "create")
    _ok(*x.http("PATCH", f"{_CM}/cm4", {"data": {"data_1": "value-2"}}, _MERGE), "update")
    got = _ok(*x.http("GET", f"{_CM}/cm4"), "get")
    assert got["data"] == {"data_1": "value-2"}, got


def _cm5(x: Any) -> None:
    _ok(*x.http("POST", _CM, configmap("cm5", valueName="value")), "create")
    patch = {"metadata": {"labels": {"test-configmap": "patched"}}, "data": {"valueName": "value1"}}
    _ok(*x.http("PATCH", f"{_CM}/cm5", patch, _MERGE), "patch")
    got = _ok(*x.http("GET", f"{_CM}?labelSelector=test-configmap%3Dpatched"), "list")
    assert [i["data"] for i in got["items"]] == [{"valueName": "value1"}], got
    _ok(*x.http("DELETE", f"{_CM}?labelSelector=test-configmap%3Dpatched"), "DeleteCollection")
    got = _ok(*x.http("GET", f"{_CM}?labelSelector=test-configmap%3Dpatched"), "list")
    assert got["items"] == [], got


def _se3(x: Any) -> None:
    status, body = x.http("POST", _SEC, secret("se3", **{"": "value-1"}))
    assert status == 422, f"a Secret with an empty key was accepted: {status} {body}"


def _se4(x: Any) -> None:
    made = _ok(*x.http("POST", _SEC, secret("se4", key="value")), "create")
    enc = base64.b64encode(b"value1").decode()
    patch = {"metadata": {"labels": {"testsecret": "true"}}, "data": {"key": enc}}
    got = _ok(*x.http("PATCH", f"{_SEC}/se4", patch, _MERGE), "patch")
    assert int(got["metadata"]["resourceVersion"]) > int(made["metadata"]["resourceVersion"])
    assert base64.b64decode(got["data"]["key"]) == b"value1"
    _ok(*x.http("DELETE", f"{_SEC}?labelSelector=testsecret%3Dtrue"), "DeleteCollection")
    status, _ = x.http("GET", f"{_SEC}/se4")
    assert status == 404, "still there after DeleteCollection"


def _immutable(path: str, make: Callable[..., dict[str, Any]], name: str) -> Callable[[Any], None]:
    def run(x: Any) -> None:
        obj = make(name, data_1="value-1")
        _ok(*x.http("POST", path, obj), "create")
        _ok(*x.http("PATCH", f"{path}/{name}", {"immutable": True}, _MERGE), "make immutable")
        data = {"data": {"data_1": base64.b64encode(b"x").decode()}}
        status, body = x.http("PATCH", f"{path}/{name}", data, _MERGE)
        assert status == 422 and body.get("reason") == "Invalid", f"data change: {status} {body}"
        status, body = x.http("PATCH", f"{path}/{name}", {"immutable": None}, _MERGE)
        assert status == 422, f"unsetting immutable: {status} {body}"
        label = {"metadata": {"labels": {"label1": "value1"}}}
        _ok(*x.http("PATCH", f"{path}/{name}", label, _MERGE), "label change")
        _ok(*x.http("DELETE", f"{path}/{name}"), "delete")

    return run


def _sy2(x: Any) -> None:
    p = pod("sy2", [{"name": "c", "image": "busybox", "command": ["true"]}])
    p["spec"]["securityContext"] = {
        "sysctls": [
            {"name": n, "value": "1"} for n in ("foo-", "kernel.shmmax", "safe-and-unsafe", "bar..")
        ]
    }
    status, body = x.http("POST", _PODS, p)
    text = str(body)
    assert status == 422, f"accepted: {status}"
    assert 'Invalid value: "foo-"' in text and 'Invalid value: "bar.."' in text, text
    assert "safe-and-unsafe" not in text and "kernel.shmmax" not in text, text


def _po11(x: Any) -> None:
    for i in range(3):
        q = pod(
            f"po11-{i}",
            [{"name": "c", "image": "busybox", "command": ["sh", "-c", PAUSE]}],
            grace=1,
            labels={"type": "Testing"},
        )
        _ok(*x.http("POST", _PODS, q), "create")
    _ok(*x.http("DELETE", f"{_PODS}?labelSelector=type%3DTesting"), "DeleteCollection")
    for _ in range(150):
        got = _ok(*x.http("GET", f"{_PODS}?labelSelector=type%3DTesting"), "list")
        if not got["items"]:
            return
        x.sleep(1)
    raise AssertionError("pods left after DeleteCollection")


def _po13(x: Any) -> None:
    q = pod(
        "po13",
        [{"name": "c", "image": "busybox", "command": ["sh", "-c", PAUSE]}],
        restart="Always",
    )
    _ok(*x.http("POST", _PODS, q), "create")
    body = {"status": {"message": "Patched by e2e test", "reason": "E2E"}}
    got = _ok(*x.http("PATCH", f"{_PODS}/po13/status", body, _MERGE), "patch status")
    assert (
        got["status"].get("message") == "Patched by e2e test"
        and got["status"].get("reason") == "E2E"
    )


api_case("CM3", "ConfigMap with an empty key is refused", _cm3)
api_case("CM4", "ConfigMap is updated", _cm4)
api_case(
    "CM5",
    "ConfigMap lifecycle (patch, list by label, DeleteCollection)",
    _cm5,
)
api_case("SE3", "Secret with an empty key is refused", _se3)
api_case("SE4", "Secret is patched (and deleted by collection)", _se4)
api_case("CV11", "immutable ConfigMap", _immutable(_CM, configmap, "cv11"))
api_case("SV9", "immutable Secret", _immutable(_SEC, secret, "sv9"))
api_case("SY2", "invalid sysctl names are refused", _sy2)
api_case("PO11", "a collection of pods is deleted", _po11)
listed(
    "PO12",
    "lifecycle of Pods and PodStatus (patch image to httpd, UpdateStatus, DeleteCollection)",
    "not automated in this table: the image switch to httpd while running and its"
    " UpdateStatus steps are not written yet",
)
api_case("PO13", "a pod's status is patched", _po13)
