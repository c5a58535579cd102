"""`podkeeper image import|ls|rm`: the images of the agent's CRI runtime (issue 10).

Like `up`, each starts the agent (and its runtime) when none runs, honouring
`--runtime` / `PODKEEPER_RUNTIME`. `import` reads a docker-archive or OCI archive
(`docker save`, `podman save`) with containerd's own `ctr images import` into
the CRI namespace `k8s.io`; `ls` and `rm` are CRI ListImages / RemoveImage,
printed as `crictl images` prints them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import click

from podkeeper.cli._common import CliError, state_of

_UNPACKED = re.compile(r"unpacking (\S+) \((sha256:[0-9a-f]+)\)")


def _endpoint(ctx: click.Context, runtime: str | None, cri_endpoint: str | None) -> str:
    """The CRI endpoint of the running (or just started) agent's image runtime, which an
    agent of host binaries opens beside its default one (runtime/runtimes.py); CliError
    saying why when it cannot."""
    from podkeeper.api.client import APIError
    from podkeeper.cli.lifecycle import start_agent

    agent = start_agent(state_of(ctx), runtime, cri_endpoint)
    try:
        info: Any = agent.client.open_image_runtime()
    except APIError as err:
        raise CliError(f"error: {err}") from None
    endpoint = info.get("criEndpoint") if isinstance(info, dict) else None
    if not endpoint:
        raise CliError("error: the agent has no image runtime")
    return str(endpoint)


def _runtime_options(fn: Any) -> Any:
    from podkeeper.cli.lifecycle import runtime_options

    return runtime_options(fn)


@click.group("image")
def image() -> None:
    """Images of the CRI runtime: import, ls, rm."""


@image.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@_runtime_options
@click.pass_context
def import_(
    ctx: click.Context, files: tuple[str, ...], runtime: str | None, cri_endpoint: str | None
) -> None:
    """Import docker-archive or OCI-archive tarballs (`docker save`, `podman save`)."""
    endpoint = _endpoint(ctx, runtime, cri_endpoint)
    ctr = shutil.which("ctr")
    if ctr is None:
        raise CliError("error: ctr (shipped with containerd) is not installed")
    address = endpoint.removeprefix("unix://")
    for path in files:
        done = subprocess.run(
            [ctr, "--address", address, "--namespace", "k8s.io", "images", "import", path],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise CliError(f"error: cannot import {path}: {done.stderr.strip() or done.stdout}")
        names = _UNPACKED.findall(done.stdout)
        if not names:
            click.echo(f"{path}: no images found in the archive")
        for name, digest in names:
            click.echo(f"imported {name} ({digest[:19]})")


def _run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


async def _list(endpoint: str) -> list[Any]:
    from podkeeper.runtime.cri.client import CriClient

    client = CriClient(endpoint)
    try:
        return await client.list_images()
    finally:
        await client.close()


def _human(size: int) -> str:
    """Sizes as crictl prints them (go-units HumanSize: 4 significant digits, kB/MB/GB)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.4g}{unit}"
        value /= 1000
    return f"{size}B"


@image.command("ls")
@_runtime_options
@click.pass_context
def ls(ctx: click.Context, runtime: str | None, cri_endpoint: str | None) -> None:
    """List images: IMAGE TAG IMAGE ID SIZE."""
    endpoint = _endpoint(ctx, runtime, cri_endpoint)
    rows = [("IMAGE", "TAG", "IMAGE ID", "SIZE")]
    for img in _run(_list(endpoint)):
        short_id = img.id.removeprefix("sha256:")[:13]
        tags = list(img.repo_tags) or ["<none>:<none>"]
        for ref in tags:
            repo, _, tag = ref.rpartition(":")
            if "/" in tag or not repo:
                repo, tag = ref, "<none>"
            rows.append((repo, tag, short_id, _human(int(img.size))))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        click.echo("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


async def _remove(endpoint: str, refs: tuple[str, ...]) -> list[str]:
    from podkeeper.runtime.cri.client import CriClient, CriError

    client = CriClient(endpoint)
    missing = []
    try:
        for ref in refs:
            if await client.image_status(ref) is None:
                missing.append(ref)
                continue
            try:
                await client.remove_image(ref)
            except CriError as err:
                raise CliError(f"error: cannot remove {ref}: {err.details}") from None
            click.echo(f"Deleted: {ref}")
    finally:
        await client.close()
    return missing


@image.command("rm")
@click.argument("refs", nargs=-1, required=True)
@_runtime_options
@click.pass_context
def rm(
    ctx: click.Context, refs: tuple[str, ...], runtime: str | None, cri_endpoint: str | None
) -> None:
    """Remove images by reference (`podkeeper.local/httpd:1.0`) or id."""
    endpoint = _endpoint(ctx, runtime, cri_endpoint)
    missing = _run(_remove(endpoint, refs))
    if missing:
        raise CliError(f"error: no such image: {', '.join(missing)}", 1)
