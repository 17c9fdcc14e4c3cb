"""What a step's report keeps of its output: all of it up to the limit; past it, the head and
the tail with a line saying how much was dropped where; and what fits a report's JSON."""

from __future__ import annotations

import json

from ferris_runner.output import KeptOutput, LiveOutput, fit


def test_output_under_the_limit_is_kept_whole() -> None:
    kept = KeptOutput(limit=1000, head=100)
    for i in range(20):
        kept.add(f"line {i}\n")
    assert kept.text() == "".join(f"line {i}\n" for i in range(20)) and kept.dropped_bytes == 0


def test_output_over_the_limit_keeps_head_and_tail_and_says_what_was_dropped_where() -> None:
    kept = KeptOutput(limit=200, head=50)
    lines = [f"line {i:04d}\n" for i in range(1000)]  # 10 bytes each, 11 in JSON (the newline takes two)
    for line in lines:
        kept.add(line)
    text = kept.text()
    assert text.startswith("".join(lines[:4]))  # the head: 44 of its 50 in JSON
    assert text.endswith("".join(lines[-13:]))  # the tail: 143 of its 150 in JSON
    marker = "[ferris: 9,830 bytes (983 lines) of output dropped here (the first 40 and the last 130 bytes are kept)]\n"
    assert text.index(marker) == 40
    assert len("".join(lines).encode()) == 40 + 9830 + 130  # every byte is kept or counted


def test_a_report_over_its_json_limit_keeps_the_tail_behind_what_was_dropped() -> None:
    output = "\x01" * 300 + "the end\n"  # control characters take six bytes in JSON
    fitted = fit(output, limit=400)
    assert len(json.dumps(fitted, ensure_ascii=False).encode()) <= 400
    assert fitted.startswith("[ferris: ") and "so that the report fits]\n" in fitted and fitted.endswith("the end\n")
    dropped = int(fitted.split(" bytes")[0].removeprefix("[ferris: ").replace(",", ""))
    assert dropped + len(fitted.split("]\n", 1)[1].encode()) == len(output.encode())
    assert fit("short", limit=600) == "short"
    assert fit("\x01" * 50, limit=10).startswith("[ferris: 50 bytes")  # not even one character fits


def test_live_output_sends_whole_lines_from_where_the_stored_output_ends() -> None:
    live = LiveOutput(limit=20, chunk=8)
    assert live.take() is None
    for line in ("abc\n", "defg\n", "0123456789abc\n"):
        live.add(line)
    assert live.take() == (0, "abc\n")  # "defg\n" would pass the chunk's 8 characters
    assert live.take() == (0, "abc\n"), "not stored yet: the same chunk again"
    live.stored("abc\n")
    assert live.take() == (4, "defg\n")
    live.stored("defg\n")
    assert live.take() == (9, "01234567")  # a line longer than a chunk is cut
    live.stored("01234567")
    assert live.take() == (17, "89a")  # and stops at the limit
    live.stored("89a")
    assert live.take() is None and live.stopped
    live.add("more\n")
    assert live.take() is None


def test_live_output_stopped_keeps_nothing() -> None:
    live = LiveOutput()
    live.add("a\n")
    live.stop()
    live.add("b\n")
    assert live.take() is None
