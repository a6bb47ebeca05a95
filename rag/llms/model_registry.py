"""Share one loaded model between chat-model objects that were configured alike."""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

__all__ = ["LoadedModelRegistry"]

logger = logging.getLogger(__name__)

K = TypeVar("K", bound="Hashable")
V = TypeVar("V")


class LoadedModelRegistry(Generic[K, V]):
    """Process-wide map from load settings to the model loaded with them.

    LangChain creates chat-model objects freely (``bind``, ``with_config``, one per request in some
    callers); loading weights for each would cost seconds and duplicate gigabytes. Entries are held
    weakly: a model stays loaded while some chat-model object still references it and is freed when
    the last one goes away.
    """

    def __init__(self) -> None:
        """Create an empty registry."""
        self._loaded: weakref.WeakValueDictionary[K, V] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def get_or_load(self, key: K, load: Callable[[], V]) -> V:
        """Return the model loaded under ``key``, calling ``load`` if there is none yet.

        Loads are serialised so two threads asking for the same model load it only once.

        Args:
            key: Everything that affects how the model is loaded.
            load: Loads the model; its exceptions propagate unchanged.

        Returns:
            The shared loaded model; callers must keep a strong reference while they use it.
        """
        with self._lock:
            existing = self._loaded.get(key)
            if existing is not None:
                logger.debug("reusing loaded model key=%s", key)
                return existing
            loaded = load()
            self._loaded[key] = loaded
            return loaded
