"""One hostile client against ``kb serve``: do well-behaved clients notice, and is every bad request refused fast?

Starts ``kb serve`` (real default model, real e5) in a subprocess, uploads a few manuals, then runs two
phases of ``--seconds`` each with ``--clients`` well-behaved clients (one asks questions, the others
search): first alone, then while one attacker loops over the hostile requests of issue #15 (a 300,000-
character history turn, a 20,000-character OpenAI message, NaN / 1e400 / lone-surrogate bodies, a chunked
1.5 GB upload, a declared 400 MB JSON body, the API docs). Reports the well-behaved latencies per phase and,
for each hostile request, what it got and how long that took.

    python bench/serve_abuse.py --seconds 30
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serve  # noqa: E402  (the sibling bench: server start-up and the sample manuals)

from rag.llms import ensure_default_model  # noqa: E402

_MIB = 1 << 20


@dataclass
class Phase:
    search: list[float] = field(default_factory=list)
    ask: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    throttled: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _well_behaved(base: str, index: int, deadline: float, phase: Phase) -> None:
    with httpx.Client(base_url=base, timeout=600) as http:
        n = 0
        while time.monotonic() < deadline:
            question = serve.QUESTIONS[(index + n) % len(serve.QUESTIONS)]
            n += 1
            started = time.perf_counter()
            try:
                if index == 0:
                    response = http.post("/kbs/bench/ask", json={"question": question})
                else:
                    response = http.post("/kbs/bench/search", json={"query": question, "k": 3})
            except httpx.HTTPError as e:
                with phase.lock:
                    phase.errors.append(f"{type(e).__name__}: {e}")
                continue
            elapsed = time.perf_counter() - started
            with phase.lock:
                if response.status_code == 200:
                    (phase.ask if index == 0 else phase.search).append(elapsed)
                elif response.status_code == 429:
                    phase.throttled += 1
                else:
                    phase.errors.append(f"{response.status_code}: {response.text[:120]}")


def _chunked_upload() -> Iterator[bytes]:
    boundary = "benchboundary"
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="huge.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    block = b"word " * (_MIB // 5)
    for _ in range(1536):  # 1.5 GB if nobody stops it
        yield block
    yield f"\r\n--{boundary}--\r\n".encode()


def _declared_huge_json() -> Iterator[bytes]:
    yield b'{"text": "'
    block = b"x" * _MIB
    for _ in range(400):
        yield block
    yield b'"}'


def _hostile(http: httpx.Client) -> list[tuple[str, Callable[[], httpx.Response]]]:
    json_headers = {"content-type": "application/json"}
    return [
        (
            "ask, 300,000-char history turn",
            lambda: http.post(
                "/kbs/bench/ask", json={"question": "and it?", "history": [["what is it?", "y" * 300_000]]}
            ),
        ),
        (
            "OpenAI, 20,000-char message",
            lambda: http.post(
                "/v1/chat/completions",
                json={"model": "kb:bench", "messages": [{"role": "user", "content": "z" * 20_000}]},
            ),
        ),
        (
            "search, score_threshold NaN",
            lambda: http.post(
                "/kbs/bench/search", content=b'{"query": "x", "score_threshold": NaN}', headers=json_headers
            ),
        ),
        (
            "search, score_threshold 1e400",
            lambda: http.post(
                "/kbs/bench/search", content=b'{"query": "x", "score_threshold": 1e400}', headers=json_headers
            ),
        ),
        (
            "search, lone surrogate",
            lambda: http.post("/kbs/bench/search", content=b'{"query": "\\ud800"}', headers=json_headers),
        ),
        (
            "chunked 1.5 GB upload",
            lambda: http.post(
                "/kbs/bench/documents",
                content=_chunked_upload(),
                headers={"content-type": "multipart/form-data; boundary=benchboundary"},
            ),
        ),
        (
            "JSON document, declared 400 MB",
            lambda: http.post(
                "/kbs/bench/documents",
                content=_declared_huge_json(),
                headers={**json_headers, "content-length": str(400 * _MIB + 12)},
            ),
        ),
        ("GET /docs", lambda: http.get("/docs")),
    ]


def _attacker(
    base: str, deadline: float, only: str, report: multiprocessing.Queue[dict[str, list[tuple[str, float]]]]
) -> None:
    """Runs in its own process, so its megabytes of request bodies do not hold the clients' GIL."""
    outcomes: dict[str, list[tuple[str, float]]] = {}
    with httpx.Client(base_url=base, timeout=120) as http:
        requests = [(name, send) for name, send in _hostile(http) if only.lower() in name.lower()]
        while time.monotonic() < deadline:
            for name, send in requests:
                started = time.perf_counter()
                try:
                    got = str(send().status_code)
                except httpx.HTTPError as e:  # the server may close the connection after its 413
                    got = f"closed ({type(e).__name__})"
                outcomes.setdefault(name, []).append((got, time.perf_counter() - started))
    report.put(outcomes)


