"""FastAPI dependencies: settings, the shared services built by the lifespan, the knowledge base of a path, auth."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kb import KnowledgeBase, Settings, Workspace, validate_kb_name
from kb.conversations import ConversationStore
from server.generation import GenerationQueue
from server.jobs import IngestJobs

__all__ = [
    "CallerDep",
    "KnowledgeBaseDep",
    "Services",
    "ServicesDep",
    "SettingsDep",
    "get_caller",
    "get_knowledge_base",
    "get_services",
    "get_settings",
    "require_api_key",
]


@lru_cache
def get_settings() -> Settings:
    """Settings from the environment and ``KB_CONFIG``, built once; tests override this dependency."""
    return Settings()


@dataclass
class Services:
    """What every request shares: the workspace (facade), the model queue, conversations and ingest jobs."""

    workspace: Workspace
    queue: GenerationQueue
    conversations: ConversationStore
    jobs: IngestJobs


def get_services(request: Request) -> Services:
    """The services the lifespan built for this app."""
    services: Services = request.app.state.services
    return services


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServicesDep = Annotated[Services, Depends(get_services)]


def get_knowledge_base(
    services: ServicesDep,
    kb: Annotated[str, Path(description="Knowledge base name.", max_length=63)],
) -> KnowledgeBase:
    """Open the knowledge base named in the path.

    Raises:
        ConfigError: the name is invalid (400).
        KnowledgeBaseNotFound: no such knowledge base (404).
    """
    return services.workspace.open(validate_kb_name(kb))


KnowledgeBaseDep = Annotated[KnowledgeBase, Depends(get_knowledge_base)]

_bearer = HTTPBearer(auto_error=False, description="One of the server's API keys, when it has any.")


def require_api_key(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Let the request through when the server has no API keys or it sends one of them as a bearer token.

    The caller is recorded as which key it sent (``get_caller``), so per-caller state such as conversations
    stays apart between holders of different keys.

    Raises:
        HTTPException: 401 without a valid key.
    """
    keys = settings.server.api_keys
    if not keys:
        request.state.caller = ""
        return
    if credentials is not None and credentials.scheme.lower() == "bearer":
        offered = credentials.credentials.encode("utf-8")
        # Compare against every key so the time taken does not reveal which one nearly matched.
        matches = [secrets.compare_digest(offered, key.get_secret_value().encode("utf-8")) for key in keys]
        if any(matches):
            request.state.caller = f"key-{matches.index(True)}"
            return
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "missing or invalid API key: send 'Authorization: Bearer <key>'",
        headers={"WWW-Authenticate": "Bearer"},
    )


def get_caller(request: Request) -> str:
    """Who is asking: which API key was sent ("" when the server has none)."""
    return str(getattr(request.state, "caller", ""))


CallerDep = Annotated[str, Depends(get_caller)]
