"""The question file of ``kb eval``: one JSON case per line, validated with the line it came from.

Each line is one case::

    {"q": "ChatGLM-6B 有多少参数？", "sources": ["zh-chatglm/README.md"], "keys": ["62 亿"]}

``sources`` are paths relative to the ingested folder, as ``SearchHit.source`` reports them; an empty list
marks a question the knowledge base cannot answer. ``keys`` are strings that literally appear in the
passage that answers the question (matched case-insensitively).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kbtypes.errors import ConfigError

__all__ = ["EvalCase", "load_cases"]


class EvalCase(BaseModel):
    """One question of an evaluation set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    q: str = Field(min_length=1, description="The question.")
    sources: list[str] = Field(
        default_factory=list,
        description="Files (relative to the ingested root) that answer it; empty = unanswerable.",
    )
    keys: list[str] = Field(
        default_factory=list, description="Strings that literally appear in the answering passage."
    )
    answer: list[str] = Field(
        default_factory=list,
        description='Facts a correct answer states; alternatives of one fact separated by "|". Empty = use keys.',
    )
    id: str = Field(default="", description="Stable name of the case.")
    group: str = Field(default="", description="Cases asking the same fact in other words share a group.")
    split: Literal["", "tune", "heldout"] = Field(default="", description="Tuning or held-out half.")
    lang: str = Field(default="", description="Language of the question (zh, en).")
    kind: str = Field(default="", description="Where the answer sits: table, number, list, command, prose.")
    cross: bool = Field(
        default=False, description="The question's language differs from the answering text's."
    )
    note: str = Field(
        default="", description="Why the case exists (a user's comment when rated in the page)."
    )
    line: int = Field(
        default=0, ge=0, description="Line of the question file the case came from (0 = built in code)."
    )

    @property
    def answerable(self) -> bool:
        """Whether the knowledge base holds an answer."""
        return bool(self.sources)


def load_cases(path: Path) -> list[EvalCase]:
    """Read a JSONL question file; blank lines are skipped.

    Args:
        path: the file, one JSON object per line.

    Returns:
        The cases in file order.

    Raises:
        ConfigError: the file is missing or empty, or a line is not a valid case (the message names the line).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read question file {path}: {e.strerror or e}") from e
    cases: list[EvalCase] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data: Any = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ConfigError(
                f"{path}:{number}: not valid JSON ({e.msg}); each line must be one object"
            ) from e
        if not isinstance(data, dict):
            raise ConfigError(f"{path}:{number}: expected a JSON object with q, sources and keys")
        try:
            case = EvalCase.model_validate({**data, "line": number})
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
            )
            raise ConfigError(f"{path}:{number}: invalid case ({problems})") from e
        if not case.sources and case.keys:
            raise ConfigError(
                f"{path}:{number}: keys given for an unanswerable case; add its sources or drop the keys"
            )
        if any(not item.strip() for item in [*case.sources, *case.keys]):
            raise ConfigError(f"{path}:{number}: sources and keys must be non-empty strings")
        cases.append(case)
    if not cases:
        raise ConfigError(f"{path} holds no questions")
    return cases
