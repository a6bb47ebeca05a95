"""Text from pictures of text: scanned PDF pages and image files, through RapidOCR (PP-OCRv4, zh + en).

The ``rapidocr-onnxruntime`` wheel ships its detection, direction and recognition models, so nothing is
downloaded. Runs inside the parser worker (``ingest.contained``), under its limits; a scanned document
reports progress after every page, so the time limit applies per page rather than per document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kbtypes.errors import IngestError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["IMAGE_SUFFIXES", "PageReader"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})
_RENDER_SCALE = 2.0  # PDF points to pixels: 144 dpi, enough for 10-point text
_SAME_LINE = 0.5  # boxes whose vertical centres differ by under half a line height share a line


@dataclass
class PageReader:
    """Reads the text of page images; the OCR models load on the first page."""

    on_page: Callable[[], None] | None = None
    _engine: Any = field(default=None, repr=False)

    def image_file(self, path: Path) -> list[tuple[int, str]]:
        """(page number, text) for an image file; a multi-page TIFF gives one entry per frame.

        Raises:
            IngestError: the file is not an image Pillow can decode.
        """
        from PIL import Image, ImageSequence, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                frames = [frame.convert("RGB") for frame in ImageSequence.Iterator(image)]
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise IngestError(f"not a readable image: {e}") from e
        return self.pages((number, _pixels(frame)) for number, frame in enumerate(frames, start=1))

    def pages(self, images: Iterable[tuple[int, npt.NDArray[np.uint8]]]) -> list[tuple[int, str]]:
        """(page number, text) for each image that holds any text."""
        found: list[tuple[int, str]] = []
        for number, pixels in images:
            text = self.text(pixels)
            if text:
                found.append((number, text))
            if self.on_page is not None:
                self.on_page()
        return found

    def text(self, pixels: npt.NDArray[np.uint8]) -> str:
        """The text of one image, lines top to bottom and boxes left to right."""
        if self._engine is None:
            from rapidocr_onnxruntime import RapidOCR

            self._engine = RapidOCR()
        result, _ = self._engine(pixels)
        return _reading_order(result or [])


def render_pdf_pages(document: Any, numbers: list[int]) -> Iterable[tuple[int, npt.NDArray[np.uint8]]]:
    """Pixels of these (1-based) pages of a pypdfium2 document, one page in memory at a time."""
    for number in numbers:
        page = document[number - 1]
        try:
            bitmap = page.render(scale=_RENDER_SCALE)
            yield number, _pixels(bitmap.to_pil().convert("RGB"))
        finally:
            page.close()


def _pixels(image: Any) -> npt.NDArray[np.uint8]:
    import numpy as np

    return np.asarray(image, dtype=np.uint8)


def _reading_order(boxes: list[Any]) -> str:
    """Join RapidOCR's (box, text, score) results into lines: same-height boxes left to right."""
    placed = []
    for corners, text, _score in boxes:
        ys = [point[1] for point in corners]
        xs = [point[0] for point in corners]
        placed.append(((min(ys) + max(ys)) / 2, max(ys) - min(ys), min(xs), str(text).strip()))
    placed.sort()
    lines: list[list[tuple[float, str]]] = []
    last_centre, last_height = None, 0.0
    for centre, height, left, text in placed:
        if not text:
            continue
        if last_centre is not None and abs(centre - last_centre) < _SAME_LINE * max(height, last_height):
            lines[-1].append((left, text))
        else:
            lines.append([(left, text)])
            last_centre, last_height = centre, height
    return "\n".join(" ".join(text for _, text in sorted(line)) for line in lines)
