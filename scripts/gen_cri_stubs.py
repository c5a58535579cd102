#!/usr/bin/env python3
"""Regenerate the CRI v1 Python stubs in src/podkeeper/runtime/cri/_gen/.

Source: kubernetes/cri-api, path pkg/apis/runtime/v1/api.proto, commit
791729b255f0c2d0019d3862ba6ef000c4a30c4d (2026-07-23). The proto itself is not
committed; get it with `git show <commit>:pkg/apis/runtime/v1/api.proto` from a
clone of https://github.com/kubernetes/cri-api and run

    python scripts/gen_cri_stubs.py path/to/api.proto

(needs grpcio-tools, a test dependency). gogoproto imports and options are
stripped (older cri-api versions carry them; protoc has no gogo.proto). Only
the message module is generated: the client (runtime/cri/client.py) builds its
calls with `grpc.aio` from the method names, so no grpc-version-pinned service
stub is kept.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src" / "podkeeper" / "runtime" / "cri" / "_gen"


def strip_gogo(text: str) -> str:
    text = re.sub(
        r'^import "github.com/gogo/protobuf/gogoproto/gogo.proto";\n', "", text, flags=re.M
    )
    text = re.sub(r"^option \(gogoproto\.[^;]*;\n", "", text, flags=re.M)
    # field options such as [(gogoproto.nullable) = false]
    text = re.sub(r"\s*\[\(gogoproto\.[^\]]*\]", "", text)
    return text


def main(proto: str) -> int:
    text = strip_gogo(Path(proto).read_text())
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "api.proto"
        src.write_text(text)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"-I{tmp}",
                f"--python_out={OUT}",
                f"--pyi_out={OUT}",
                str(src),
            ],
            check=True,
        )
    (OUT / "__init__.py").write_text(
        '"""Generated from kubernetes/cri-api pkg/apis/runtime/v1/api.proto by '
        'scripts/gen_cri_stubs.py; do not edit."""\n'
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