def _run_phase(
    base: str, clients: int, seconds: float, *, attack: bool, only: str = ""
) -> tuple[Phase, dict[str, list[tuple[str, float]]]]:
    phase = Phase()
    outcomes: dict[str, list[tuple[str, float]]] = {}
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=_well_behaved, args=(base, i, deadline, phase)) for i in range(clients)
    ]
    report: multiprocessing.Queue[dict[str, list[tuple[str, float]]]] = multiprocessing.Queue()
    attacker = (
        multiprocessing.Process(target=_attacker, args=(base, deadline, only, report)) if attack else None
    )
    if attacker is not None:
        attacker.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if attacker is not None:
        outcomes = report.get(timeout=300)
        attacker.join()
    return phase, outcomes


def _summary(values: list[float]) -> str:
    if not values:
        return "n=0"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"n={len(ordered)} p50={statistics.median(ordered):.3f} p95={p95:.3f} max={ordered[-1]:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--clients", type=int, default=10, help="well-behaved clients (one asks, the rest search)"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase")
    parser.add_argument("--only", default="", help="only the hostile requests whose name contains this")
    args = parser.parse_args()
    model = ensure_default_model(Path(tempfile.gettempdir()) / "kb-bench-models")
    with tempfile.TemporaryDirectory(prefix="kb-bench-abuse-") as tmp:
        home = Path(tmp)
        port = serve._free_port()
        base = f"http://127.0.0.1:{port}"
        server = serve._start_server(home, port, model, 24, 16)
        try:
            serve._wait_healthy(base, server)
            with httpx.Client(base_url=base, timeout=600) as http:
                assert http.post("/kbs", json={"name": "bench"}).status_code == 201
                files = [("files", (n, t.encode(), "text/markdown")) for n, t in serve.DOCUMENTS.items()]
                assert (
                    http.post("/kbs/bench/documents", files=files, params={"wait": "true"}).status_code == 200
                )
                http.post("/kbs/bench/ask", json={"question": serve.QUESTIONS[0]})  # loads the model
            calm, _ = _run_phase(base, args.clients, args.seconds, attack=False)
            attacked, outcomes = _run_phase(base, args.clients, args.seconds, attack=True, only=args.only)
        finally:
            server.terminate()
            server.wait(60)
    print(
        f"{args.clients} well-behaved clients (1 asks, {args.clients - 1} search), {args.seconds:.0f} s a phase"
    )
    for label, phase in (("alone", calm), ("with attacker", attacked)):
        print(
            f"{label:>14}: search {_summary(phase.search)} | ask {_summary(phase.ask)} | "
            f"errors={len(phase.errors)} 429={phase.throttled}"
        )
        for error in phase.errors[:3]:
            print(f"{'':>16}error: {error}")
    if calm.search and attacked.search:
        ratio = _p95(attacked.search) / _p95(calm.search)
        print(f"search p95 with attacker / alone: {ratio:.2f}x")
    print("hostile requests (status: count; slowest answer)")
    for name, results in outcomes.items():
        statuses: dict[str, int] = {}
        for got, _ in results:
            statuses[got] = statuses.get(got, 0) + 1
        slowest = max(seconds for _, seconds in results)
        shown = ", ".join(f"{got}: {count}" for got, count in sorted(statuses.items()))
        print(f"  {name:<34} {shown:<28} max {slowest:.3f} s")


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


if __name__ == "__main__":
    main()
