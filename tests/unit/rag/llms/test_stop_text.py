"""StopTextFilter: truncating a text stream at stop sequences."""

from __future__ import annotations

import pytest

from rag.llms.stop_text import StopTextFilter


def _run(stops: list[str], pieces: list[str]) -> tuple[list[str], bool]:
    text_filter = StopTextFilter(stops)
    emitted = [text_filter.feed(piece) for piece in pieces]
    emitted.append(text_filter.flush())
    return emitted, text_filter.stopped


@pytest.mark.parametrize(
    ("stops", "pieces", "expected"),
    [
        ([], ["Hello", " world"], "Hello world"),
        (["STOP"], ["Hello STOP more"], "Hello "),
        (["STOP"], ["Hello ST", "OP more"], "Hello "),
        (["STOP"], ["Hello S", "T", "O", "P"], "Hello "),
        (["STOP"], ["Hello ST", "ay"], "Hello STay"),
        (["\n\n", "Question:"], ["a\n", "\nb"], "a"),
        (["\n\n", "Question:"], ["a Quest", "ion: b"], "a "),
        (["ab", "b"], ["xab"], "x"),
        ([""], ["keep all"], "keep all"),
    ],
)
def test_output_is_cut_before_the_first_stop(stops: list[str], pieces: list[str], expected: str) -> None:
    emitted, _ = _run(stops, pieces)

    assert "".join(emitted) == expected


def test_partial_stop_is_held_back_until_decided() -> None:
    text_filter = StopTextFilter(["STOP"])

    assert text_filter.feed("Hello ST") == "Hello "
    assert text_filter.feed("A") == "STA"
    assert not text_filter.stopped


def test_input_after_a_stop_is_discarded() -> None:
    emitted, stopped = _run(["END"], ["one END two", " three"])

    assert emitted == ["one ", "", ""]
    assert stopped
