"""The endpoints the web page needs, through the ASGI app: the page itself, document text and file, conversations.

Real parts: the E5 embedder, Chroma and the ingest pipeline. Conversations are filled without the chat model
(a question nothing in the knowledge base answers is refused before the model is called).
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from langchain_core.language_models import BaseChatModel

from server.schemas import DocumentList
from tests.integration.conftest import MakeClient

FAQ = (
    "# FAQ\n\nThe Zephyr X2 drone comes with a warranty of 24 months.\n\n"
    "## Charging\n\nThe battery takes 90 minutes to charge fully.\n"
)


def _seed(client: TestClient) -> str:
    assert client.post("/kbs", json={"name": "manuals"}).status_code == 201
    parts = [("files", ("faq.md", FAQ.encode(), "text/markdown"))]
    assert client.post("/kbs/manuals/documents", files=parts, params={"wait": "true"}).status_code == 200
    (doc,) = DocumentList.model_validate(client.get("/kbs/manuals/documents").json()).documents
    return doc.doc_id


def test_the_page_and_its_files_are_served_with_a_content_security_policy(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert '<script type="module" src="/web/app.js">' in page.text
    script = client.get("/web/app.js")
    assert script.status_code == 200
    assert script.headers["content-security-policy"] == policy
    assert client.get("/web/../kb/settings.py").status_code == 404
    # The ChatGLM-compatible route on the same path still answers POST.
    assert client.post("/", json={}).status_code == 422


def test_a_document_reads_back_as_its_chunks_in_order(client: TestClient) -> None:
    doc_id = _seed(client)
    document = client.get(f"/kbs/manuals/documents/{doc_id}").json()
    assert document["source"] == "faq.md"
    assert [chunk["index"] for chunk in document["chunks"]] == sorted(c["index"] for c in document["chunks"])
    text = "\n".join(chunk["text"] for chunk in document["chunks"])
    assert "24 months" in text
    assert "90 minutes" in text
    assert client.get("/kbs/manuals/documents/faq.md").json()["doc_id"] == doc_id
    missing = client.get("/kbs/manuals/documents/nope")
    assert missing.status_code == 404
    assert missing.json()["type"] == "DocumentNotFound"


def test_the_original_file_downloads_as_an_attachment(client: TestClient) -> None:
    doc_id = _seed(client)
    response = client.get(f"/kbs/manuals/documents/{doc_id}/file")
    assert response.status_code == 200
    assert response.content == FAQ.encode()
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["x-content-type-options"] == "nosniff"


def test_conversations_list_rename_rate_and_delete(
    make_client: MakeClient, chat_model: BaseChatModel
) -> None:
    client = make_client(chat_model=lambda: chat_model)
    _seed(client)
    created = client.post("/kbs/manuals/conversations", json={}).json()
    asked = client.post(
        "/kbs/manuals/ask", json={"question": "Who painted the Mona Lisa?", "session_id": created["id"]}
    ).json()
    assert asked["refused"] is True
    assert asked["turn"] == 0
    listed = client.get("/kbs/manuals/conversations").json()["conversations"]
    assert [(c["id"], c["title"], c["turns"]) for c in listed] == [
        (created["id"], "Who painted the Mona Lisa?", 1)
    ]

    base = f"/kbs/manuals/conversations/{created['id']}"
    assert client.patch(base, json={"title": "art"}).status_code == 204
    assert (
        client.put(f"{base}/turns/0/feedback", json={"rating": "down", "comment": "off topic"}).status_code
        == 204
    )
    (turn,) = client.get(base).json()["turns"]
    assert (turn["rating"], turn["comment"], turn["refused"]) == ("down", "off topic", True)
    assert client.get("/kbs/manuals/conversations").json()["conversations"][0]["title"] == "art"

    assert client.put(f"{base}/turns/5/feedback", json={"rating": "up"}).status_code == 404
    assert client.put(f"{base}/turns/0/feedback", json={"rating": "meh"}).status_code == 422
    assert client.delete(base).status_code == 204
    gone = client.get(base)
    assert gone.status_code == 404
    assert gone.json()["type"] == "ConversationNotFound"


def test_conversations_are_private_to_an_api_key(make_client: MakeClient) -> None:
    client = make_client(api_keys=["alpha", "beta"])
    alice, bob = {"Authorization": "Bearer alpha"}, {"Authorization": "Bearer beta"}
    assert client.post("/kbs", json={"name": "manuals"}, headers=alice).status_code == 201
    created = client.post("/kbs/manuals/conversations", json={"title": "mine"}, headers=alice).json()
    assert client.get("/kbs/manuals/conversations", headers=bob).json()["conversations"] == []
    assert client.get(f"/kbs/manuals/conversations/{created['id']}", headers=bob).status_code == 404
    assert client.delete(f"/kbs/manuals/conversations/{created['id']}", headers=bob).status_code == 404
    assert client.get("/kbs/manuals/conversations").status_code == 401
    assert client.get("/").status_code == 200  # the page itself asks for the key
