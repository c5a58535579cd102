"""The Kubernetes node conformance cases besides probes, case by case, on both runtimes.

The table is `tests/e2e/nodeconf_cases.py` (one entry per case id of
`shared/spec/e2e-node-conformance.md`). For each runtime every runnable case's pods,
ConfigMaps and Secrets go to one agent in one `podkeeper up -d -f` (as
test_probe_conformance.py does for the probe cases); one observer then polls the
agent's API in-process (a CLI process per poll costs seconds on a loaded 2-core box)
and judges each case with its own assertions as soon as it holds, or reports the last
failed assertion when its time is up. Deletes and ConfigMap/Secret updates go through
the real CLI (`delete`, `up -f`); label/annotation/spec patches are merge patches on
the API, as `kubectl patch` sends them. API-only cases run against the same agent.

`PODKEEPER_CONFORMANCE_RUNTIMES=process` (comma-separated) limits the runtimes, as for
the probe table. A case that cannot run here is skipped with the reason; a case for a
feature podkeeper lacks is xfail(strict=True) with the reason.
`scripts/conformance_table.py` runs this file and prints the Markdown table.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from podkeeper.api.client import Client, UnixHTTPConnection
from podkeeper.runtime.cri.testimages import (
    ImageDef,
    archive_name,
    build_all,
    busybox_available,
    write_docker_archive,
)
from podkeeper.runtime.process import sandbox as sb

from .conftest import PK, Result, reap_home
from .nodeconf_cases import (
    AGNHOST_IMAGE,
    CASES,
    CONTAINERD,
    NONEWPRIVS_IMAGE,
    PROCESS,
    RUNTIMES,
    Case,
    Env,
    Spec,
)

pytestmark = [pytest.mark.e2e, pytest.mark.root, pytest.mark.timeout(900)]

POLL = 1.0

NONEWPRIVS_C = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("Effective uid: %d\n", (int)geteuid()); return 0; }
"""

# agnhost's entrypoint-tester prints its argv; with no arguments agnhost runs `pause`.
AGNHOST_SH = """#!/bin/sh
case "$1" in
  entrypoint-tester) echo "[$0 $*]" | sed 's/ ]$/]/' ;;
  pause|"") echo Paused; trap 'exit 0' TERM; while :; do sleep 1; done ;;
  *) echo "unknown subcommand $1" >&2; exit 2 ;;
esac
"""


def _unavailable(rt: str) -> str | None:
    chosen = os.environ.get("PODKEEPER_CONFORMANCE_RUNTIMES", "")  # as the probe table
    if chosen and rt not in {r.strip() for r in chosen.split(",")}:
        return f"PODKEEPER_CONFORMANCE_RUNTIMES excludes {rt}"
    if os.geteuid() != 0:
        return "needs root"
    if rt == PROCESS:
        return sb.unavailable_reason()
    from podkeeper.runtime.cri.containerd import unavailable_reason

    return unavailable_reason() or busybox_available()


