"""What kb's local chat models (ChatLlamaCpp, ChatGLM) declare to LangChain's standard test suites."""

from __future__ import annotations


class LocalChatModelCapabilities:
    """Text in, text out, with token usage; no tools, structured output or images.

    The model is fixed at construction (a GGUF file or a checkpoint folder), so it cannot be overridden per call.
    """

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False

    @property
    def supports_image_inputs(self) -> bool:
        return False

    @property
    def returns_usage_metadata(self) -> bool:
        return True

    @property
    def supports_model_override(self) -> bool:
        return False
