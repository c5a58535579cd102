"""A real API server on a short-lived unix socket, over a FakeAgentBackend."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from podkeeper.api.client import Client
from podkeeper.api.server import serve
from tests.api.fakes import FakeAgentBackend


@dataclass
class Agent:
    backend: FakeAgentBackend
    client: Client
    socket: Path
    home: Path


@pytest.fixture
def short_dir() -> AsyncIterator[Path]:
    # Unix socket paths are limited to 107 bytes; pytest's tmp_path can be longer.
    d = Path(tempfile.mkdtemp(prefix="pk-"))
    yield d  # type: ignore[misc]
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
async def agent(short_dir: Path) -> AsyncIterator[Agent]:
    backend = FakeAgentBackend()
    sock = short_dir / "agent.sock"
    runner = await serve(backend, sock)
    try:
        yield Agent(backend, Client(sock, timeout=5.0), sock, short_dir)
    finally:
        await runner.cleanup()
