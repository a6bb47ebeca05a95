"""Conversations kept on the server per API key: list, start, read, rename, delete, and rate an answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status

from kb import ConversationNotFound
from kb.conversations import Conversation
from server.deps import CallerDep, KnowledgeBaseDep, ServicesDep
from server.schemas import ConversationList, ConversationTurns, ErrorBody, FeedbackRequest, TitleRequest

__all__ = ["router"]

router = APIRouter(tags=["conversations"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such knowledge base, conversation or turn."}
}
ConversationId = Annotated[str, Path(min_length=1, max_length=128, description="The conversation's id.")]


def _missing(kb: str, conversation_id: str) -> ConversationNotFound:
    return ConversationNotFound(f"knowledge base {kb!r} has no conversation {conversation_id!r} for this key")


@router.get("/kbs/{kb}/conversations", responses=_NOT_FOUND)
def list_conversations(kb: KnowledgeBaseDep, services: ServicesDep, caller: CallerDep) -> ConversationList:
    """The conversations this API key holds with the knowledge base, most recently used first."""
    return ConversationList(conversations=services.conversations.conversations(caller, kb.name))


@router.post("/kbs/{kb}/conversations", status_code=status.HTTP_201_CREATED, responses=_NOT_FOUND)
def create_conversation(
    kb: KnowledgeBaseDep, services: ServicesDep, caller: CallerDep, body: TitleRequest | None = None
) -> Conversation:
    """Start a conversation; ask in it by sending its `id` as `session_id`. Its title defaults to the first question."""
    return services.conversations.create(caller, kb.name, title=body.title if body else "")


@router.get("/kbs/{kb}/conversations/{conversation_id}", responses=_NOT_FOUND)
def read_conversation(
    kb: KnowledgeBaseDep, conversation_id: ConversationId, services: ServicesDep, caller: CallerDep
) -> ConversationTurns:
    """Every turn of the conversation: question, answer, the sources it was written from, and its rating."""
    turns = services.conversations.turns(caller, kb.name, conversation_id)
    if turns is None:
        raise _missing(kb.name, conversation_id)
    return ConversationTurns(id=conversation_id, kb=kb.name, turns=turns)


@router.patch(
    "/kbs/{kb}/conversations/{conversation_id}",
    status_code=204,
    response_class=Response,
    responses=_NOT_FOUND,
)
def rename_conversation(
    kb: KnowledgeBaseDep,
    conversation_id: ConversationId,
    body: TitleRequest,
    services: ServicesDep,
    caller: CallerDep,
) -> None:
    """Rename the conversation."""
    if not services.conversations.rename(caller, kb.name, conversation_id, body.title):
        raise _missing(kb.name, conversation_id)


@router.delete(
    "/kbs/{kb}/conversations/{conversation_id}",
    status_code=204,
    response_class=Response,
    responses=_NOT_FOUND,
)
def delete_conversation(
    kb: KnowledgeBaseDep, conversation_id: ConversationId, services: ServicesDep, caller: CallerDep
) -> None:
    """Delete the conversation and every turn of it."""
    if not services.conversations.delete(caller, kb.name, conversation_id):
        raise _missing(kb.name, conversation_id)


@router.put(
    "/kbs/{kb}/conversations/{conversation_id}/turns/{n}/feedback",
    status_code=204,
    response_class=Response,
    responses=_NOT_FOUND,
)
def rate_turn(
    kb: KnowledgeBaseDep,
    conversation_id: ConversationId,
    n: Annotated[int, Path(ge=0, le=1_000_000, description="The turn's number (`turn` in the answer).")],
    body: FeedbackRequest,
    services: ServicesDep,
    caller: CallerDep,
) -> None:
    """Rate an answer up or down (`null` clears it); `kb feedback export` turns ratings into eval cases."""
    if not services.conversations.rate(caller, kb.name, conversation_id, n, body.rating, body.comment):
        raise ConversationNotFound(f"conversation {conversation_id!r} has no turn {n}")
