"""The runtimes of one agent, side by side: one per RuntimeClass handler (issue 10).

A kubelet talks to one CRI endpoint, and the runtime there picks the handler that the
pod's RuntimeClass names (containerd's `runtimes` table; kubelet
pkg/kubelet/kuberuntime/kuberuntime_sandbox.go createPodSandbox passes it to
RunPodSandbox). podkeeper has two handlers of its own (core/runtimeclass.py): `process`
(host binaries, runtime/process) and `containerd` (OCI images through the CRI,
runtime/cri), so host-binary pods and image pods run side by side in one agent.

The agent's `--runtime` chooses the default handler, the one of pods without a
`runtimeClassName`. The other handler is opened the first time a pod asks for it:
starting the private containerd costs a daemon and ~0.3 s, which an agent of host
binaries alone never pays. A handler that cannot be had here fails the pod's sandbox with
the text the kubelet's `FailedCreatePodSandBox` event would quote, retried with back-off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from podkeeper.core.runtimeclass import RuntimeClassError, agent_handler, lookup_handler
from podkeeper.runtime.interface import ContainerRuntime, SandboxManager


@dataclass(frozen=True)
class RuntimeSlot:
    """One handler's runtime and the sandboxes it makes."""

    handler: str
    runtime: ContainerRuntime
    sandboxes: SandboxManager


#: Opens the runtime of a kind ("process", "containerd" or "cri"); RuntimeError saying why.
OpenFn = Callable[[str], Awaitable[RuntimeSlot]]


def kind_for(handler: str, default_kind: str) -> str:
    """The runtime kind that serves `handler` on an agent whose default is `default_kind`:
    an agent on an existing CRI endpoint (`cri`) serves the containerd class there."""
    if handler == "process":
        return "process"
    return "cri" if default_kind == "cri" else "containerd"


class Runtimes:
    """The agent's open runtimes by handler; the default one is opened by `open_default`,
    the others on first use by `for_class`."""

    def __init__(self, default_kind: str, open_fn: OpenFn) -> None:
        self.default_kind = default_kind
        self.default_handler = agent_handler(default_kind)
        self._open_fn = open_fn
        self.slots: dict[str, RuntimeSlot] = {}
        self._opening: dict[str, asyncio.Task[RuntimeSlot]] = {}
        #: Why a handler could not be opened, kept so that a pod's retries do not start a
        #: daemon every few seconds (cleared by `forget_failure`, e.g. after `image import`).
        self.failures: dict[str, str] = {}

    def add(self, slot: RuntimeSlot) -> None:
        self.slots[slot.handler] = slot

    @property
    def default(self) -> RuntimeSlot:
        return self.slots[self.default_handler]

    async def open_default(self) -> RuntimeSlot:
        return await self.get(self.default_handler)

    async def get(self, handler: str) -> RuntimeSlot:
        """The slot of `handler`, opened now if need be (one opening at a time per
        handler); RuntimeError saying why it cannot be had."""
        slot = self.slots.get(handler)
        if slot is not None:
            return slot
        if handler in self.failures:
            raise RuntimeError(self.failures[handler])
        task = self._opening.get(handler)
        if task is None:
            task = asyncio.ensure_future(self._open_fn(kind_for(handler, self.default_kind)))
            self._opening[handler] = task
        try:
            slot = await asyncio.shield(task)
        except (RuntimeError, ValueError) as err:
            self.failures[handler] = str(err)
            raise RuntimeError(str(err)) from None
        finally:
            if task.done():
                self._opening.pop(handler, None)
        self.slots[handler] = slot
        return slot

    def forget_failure(self, handler: str) -> None:
        self.failures.pop(handler, None)

    async def for_class(self, class_name: str | None) -> RuntimeSlot:
        """The slot that runs a pod of RuntimeClass `class_name` (None: the default);
        RuntimeClassError with the kubelet's text when the class is unknown or its handler
        cannot run here."""
        handler = lookup_handler(class_name) or self.default_handler
        if handler in self.slots:
            return self.slots[handler]
        if handler not in ("process", "containerd"):
            raise RuntimeClassError(f'RuntimeHandler "{handler}" not supported')
        try:
            return await self.get(handler)
        except RuntimeError as err:
            # containerd 1.6 pkg/cri/server/sandbox_run.go getSandboxRuntime, as the
            # kubelet quotes a RunPodSandbox error; then why the handler is missing here.
            raise RuntimeClassError(
                "rpc error: code = Unknown desc = failed to get sandbox runtime: "
                f'no runtime for "{handler}" is configured ({err})'
            ) from None

    def opened(self) -> list[RuntimeSlot]:
        """The open slots, the default first."""
        first = [s for h, s in self.slots.items() if h == self.default_handler]
        return first + [s for h, s in self.slots.items() if h != self.default_handler]
