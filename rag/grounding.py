"""Checks on a generated answer against the passages it was written from.

Small local models fail in a few recognisable ways even when the right passage is in the prompt: they
answer with the source labels (``[1] README.md``), loop, echo the prompt, write nothing, or state figures
that no source holds. ``degeneracy`` names the first kind of failure; ``unsupported_claims`` lists the
numbers, versions and quoted names in an answer that appear in neither the passages nor the question.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from rag.citations import is_looping
from rag.language import content_terms, detect_language
from rag.prompt import STRICT_INSTRUCTION, SYSTEM_PROMPT
from rag.quotes import is_heading, sentence_spans

__all__ = ["content_left", "degeneracy", "unsupported_claims"]

_MARKER = re.compile(r"[\[【]\s*\d{1,3}\s*[\]】]")
_LABEL_WORDS = re.compile(
    r"(?i)\b(?:sources?|source\s+files?|files?|documents?|passages?|references?)\b|资料|来源|参考|文件|文档|出处"
)
_FILENAME = re.compile(
    r"[\w\-./]+\.(?:md|txt|html?|docx?|pdf|rst|csv|jsonl?|xlsx?|pptx?|eml|odt|rtf|epub)\b", re.I
)
_NON_CONTENT = re.compile(r"[\W_]+", re.UNICODE)
_MIN_CONTENT_CHARS = 2
# The prompt's own headers, and phrases of the worked example in the system prompt (NFKC, lowercase).
_PROMPT_ECHOES = ("问题:", "回答:", "question:", "answer:", "图书馆", "borrow up to 12", "21 days")
_LIST_MARKER = re.compile(r"(?m)^\s*(?:\d{1,2}[.、)）]|[-*•])\s+")
_VERSION = re.compile(r"(?i)\bv?\d+(?:\.\d+){1,3}\b")
#: A figure in scientific notation ("learning_rate=2e-2"): one claim, not the figures 2 and 2.
_SCIENTIFIC = re.compile(r"(?<![\w.])\d+(?:\.\d+)?e[-+]?\d+(?![\w.])")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\d])")
#: A hyphenated name holding digits (chatglm-6b, bleu-4): its digits name it, they claim nothing.
_HYPHENATED_NAME = re.compile(r"[a-z][a-z\d.]*(?:-[a-z\d.]+)+")
_QUOTED = re.compile(r"“([^”]{2,60})”|「([^」]{2,60})」|《([^》]{2,60})》|`([^`]{2,60})`|\"([^\"]{2,60})\"")
_DIGITS_AT_EDGE = r"(?<![A-Za-z0-9.]){}(?![\d])"
_REPEATED_LINE_COUNT = 3
_NUMERIC_CLAIM = re.compile(r"v?\d[\d.,]*")
_DATE_UNIT_AFTER = re.compile(r"\s?[年月日号]")
_DATE_UNIT_BEFORE = re.compile(r"\d\s?[年月]\s?$")
_NUMERIC_DATE = re.compile(r"(?<!\d)\d{4}([-/])\d{1,2}\1\d{1,2}(?!\d)")
_UNFINISHED = re.compile(r"(?i)(?:\b(?:is|are|was|were|be|to|the|of)|[:：是为])$")  # "... the flag is [1]."
_UNFINISHED_CHARS = 120  # a longer reply that trails off was cut by the token budget, not unfinished
_ECHO_WINDOW = 20  # characters of an instruction that a real answer never repeats by chance


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def content_left(answer: str, source_names: Iterable[str]) -> str:
    """The answer with markers, file names, label words, the sources' names and punctuation removed."""
    text = _MARKER.sub(" ", answer)
    for name in source_names:
        for form in sorted({name, PurePosixPath(name).name, PurePosixPath(name).stem}, key=len, reverse=True):
            if len(form) >= 3:
                text = text.replace(form, " ")
    text = _FILENAME.sub(" ", text)
    text = _LABEL_WORDS.sub(" ", text)
    text = re.sub(r"(?i)\bp\.\s*\d+", " ", text)
    return _NON_CONTENT.sub("", text)


