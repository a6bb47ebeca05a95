"""The offline environment: variables that keep libraries from reaching a model hub or sending telemetry.

Applied once by each entry point (the CLI callback, ``server.create_app``, ``Workspace.from_settings``),
never at import, with ``setdefault`` so an operator's own values win.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from types import MappingProxyType
from typing import Final

__all__ = ["OFFLINE_ENVIRONMENT", "apply_offline_environment"]

OFFLINE_ENVIRONMENT: Final = MappingProxyType(
    {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        "SCARF_NO_ANALYTICS": "true",
        # unstructured prints an advertising banner to stdout on its first partition otherwise.
        "UNSTRUCTURED_DISABLE_NOTICE": "1",
    }
)


def apply_offline_environment(environ: MutableMapping[str, str] | None = None) -> None:
    """Set the offline defaults in ``environ`` (the process environment unless given); existing values stay."""
    target = os.environ if environ is None else environ
    for key, value in OFFLINE_ENVIRONMENT.items():
        target.setdefault(key, value)