def _ts(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


class Batch:
    """One agent running every case of one runtime."""

    def __init__(self, rt: str, tmp: Path) -> None:
        self.rt = rt
        self.tmp = tmp
        self.pk = PK(tmp / "home", tmp)
        # hostPath sources and the setuid helper live outside /tmp (pods get their own).
        self.hostdir = Path(tempfile.mkdtemp(prefix=f"pk-nodeconf-{rt}-", dir="/var/tmp"))
        self.hostdir.chmod(0o755)
        self.env = Env(rt, self.hostdir)
        self.results: dict[str, str | None] = {}  # case id -> None (passed) or the failure
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.last: dict[tuple[str, str], dict[str, Any]] = {}
        self.gone_at: dict[tuple[str, str], float] = {}
        self.log_cache: dict[tuple[str, str, str | None], str] = {}
        self.client = Client(str(self.pk.home / "agent.sock"), timeout=60.0)
        self.saved_env = os.environ.get("PODKEEPER_RUNTIME")

    # -- set-up ------------------------------------------------------------------------

    def _helper_binary(self) -> Path:
        src = self.tmp / "nonewprivs.c"
        src.write_text(NONEWPRIVS_C)
        out = self.hostdir / "nonewprivs"
        gcc = shutil.which("gcc") or shutil.which("cc") or "gcc"
        subprocess.run([gcc, "-static", "-Os", "-o", str(out), str(src)], check=True)
        os.chown(out, 0, 0)
        out.chmod(0o4755)
        return out

    def _import_images(self, helper: Path) -> None:
        images = build_all(self.tmp / "images")
        extra = [
            ImageDef(
                AGNHOST_IMAGE,
                entrypoint=["/agnhost"],
                cmd=["pause"],
                files={
                    "/agnhost": (AGNHOST_SH.encode(), 0o755),
                    "/agnhost-2": (AGNHOST_SH.encode(), 0o755),
                },
            ),
            ImageDef(
                NONEWPRIVS_IMAGE,
                files={"/usr/local/bin/nonewprivs": (helper.read_bytes(), 0o4755)},
            ),
        ]
        for d in extra:
            images[d.name] = write_docker_archive(d, self.tmp / "images" / archive_name(d.name))
        out = self.pk.run("image", "import", *(str(p) for p in images.values()), timeout=300).out
        for name in images:
            assert f"imported {name}" in out, out

    def start(self) -> None:
        helper = self._helper_binary()
        if self.rt == CONTAINERD:
            os.environ["PODKEEPER_RUNTIME"] = CONTAINERD
            self._import_images(helper)
        else:
            os.environ.pop("PODKEEPER_RUNTIME", None)
            self.env.nonewprivs = str(helper)

    def stop(self) -> None:
        try:
            self.pk.run("down", timeout=240, check=False)
        finally:
            if self.rt == CONTAINERD:
                import asyncio

                from podkeeper.runtime.cri.containerd import ManagedContainerd
                from podkeeper.runtime.cri.containerd import reap_home as cri_reap

                if ManagedContainerd(self.pk.home).shim_pids():
                    asyncio.run(cri_reap(self.pk.home))
            reap_home(self.pk.home)
            shutil.rmtree(self.hostdir, ignore_errors=True)
            if self.saved_env is None:
                os.environ.pop("PODKEEPER_RUNTIME", None)
            else:
                os.environ["PODKEEPER_RUNTIME"] = self.saved_env

    # -- what the cases read ----------------------------------------------------------

    def cli(self, *args: str) -> Result:
        return self.pk.run(*args, timeout=120, check=False)

    def http(
        self, method: str, path: str, body: Any = None, ctype: str = "application/json"
    ) -> tuple[int, Any]:
        conn = UnixHTTPConnection(str(self.pk.home / "agent.sock"), 60.0)
        try:
            payload = None if body is None else json.dumps(body).encode()
            headers = {"Accept": "application/json"}
            if payload is not None:
                headers["Content-Type"] = ctype
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        try:
            return resp.status, json.loads(raw or b"null")
        except ValueError:
            return resp.status, raw.decode(errors="replace")

    def log(self, ns: str, pod: str, container: str | None) -> str:
        key = (ns, pod, container)
        if key not in self.log_cache:
            try:
                text = b"".join(self.client.logs(ns, pod, container)).decode(errors="replace")
            except Exception:  # not there yet (no container, pod gone)
                text = ""
            self.log_cache[key] = text
        return self.log_cache[key]

    # -- the run -----------------------------------------------------------------------

    def apply_all(self, docs: list[dict[str, Any]]) -> list[str]:
        """`up -d -f` everything; a refused document is found by halving (errors returned)."""
        errors: list[str] = []

        def up(part: list[dict[str, Any]]) -> None:
            path = self.pk.write(f"batch-{time.monotonic_ns()}.yaml", part)
            res = self.pk.run("up", "-d", "-f", str(path), timeout=300, check=False)
            if res.code == 0:
                return
            if len(part) == 1:
                meta = part[0].get("metadata", {})
                errors.append(f"{part[0]['kind']} {meta.get('name')}: {res.err.strip()[-800:]}")
                return
            up(part[: len(part) // 2])
            up(part[len(part) // 2 :])

        # Namespaces and config objects first (pods refer to them).
        order = {"Namespace": 0, "ConfigMap": 1, "Secret": 1, "Service": 2}
        up(sorted(docs, key=lambda d: order.get(d["kind"], 3)))
        return errors

    def run(self, cases: list[Case]) -> None:
        specs: dict[str, Spec] = {}
        owners: dict[str, str] = {}  # "kind/ns/name" -> case id
        docs: list[dict[str, Any]] = []
        only = os.environ.get("NODECONF_ONLY")  # a debugging aid: "RT1,HP2"
        if only:
            cases = [c for c in cases if c.id in only.split(",")]
        for c in cases:
            if c.skip_reason(self.rt) or c.build is None:
                continue
            try:
                spec = c.build(self.env)
            except Exception:  # a case that cannot be built fails alone
                self.results[c.id] = "building the case failed:\n" + traceback.format_exc()
                continue
            specs[c.id] = spec
            for d in spec.objs:
                meta = d["metadata"]
                owners[f"{d['kind']}/{meta.get('namespace', 'default')}/{meta['name']}"] = c.id
                docs.append(d)
        for err in self.apply_all(docs):
            kind, _, rest = err.partition(" ")
            name = rest.split(":")[0]
            for key, cid in owners.items():
                if key.startswith(f"{kind}/") and key.endswith(f"/{name}"):
                    self.results[cid] = f"`up` refused it: {err}"
        t0 = time.monotonic()
        for c in cases:
            if c.api is not None and not c.skip_reason(self.rt):
                try:
                    c.api(View(self, c.id))
                    self.results[c.id] = None
                except Exception as exc:  # recorded, judged by the test
                    self.results[c.id] = f"{type(exc).__name__}: {exc}"
        pending = {cid: s for cid, s in specs.items() if cid not in self.results}
        views = {cid: View(self, cid) for cid in pending}
        errors: dict[str, str] = {cid: "never judged (its gate never opened)" for cid in pending}
        opened: dict[str, float] = {}  # case id -> when its gate first opened
        while pending and time.monotonic() - t0 < max(s.timeout for s in pending.values()) + 30:
            now = time.monotonic()
            self.log_cache.clear()
            seen = {
                (p["metadata"].get("namespace", "default"), p["metadata"]["name"]): p
                for p in self.client.list_objects("Pod", None)
            }
            for key in list(self.pods):
                if key not in seen and key not in self.gone_at:
                    self.gone_at[key] = now
            for key, p in seen.items():
                self.gone_at.pop(key, None)
                self.last[key] = p
            self.pods = seen
            for cid, spec in list(pending.items()):
                x = views[cid]
                try:
                    if spec.step is not None:
                        spec.step(x)
                    if (spec.gate or _all_terminal(spec))(x):
                        opened.setdefault(cid, now)
                        spec.check(x)
                        self.results[cid] = None
                        del pending[cid]
                        continue
                except Exception as exc:  # the last failure is the verdict
                    errors[cid] = f"{type(exc).__name__}: {exc}"
                if spec.settle is not None and now - opened.get(cid, now) > spec.settle:
                    self.results[cid] = f"{spec.settle:.0f} s after its gate: {errors[cid]}"
                    del pending[cid]
                elif now - t0 > spec.timeout:
                    self.results[cid] = f"after {spec.timeout:.0f} s: {errors[cid]}"
                    del pending[cid]
            time.sleep(POLL)
        for cid in pending:
            self.results[cid] = f"out of time: {errors[cid]}"
        dump = os.environ.get("NODECONF_DUMP")
        if dump:  # the verdicts as JSON, for scripts/conformance_table.py and debugging
            Path(f"{dump}.{self.rt}.json").write_text(json.dumps(self.results, indent=1))


def _all_terminal(spec: Spec) -> Any:
    names = [
        (d["metadata"].get("namespace", "default"), d["metadata"]["name"])
        for d in spec.objs
        if d["kind"] == "Pod"
    ]
    return lambda x: all(
        x.b.pods.get(k, {}).get("status", {}).get("phase") in ("Succeeded", "Failed") for k in names
    )


class View:
    """What one case's step/gate/check functions see (the `x` of nodeconf_cases)."""

    def __init__(self, batch: Batch, cid: str) -> None:
        self.b = batch
        self.cid = cid
        self.mark: dict[str, Any] = {}

    def pod(self, name: str, ns: str = "default") -> dict[str, Any] | None:
        return self.b.pods.get((ns, name))

    def last_seen(self, name: str, ns: str = "default") -> dict[str, Any]:
        return self.b.last.get((ns, name), {"metadata": {}})

    def phase(self, name: str) -> str | None:
        p = self.pod(name)
        return None if p is None else p.get("status", {}).get("phase")

    def ready(self, name: str) -> bool:
        for c in (self.pod(name) or {}).get("status", {}).get("conditions", []):
            if c["type"] == "Ready":
                return bool(c["status"] == "True")
        return False

    def cs(self, name: str, container: str) -> dict[str, Any]:
        st = (self.pod(name) or {}).get("status", {})
        for s in st.get("containerStatuses", []) + st.get("initContainerStatuses", []):
            if s["name"] == container:
                return dict(s)
        raise AssertionError(f"pod {name}: no status of container {container} (yet)")

    def log(self, name: str, container: str | None) -> str:
        return self.b.log("default", name, container)

    def gone(self, name: str) -> bool:
        return ("default", name) in self.b.gone_at

    def gone_at(self, name: str) -> float:
        return self.b.gone_at[("default", name)]

    def events(self, name: str) -> list[dict[str, Any]]:
        return list(self.b.client.events("default", name))

    def list_pods(self, selector: str) -> list[dict[str, Any]]:
        status, body = self.b.http(
            "GET", f"/api/v1/namespaces/default/pods?labelSelector={selector}"
        )
        assert status == 200, body
        return list(body["items"])

    def cli(self, *args: str) -> Result:
        return self.b.cli(*args)

    def apply(self, *objs: dict[str, Any]) -> None:
        path = self.b.pk.write(f"update-{time.monotonic_ns()}.yaml", list(objs))
        res = self.b.cli("up", "-d", "-f", str(path))
        assert res.code == 0, res.err

    def patch(self, name: str, body: dict[str, Any]) -> None:
        status, out = self.b.http(
            "PATCH", f"/api/v1/namespaces/default/pods/{name}", body, "application/merge-patch+json"
        )
        assert 200 <= status < 300, f"patch {body}: HTTP {status}: {out}"

    def patch_status(self, name: str, body: dict[str, Any]) -> None:
        status, out = self.b.http(
            "PATCH",
            f"/api/v1/namespaces/default/pods/{name}/status",
            body,
            "application/merge-patch+json",
        )
        assert 200 <= status < 300, f"patch status: HTTP {status}: {out}"

    def http(
        self, method: str, path: str, body: Any = None, ctype: str = "application/json"
    ) -> tuple[int, Any]:
        return self.b.http(method, path, body, ctype)

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, s: float) -> None:
        time.sleep(s)

    def ts(self, text: str) -> float:
        return _ts(text)


_BATCHES: dict[str, Batch | str] = {}


@pytest.fixture(scope="module")
def batches(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """runtime -> its finished Batch (run on first use; the previous one is stopped)."""

    def get(rt: str) -> Batch:
        if rt not in _BATCHES:
            for other in list(_BATCHES.values()):
                if isinstance(other, Batch) and other.pk.agent_pid() is not None:
                    other.stop()
            why = _unavailable(rt)
            if why:
                _BATCHES[rt] = why
            else:
                b = Batch(rt, tmp_path_factory.mktemp(f"nodeconf-{rt}"))
                _BATCHES[rt] = b
                try:
                    b.start()
                    b.run(CASES)
                except BaseException:
                    b.stop()
                    raise
        got = _BATCHES[rt]
        if isinstance(got, str):
            pytest.skip(got)
        return got

    yield get
    for b in _BATCHES.values():
        if isinstance(b, Batch):
            b.stop()
    _BATCHES.clear()


def _params() -> list[Any]:
    out = []
    for rt in RUNTIMES:
        for c in CASES:
            marks = []
            why = c.xfail_reason(rt)
            if why and not c.skip_reason(rt):
                marks.append(pytest.mark.xfail(reason=why, strict=True))
            out.append(pytest.param(rt, c, id=f"{rt}-{c.id}", marks=marks))
    return out


@pytest.mark.parametrize(("rt", "case"), _params())
def test_node_case(batches: Any, rt: str, case: Case) -> None:
    why = case.skip_reason(rt)
    if why:
        pytest.skip(why)
    batch = batches(rt)
    failure = batch.results.get(case.id, "not run")
    assert failure is None, f"{case.id} {case.name} on {rt}: {failure}"
