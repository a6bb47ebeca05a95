"""``RetrievalOptions``: one frozen object for every retrieval knob, normalised once (issue #12)."""

from __future__ import annotations

import dataclasses

import pytest

from kbtypes.retrieval import RetrievalOptions


def test_file_types_are_normalised_to_a_sorted_tuple_without_dots() -> None:
    options = RetrievalOptions(file_types=[".PDF", "md", "pdf"])  # type: ignore[arg-type]
    assert options.file_types == ("md", "pdf")


def test_empty_filters_mean_no_filter() -> None:
    assert RetrievalOptions(file_types=(), source_glob="") == RetrievalOptions()


def test_options_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        RetrievalOptions().k = 3  # type: ignore[misc]
