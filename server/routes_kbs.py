"""Knowledge bases: list, create, delete, and search one without asking the model."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response, status

from server.deps import KnowledgeBaseDep, ServicesDep
from server.schemas import (
    CreateKnowledgeBase,
    ErrorBody,
    KnowledgeBaseInfo,
    KnowledgeBaseList,
    SearchRequest,
    SearchResponse,
)

__all__ = ["router"]

router = APIRouter(tags=["knowledge bases"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No knowledge base of that name."}
}
_BAD_NAME: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid knowledge base name."}
}


@router.get("/kbs")
def list_knowledge_bases(services: ServicesDep) -> KnowledgeBaseList:
    """List every knowledge base with its description, document and chunk counts."""
    workspace = services.workspace
    return KnowledgeBaseList(knowledge_bases=[workspace.open(name).info() for name in workspace.names()])


@router.post(
    "/kbs",
    status_code=status.HTTP_201_CREATED,
    responses={
        **_BAD_NAME,
        409: {"model": ErrorBody, "description": "A knowledge base of that name exists."},
    },
)
def create_knowledge_base(body: CreateKnowledgeBase, services: ServicesDep) -> KnowledgeBaseInfo:
    """Create an empty knowledge base.

    Names are 1-63 letters, digits, `-` or `_`, starting with a letter or digit. Add documents with
    `POST /kbs/{kb}/documents`.
    """
    workspace = services.workspace
    if workspace.exists(body.name):
        raise HTTPException(status.HTTP_409_CONFLICT, f"knowledge base {body.name!r} already exists")
    return workspace.create(body.name, description=body.description).info()


@router.delete(
    "/kbs/{kb}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**_NOT_FOUND, **_BAD_NAME},
)
def delete_knowledge_base(kb: KnowledgeBaseDep, services: ServicesDep) -> None:
    """Delete a knowledge base with its vectors, index, uploaded files and conversations."""
    services.workspace.delete(kb.name)
    services.conversations.forget_kb(kb.name)


@router.get("/kbs/{kb}", responses={**_NOT_FOUND, **_BAD_NAME})
def get_knowledge_base(kb: KnowledgeBaseDep) -> KnowledgeBaseInfo:
    """Describe one knowledge base."""
    return kb.info()


@router.post("/kbs/{kb}/search", responses={**_NOT_FOUND, **_BAD_NAME})
def search(body: SearchRequest, kb: KnowledgeBaseDep) -> SearchResponse:
    """Find the passages that best match a query, best first, without calling the chat model.

    `score` is the relevance of a passage (0..1, higher is closer); `score_threshold` drops passages
    below it. `source_glob` (e.g. `manuals/*.pdf`) and `file_types` (e.g. `["pdf", "md"]`) restrict
    the documents searched.
    """
    hits = kb.search(body.query, body.options())
    return SearchResponse(hits=hits)
