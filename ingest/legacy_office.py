"""Convert legacy binary Word files (.doc) to .docx with LibreOffice, then read them as .docx.

``unstructured.partition.doc`` does the same conversion but runs ``soffice`` without a timeout and
with the user's shared LibreOffice profile (a second concurrent conversion then silently produces
nothing). Here each conversion gets a private profile directory and a time limit.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.docx_reader import read_docx
from kbtypes.errors import IngestError

if TYPE_CHECKING:
    from langchain_core.documents import Document

__all__ = ["CONVERSION_TIMEOUT_S", "read_doc"]

logger = logging.getLogger(__name__)

#: A conversion that takes longer is abandoned (LibreOffice can hang on damaged files).
CONVERSION_TIMEOUT_S = 120.0

_INSTALL_HINT = "install LibreOffice Writer (Debian: apt-get install libreoffice-writer-nogui)"


def read_doc(path: Path) -> list[Document]:
    """Return the blocks of a legacy .doc file.

    Raises:
        IngestError: LibreOffice is missing, timed out, or could not convert the file.
    """
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        raise IngestError(f"reading .doc files needs LibreOffice: {_INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="kb-doc-") as workdir:
        work = Path(workdir)
        command = [
            soffice,
            f"-env:UserInstallation={(work / 'profile').as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            "docx",
            "--outdir",
            str(work),
            str(path.resolve()),
        ]
        try:
            subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=CONVERSION_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise IngestError(
                f"LibreOffice did not convert the .doc within {CONVERSION_TIMEOUT_S:.0f} s"
            ) from e
        converted = work / f"{path.stem}.docx"
        if not converted.is_file():
            raise IngestError("LibreOffice could not convert the .doc file (damaged or not a Word document?)")
        logger.debug("converted doc path=%s", path)
        return read_docx(converted)
