"""runtime/runtimes.py: one agent's runtimes side by side, by RuntimeClass handler."""

from __future__ import annotations

import asyncio

import pytest

from podkeeper.core.runtimeclass import RuntimeClassError
from podkeeper.runtime.interface import HostSandboxes
from podkeeper.runtime.runtimes import Runtimes, RuntimeSlot, kind_for
from podkeeper.testing import FakeContainerRuntime


class Opener:
    """Opens fake runtimes, counting the openings; kinds in `broken` fail."""

    def __init__(self, broken: frozenset[str] = frozenset(), delay: float = 0.0) -> None:
        self.opened: list[str] = []
        self.broken = set(broken)
        self.delay = delay

    async def __call__(self, kind: str) -> RuntimeSlot:
        self.opened.append(kind)
        await asyncio.sleep(self.delay)
        if kind in self.broken:
            raise RuntimeError(f"{kind} is not installed")
        handler = "process" if kind == "process" else "containerd"
        return RuntimeSlot(handler, FakeContainerRuntime(), HostSandboxes())


def test_kind_for_handler() -> None:
    assert kind_for("process", "containerd") == "process"
    assert kind_for("containerd", "process") == "containerd"
    # An agent on an existing CRI endpoint serves the containerd class there.
    assert kind_for("containerd", "cri") == "cri"


async def test_the_default_opens_first_and_the_other_only_when_asked() -> None:
    opener = Opener()
    runtimes = Runtimes("process", opener)
    default = await runtimes.open_default()
    assert default.handler == "process" and opener.opened == ["process"]
    # Pods without a class, and pods of the default's class, share the default.
    assert await runtimes.for_class(None) is default
    assert await runtimes.for_class("podkeeper-process") is default
    assert opener.opened == ["process"]
    image = await runtimes.for_class("podkeeper-containerd")
    assert image.handler == "containerd" and opener.opened == ["process", "containerd"]
    assert await runtimes.for_class("podkeeper-containerd") is image
    assert [s.handler for s in runtimes.opened()] == ["process", "containerd"]


async def test_concurrent_pods_open_a_runtime_once() -> None:
    opener = Opener(delay=0.05)
    runtimes = Runtimes("process", opener)
    await runtimes.open_default()
    slots = await asyncio.gather(*(runtimes.for_class("podkeeper-containerd") for _ in range(5)))
    assert len({id(s) for s in slots}) == 1
    assert opener.opened == ["process", "containerd"]


async def test_a_handler_that_cannot_be_had_fails_with_the_kubelets_text_once() -> None:
    opener = Opener(broken=frozenset({"containerd"}))
    runtimes = Runtimes("process", opener)
    await runtimes.open_default()
    for _ in range(3):  # a pod's retries do not start the daemon again each time
        with pytest.raises(RuntimeClassError) as err:
            await runtimes.for_class("podkeeper-containerd")
        assert str(err.value) == (
            "rpc error: code = Unknown desc = failed to get sandbox runtime: "
            'no runtime for "containerd" is configured (containerd is not installed)'
        )
    assert opener.opened == ["process", "containerd"]
    # Asked again explicitly (`podkeeper image import`): tried again.
    runtimes.forget_failure("containerd")
    opener.broken.clear()
    assert (await runtimes.for_class("podkeeper-containerd")).handler == "containerd"


async def test_unknown_class_is_the_listers_not_found() -> None:
    runtimes = Runtimes("containerd", Opener())
    await runtimes.open_default()
    with pytest.raises(RuntimeClassError, match=r'runtimeclass\.node\.k8s\.io "gvisor" not found'):
        await runtimes.for_class("gvisor")
    # On a containerd-default agent, host binaries still run beside images.
    assert (await runtimes.for_class("podkeeper-process")).handler == "process"
