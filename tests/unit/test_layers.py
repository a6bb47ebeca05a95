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
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_time_edges(path: Path, known: set[str]) -> set[str]:
    """Our modules that ``path`` imports when it is imported (not under TYPE_CHECKING, not in functions)."""
    targets: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If | ast.Try | ast.With):
                for block in ("body", "orelse", "finalbody", "handlers"):
                    for child in getattr(node, block, []):
                        visit(child.body if isinstance(child, ast.ExceptHandler) else [child])

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return {target for target in targets if target in known}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []
    finished: set[str] = set()

    def walk(node: str, trail: list[str]) -> None:
        for target in sorted(graph[node]):
            if target in trail:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in finished:
                walk(target, [*trail, target])
        finished.add(node)

    for start in sorted(graph):
        if start not in finished:
            walk(start, [start])
    return cycles


def test_no_import_cycle_between_our_modules() -> None:
    paths = [path for package in ALLOWED for path in _modules(package)]
    known = {_module_name(path) for path in paths}
    graph = {_module_name(path): _import_time_edges(path, known) - {_module_name(path)} for path in paths}
    assert _cycles(graph) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
