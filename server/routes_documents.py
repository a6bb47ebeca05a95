"""Documents of a knowledge base: upload (files or JSON text), list, delete, and upload job progress."""

from __future__ import annotations

import logging
from contextlib import aclosing
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException

from kb import DocumentNotFound
from server.deps import KnowledgeBaseDep, ServicesDep, SettingsDep
from server.jobs import JobNotFound
from server.multipart_limit import FILE_TOO_LARGE, LimitedMultiPartParser
from server.schemas import DocumentList, DocumentText, ErrorBody, IngestJob, TextDocument
from server.uploads import (
    PendingFile,
    commit,
    delete_upload,
    discard,
    safe_filename,
    stage_text,
    stage_upload,
)

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["documents"])

DocId = Annotated[
    str,
    Path(
        min_length=1, max_length=1024, description="`doc_id` (or source path) from `GET /kbs/{kb}/documents`."
    ),
]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such knowledge base (or document, or job)."}
}

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "One or more files; every file part is taken, whatever its field name.",
                        }
                    },
                    "required": ["files"],
                }
            },
            "application/json": {"schema": TextDocument.model_json_schema()},
        },
    }
}


@router.post(
    "/kbs/{kb}/documents",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=_UPLOAD_BODY,
    responses={
        **_NOT_FOUND,
        200: {"model": IngestJob, "description": "With `wait=true`: the finished job."},
        400: {"model": ErrorBody, "description": "Unsafe or duplicate file name, malformed body."},
        413: {"model": ErrorBody, "description": "A file is too large, or there are too many files."},
        415: {"model": ErrorBody, "description": "A file type kb cannot index, or an unknown body type."},
    },
)
async def upload_documents(
    request: Request,
    response: Response,
    kb: KnowledgeBaseDep,
    services: ServicesDep,
    settings: SettingsDep,
    wait: Annotated[
        bool, Query(description="Index before answering (200) instead of in the background (202).")
    ] = False,
) -> IngestJob:
    """Add or replace documents, as files (`multipart/form-data`) or as text (`application/json`).

    Files are stored under the knowledge base's `uploads/` folder by their file name (directories in a
    name are dropped; names with `..`, absolute paths or control characters are refused) and indexed
    incrementally, like `kb ingest`: a file uploaded again unchanged costs nothing, a changed one
    replaces its old chunks, and documents not in this upload are left alone.

    Indexing runs as a background job: the answer is `202` with a job to poll at
    `GET /kbs/{kb}/jobs/{id}` (`status` goes `queued` → `running` → `done` or `failed`, with per-file
    progress and, when done, what was added, updated, unchanged or failed). With `?wait=true` the
    request waits and answers `200` with the finished job.

    Limits: `max_files` files per request and `max_upload_mb` MiB per file (413 beyond them); only
    file types kb can index (415).
    """
    limits = settings.server
    max_bytes = int(limits.max_upload_mb * (1 << 20))
    directory = kb.uploads_directory
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    pending: list[PendingFile] = []
    try:
        if content_type == "multipart/form-data":
            # The body's total is capped as it arrives by server.request_body.BodyLimit; each file here.
            form = await _parse_form(request, max_files=limits.max_files, max_file_bytes=max_bytes)
            try:
                uploads = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
                if not uploads:
                    raise HTTPException(
                        status.HTTP_400_BAD_REQUEST, "the form holds no files: send them as 'files'"
                    )
                names = [safe_filename(upload.filename or "") for upload in uploads]
                if len(set(names)) != len(names):
                    raise HTTPException(
                        status.HTTP_400_BAD_REQUEST, f"two files share a name: {sorted(names)}"
                    )
                for upload, name in zip(uploads, names, strict=True):
                    pending.append(await stage_upload(upload, directory, name, max_bytes=max_bytes))
            finally:
                await form.close()
        elif content_type == "application/json":
            document = _text_document(await request.body())
            pending.append(stage_text(document.text, document.source, directory, max_bytes=max_bytes))
        else:
            raise HTTPException(
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                "send files as multipart/form-data or a text document as application/json",
            )
        saved = commit(pending)
    except BaseException:
        discard(pending)
        raise
    job = services.jobs.submit(kb, directory, saved)
    if wait:
        response.status_code = status.HTTP_200_OK
        return await services.jobs.wait(kb.name, job.id)
    return job


async def _parse_form(request: Request, *, max_files: int, max_file_bytes: int) -> FormData:
    try:
        async with aclosing(request.stream()) as stream:
            parser = LimitedMultiPartParser(
                request.headers,
                stream,
                max_files=max_files,
                max_fields=max_files + 8,
                max_file_bytes=max_file_bytes,
            )
            return await parser.parse()
    except MultiPartException as e:
        too_large = e.message.startswith(("Too many files", FILE_TOO_LARGE))
        code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE if too_large else status.HTTP_400_BAD_REQUEST
        # Closing the connection stops a client still sending the rest of an oversized file.
        headers = {"Connection": "close"} if too_large else None
        raise HTTPException(code, f"malformed or oversized form: {e.message}", headers=headers) from e


def _text_document(body: bytes) -> TextDocument:
    try:
        return TextDocument.model_validate_json(body)
    except ValidationError as e:
        raise RequestValidationError(e.errors(include_url=False, include_context=False), body=None) from e


@router.get("/kbs/{kb}/documents", responses=_NOT_FOUND)
def list_documents(kb: KnowledgeBaseDep) -> DocumentList:
    """List every document: its id, source file name, chunk count, content hash, status and error, if any."""
    return DocumentList(documents=kb.documents())


@router.get("/kbs/{kb}/documents/{doc_id}", responses=_NOT_FOUND)
def read_document(kb: KnowledgeBaseDep, doc_id: DocId) -> DocumentText:
    """The document as kb indexed it: its chunks in reading order, with page, heading path and offset."""
    return kb.document_text(doc_id)


@router.get(
    "/kbs/{kb}/documents/{doc_id}/file",
    response_class=FileResponse,
    responses={**_NOT_FOUND, 200: {"content": {"application/octet-stream": {}}, "description": "The file."}},
)
def download_document(kb: KnowledgeBaseDep, doc_id: DocId) -> FileResponse:
    """Download the document's original file, as it is now where it was ingested from.

    Always sent as an attachment of type `application/octet-stream`: a browser saves it, never renders it
    (an HTML file someone uploaded must not run as this site's page).
    """
    path = kb.original_file(doc_id)
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=path.name,
        content_disposition_type="attachment",
        headers={"X-Content-Type-Options": "nosniff"},
    )


@router.delete(
    "/kbs/{kb}/documents/{doc_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=_NOT_FOUND,
)
def delete_document(kb: KnowledgeBaseDep, doc_id: DocId) -> None:
    """Remove a document: its chunks leave the index and its uploaded file is deleted.

    `doc_id` is the `doc_id` from `GET /kbs/{kb}/documents`.
    """
    if not kb.has_document(doc_id):
        raise DocumentNotFound(f"knowledge base {kb.name!r} has no document with id {doc_id!r}")
    source = kb.remove(doc_id)
    delete_upload(kb.uploads_directory, source)
    logger.info("document removed kb=%s doc_id=%s", kb.name, doc_id)


@router.get("/kbs/{kb}/jobs/{job_id}", responses=_NOT_FOUND)
def get_job(kb: KnowledgeBaseDep, job_id: str, services: ServicesDep) -> IngestJob:
    """Progress of an upload: `status`, files done of `files_total`, chunks written, and the result when done."""
    try:
        return services.jobs.get(kb.name, job_id)
    except JobNotFound as e:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(e)) from e
