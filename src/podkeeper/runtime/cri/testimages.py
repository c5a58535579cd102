"""Small OCI images for tests and examples, built from busybox-static with no registry.

Each image is a docker-archive tarball (`docker save`'s format: `manifest.json`,
an image config, one layer tar) that `podkeeper image import` and
`ctr images import` read. Images:

- `podkeeper.local/busybox:1.35`: busybox with every applet linked in /bin; CMD `sh`.
- `podkeeper.local/httpd:1.0`: busybox httpd on port 80 serving /www (an
  nginx stand-in for Deployments behind a Service).
- `podkeeper.local/liveness:1.0`: like agnhost's `liveness` server: `/healthz`
  answers 200 for the first 10 s after start, then 500 (`error: <elapsed>`),
  on port 8080.
- `podkeeper.local/goproxy:0.1`: a TCP server on port 8080 (the docs' tcpSocket
  liveness example uses goproxy).
- `podkeeper.local/e2e-apps:1.0` (`python_apps_image`, built on demand, not by
  `build_all`): busybox plus the host's own Python interpreter, its standard
  library, shared libraries and grpcio, with the e2e probe cases' test apps
  (`tests/apps/*.py`) in `/apps`, so the one scenario table runs unchanged on
  both runtimes. About 100 MB: tests build it once per session.
- `registry.k8s.io/pause:3.10`: a pause built from a few lines of C (`gcc
  -static`): sleeps, reaps zombies, exits 0 on SIGTERM/SIGINT. It carries the
  name containerd's CRI plugin asks for, so no registry is needed.

`python -m podkeeper.runtime.cri.testimages OUTDIR` writes them all.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

BUSYBOX = "/bin/busybox"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

BUSYBOX_IMAGE = "podkeeper.local/busybox:1.35"
HTTPD_IMAGE = "podkeeper.local/httpd:1.0"
LIVENESS_IMAGE = "podkeeper.local/liveness:1.0"
GOPROXY_IMAGE = "podkeeper.local/goproxy:0.1"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
APPS_IMAGE = "podkeeper.local/e2e-apps:1.0"

PAUSE_C = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void quit(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
    struct sigaction a = {0};
    a.sa_handler = quit;
    sigaction(SIGINT, &a, 0);
    sigaction(SIGTERM, &a, 0);
    a.sa_handler = reap;
    a.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &a, 0);
    for (;;) pause();
}
"""

# agnhost liveness (test/images/agnhost/liveness/server.go): 200 "ok" for 10 s, then 500.
HEALTHZ_SH = r"""#!/bin/sh
read -r method path proto
while read -r line; do
  case "$line" in ""|$(printf '\r')) break ;; esac
done
now=$(date +%s)
started=$(cat /tmp/started)
elapsed=$((now - started))
case "$path" in
  /healthz*)
    if [ "$elapsed" -gt 10 ]; then
      code="500 Internal Server Error"; body="error: ${elapsed}s"
    else
      code="200 OK"; body="ok"
    fi ;;
  *) code="404 Not Found"; body="404 page not found" ;;
esac
printf 'HTTP/1.1 %s\r\nContent-Type: text/plain\r\n' "$code"
printf 'Content-Length: %s\r\nConnection: close\r\n\r\n%s' "${#body}" "$body"
"""

LIVENESS_SH = """#!/bin/sh
date +%s >/tmp/started
nc -ll -p 8080 -e /healthz.sh &
"""

# A shell as PID 1 that runs the server as its child and ends on SIGTERM the way the real
# program does (a PID 1 without a handler would ignore SIGTERM and wait out the grace):
# nginx exits 0 on SIGTERM, a Go server (agnhost, goproxy) dies of it (143).
_SERVE = """pid=$!
trap 'kill -TERM $pid 2>/dev/null; exit {code}' TERM INT
wait $pid
"""
LIVENESS_SH += _SERVE.format(code=143)
HTTPD_SH = "#!/bin/sh\nhttpd -f -v -p 80 -h /www &\n" + _SERVE.format(code=0)
GOPROXY_SH = "#!/bin/sh\nnc -ll -p 8080 -e cat &\n" + _SERVE.format(code=143)


@dataclass
class ImageDef:
    name: str
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)  # path -> (data, mode)
    with_busybox: bool = True
    exposed: list[str] = field(default_factory=list)
    host_files: dict[str, str] = field(default_factory=dict)  # image path -> host path


