"""Decode the bytes of a text file whose encoding is not declared."""

from __future__ import annotations

import codecs
import logging
import re

from kbtypes.errors import IngestError

__all__ = ["decode_text", "declared_html_charset"]

logger = logging.getLogger(__name__)

# Longest BOMs first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]+)""", re.IGNORECASE)


def declared_html_charset(data: bytes) -> str | None:
    """Return the charset an HTML document declares in a ``<meta>`` tag, if Python knows it."""
    match = _META_CHARSET.search(data[:4096])
    if match is None:
        return None
    name = match.group(1).decode("ascii", errors="ignore")
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_text(data: bytes, *, declared: str | None = None) -> str:
    r"""Decode ``data`` to text, trying a BOM, the declared charset, UTF-8, then detection.

    Line endings are normalised to ``\n``.

    Args:
        data: Raw file content.
        declared: An encoding the file itself declares (e.g. an HTML ``<meta charset>``); used
            only when there is no BOM and it decodes the bytes without error.

    Returns:
        The decoded text.

    Raises:
        IngestError: The bytes look binary or match no known text encoding.
    """
    text = _decode(data, declared)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode(data: bytes, declared: str | None) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as e:
                raise IngestError(f"text has a {encoding} byte-order mark but is not valid {encoding}") from e
    candidates = [declared] if declared else []
    candidates.append("utf-8")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        # NUL is valid UTF-8, but text with NULs is UTF-16/32 without a BOM or binary data.
        if "\x00" not in text:
            return text

    # Imported here: charset-normalizer builds its tables on import and most files are UTF-8.
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or "\x00" in str(best):
        raise IngestError("content is binary or in an unknown text encoding")
    logger.debug("detected encoding=%s", best.encoding)
    return str(best)
