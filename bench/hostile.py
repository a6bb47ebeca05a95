"""Hostile folders against ``kb ingest``: exit code, wall time, peak RSS, message, and what landed.

Each case is a folder holding the case plus two small .md files, ingested by a fresh ``kb ingest`` process
(under a wall-time limit and a 6 GB address-space cap, so a run that would exhaust the machine is stopped
and reported as such). ``--tree`` runs another checkout, e.g. the tree before the hardening::

    git worktree add /tmp/kb-before <commit> && python bench/hostile.py --tree /tmp/kb-before
    python bench/hostile.py                 # this checkout
    python bench/hostile.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SECRET = "root:x:0:0:kb-bench-secret"
CAP_BYTES = 6 * 1024**3


def _symlink_out(docs: Path, outside: Path) -> None:
    (outside / "passwd").write_text(SECRET + "\n", encoding="utf-8")
    (docs / "passwd.txt").symlink_to(outside / "passwd")


def _zip_bomb(name: str, member: str) -> Callable[[Path, Path], None]:
    def make(docs: Path, outside: Path) -> None:
        block = bytes(1024 * 1024)
        with zipfile.ZipFile(docs / name, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("[Content_Types].xml", "<Types/>")
            with archive.open(member, "w", force_zip64=True) as handle:
                for _ in range(2048):
                    handle.write(block)

    return make


def _sparse(docs: Path, outside: Path) -> None:
    with (docs / "sparse.txt").open("wb") as handle:
        handle.truncate(2 * 1024**3)


def _one_line(docs: Path, outside: Path) -> None:
    with (docs / "one-line.txt").open("w", encoding="utf-8") as handle:
        for _ in range(200):
            handle.write("word " * 200_000)


def _repeated_pdf(docs: Path, outside: Path) -> None:
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(docs / "forms.pdf"))
    for _ in range(5000):
        pdf.drawString(72, 720, "Inspection form 27B: this page is intentionally left blank.")
        pdf.showPage()
    pdf.save()


CASES: dict[str, Callable[[Path, Path], None]] = {
    "symlink to /etc-like file outside": _symlink_out,
    "FIFO named x.txt": lambda docs, outside: os.mkfifo(docs / "x.txt"),
    "link to /dev/zero": lambda docs, outside: (docs / "zero.txt").symlink_to("/dev/zero"),
    "dangling symlink": lambda docs, outside: (docs / "gone.txt").symlink_to(outside / "missing"),
    "2 GB sparse .txt": _sparse,
    "200 MB single-line .txt": _one_line,
    "zip bomb .docx (2 GB of zeros)": _zip_bomb("bomb.docx", "word/document.xml"),
    "zip bomb .pptx": _zip_bomb("bomb.pptx", "ppt/slides/slide1.xml"),
    "zip bomb .odt": _zip_bomb("bomb.odt", "content.xml"),
    "zip bomb .epub": _zip_bomb("bomb.epub", "OEBPS/content.xhtml"),
    "5,000 identical PDF pages": _repeated_pdf,
}


COLUMNS = (
    "case",
    "exit",
    "wall_s",
    "peak_rss_mb",
    "rest_landed",
    "chunks",
    "outside_content_indexed",
    "traceback",
    "message",
)


def run_case(name: str, tree: Path, timeout_s: float) -> dict[str, Any]:
    """Build the case folder, ingest it in a child process, and read back what landed."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        docs, outside, home = work / "docs", work / "outside", work / "home"
        docs.mkdir()
        outside.mkdir()
        (docs / "alpha.md").write_text("# Alpha\n\nThe alpha reactor runs at 42 kelvin.\n", encoding="utf-8")
        (docs / "beta.md").write_text("# Beta\n\nBees make honey in hives.\n", encoding="utf-8")
        CASES[name](docs, outside)
        env = {**os.environ, "KB_HOME": str(home), "PYTHONPATH": str(tree)}
        argv = [sys.executable, "-m", "kb", "ingest", str(docs), "--kb", "h", "--json"]

        def cap() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (CAP_BYTES, CAP_BYTES))

        started = time.perf_counter()
        process = subprocess.Popen(
            argv, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=cap
        )
        try:
            out, err = process.communicate(timeout=timeout_s)
            code: int | str = process.returncode
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            code = f"killed after {timeout_s:.0f} s"
        wall = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        message, landed, chunks = _outcome(out, err)
        leaked = SECRET in _search(tree, env, "kb-bench-secret root") if name.startswith("symlink") else False
        return {
            "case": name,
            "exit": code,
            "wall_s": round(wall, 1),
            "peak_rss_mb_so_far": round(peak_mb),
            "message": message[:160],
            "rest_landed": landed,
            "chunks": chunks,
            "outside_content_indexed": leaked,
            "traceback": "Traceback" in err,
        }


def _outcome(out: str, err: str) -> tuple[str, bool, int | None]:
    """The failure message, whether both .md files landed, and how many chunks were written."""
    try:
        summary = json.loads(out)
    except json.JSONDecodeError:
        last = [line for line in err.strip().splitlines() if line.strip()]
        return (last[-1] if last else "(no output)"), False, None
    failures = summary.get("failures", [])
    message = "; ".join(f"{f['source']}: {f['reason']}" for f in failures) or "(no failure reported)"
    return message, summary.get("added", 0) >= 2, summary.get("chunks")


def _search(tree: Path, env: dict[str, str], query: str) -> str:
    argv = [sys.executable, "-m", "kb", "search", query, "--kb", "h", "--mode", "bm25", "--json"]
    done = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, timeout=120, check=False)
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tree", type=Path, default=REPO, help="checkout whose kb runs (default: this one)")
    parser.add_argument("--timeout", type=float, default=300.0, help="wall-time limit per case, seconds")
    parser.add_argument("--case", action="append", choices=list(CASES), help="repeatable; default: all")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # one case per process, so the peak RSS of its children is its own
        print(json.dumps(run_case(args.one, args.tree.resolve(), args.timeout)))
        return
    rows = []
    if not args.json:
        print(" | ".join(COLUMNS))
    for name in args.case or list(CASES):
        argv = [
            sys.executable,
            __file__,
            "--one",
            name,
            "--tree",
            str(args.tree),
            "--timeout",
            str(args.timeout),
        ]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            row = json.loads(done.stdout.strip().splitlines()[-1])
        else:
            row = {"case": name, "exit": "bench error", "message": done.stderr[-300:]}
        row["peak_rss_mb"] = row.pop("peak_rss_mb_so_far", None)
        rows.append(row)
        if not args.json:
            print(" | ".join(str(row.get(key, "")) for key in COLUMNS), flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
