"""Property-based fuzzing of every operation in the OpenAPI schema: no input may cause a 5xx.

The app runs in-process (ASGI) over real components on tmp_path. The knowledge bases start empty, so
every question is refused before any model is needed: the workspace gets no chat model at all, and a
request that would need one is a clean 400, not a minutes-long generation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from kb import Settings, Workspace
from kb.settings import ServerSettings
from rag.embeddings import E5Embeddings
from server import create_app

pytestmark = pytest.mark.slow


@pytest.fixture
def api_schema(tmp_path: Path, e5: E5Embeddings) -> Iterator[Any]:
    config = Settings(home=tmp_path / "home", server=ServerSettings(max_upload_mb=0.05, max_files=3))
    workspace = Workspace(settings=config, embeddings=e5)
    workspace.create("default", description="empty: every question is refused without the model")
    app = create_app(workspace=workspace, settings=config)
    with TestClient(app):  # runs the lifespan, which the schemathesis ASGI calls then share
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    workspace.close()


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_causes_a_server_error(case: Any) -> None:
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
