"""The files of a run's file params: fetched, checked against what the bundle sealed, placed in
the work dir with the param holding the path; anything else refused, nothing of it written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ferris_runner.param_files import ParamFileMismatch, place
from ferris_wire.runner_api import PARAM_FILES_DIR, ParamFile

DATA = b"id,name\n1,one\n"


def sealed(name: str = "rows.csv", data: bytes = DATA) -> ParamFile:
    return ParamFile(param="data", name=name, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())


def test_each_file_is_placed_under_its_param_and_the_param_holds_its_path(tmp_path: Path) -> None:
    asked: list[str] = []

    def fetch(param: str) -> bytes:
        asked.append(param)
        return DATA

    paths = place(fetch, [sealed()], tmp_path)
    assert paths == {"data": str(tmp_path / PARAM_FILES_DIR / "data" / "rows.csv")}
    assert Path(paths["data"]).read_bytes() == DATA and asked == ["data"]
    assert place(fetch, [], tmp_path) == {}


@pytest.mark.parametrize(
    ("fetched", "file", "says"),
    [
        (DATA + b"2,two\n", sealed(), "not the one uploaded for this run (20 bytes; 14 sealed)"),
        (DATA.replace(b"one", b"eno"), sealed(), "not the one uploaded for this run (14 bytes; 14 sealed)"),
        (DATA, sealed(name="../../etc/cron.d/x"), "is not a plain name"),
        (DATA, sealed(name=".."), "is not a plain name"),
    ],
)
def test_a_file_other_than_the_sealed_one_is_refused_and_not_written(
    tmp_path: Path, fetched: bytes, file: ParamFile, says: str
) -> None:
    with pytest.raises(ParamFileMismatch, match=r"param data: .*" + says.replace("(", r"\(").replace(")", r"\)")):
        place(lambda _: fetched, [file], tmp_path)
    assert not any(tmp_path.rglob("*.csv")) and not (tmp_path / PARAM_FILES_DIR / "data" / "rows.csv").exists()