def _repeats_lines(answer: str) -> bool:
    lines = [line.strip() for line in answer.splitlines() if line.strip()]
    return any(lines.count(line) >= _REPEATED_LINE_COUNT for line in set(lines))


def _echoes_question(answer: str, question: str, shown: str) -> bool:
    """The reply restates the question, adding at most one word or bigram of its own and no figure.

    A single added word that the shown passages hold is the fact asked for, not an echo: "icetk was
    dropped in the 2023/04/06 update" answers "Which dependency was dropped in the 2023/04/06 update?".
    """
    asked = content_terms(question)
    said = content_terms(_MARKER.sub(" ", answer))
    if not asked or not said:
        return False
    new = said - asked
    if any(char.isdigit() for term in new for char in term):
        return False
    if len(new) == 1 and new <= content_terms(shown):
        return False
    return len(new) <= 1 and len(said & asked) >= 0.6 * len(said)


def _copies_instructions(normalised_answer: str, normalised_sources: str) -> bool:
    """The reply copies a run of kb's own instructions (the system prompt or the stricter retry's wording).

    A run the shown sources also hold does not count: kb's own guide may quote its prompt.
    """
    return any(
        window in normalised_answer and window not in normalised_sources for window in _instruction_windows()
    )


@functools.cache
def _instruction_windows() -> frozenset[str]:
    texts = [SYSTEM_PROMPT, *STRICT_INSTRUCTION.values()]
    windows: set[str] = set()
    for text in map(_normal, texts):
        windows.update(text[i : i + _ECHO_WINDOW] for i in range(0, max(1, len(text) - _ECHO_WINDOW), 3))
    return frozenset(windows)


def degeneracy(
    answer: str, passages: Sequence[str], source_names: Sequence[str] = (), question: str = ""
) -> str | None:
    """Why ``answer`` is no answer at all, or None when it is one.

    Reasons: ``empty``; ``labels`` (only source labels, file names or ``[n]`` markers); ``repetition``
    (a loop, or the same line three times); ``echo`` (it repeats the prompt's own headers);
    ``no_overlap`` (in the passages' language, yet sharing no word, number or CJK bigram with them);
    ``question`` (it restates the question and adds nothing, or is a question itself); ``heading`` (it
    is only a title or command line of a source, "kb serve [3]", standing where the fact should be);
    ``unfinished`` (it stops where the fact should come: "The flag is [1].").

    Args:
        answer: the model's answer, citation markers already normalised.
        passages: the passage texts shown to the model.
        source_names: the shown sources' paths, so an answer made of file names is recognised.
        question: the question, so an answer that only restates it is recognised.
    """
    if not answer.strip():
        return "empty"
    if len(content_left(answer, source_names)) < _MIN_CONTENT_CHARS:
        return "labels"
    if is_looping(answer) or _repeats_lines(answer):
        return "repetition"
    lowered = _normal(answer)
    shown = "\n".join(passages)
    if question and _echoes_question(answer, question, shown):
        return "question"
    bare = _MARKER.sub("", answer).strip().rstrip(".。").strip()
    if bare.endswith(("?", "？")):
        return "question"
    if len(bare) <= _UNFINISHED_CHARS and "\n" not in bare and _UNFINISHED.search(bare):
        return "unfinished"
    if _copies_a_heading(bare, passages):
        return "heading"
    if any(echo in lowered and echo not in _normal(shown) for echo in _PROMPT_ECHOES):
        return "echo"
    if _copies_instructions(lowered, _normal(shown)):
        return "echo"
    if shown and detect_language(answer) == detect_language(shown):
        stripped = _MARKER.sub(" ", answer)
        if not content_terms(stripped) & content_terms(shown) and not _numbers(stripped) & _numbers(shown):
            return "no_overlap"
    return None


