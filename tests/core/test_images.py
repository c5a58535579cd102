"""Image decisions and image-pull back-off (`pkg/kubelet/images/image_manager.go`)."""

from __future__ import annotations

import pytest

from podkeeper.core import images
from podkeeper.core.spec import Container
from podkeeper.core.status import container_status
from podkeeper.testing import PodHarness, make_pod


@pytest.mark.parametrize(
    ("policy", "present", "pull"),
    [
        ("Always", True, True),
        ("Always", False, True),
        ("IfNotPresent", True, False),
        ("IfNotPresent", False, True),
        ("Never", True, False),
        ("Never", False, False),
    ],
)
def test_should_pull_image(policy: str, present: bool, pull: bool) -> None:
    assert images.should_pull_image(policy, present) is pull


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("nginx", None),
        ("nginx:1.27", None),
        ("registry.k8s.io/pause:3.10", None),
        ("localhost:5000/team/app:v1", None),
        ("busybox@sha256:" + "a" * 64, None),
        ("nginx::1", "invalid reference format"),
        ("NGINX", "invalid reference format: repository name (library/NGINX) must be lowercase"),
        ("Team/app", "invalid reference format: repository name (Team/app) must be lowercase"),
        ("nginx:", "invalid reference format"),
    ],
)
def test_invalid_image_message(image: str, why: str | None) -> None:
    msg = images.invalid_image_message(image)
    if why is None:
        assert msg is None
    else:
        assert msg == (
            f'Failed to apply default image tag "{image}": couldn\'t parse image name '
            f'"{image}": {why}'
        )


def _status(h: PodHarness) -> dict[str, object]:
    return container_status(h.machine, h.record("app"))


def test_failed_pull_waits_backs_off_and_retries_with_doubling_delays() -> None:
    h = PodHarness(make_pod(Container("app", image="example.com/app:1")))
    (start,) = h.starts("app")
    err = "rpc error: code = Unknown desc = failed to resolve reference"
    events = (
        images.pulling_event("example.com/app:1"),
        images.pull_failed_event("example.com/app:1", err),
    )
    h.pending.clear()
    h.machine.image_pull_failed("app", start.instance_id, "ErrImagePull", err, events, h.clock.now)
    h.poll()
    assert _status(h)["state"] == {"waiting": {"reason": "ErrImagePull", "message": err}}
    assert [(e.reason, e.message) for e in h.events if e.reason in ("Pulling", "Failed")] == [
        ("Pulling", 'Pulling image "example.com/app:1"'),
        ("Failed", f'Failed to pull image "example.com/app:1": {err}'),
        ("Failed", "Error: ErrImagePull"),
    ]
    assert h.machine.phase() == "Pending"
    # Neither Pulled nor Created: the container was never made.
    assert h.messages("Pulled") == [] and h.messages("Created") == []
    h.advance(1)
    assert _status(h)["state"] == {
        "waiting": {
            "reason": "ImagePullBackOff",
            "message": 'Back-off pulling image "example.com/app:1"',
        }
    }
    assert h.messages("BackOff") == ['Back-off pulling image "example.com/app:1"']
    assert len(h.starts("app")) == 1
    h.advance(8.9)
    assert len(h.starts("app")) == 1
    h.advance(0.2)
    assert len(h.starts("app")) == 2  # 10 s after the failure
    second = h.starts("app")[-1]
    h.pending.clear()
    h.machine.image_pull_failed("app", second.instance_id, "ErrImagePull", err, events, h.clock.now)
    h.poll()
    h.advance(19.9)
    assert len(h.starts("app")) == 2
    h.advance(0.2)
    assert len(h.starts("app")) == 3  # 20 s: doubled
    h.start_pending("app")
    assert _status(h)["state"].keys() == {"running"}  # type: ignore[union-attr]
    assert h.messages("Pulled") == [
        'Container image "example.com/app:1" already present on machine'
    ]


def test_never_pull_waits_and_is_retried_at_the_resync() -> None:
    h = PodHarness(make_pod(Container("app", image="app:1", image_pull_policy="Never")))
    (start,) = h.starts("app")
    msg = images.never_pull_message("app:1")
    h.pending.clear()
    h.machine.image_pull_failed(
        "app",
        start.instance_id,
        "ErrImageNeverPull",
        msg,
        (images.never_pull_event("app:1"),),
        h.clock.now,
    )
    h.poll()
    assert _status(h)["state"] == {"waiting": {"reason": "ErrImageNeverPull", "message": msg}}
    assert h.messages("ErrImageNeverPull") == [
        'Container image "app:1" is not present with pull policy of Never'
    ]
    h.advance(10)
    assert len(h.starts("app")) == 2
