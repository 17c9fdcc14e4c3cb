"""The committed KMS v2 messages are what the pinned api.proto generates (`make kms-stubs`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

API = Path(__file__).resolve().parents[3] / "operator" / "ferris_operator" / "kek" / "kmsv2_api"


def test_the_generated_messages_match_the_pinned_proto(tmp_path: Path) -> None:
    tree = tmp_path / "ferris_operator" / "kek" / "kmsv2_api"
    tree.mkdir(parents=True)
    shutil.copy(API / "api.proto", tree / "api.proto")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{tmp_path}",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            str(tree / "api.proto"),
        ],
        check=True,
    )
    for name in ("api_pb2.py", "api_pb2.pyi"):
        assert (tree / name).read_text() == (API / name).read_text(), f"{name} is stale: run make kms-stubs"
    assert (
        "package v2;" in (API / "api.proto").read_text()
        and "service KeyManagementService" in (API / "api.proto").read_text()
    )
