"""Images known to ship without a shell or HTTP client, for `exec-probe-tool-missing`.

Only images whose contents are documented by their publishers are listed;
an image not matched here is assumed to have everything (no false alarms).
Patterns are `fnmatch` globs over the normalised reference `registry/path:tag`
(`docker.io/` and `library/` dropped, digest removed, tag `latest` when none).

- `gcr.io/distroless/*:*debug*`, `*distroless*:*debug*`: lack bash and curl
  (the `:debug` tags add busybox, so sh and wget exist; distroless README).
- `gcr.io/distroless/*` (`:nonroot` and `:latest` tags alike), `*distroless*`
  (other distroless builds, e.g. `mcr.microsoft.com/.../distroless/...`):
  lack sh, bash, curl, wget ("no shell", distroless README).
- `scratch`: the empty image, lacks everything.
- `cgr.dev/chainguard/static*`, `cgr.dev/chainguard/*-static*`,
  `chainguard/static*`: Chainguard static images, no shell and no package
  manager; lack everything.
- `registry.k8s.io/pause*`: one static binary; lacks everything.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

ALL_TOOLS = frozenset({"sh", "bash", "curl", "wget"})

# First match wins, so the more specific `:debug` entry comes before its family.
_TABLE: tuple[tuple[str, frozenset[str], str], ...] = (
    ("gcr.io/distroless/*:*debug*", frozenset({"bash", "curl"}), "a distroless :debug image"),
    ("gcr.io/distroless/*", ALL_TOOLS, "a distroless image"),
    ("*distroless*:*debug*", frozenset({"bash", "curl"}), "a distroless :debug image"),
    ("*distroless*", ALL_TOOLS, "a distroless image"),
    ("scratch:*", ALL_TOOLS, "the empty scratch image"),
    ("cgr.dev/chainguard/static*", ALL_TOOLS, "a Chainguard static image"),
    ("cgr.dev/chainguard/*-static*", ALL_TOOLS, "a Chainguard static image"),
    ("chainguard/static*", ALL_TOOLS, "a Chainguard static image"),
    ("registry.k8s.io/pause*", ALL_TOOLS, "the pause image"),
)


def normalise(image: str) -> str:
    """`nginx` -> `nginx:latest`; `docker.io/library/x:1` -> `x:1`; digests dropped."""
    ref = image.split("@", 1)[0]
    for prefix in ("docker.io/", "index.docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
    if ref.startswith("library/"):
        ref = ref[len("library/") :]
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        ref += ":latest"
    return ref


def missing_tools(image: str) -> tuple[frozenset[str], str]:
    """(tools the image lacks, what the image is); empty when the image is not listed."""
    ref = normalise(image)
    for pattern, lacks, what in _TABLE:
        if fnmatchcase(ref, pattern):
            return lacks, what
    return frozenset(), ""