def _copies_a_heading(bare: str, passages: Sequence[str]) -> bool:
    """The reply (markers stripped) is a title or command line of a source (``rag.quotes.is_heading``)."""
    if not bare or "\n" in bare:
        return False
    for passage in passages:
        for start, end in sentence_spans(passage):
            line = passage[start:end].lstrip("#").strip().rstrip("。.").strip()
            if line == bare and is_heading(passage, start, end):
                return True
    return False


def _numbers(text: str) -> set[str]:
    return set(_NUMBER.findall(_normal(text)))


def _claims(answer: str) -> list[str]:
    """Numbers, versions and quoted names stated in the answer, in order, without duplicates."""
    text = _LIST_MARKER.sub(_blank, _MARKER.sub(_blank, _normal(answer)))
    found: list[tuple[int, str]] = []
    for match in _QUOTED.finditer(text):
        found.append((match.start(), next(group for group in match.groups() if group).strip()))
    text = _QUOTED.sub(_blank, text)
    for pattern in (_SCIENTIFIC, _VERSION):
        found.extend((match.start(), match.group()) for match in pattern.finditer(text))
        text = pattern.sub(_blank, text)
    text = _HYPHENATED_NAME.sub(_blank, text)
    found.extend((match.start(), match.group()) for match in _NUMBER.finditer(text))
    return list(dict.fromkeys(claim for _, claim in sorted(found) if claim))


def _blank(match: re.Match[str]) -> str:
    """As many spaces as the match is long, so later matches keep their place in the answer."""
    return " " * len(match.group())


def _supported(claim: str, evidence: str, evidence_squashed: str, *, dated: bool) -> bool:
    if _SCIENTIFIC.fullmatch(claim):
        return re.search(_DIGITS_AT_EDGE.format(re.escape(claim)), evidence) is not None
    if _NUMERIC_CLAIM.fullmatch(claim):
        digits = claim.lstrip("v").replace(",", "")
        prefix = "v?" if "." in digits else ""  # "v1.1" states the version 1.1; "v6" states no figure 6
        pattern = _DIGITS_AT_EDGE.format(prefix + re.escape(digits))
        plain = evidence.replace(",", "")
        # A day or month of a date ("4月22号") supports a date, not "22 层".
        return any(dated or not _in_a_date(plain, m) for m in re.finditer(pattern, plain))
    return claim in evidence or re.sub(r"\s+", "", claim) in evidence_squashed


def _in_a_date(text: str, match: re.Match[str]) -> bool:
    """The digits ``match`` found are a year, month or day: "4月22号", "2023/04/22", "2023-04-22"."""
    start, end = match.span()
    # "4月" or "2023 年 " ends right before the digits: four characters at most, so look no further back.
    if _DATE_UNIT_AFTER.match(text, end) or _DATE_UNIT_BEFORE.search(text, max(0, start - 4), start):
        return True
    return any(
        date.start() <= start and end <= date.end()
        for date in _NUMERIC_DATE.finditer(text, max(0, start - 11), end + 11)
    )


def _dated_claims(answer: str) -> set[str]:
    """The answer's numbers that it writes as part of a date."""
    return {m.group() for m in _NUMBER.finditer(answer) if _in_a_date(answer, m)}


def unsupported_claims(answer: str, passages: Sequence[str], question: str = "") -> list[str]:
    """Figures and names the answer states that no shown passage (nor the question) contains.

    A number counts as supported when the same digits stand in a passage as a number of their own
    (``6`` is found in "6 GB" and "6GB", not in "16"); versions likewise; a quoted name when it appears
    in a passage, whitespace aside. Units are not compared: "6G" and "6 GB" are the same claim. A year,
    month or day of a date in a passage supports only a figure the answer writes as a date too.

    Returns:
        The unsupported claims as written (lowercased, NFKC-normalised), in order of appearance.
    """
    evidence = _normal("\n".join([*passages, question]))
    squashed = re.sub(r"\s+", "", evidence)
    dated = _dated_claims(_normal(answer))
    return [
        claim for claim in _claims(answer) if not _supported(claim, evidence, squashed, dated=claim in dated)
    ]
