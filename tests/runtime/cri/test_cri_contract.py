"""The runtime contract (podkeeper.runtime.contract) on the CRI runtime with real containerd."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from podkeeper.runtime.contract import CHECKS, check_container_runtime
from podkeeper.runtime.interface import StartRequest

from .conftest import CriKit

pytestmark = pytest.mark.root


async def test_cri_runtime_keeps_the_contract(cri: CriKit) -> None:
    sandbox = await cri.sandbox()

    def make(name: str, argv: Sequence[str]) -> StartRequest:
        return cri.request(sandbox, name, command=argv)

    await check_container_runtime(cri.runtime, make)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
async def test_cri_contract_check(cri: CriKit, check) -> None:  # type: ignore[no-untyped-def]
    sandbox = await cri.sandbox()
    await check(cri.runtime, lambda name, argv: cri.request(sandbox, name, command=argv))
