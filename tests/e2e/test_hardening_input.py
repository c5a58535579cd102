"""End-to-end, through the real CLI: the input and home hardening of issue 13 (items 5, 10,
14, 15 and 16's CLI side)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import PK, container_status, is_ready, pod_manifest

SLEEP = ["python3", "-c", "import time; time.sleep(600)"]
HELLO = ["sh", "-c", "echo hello from a long name; sleep 600"]


def _modes(home: Path) -> dict[str, int]:
    """Every entry under `home` (and the home) → its permission bits.

    The running agent writes some files atomically (a `.tmp` renamed over the real name), so
    an entry may vanish between the listing and the lstat: it is skipped, not an error."""
    out = {".": stat.S_IMODE(home.lstat().st_mode)}
    for dirpath, dirnames, filenames in os.walk(home):
        for name in (*dirnames, *filenames):
            path = Path(dirpath, name)
            try:
                out[str(path.relative_to(home))] = stat.S_IMODE(path.lstat().st_mode)
            except FileNotFoundError:
                continue
    return out


def _loose(modes: dict[str, int]) -> dict[str, str]:
    """The entries others could read or write, octal. A pod's kubelet-managed /etc/hosts is
    0644 as the kubelet's (a runAsUser container reads it through its bind mount) inside
    owner-only folders, so no other host user reaches it; anything else must be owner-only
    itself."""
    hosts = {n for n in modes if n.startswith("volumes/pods/") and n.endswith("/etc-hosts")}
    for n in hosts:
        parents = [str(Path(n).parents[i]) for i in range(len(Path(n).parts) - 1)]
        assert all(modes[p] & 0o077 == 0 for p in parents), {p: oct(modes[p]) for p in parents}
    return {n: oct(m) for n, m in modes.items() if m & 0o077 and n not in hosts}


# -- item 5: everything under the home is owner-only ----------------------------------------


def test_home_that_existed_0755_is_tightened_and_every_file_is_owner_only(pk: PK) -> None:
    pk.home.mkdir(mode=0o755)
    os.chmod(pk.home, 0o755)  # whatever the umask
    secret = {"name": "TOKEN", "value": "s3cr3t-value"}
    pod = pod_manifest("private", [{"name": "a", "image": "x", "command": HELLO, "env": [secret]}])
    res = pk.up(pod, wait=True)
    assert f"home {pk.home} had mode 0755: made it 0700 (owner-only)" in res.err
    pk.wait_for("the log line", lambda: "hello" in pk.run("logs", "private").out, 20)
    log = (pk.home / "agent.log").read_text()
    assert "had mode 0755: made it 0700" in log
    modes = _modes(pk.home)
    for name in ("state.db", "state.db-wal", "state.db-shm", "agent.log", "agent.pid"):
        assert name in modes, sorted(modes)
    assert any(n.endswith("0.log") for n in modes), sorted(modes)
    assert _loose(modes) == {}, _loose(modes)
    assert modes["."] == 0o700


def test_agent_tightens_files_an_older_agent_left_readable(pk: PK) -> None:
    pod = pod_manifest("older", [{"name": "a", "image": "x", "command": SLEEP}])
    pk.up(pod)
    pk.run("down")
    for path in (pk.home / "state.db", pk.home / "agent.log"):
        os.chmod(path, 0o644)
    res = pk.up(pod)
    assert "made owner-only" in res.err or "made owner-only" in (pk.home / "agent.log").read_text()
    modes = _modes(pk.home)
    assert _loose(modes) == {}, _loose(modes)


# -- item 10: a damaged state.db -------------------------------------------------------------


def _stopped_home_with_pods(pk: PK, names: list[str]) -> None:
    pods = [pod_manifest(n, [{"name": "a", "image": "x", "command": SLEEP}]) for n in names]
    pk.up(*pods)
    pid = pk.agent_pid()
    assert pid is not None
    db = pk.home / "state.db"

    def persisted() -> bool:
        # The agent commits every 50 ms: wait until the pods are in the file.
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT count(*) FROM objects WHERE kind = 'Pod'").fetchone()
        finally:
            conn.close()
        return bool(row[0] == len(names))

    pk.wait_for("the pods in state.db", persisted, 20)
    # SIGKILL: the pods stay in the database, to be restored by the next agent.
    os.kill(pid, signal.SIGKILL)
    pk.wait_for("the agent to die", lambda: not Path(f"/proc/{pid}").exists(), 10)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _node_warnings(pk: PK) -> list[dict[str, object]]:
    return [
        e
        for e in pk.events()
        if e["involvedObject"].get("kind") == "Node" and e["type"] == "Warning"
    ]


def test_garbage_header_is_moved_aside_and_every_pod_is_recovered(pk: PK) -> None:
    _stopped_home_with_pods(pk, ["keep-a", "keep-b"])
    db = pk.home / "state.db"
    with open(db, "r+b") as f:
        f.write(os.urandom(100))
    res = pk.up(pod_manifest("fresh", [{"name": "a", "image": "x", "command": SLEEP}]))
    assert "warning: StateDatabaseRecovered:" in res.err and "recovered 2 objects" in res.err
    aside = [p.name for p in pk.home.iterdir() if p.name.startswith("state.db.corrupt-")]
    assert aside, sorted(p.name for p in pk.home.iterdir())
    log = (pk.home / "agent.log").read_text()
    assert "was damaged (file is not a database)" in log
    names = json.loads(pk.run("get", "pods", "-o", "json").out)["items"]
    assert {p["metadata"]["name"] for p in names} == {"keep-a", "keep-b", "fresh"}
    warnings = _node_warnings(pk)
    assert [w["reason"] for w in warnings] == ["StateDatabaseRecovered"]
    assert "recovered 2 objects" in str(warnings[0]["message"])


def test_damaged_page_recovers_what_reads_and_says_what_was_lost(pk: PK) -> None:
    names = [f"page-{i:02d}" for i in range(12)]
    _stopped_home_with_pods(pk, names)
    db = pk.home / "state.db"
    size = db.stat().st_size
    assert size >= 4 * 4096
    # Overwrite every page but the first (the schema) with garbage: the tables' pages.
    with open(db, "r+b") as f:
        f.seek(size - 4096)
        f.write(os.urandom(4096))
        f.seek(4096 * 2)
        f.write(os.urandom(4096))
    pk.up(pod_manifest("after", [{"name": "a", "image": "x", "command": SLEEP}]))
    log = (pk.home / "agent.log").read_text()
    assert "state database:" in log and "moved aside to state.db.corrupt-" in log
    # `events` works (it failed for good before), and says what happened.
    warnings = _node_warnings(pk)
    assert len(warnings) == 1 and "was damaged" in str(warnings[0]["message"])
    assert pk.run("events").code == 0
    assert "after" in pk.run("get", "pods").out


# -- item 14: names of 211-253 characters ---------------------------------------------------


def test_253_character_pod_name_runs_logs_and_deletes(pk: PK) -> None:
    name = ".".join(["a" * 61, "b" * 63, "c" * 63, "d" * 63])
    assert len(name) == 253
    pod = pod_manifest(name, [{"name": "c" * 63, "image": "x", "command": HELLO}])
    pk.up(pod, wait=True)
    assert container_status(pk.pod(name))["restartCount"] == 0
    out = pk.wait_for("the log", lambda: pk.run("logs", name).out, 20)
    assert out == "hello from a long name\n"
    assert "Traceback" not in (pk.home / "agent.log").read_text()
    # Existing short-name layout is unchanged; the long one fits NAME_MAX.
    for _dirpath, dirnames, filenames in os.walk(pk.home / "pods"):
        for component in (*dirnames, *filenames):
            assert len(component.encode()) <= 255
    pk.run("delete", "pod", name)


# -- item 15: apply over the body limit, duplicates -----------------------------------------


def test_apply_over_the_body_limit_goes_in_batches(pk: PK) -> None:
    pods = []
    for i in range(5):
        pod = pod_manifest(f"big-{i}", [{"name": "a", "image": "x", "command": SLEEP}])
        pod["metadata"]["annotations"] = {"blob": "x" * 300_000}
        pods.append(pod)
    path = pk.write("big.yaml", pods)
    assert path.stat().st_size > 1024 * 1024
    res = pk.run("up", "-d", "-f", str(path), timeout=120)
    assert res.out.splitlines() == [f"pod/big-{i} created" for i in range(5)]
    assert len(json.loads(pk.run("get", "pods", "-o", "json").out)["items"]) == 5


def test_one_object_over_the_body_limit_says_the_limit(pk: PK) -> None:
    pod = pod_manifest("huge", [{"name": "a", "image": "x", "command": SLEEP}])
    pod["metadata"]["annotations"] = {"blob": "x" * (1024 * 1024 + 10)}
    res = pk.run("up", "-d", "-f", str(pk.write("huge.yaml", [pod])), check=False)
    assert res.code == 2
    assert "pod/huge is 1.00 MiB as JSON, over the agent's request limit of 1.00 MiB" in res.err
    assert "huge.yaml: document 0:" in res.err
    assert "Traceback" not in res.err


def test_two_objects_with_the_same_name_is_an_error_naming_both(pk: PK) -> None:
    a = pod_manifest("twice", [{"name": "a", "image": "x", "command": SLEEP}])
    b = pod_manifest("twice", [{"name": "b", "image": "y", "command": SLEEP}])
    other = pod_manifest("other", [{"name": "a", "image": "x", "command": SLEEP}])
    path = pk.write("dup.yaml", [a, other, b])
    res = pk.run("up", "-d", "-f", str(path), check=False)
    assert res.code == 2
    # (documents numbered from 0, as every other message of the loader numbers them)
    assert "dup.yaml: document 2: Pod default/twice is also defined at" in res.err
    assert "dup.yaml: document 0: one object" in res.err
    assert "created" not in res.out
    assert not (pk.home / "agent.sock").exists()  # nothing applied, no agent needed


# -- item 16: the CLI side ------------------------------------------------------------------


def test_ctrl_c_on_foreground_up_stops_only_what_it_created(pk: PK) -> None:
    pk.up(pod_manifest("detached", [{"name": "a", "image": "x", "command": SLEEP}]), wait=True)
    agent = pk.agent_pid()
    path = pk.write(
        "fg.yaml", [pod_manifest("fg", [{"name": "a", "image": "x", "command": SLEEP}])]
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "podkeeper", "--home", str(pk.home), "up", "-f", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    head: list[str] = []
    try:
        assert proc.stdout is not None
        # The live view's first table: the signal handlers are set by then.
        while not head or not head[-1].startswith("NAME"):
            line = proc.stdout.readline()
            assert line, f"up ended early: {head}"
            head.append(line)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)
        out = "".join(head) + out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "the agent was already running and keeps running" in out
    assert 'pod "fg" deleted' in out
    assert "agent stopped" not in out
    assert pk.agent_pid() == agent
    names = [
        p["metadata"]["name"] for p in json.loads(pk.run("get", "pods", "-o", "json").out)["items"]
    ]
    assert names == ["detached"]
    assert is_ready(pk.pod("detached"))


def test_image_only_change_to_a_pod_is_accepted(pk: PK) -> None:
    pod = pod_manifest("img", [{"name": "a", "image": "app:v1", "command": SLEEP}])
    pk.up(pod, wait=True)
    pod["spec"]["containers"][0]["image"] = "app:v2"
    res = pk.run("apply", "-f", str(pk.write("img.yaml", [pod])))
    assert res.out.strip() == "pod/img configured"
    assert pk.pod("img")["spec"]["containers"][0]["image"] == "app:v2"
    pod["spec"]["containers"][0]["command"] = [*SLEEP, "x"]
    res = pk.run("apply", "-f", str(pk.write("cmd.yaml", [pod])), check=False)
    assert res.code != 0 and "Forbidden: pod updates may not change fields" in res.err


def test_explain_never_pod_points_at_logs_not_logs_previous(pk: PK) -> None:
    pod = pod_manifest(
        "once",
        [{"name": "a", "image": "x", "command": ["sh", "-c", "echo boom; exit 3"]}],
        restartPolicy="Never",
    )
    pk.up(pod)
    pk.wait_for("the termination", lambda: pk.pod("once")["status"]["phase"] == "Failed", 30)
    out = pk.run("explain", "pod", "once").out
    assert "`podkeeper logs once -c a`" in out
    assert "logs -p" not in out
    assert "boom" in pk.run("logs", "once").out


def test_down_says_draining_before_agent_stopped(pk: PK) -> None:
    pk.up(pod_manifest("d", [{"name": "a", "image": "x", "command": SLEEP}]))
    # Both on stdout: a capture that keeps stdout and stderr apart (CI logs, `> file`)
    # showed "agent stopped" first when "draining…" went to stderr.
    res = pk.run("down")
    assert res.out.splitlines() == ["draining 1 pod(s)…", "agent stopped"]


@pytest.mark.parametrize("n", [10_000])
def test_apply_of_many_objects_lists_once_instead_of_one_get_each(n: int) -> None:
    """10,000 pods made one GET each before the apply (13.5 s); now one list per kind and
    namespace. Counted on the client's requests (no agent needed to count)."""
    from podkeeper.cli.lifecycle import apply_objects

    class Counting:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def list(self, kind: str, namespace: str | None) -> dict[str, object]:
            self.calls.append(f"list {kind} {namespace}")
            return {"items": []}

        def get_object(self, kind: str, namespace: str, name: str) -> dict[str, object]:
            self.calls.append(f"get {name}")
            raise AssertionError("one GET per object")

        def apply(self, items: list[dict[str, object]]) -> dict[str, object]:
            self.calls.append(f"apply {len(items)}")
            return {"items": items}

    pods = [
        pod_manifest(f"p{i}", [{"name": "a", "image": "x", "command": SLEEP}]) for i in range(n)
    ]
    client = Counting()
    t0 = time.perf_counter()
    lines = apply_objects(client, pods)  # type: ignore[arg-type]
    took = time.perf_counter() - t0
    assert lines == [f"pod/p{i} created" for i in range(n)]
    assert client.calls[0] == "list Pod default"
    assert [c for c in client.calls if c.startswith("get")] == []
    applies = [int(c.split()[1]) for c in client.calls if c.startswith("apply")]
    assert sum(applies) == n and len(applies) >= 2  # 10,000 pods are > 1 MiB of JSON
    assert took < 10, took


def test_a_user_given_uid_never_reaches_a_path(pk: PK) -> None:
    """The pod uid names its log folder, sandbox record, netns and cgroup; one copied into a
    manifest by hand must not walk out of the home."""
    pod = pod_manifest("sneaky", [{"name": "a", "image": "x", "command": HELLO}])
    pod["metadata"]["uid"] = "../../../../../../../../tmp/escaped-" + pk.tmp.name
    pk.up(pod, wait=True)
    uid = pk.pod("sneaky")["metadata"]["uid"]
    assert "/" not in uid and len(uid) == 36
    assert pk.wait_for("the log", lambda: pk.run("logs", "sneaky").out, 20)
    assert not Path("/tmp/escaped-" + pk.tmp.name).exists()
