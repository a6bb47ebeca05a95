"""Scanned pages made on the spot: text rendered to images (and into an image-only PDF) for OCR tests."""

from __future__ import annotations

from difflib import SequenceMatcher
from pathlib import Path

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
"""Debian's fonts-wqy-microhei (installed by .ci/setup): a font that has both Han and Latin glyphs."""

PAGES = [
    [
        "ChatGLM-6B 是一个开源的、支持中英双语的对话语言模型",
        "结合模型量化技术，用户可以在消费级的显卡上进行本地部署",
        "INT4 量化级别下最低只需 6GB 显存",
    ],
    [
        "The Zephyr X2 drone battery takes 90 minutes to charge.",
        "Inspector Okafor signed the safety report on 12 March.",
        "Keep the spare cells below 30 degrees Celsius.",
    ],
]


def render_page(lines: list[str]) -> object:
    """One white page with these lines in 28-pixel black text."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(CJK_FONT), 28)
    page = Image.new("RGB", (1000, 80 + 56 * len(lines)), "white")
    draw = ImageDraw.Draw(page)
    for row, line in enumerate(lines):
        draw.text((40, 40 + 56 * row), line, fill="black", font=font)
    return page


def write_scanned_pdf(path: Path, pages: list[list[str]]) -> None:
    """An image-only PDF: no text layer, one picture per page."""
    images = [render_page(lines) for lines in pages]
    images[0].save(path, save_all=True, append_images=images[1:])  # type: ignore[attr-defined]


def character_recall(expected: str, got: str) -> float:
    """Share of the expected characters (spaces ignored) that OCR returned in order."""
    want, have = expected.replace(" ", ""), got.replace(" ", "").replace("\n", "")
    matched = sum(
        block.size for block in SequenceMatcher(None, want, have, autojunk=False).get_matching_blocks()
    )
    return matched / len(want)
