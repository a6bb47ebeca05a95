"""The import graph runs one way: server → kb → ingest, rag → kbtypes, and kbtypes imports nothing of ours.

The CLI's ``serve`` command is the one entry point that starts the server.

Read from the source with ``ast`` (function-level imports included), so a deferred import cannot hide an
upward dependency; issue #12.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("kbtypes", "kb", "ingest", "rag", "server")
ALLOWED: dict[str, set[str]] = {
    "kbtypes": {"kbtypes"},
    "ingest": {"ingest", "kbtypes"},
    "rag": {"rag", "kbtypes"},
    "kb": {"kb", "ingest", "rag", "kbtypes"},
    "server": {"server", "kb", "kbtypes"},
}
# The CLI is an entry point like the server: ``kb serve`` starts the server, so it alone may import it.
ENTRY_POINT_EXTRA = {ROOT / "kb" / "cli" / "serve.py": {"server"}}
MAX_LINES = 400


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found.update(name.split(".")[0] for name in names if name.split(".")[0] in OURS)
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_down_only(package: str) -> None:
    wrong = {
        f"{path.relative_to(ROOT)} imports {sorted(imported - ALLOWED[package])}"
        for path in _modules(package)
        if (imported := _imported_packages(path)) - ALLOWED[package] - ENTRY_POINT_EXTRA.get(path, set())
    }
    assert not wrong


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_modules_stay_under_the_size_limit(package: str) -> None:
    long = {
        f"{path.relative_to(ROOT)}: {lines}"
        for path in _modules(package)
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long


def _writes_environ_at_import(tree: ast.Module) -> bool:
    """Whether a statement that runs at import (not inside a function) writes ``os.environ``."""

    def top_level(nodes: list[ast.stmt]) -> list[ast.AST]:
        out: list[ast.AST] = []
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            out.extend(ast.walk(node))
        return out

    for node in top_level(tree.body):
        writes_attribute = (
            isinstance(node, ast.Attribute)
            and node.attr in {"setdefault", "update", "__setitem__", "putenv"}
            and (ast.unparse(node.value) in {"os.environ", "environ"} or node.attr == "putenv")
        )
        stores_item = (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Store)
            and ast.unparse(node.value) == "os.environ"
        )
        if writes_attribute or stores_item:
            return True
    return False


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_module_writes_the_environment_when_imported(package: str) -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in _modules(package)
        if _writes_environ_at_import(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not offenders


def test_the_environment_check_sees_an_import_time_write() -> None:
    tree = ast.parse("import os\nos.environ.setdefault('X', '1')\ndef later():\n    os.environ['Y'] = '2'\n")
    assert _writes_environ_at_import(tree)
    assert not _writes_environ_at_import(ast.parse("import os\ndef later():\n    os.environ['Y'] = '2'\n"))


def test_help_loads_no_heavy_library() -> None:
    """``kb --help`` must start fast: the CLI package may not pull in LangChain, Chroma or the parsers."""
    import subprocess

    probe = (
        "import sys, kb.cli; heavy = [m for m in ('langchain_core', 'chromadb', 'unstructured', 'torch', "
        "'llama_cpp', 'pydantic_settings', 'fastapi') if m in sys.modules]; print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
