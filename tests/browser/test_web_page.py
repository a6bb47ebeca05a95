"""The web page in a real browser against a real ``kb serve`` with the real default models.

Each test drives the page as a person would (type, press Enter, click) and checks what the page shows and,
where the page's claim is about the server (Stop, stored conversations, ratings), what the server did.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import LiveServer, report_line

pytestmark = pytest.mark.slow

ANSWERED = "What is the default value of KB_LLM__MAX_TOKENS?"
REFUSED = "Who painted the Mona Lisa?"
LONG = "How do I keep a knowledge base in sync with a folder?"  # a reply of several seconds


def _open(page: Any, server: LiveServer, view: str = "chat") -> None:
    page.goto(f"{server.url}/#{view}")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)


def _ask(page: Any, question: str) -> Any:
    page.fill("#question", question)
    page.press("#question", "Enter")
    return page.locator(".reply").last


def test_an_uploaded_file_is_listed_with_its_result(page: Any, server: LiveServer, tmp_path: Path) -> None:
    note = tmp_path / "maintenance-plan.md"
    note.write_text("# Maintenance\n\nThe pump is serviced every 90 days.\n", encoding="utf-8")
    _open(page, server, "kbs")

    page.set_input_files("#files", [str(note)])

    job = page.locator(".jobs li.job").first
    job.locator("[data-outcome=indexed]").wait_for(timeout=60_000)
    assert job.get_attribute("data-status") == "done"
    assert "maintenance-plan.md" in job.inner_text()
    assert job.locator("progress").get_attribute("value") == "1"
    page.locator('#doc-rows tr[data-source="maintenance-plan.md"]').wait_for(timeout=10_000)


def test_a_refused_action_shows_the_servers_reason(page: Any, server: LiveServer) -> None:
    _open(page, server, "kbs")
    page.fill("#new-kb-name", "docs")  # exists already
    page.press("#new-kb-name", "Enter")
    alert = page.locator("#alert")
    alert.wait_for(state="visible", timeout=10_000)
    assert "already exists" in alert.inner_text()


def test_sources_come_first_the_answer_streams_and_a_citation_leads_to_the_marked_quote(
    page: Any, server: LiveServer, request: pytest.FixtureRequest
) -> None:
    _open(page, server)
    reply = _ask(page, ANSWERED)
    page.wait_for_selector(".reply[data-done-ms]", timeout=120_000)

    sources_ms = int(reply.get_attribute("data-sources-ms"))
    first_token_ms = int(reply.get_attribute("data-first-token-ms"))
    assert sources_ms <= first_token_ms
    assert int(reply.get_attribute("data-sources-at-first-token")) >= 1
    assert int(reply.get_attribute("data-tokens")) >= 3  # the answer arrived in pieces
    answer = reply.locator(".answer")
    assert "384" in answer.inner_text()
    report_line(request.config, f"in the page: first source {sources_ms} ms, first token {first_token_ms} ms")

    citation = answer.locator("a.cite").first
    target = citation.get_attribute("href").lstrip("#")
    citation.click()
    card = page.locator(f"#{target}")
    assert "flash" in (card.get_attribute("class") or "")
    assert page.evaluate("document.activeElement.id") == target
    assert "KB_LLM__MAX_TOKENS" in card.locator("mark").inner_text()

    card.locator("button.open").click()
    cited = page.locator("#document-view[open] .chunk.cited")
    cited.wait_for(timeout=10_000)
    assert "384" in cited.locator("mark").inner_text()
    assert page.locator("#document-view .chunk").count() > 1  # the whole document, not just the chunk
    box = cited.locator("mark").bounding_box()
    view = page.locator("#document-body").bounding_box()
    assert box is not None
    assert view is not None
    assert view["y"] <= box["y"] <= view["y"] + view["height"]  # scrolled to the quote

    page.click("#close-document")
    reply.locator("button[data-rating=up]").click()
    reply.locator(".feedback .note").wait_for()
    conversation = page.locator("#conversation-list li[aria-current=true]").get_attribute("data-id")
    turns = httpx.get(f"{server.url}/kbs/docs/conversations/{conversation}").json()["turns"]
    assert [(t["question"], t["rating"]) for t in turns] == [(ANSWERED, "up")]


def test_stop_ends_the_generation_on_the_server(page: Any, server: LiveServer) -> None:
    _open(page, server)
    reply = _ask(page, LONG)
    page.wait_for_selector(".reply[data-first-token-ms]", timeout=120_000)
    assert server.health()["busy"]

    page.click("#stop")

    deadline = time.monotonic() + 5
    while server.health()["busy"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not server.health()["busy"]
    assert "stopped" in (reply.get_attribute("class") or "")
    assert page.locator("#ask").is_enabled()


def test_markup_in_a_document_shows_as_text_and_never_runs(page: Any, server: LiveServer) -> None:
    _open(page, server, "kbs")
    page.fill("#search-query", "vault code security note")
    page.press("#search-query", "Enter")
    page.locator("#search-rows tr").first.wait_for(timeout=30_000)
    assert "<script>window.__pwned = 1</script>" in page.locator("#search-rows").inner_text()

    page.locator('#doc-rows tr[data-source="security-note.txt"] button.open').click()
    page.locator("#document-view[open] .chunk").first.wait_for(timeout=10_000)
    assert '<img src="x" onerror=' in page.locator("#document-body").inner_text()

    page.click("#close-document")
    page.click("button[data-view=chat]")
    reply = _ask(page, "What is the vault code in the security note?")
    page.wait_for_selector(".reply[data-done-ms]", timeout=120_000)
    assert "security-note.txt" in reply.locator(".sources").inner_text()

    assert page.evaluate("window.__pwned") is None
    assert page.locator("main img, dialog img").count() == 0
    assert page.locator("main script, dialog script").count() == 0


def test_a_refusal_shows_as_one_and_the_conversation_survives_a_restart(
    page: Any, server: LiveServer, browser: Any
) -> None:
    _open(page, server)
    reply = _ask(page, REFUSED)
    page.wait_for_selector(".reply[data-done-ms]", timeout=60_000)
    assert "refused" in (reply.get_attribute("class") or "")
    listed = page.locator("#conversation-list li").filter(has_text=REFUSED)
    listed.first.wait_for(timeout=10_000)  # the list is fetched again once the answer is done
    assert listed.count() == 1

    server.restart()

    fresh = browser.new_context(locale="en-US").new_page()
    _open(fresh, server)
    fresh.locator("#conversation-list li").filter(has_text=REFUSED).locator("button.title").click()
    fresh.locator(".question").filter(has_text=REFUSED).wait_for(timeout=10_000)
    assert "refused" in (fresh.locator(".reply").first.get_attribute("class") or "")
    fresh.context.close()


def test_the_page_asks_for_a_key_once_when_auth_is_on(browser: Any, tmp_path: Path) -> None:
    secured = LiveServer(tmp_path / "home", tmp_path, KB_SERVER__API_KEYS='["s3cret"]')
    secured.start()
    try:
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        page.goto(f"{secured.url}/")
        page.locator("#key-dialog[open]").wait_for(timeout=10_000)
        page.fill("#key-input", "wrong")
        page.click("#key-dialog button[value=ok]")
        page.locator("#key-dialog[open]").wait_for(timeout=10_000)  # asked again: the key was refused
        page.fill("#key-input", "s3cret")
        page.click("#key-dialog button[value=ok]")
        page.wait_for_selector("body[data-ready=true]", timeout=10_000)
        assert page.locator("#no-kb").is_visible()  # /kbs answered: an empty server
        page.reload()
        page.wait_for_selector("body[data-ready=true]", timeout=10_000)
        assert not page.locator("#key-dialog[open]").count()  # once per browser session
        context.close()
    finally:
        secured.stop()


def test_chinese_interface_switches_and_fits_a_phone(browser: Any, server: LiveServer) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 360, "height": 740})
    page = context.new_page()
    _open(page, server)
    assert page.locator("button[data-view=chat]").inner_text() == "对话"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.click("#lang")
    assert page.locator("button[data-view=chat]").inner_text() == "Chat"
    page.click("button[data-view=kbs]")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.keyboard.press("Tab")  # reachable by keyboard: focus lands on a control
    assert page.evaluate("document.activeElement.tagName") in (
        "BUTTON",
        "SELECT",
        "INPUT",
        "TEXTAREA",
        "A",
        "LABEL",
    )
    context.close()
