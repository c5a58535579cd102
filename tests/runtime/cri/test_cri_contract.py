"""The runtime contract on the CRI runtime with a real containerd.

`podkeeper.runtime.contract.check_container_runtime` is the contract every runtime
keeps (the process runtime and the fake run it in tests/runtime/test_runtime_contract.py);
`cri_checks` adds what the pod worker also relies on (graceful stop inside the grace,
`sent_by_us`, the 10 KiB exec cap, logs)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from podkeeper.runtime.contract import check_container_mounts
from podkeeper.runtime.contract import check_container_runtime as check_shared_contract
from podkeeper.runtime.interface import StartRequest

from .conftest import CriKit
from .cri_checks import CHECKS, check_container_runtime

pytestmark = pytest.mark.root


async def test_cri_runtime_keeps_the_shared_contract(cri: CriKit) -> None:
    sandbox = await cri.sandbox()

    def request(name: str, script: str, env: dict[str, str]) -> StartRequest:
        return cri.request(sandbox, name, command=("sh", "-c", script), env=env)

    await check_shared_contract(cri.runtime, request)


async def test_cri_runtime_keeps_the_extra_checks(cri: CriKit) -> None:
    sandbox = await cri.sandbox()

    def make(name: str, argv: Sequence[str]) -> StartRequest:
        return cri.request(sandbox, name, command=argv)

    await check_container_runtime(cri.runtime, make)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
async def test_cri_check(cri: CriKit, check) -> None:  # type: ignore[no-untyped-def]
    sandbox = await cri.sandbox()
    await check(cri.runtime, lambda name, argv: cri.request(sandbox, name, command=argv))


async def test_cri_runtime_keeps_the_mount_contract(cri: CriKit, tmp_path: Path) -> None:
    sandbox = await cri.sandbox()
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "in").write_text("volume-in\n")

    def request(name: str, script: str, env: dict[str, str]) -> StartRequest:
        return cri.request(sandbox, name, command=("sh", "-c", script), env=env)

    await check_container_mounts(cri.runtime, request, str(volume))
