"""`ferris logs -f` cut off mid-step asks again from what it has shown: nothing twice, nothing lost."""

from __future__ import annotations

import contextlib
import http.client
import io
from collections.abc import Iterator

import pytest

from ferris_operator.cli import server
from ferris_operator.cli.server import ServerError, follow

OUTPUT = "line one\nzwei: ü\nline three 🦀\nthe end\n"
UNREACHABLE = -1


class CutResponse(io.BytesIO):
    """The output from an offset, in reads of 5 bytes; cut off (IncompleteRead) after ``cut`` bytes."""

    def __init__(self, data: bytes, cut: int | None) -> None:
        super().__init__(data)
        self.cut = cut

    def read1(self, size: int = -1) -> bytes:
        if self.cut is not None and self.tell() >= self.cut:
            raise http.client.IncompleteRead(b"")
        return super().read1(5)


class CuttingServer:
    """The server's followed log: the first answers are cut off part way, or not made."""

    def __init__(self, cuts: list[int]) -> None:
        self.cuts = cuts
        self.asked: list[int] = []

    @contextlib.contextmanager
    def open_from(self, offset: int) -> Iterator[CutResponse]:
        self.asked.append(offset)
        cut = self.cuts.pop(0) if self.cuts else None
        if cut == UNREACHABLE:
            raise ServerError("cannot reach the Ferris server at https://ferris.example: refused")
        yield CutResponse(OUTPUT[offset:].encode(), cut)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server.time, "sleep", lambda seconds: None)


def test_a_follower_cut_off_mid_character_resumes_where_it_stopped() -> None:
    cutting = CuttingServer([17, 7, UNREACHABLE, 12])  # 17 bytes: inside "ü"'s two
    assert "".join(follow(cutting.open_from)) == OUTPUT
    assert cutting.asked[0] == 0 and cutting.asked == sorted(cutting.asked) and len(cutting.asked) == 5


def test_a_follower_gives_up_when_the_server_stays_away() -> None:
    cutting = CuttingServer([UNREACHABLE] * (server.FOLLOW_RETRIES + 1))
    with pytest.raises(ServerError, match="following the output stopped: cannot reach"):
        "".join(follow(cutting.open_from))


def test_a_refusal_is_not_asked_again() -> None:
    asked: list[int] = []

    @contextlib.contextmanager
    def refusing(offset: int) -> Iterator[CutResponse]:
        asked.append(offset)
        raise ServerError("403: user 'ann' may not get ferrisruns/log")
        yield CutResponse(b"", None)

    with pytest.raises(ServerError, match="may not get"):
        "".join(follow(refusing))
    assert asked == [0]
