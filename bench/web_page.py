"""The web page from a real ``kb serve``: screenshots for the README, and time to first source and token.

Builds (once, in ``--home``) a knowledge base ``demo`` from kb's sample documents and ``zh-chatglm/`` (the
answer benchmark's corpus), starts ``kb serve`` and drives Debian's Chromium with playwright:

* screenshots of the chat (sources with the quote marked), the document view and the knowledge-base page, in
  English and in Chinese, into ``docs/screenshots/``;
* for held-out questions of ``tests/eval/answers.jsonl``, the time from pressing Enter to the first source
  card and to the first answer token, measured in the page (``performance.now()``), after one warm-up
  question (the model loads on the first one).

Usage::

    python bench/web_page.py                 # screenshots + timings
    python bench/web_page.py --questions 12 --no-screenshots
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.answer import build_corpus, load_questions  # noqa: E402
from tests.browser.chromium import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402
from tests.servers import run_local_server  # noqa: E402

SHOTS = REPO / "docs" / "screenshots"
DEMO = {
    "en": ("What is the default value of KB_LLM__MAX_TOKENS?", "configuration.docx"),
    "zh": ("ChatGLM-6B 的 INT4 量化等级下最低需要多少显存？", "README.md"),
}


def ask(page: Any, question: str) -> dict[str, Any]:
    """Ask in the page and wait for the answer; the page's own timings for it."""
    before = page.locator(".reply").count()
    page.fill("#question", question)
    page.press("#question", "Enter")
    page.wait_for_function(
        "n => { const r = document.querySelectorAll('.reply'); return r.length > n && r[r.length - 1].dataset.doneMs; }",
        arg=before,
        timeout=300_000,
    )
    timing: dict[str, Any] = page.evaluate("window.kbTimings[window.kbTimings.length - 1]")
    return timing


def screenshots(browser: Any, url: str, lang: str) -> None:
    """Chat, document view and knowledge-base page in one language."""
    context = browser.new_context(
        locale="zh-CN" if lang == "zh" else "en-US", viewport={"width": 1280, "height": 860}
    )
    page = context.new_page()
    page.goto(f"{url}/#chat")
    page.wait_for_selector("body[data-ready=true]")
    question, _ = DEMO[lang]
    ask(page, question)
    page.screenshot(path=str(SHOTS / f"chat-{lang}.png"))
    cited = page.locator(".reply .source.cited button.open")
    (cited if cited.count() else page.locator(".reply .source button.open")).first.click()
    page.wait_for_selector("#document-view[open] .chunk")
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / f"document-{lang}.png"))
    page.click("#close-document")
    page.click("button[data-view=kbs]")
    page.fill("#search-query", question)
    page.press("#search-query", "Enter")
    page.wait_for_selector("#search-rows tr")
    page.screenshot(path=str(SHOTS / f"knowledge-bases-{lang}.png"), full_page=True)
    context.close()


def timings(browser: Any, url: str, count: int) -> list[dict[str, Any]]:
    """Page timings for ``count`` held-out questions (languages alternating), after a warm-up question."""
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(f"{url}/#chat")
    page.wait_for_selector("body[data-ready=true]")
    warm = ask(page, "How many parameters does ChatGLM-6B have?")
    print(
        f"warm-up (loads the model): first source {warm['sourcesMs']} ms, first token {warm['firstTokenMs']} ms"
    )
    held_out = [q for q in load_questions("heldout") if q.get("sources")]
    chosen = (held_out[::2] + held_out[1::2])[:count]
    measured = []
    for question in chosen:
        page.click("#new-conversation")
        timing = ask(page, question["q"])
        measured.append(timing)
        print(
            f"{timing['sourcesMs']:>7} {timing['firstTokenMs'] or '-':>7} {timing['doneMs']:>7}  {question['q']}"
        )
    context.close()
    return measured


def main() -> None:
    """Build, serve, drive the browser, print the timings."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--home", type=Path, default=Path("/tmp/kb-bench-web"))
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpora" / "zh-chatglm")
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--no-screenshots", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    env = {**os.environ, "KB_HOME": str(args.home / "home")}
    corpus = build_corpus(args.home, args.corpus)
    subprocess.run([sys.executable, "-m", "kb", "ingest", str(corpus), "--kb", "demo"], env=env, check=True)
    argv = [sys.executable, "-m", "kb", "serve", "--host", "127.0.0.1", "--port", "{port}"]
    log = args.home / "serve.log"
    with run_local_server(argv, "/health", log_path=log, env=env) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        if not args.no_screenshots:
            SHOTS.mkdir(parents=True, exist_ok=True)
            for lang in DEMO:
                screenshots(browser, url, lang)
            print(f"screenshots in {SHOTS.relative_to(REPO)}/")
        print(f"{'source':>7} {'token':>7} {'done':>7}  question (ms from Enter, measured in the page)")
        measured = timings(browser, url, args.questions)
        browser.close()
    sources = [t["sourcesMs"] for t in measured]
    tokens = [t["firstTokenMs"] for t in measured if t["firstTokenMs"] is not None]
    summary = {
        "questions": len(measured),
        "first_source_ms_p50": statistics.median(sources),
        "first_source_ms_max": max(sources),
        "first_token_ms_p50": statistics.median(tokens) if tokens else None,
        "first_token_ms_max": max(tokens) if tokens else None,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