def busybox_available() -> str | None:
    """None when images can be built here, else why not."""
    if not os.access(BUSYBOX, os.X_OK):
        return f"{BUSYBOX} is missing (apt-get install busybox-static)"
    out = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=False)
    if out.returncode != 0 or "sh" not in out.stdout.split():
        return f"{BUSYBOX} is not a usable busybox"
    ldd = subprocess.run(["ldd", BUSYBOX], capture_output=True, text=True, check=False)
    if "not a dynamic executable" not in (ldd.stdout + ldd.stderr) and ldd.returncode == 0:
        return f"{BUSYBOX} is dynamically linked (install busybox-static)"
    return None


def _add(
    tar: tarfile.TarFile,
    name: str,
    data: bytes | None = None,
    mode: int = 0o644,
    kind: bytes = tarfile.REGTYPE,
    link: str = "",
    mtime: float = 0,
) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = int(mtime)
    if kind == tarfile.SYMTYPE:
        info.linkname = link
        tar.addfile(info)
    elif kind == tarfile.DIRTYPE:
        tar.addfile(info)
    else:
        payload = data or b""
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))


def _layer(image: ImageDef) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in (
            "bin",
            "dev",
            "etc",
            "proc",
            "sys",
            "root",
            "var",
            "var/www",
            "www",
            "usr",
            "usr/bin",
            "usr/sbin",
            "sbin",
        ):
            _add(tar, d, kind=tarfile.DIRTYPE, mode=0o755)
        _add(tar, "tmp", kind=tarfile.DIRTYPE, mode=0o1777)
        _add(
            tar,
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
        )
        _add(tar, "etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        if image.with_busybox:
            _add(tar, "bin/busybox", Path(BUSYBOX).read_bytes(), 0o755)
            applets = subprocess.run(
                [BUSYBOX, "--list"], capture_output=True, text=True, check=True
            ).stdout.split()
            for applet in applets:
                if applet != "busybox" and "/" not in applet:
                    _add(tar, f"bin/{applet}", kind=tarfile.SYMTYPE, link="busybox")
        for path, (data, mode) in sorted(image.files.items()):
            _add(tar, path.lstrip("/"), data, mode)
        made: set[str] = set()
        for path, host in sorted(image.host_files.items()):
            parts = path.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in made:
                    made.add(d)
                    _add(tar, d, kind=tarfile.DIRTYPE, mode=0o755)
            st = os.stat(host)
            # The host's mtime, not 0: a .pyc records its source's mtime, and a mismatch
            # would make every Python start recompile what it imports.
            _add(
                tar,
                path.lstrip("/"),
                Path(host).read_bytes(),
                st.st_mode & 0o7777,
                mtime=st.st_mtime,
            )
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_docker_archive(image: ImageDef, out: Path) -> Path:
    """Write `image` as a docker-archive tarball at `out`; return `out`."""
    layer = _layer(image)
    config: dict[str, object] = {
        "architecture": "amd64" if os.uname().machine == "x86_64" else os.uname().machine,
        "os": "linux",
        "config": {
            "Env": [PATH_ENV],
            "Entrypoint": image.entrypoint,
            "Cmd": image.cmd,
            "WorkingDir": "/",
            "ExposedPorts": {p: {} for p in image.exposed} or None,
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{_sha(layer)}"]},
        "history": [{"created_by": "podkeeper testimages"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = f"{_sha(config_bytes)}.json"
    layer_name = f"{_sha(layer)}/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [image.name], "Layers": [layer_name]}]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w") as tar:
        _add(tar, config_name, config_bytes)
        _add(tar, layer_name, layer)
        _add(tar, "manifest.json", json.dumps(manifest).encode())
    return out


def build_pause(workdir: Path) -> bytes:
    """The pause binary, built static with gcc; raise RuntimeError saying why it cannot be."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise RuntimeError("no C compiler (gcc) to build the pause image")
    src = workdir / "pause.c"
    src.write_text(PAUSE_C)
    binary = workdir / "pause"
    done = subprocess.run(
        [gcc, "-static", "-Os", "-o", str(binary), str(src)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"gcc -static failed: {done.stderr.strip()[:400]}")
    return binary.read_bytes()


def image_defs(pause_binary: bytes) -> list[ImageDef]:
    return [
        ImageDef(BUSYBOX_IMAGE, cmd=["sh"]),
        ImageDef(
            HTTPD_IMAGE,
            entrypoint=["/httpd.sh"],
            files={
                "/www/index.html": (b"<h1>podkeeper httpd</h1>\n", 0o644),
                "/httpd.sh": (HTTPD_SH.encode(), 0o755),
            },
            exposed=["80/tcp"],
        ),
        ImageDef(
            LIVENESS_IMAGE,
            entrypoint=["/liveness.sh"],
            files={
                "/liveness.sh": (LIVENESS_SH.encode(), 0o755),
                "/healthz.sh": (HEALTHZ_SH.encode(), 0o755),
            },
            exposed=["8080/tcp"],
        ),
        ImageDef(
            GOPROXY_IMAGE,
            entrypoint=["/goproxy.sh"],
            files={"/goproxy.sh": (GOPROXY_SH.encode(), 0o755)},
            exposed=["8080/tcp"],
        ),
        ImageDef(
            PAUSE_IMAGE,
            entrypoint=["/pause"],
            files={"/pause": (pause_binary, 0o755)},
            with_busybox=False,
        ),
    ]


# Parts of the standard library no test app imports: left out of the apps image.
_STDLIB_SKIP = {
    "test",
    "site-packages",
    "dist-packages",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3",
    "pydoc_data",
}


def _shared_libs(binaries: list[str]) -> set[str]:
    """The shared libraries `binaries` load (ldd), as paths on this host."""
    libs: set[str] = set()
    for i in range(0, len(binaries), 50):
        out = subprocess.run(
            ["ldd", *binaries[i : i + 50]], capture_output=True, text=True, check=False
        ).stdout
        for line in out.splitlines():
            words = line.split()
            for w in words:
                if w.startswith("/") and not w.endswith(":") and os.path.isfile(w):
                    libs.add(w)
    return libs


APP_MODULES = ("grpc", "grpc_health", "google.protobuf", "typing_extensions")


def python_apps_image(apps_dir: Path, modules: tuple[str, ...] = APP_MODULES) -> ImageDef:
    """busybox + this host's Python (same absolute paths, so it finds its own prefix) +
    the packages `modules` (grpcio and what it imports) in /apps beside the `apps_dir/*.py` scripts,
    whose directory is first on sys.path when they run as `python /apps/x.py`."""
    import importlib

    files: dict[str, str] = {}
    exe = str(Path(sys.executable).resolve())
    files[exe] = exe
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for root, dirs, names in os.walk(stdlib):
        rel = Path(root).relative_to(stdlib)
        if rel == Path("."):
            dirs[:] = [d for d in dirs if d not in _STDLIB_SKIP and not d.startswith("config-")]
        for n in names:
            if ".opt-" in n:
                continue  # optimised bytecode: never loaded without -O
            files[f"{root}/{n}"] = f"{root}/{n}"
    for mod in modules:
        pkg = importlib.import_module(mod)
        where = Path(pkg.__file__ or "")
        if where.name != "__init__.py":  # a single-file module
            files[f"/apps/{where.name}"] = str(where)
            continue
        top = where.parent
        site = top.parents[mod.count(".")]
        for root, _, names in os.walk(top):
            for n in names:
                host = f"{root}/{n}"
                files[f"/apps/{Path(host).relative_to(site)}"] = host
    for script in sorted(apps_dir.glob("*.py")):
        files[f"/apps/{script.name}"] = str(script)
    binaries = [h for h in files.values() if h == exe or h.endswith(".so")]
    for lib in _shared_libs(binaries):
        files[lib] = str(Path(lib).resolve())
    # Host names from /etc/hosts only: pods here have no route to the host's DNS server
    # (the CNI bridge masquerades nothing), and Python's HTTPServer looks its bind address
    # up at start (socket.getfqdn), which would wait out the resolver's timeouts (~10 s).
    nss = (b"hosts: files\n", 0o644)
    return ImageDef(APPS_IMAGE, cmd=["sh"], host_files=files, files={"/etc/nsswitch.conf": nss})


def archive_name(image: str) -> str:
    """`podkeeper.local/httpd:1.0` -> `httpd-1.0.tar`."""
    return image.rsplit("/", 1)[-1].replace(":", "-") + ".tar"


def build_all(outdir: Path) -> dict[str, Path]:
    """Build every test image into `outdir`; return image name -> tarball path.

    Raises RuntimeError (saying why) when busybox-static or gcc is missing."""
    why = busybox_available()
    if why is not None:
        raise RuntimeError(why)
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pause = build_pause(Path(tmp))
    return {
        d.name: write_docker_archive(d, outdir / archive_name(d.name)) for d in image_defs(pause)
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m podkeeper.runtime.cri.testimages OUTDIR", file=sys.stderr)
        return 2
    try:
        built = build_all(Path(argv[0]))
    except RuntimeError as err:
        print(f"cannot build test images: {err}", file=sys.stderr)
        return 1
    for name, path in built.items():
        print(f"{name}\t{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
