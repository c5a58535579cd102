"""Reading files: multi-document YAML, Lists, JSON, line numbers and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from podkeeper.manifest import Document, ManifestError, load_documents, load_text

DATA = Path(__file__).parent / "data"


def test_multi_document_yaml_and_list_items() -> None:
    path = str(DATA / "multi.yaml")
    docs = load_documents([path])
    assert [(d.kind, d.name, d.index, d.item, d.line) for d in docs] == [
        ("Pod", "one", 0, None, 2),
        # Document 1 is empty (`---` twice) and skipped; the List is document 2.
        ("Deployment", "two", 2, 0, 19),
        ("Service", "three", 2, 1, 33),
    ]
    pod, deploy, svc = docs
    assert pod.file == path and pod.namespace == "default"
    assert pod.lines["spec.containers[0].livenessProbe.periodSeconds"] == 13
    assert pod.lines["spec.containers[0].livenessProbe.httpGet.port"] == 12
    assert pod.lines["spec.containers[0]"] == 8
    # List items have paths relative to the item, lines relative to the file.
    assert deploy.lines["spec.template.spec.containers[0].image"] == 32
    assert deploy.lines["spec.selector.matchLabels[app]"] == 25
    assert svc.lines["spec.selector[app]"] == 39
    assert svc.lines["spec.ports[0].port"] == 41
    assert pod.obj["spec"]["containers"][0]["livenessProbe"] == {
        "httpGet": {"port": 8080},
        "periodSeconds": 5,
    }


def test_line_of_falls_back_to_the_nearest_ancestor() -> None:
    (pod,) = load_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers: []\n")
    assert pod.line_of("spec.containers[0].image") == 6
    assert pod.line_of("metadata.name") == 4
    assert pod.line_of("nothing.here") == 1


def test_json_input_keeps_line_numbers() -> None:
    (doc,) = load_documents([str(DATA / "pod.json")])
    assert (doc.kind, doc.name, doc.index, doc.item, doc.line) == ("Pod", "json-pod", 0, None, 1)
    assert doc.obj["spec"]["containers"][0]["image"] == "busybox:1.36"
    assert doc.lines["spec.containers[0].readinessProbe.tcpSocket.port"] == 10
    assert doc.lines["metadata.labels[app]"] == 4


def test_json_stream_and_array() -> None:
    pod = '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "%s"}}'
    stream = load_text(pod % "a" + "\n" + pod % "b", "s.json")
    assert [(d.name, d.index, d.line) for d in stream] == [("a", 0, 1), ("b", 1, 2)]
    array = load_text("[\n" + pod % "a" + ",\n" + pod % "b" + "\n]", "a.json")
    assert [(d.name, d.index, d.line) for d in array] == [("a", 0, 2), ("b", 1, 3)]


def test_malformed_yaml_names_file_line_and_column() -> None:
    path = str(DATA / "broken.yaml")
    with pytest.raises(ManifestError) as info:
        load_documents([path])
    assert str(info.value).startswith(f"{path}:9:1: ")
    assert info.value.line == 9


def test_malformed_json_names_file_and_line() -> None:
    with pytest.raises(ManifestError) as info:
        load_text('{"apiVersion": "v1",\n "kind": }', "bad.json")
    assert str(info.value) == "bad.json:2:10: Expecting value"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: Pod\nmetadata: {name: a}\n", "f.yaml: document 0 (line 1): apiVersion not set"),
        (
            "a: 1\n---\nmetadata: {name: a}\n",
            "f.yaml: document 0 (line 1): apiVersion not set, kind not set",
        ),
        (
            "apiVersion: v1\nkind: Pod\n---\napiVersion: v1\nkind: Foo\n",
            'f.yaml: document 1 (line 4): no matches for kind "Foo" in version "v1"',
        ),
        (
            "apiVersion: v1\nkind: Deployment\n",
            'f.yaml: document 0 (line 1): no matches for kind "Deployment" in version "v1"',
        ),
        ("- a\n- b\n", "f.yaml: document 0 (line 1): expected an object, found a list"),
        (
            "apiVersion: v1\nkind: List\nitems:\n- kind: Pod\n  metadata: {name: x}\n",
            "f.yaml: document 0 (line 4): apiVersion not set",
        ),
    ],
)
def test_objects_that_are_not_kubernetes_objects(text: str, message: str) -> None:
    with pytest.raises(ManifestError) as info:
        load_text(text, "f.yaml")
    assert str(info.value) == message


def test_duplicate_keys_are_refused_like_go_yaml() -> None:
    with pytest.raises(ManifestError) as info:
        load_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n", "d.yaml")
    assert str(info.value) == 'd.yaml:5:3: key "name" already set in map (line 4)'


def test_stdin_and_missing_files() -> None:
    (doc,) = load_documents(["-"], stdin_text="apiVersion: v1\nkind: Pod\nmetadata: {name: s}\n")
    assert (doc.file, doc.name) == ("<stdin>", "s")
    with pytest.raises(ManifestError, match=r'the path "nope\.yaml" does not exist'):
        load_documents(["nope.yaml"])


def test_typed_list_items_inherit_kind_and_version() -> None:
    docs = load_text("apiVersion: v1\nkind: PodList\nitems:\n- metadata: {name: a}\n")
    assert [(d.kind, d.api_version, d.item) for d in docs] == [("Pod", "v1", 0)]


def test_values_stay_strings_like_sigs_k8s_yaml() -> None:
    (doc,) = load_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels: {date: 2024-01-01}\n"
    )
    assert doc.obj["metadata"]["labels"] == {"date": "2024-01-01"}


def test_empty_input_has_no_documents() -> None:
    assert load_text("# nothing\n---\n") == []


def test_document_properties() -> None:
    doc = Document("f", 0, None, 1, {"kind": "Pod", "metadata": {"namespace": "ns"}}, {})
    assert (doc.kind, doc.name, doc.namespace, doc.where) == (
        "Pod",
        "",
        "ns",
        "f: document 0 (line 1)",
    )
