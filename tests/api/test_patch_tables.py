"""Pure pieces of the Kubernetes API: patches, selectors, printers, kubeconfig merge."""

from __future__ import annotations

from typing import Any

import pytest

from podkeeper.api import patch, pki, selectors, tables

Obj = dict[str, Any]


def test_strategic_merge_merges_containers_by_name_and_ports_by_key() -> None:
    live: Obj = {
        "spec": {
            "containers": [
                {"name": "a", "image": "x", "ports": [{"containerPort": 80, "name": "http"}]},
                {"name": "b", "image": "y"},
            ]
        }
    }
    out = patch.strategic_merge(
        live,
        {
            "spec": {
                "containers": [
                    {"name": "a", "ports": [{"containerPort": 81}]},
                    {"name": "b", "$patch": "delete"},
                    {"name": "c", "image": "z"},
                ]
            }
        },
    )
    assert [c["name"] for c in out["spec"]["containers"]] == ["a", "c"]
    assert [p["containerPort"] for p in out["spec"]["containers"][0]["ports"]] == [80, 81]
    assert live["spec"]["containers"][1]["name"] == "b"  # the input is not changed


def test_strategic_merge_directives() -> None:
    live: Obj = {"metadata": {"finalizers": ["a", "b"], "labels": {"x": "1", "y": "2"}}}
    out = patch.strategic_merge(
        live,
        {
            "metadata": {
                "$deleteFromPrimitiveList/finalizers": ["a"],
                "labels": {"$patch": "replace", "z": "3"},
                "$setElementOrder/finalizers": ["b"],
            }
        },
    )
    assert out == {"metadata": {"finalizers": ["b"], "labels": {"z": "3"}}}
    assert patch.strategic_merge({"a": {"b": 1}, "c": 2}, {"a": None}) == {"c": 2}


@pytest.mark.parametrize(
    ("ops", "want"),
    [
        ([{"op": "add", "path": "/a/-", "value": 3}], {"a": [1, 2, 3], "b": {"c": 1}}),
        ([{"op": "replace", "path": "/b/c", "value": 5}], {"a": [1, 2], "b": {"c": 5}}),
        ([{"op": "remove", "path": "/a/0"}], {"a": [2], "b": {"c": 1}}),
        ([{"op": "move", "from": "/b/c", "path": "/d"}], {"a": [1, 2], "b": {}, "d": 1}),
        ([{"op": "copy", "from": "/b", "path": "/e"}], {"a": [1, 2], "b": {"c": 1}, "e": {"c": 1}}),
        ([{"op": "add", "path": "/x~1y", "value": 1}], {"a": [1, 2], "b": {"c": 1}, "x/y": 1}),
    ],
)
def test_json_patch(ops: list[Obj], want: Obj) -> None:
    assert patch.json_patch({"a": [1, 2], "b": {"c": 1}}, ops) == want


def test_json_patch_errors() -> None:
    with pytest.raises(patch.PatchError):
        patch.json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])
    with pytest.raises(patch.PatchError):
        patch.json_patch({"a": 1}, [{"op": "replace", "path": "/b", "value": 2}])
    with pytest.raises(patch.PatchError):
        patch.json_patch({"a": 1}, {"op": "add"})


def test_merge_patch_and_apply_removals() -> None:
    assert patch.merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}) == {
        "a": {"c": 2, "d": 3}
    }
    previous = {"metadata": {"labels": {"a": "1", "b": "2"}}}
    applied = {"metadata": {"labels": {"a": "1"}}}
    live = {"metadata": {"labels": {"a": "1", "b": "2", "mine": "x"}}}
    # A field the manager stopped applying goes; one another writer set stays.
    assert patch.apply_merge(live, previous, applied) == {
        "metadata": {"labels": {"a": "1", "mine": "x"}}
    }


def test_depth_counts_no_further_than_needed() -> None:
    deep: Any = 1
    for _ in range(1000):
        deep = [deep]
    assert patch.depth(deep, 10) == 11
    assert patch.depth({"a": {"b": 1}}, 10) == 3


@pytest.mark.parametrize(
    ("text", "labels", "want"),
    [
        ("app=web", {"app": "web"}, True),
        ("app!=web", {}, True),
        ("app in (a, b)", {"app": "b"}, True),
        ("app notin (a)", {"app": "a"}, False),
        ("app", {}, False),
        ("!app", {}, True),
        ("app=web,tier", {"app": "web", "tier": ""}, True),
    ],
)
def test_label_selectors(text: str, labels: dict[str, str], want: bool) -> None:
    reqs = selectors.parse_labels(text)
    assert selectors.labels_match(reqs, {"metadata": {"labels": labels}}) is want


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (10 * 3600, "10h"),
        (50 * 3600, "2d2h"),
        (400 * 86400, "400d"),
        (3 * 365 * 86400, "3y"),
    ],
)
def test_human_duration_is_kubectls(seconds: int, text: str) -> None:
    assert tables.human_duration(seconds) == text


def test_pod_status_word_follows_print_pod() -> None:
    crash = {
        "spec": {"containers": [{"name": "a"}]},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "a",
                    "restartCount": 4,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"finishedAt": "2024-01-01T00:00:00Z"}},
                }
            ],
        },
    }
    assert tables.pod_status_word(crash)[:3] == ("CrashLoopBackOff", 0, 4)
    now = tables.epoch("2024-01-01T00:05:00Z") or 0.0
    assert tables.print_pod(crash, now)[3] == "4 (5m ago)"
    init = {
        "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]},
        "status": {
            "phase": "Pending",
            "initContainerStatuses": [{"name": "i", "state": {"running": {}}}],
        },
    }
    assert tables.pod_status_word(init)[0] == "Init:0/1"
    gone = {"metadata": {"deletionTimestamp": "x"}, "spec": {}, "status": {"phase": "Running"}}
    assert tables.pod_status_word(gone)[0] == "Terminating"


def test_endpoints_column_shows_three_then_more() -> None:
    ep = {
        "subsets": [
            {
                "addresses": [{"ip": f"10.0.0.{i}"} for i in range(5)],
                "ports": [{"port": 80}],
            }
        ]
    }
    assert tables.format_endpoints(ep) == "10.0.0.0:80,10.0.0.1:80,10.0.0.2:80 + 2 more..."
    assert tables.format_endpoints({}) == "<none>"


def test_merge_kubeconfig_keeps_other_contexts() -> None:
    ours = {
        "clusters": [{"name": "podkeeper", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "podkeeper", "user": {}}],
        "contexts": [{"name": "podkeeper", "context": {"cluster": "podkeeper"}}],
        "current-context": "podkeeper",
    }
    theirs = {
        "clusters": [
            {"name": "prod", "cluster": {}},
            {"name": "podkeeper", "cluster": {"server": "old"}},
        ],
        "users": [{"name": "prod", "user": {}}],
        "contexts": [{"name": "prod", "context": {}}],
        "current-context": "prod",
    }
    out = pki.merge_kubeconfig(theirs, ours)
    assert [c["name"] for c in out["clusters"]] == ["prod", "podkeeper"]
    assert out["clusters"][1]["cluster"]["server"] == "https://127.0.0.1:1"
    assert out["current-context"] == "prod"
    assert pki.merge_kubeconfig(None, ours)["current-context"] == "podkeeper"
