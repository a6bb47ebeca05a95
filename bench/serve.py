"""Serving under load: ``kb serve`` in a subprocess with the real default model, hammered by concurrent clients.

Starts the server on 127.0.0.1, uploads a few short manuals, warms the model up with one question, then
runs C concurrent clients that each ask N questions (non-streaming ``POST /kbs/{kb}/ask``). A 429 is a
deliberate refusal of a full queue: the client waits ``Retry-After`` and tries again, and the bench
counts it apart from errors. Reports throughput, p50/p95 latency, errors, 429s and the server's peak RSS.

    python bench/serve.py --quick               # 20 clients x 1 question, 24-token answers
    python bench/serve.py --clients 20 --questions 3
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rag.llms import ensure_default_model  # noqa: E402

DOCUMENTS = {
    "warranty.md": "# Warranty\n\nThe Zephyr X2 drone has a warranty of 24 months from the date of purchase. "
    "Crash damage is not covered; a one-time crash replacement costs 149 euros.\n",
    "battery.md": "# Battery\n\nThe Zephyr X2 battery takes 90 minutes to charge and gives 31 minutes of flight. "
    "Store batteries at 40 to 60 percent charge.\n",
    "camera.md": "# Camera\n\nThe camera records 4K video at 60 frames per second and 12 megapixel photos on a "
    "three-axis gimbal.\n",
    "range.md": "# Range\n\nThe controller reaches 10 kilometres in open country; the drone returns home when "
    "the signal is lost for 3 seconds.\n",
    "weather.md": "# Weather\n\nDo not fly in rain or in winds above 38 km/h. The operating temperature is "
    "from -10 to 40 degrees Celsius.\n",
}
QUESTIONS = [
    "How long is the Zephyr X2 warranty?",
    "How long does the battery take to charge?",
    "What video resolution does the camera record?",
    "How far can the controller reach?",
    "What wind speed is too strong to fly?",
    "Zephyr X2 的电池能飞多久？",
]


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    throttled: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_server(
    home: Path, port: int, model: Path, max_tokens: int, queue_size: int
) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KB_")},
        "KB_HOME": str(home),
        "KB_SERVER__HOST": "127.0.0.1",
        "KB_SERVER__PORT": str(port),
        "KB_SERVER__QUEUE_SIZE": str(queue_size),
        "KB_LLM__SPEC": f"gguf:{model}",
        "KB_LLM__MAX_TOKENS": str(max_tokens),
        "KB_LLM__CONTEXT_WINDOW": "2048",
    }
    code = "from kb.settings import Settings; from server import run; run(Settings())"
    log = (home / "server.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
    )


def _wait_healthy(base: str, server: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("server did not become healthy")


def _client(base: str, questions: list[str], results: Results) -> None:
    with httpx.Client(base_url=base, timeout=900) as http:
        for question in questions:
            started = time.perf_counter()
            while True:
                try:
                    response = http.post("/kbs/bench/ask", json={"question": question})
                except httpx.HTTPError as e:
                    with results.lock:
                        results.errors.append(f"{type(e).__name__}: {e}")
                    break
                if response.status_code == 429:
                    with results.lock:
                        results.throttled += 1
                    time.sleep(float(response.headers.get("retry-after", "1")))
                    continue
                with results.lock:
                    if response.status_code == 200:
                        results.latencies.append(time.perf_counter() - started)
                    else:
                        results.errors.append(f"{response.status_code}: {response.text[:200]}")
                break


def _sample_rss(pid: int, stop: threading.Event, peak: list[int]) -> None:
    process = psutil.Process(pid)
    while not stop.is_set():
        try:
            rss = process.memory_info().rss + sum(
                c.memory_info().rss for c in process.children(recursive=True)
            )
        except psutil.Error:
            return
        peak[0] = max(peak[0], rss)
        stop.wait(0.25)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="20 clients x 1 question, 24-token answers")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--questions", type=int, default=3, help="questions per client")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--queue-size", type=int, default=16)
    args = parser.parse_args()
    if args.quick:
        args.questions, args.max_tokens = 1, 24

    model = ensure_default_model(Path(tempfile.gettempdir()) / "kb-bench-models")
    with tempfile.TemporaryDirectory(prefix="kb-bench-serve-") as tmp:
        home = Path(tmp)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = _start_server(home, port, model, args.max_tokens, args.queue_size)
        try:
            started = time.perf_counter()
            _wait_healthy(base, server)
            print(f"server up in {time.perf_counter() - started:.1f}s (pid {server.pid})")
            with httpx.Client(base_url=base, timeout=900) as http:
                assert http.post("/kbs", json={"name": "bench"}).status_code == 201
                files = [
                    ("files", (name, text.encode(), "text/markdown")) for name, text in DOCUMENTS.items()
                ]
                upload = http.post("/kbs/bench/documents", files=files, params={"wait": "true"})
                assert upload.status_code == 200, upload.text
                warm = time.perf_counter()
                answer = http.post("/kbs/bench/ask", json={"question": QUESTIONS[0]}).json()
                print(f"warm-up answer in {time.perf_counter() - warm:.1f}s: {answer['answer'][:80]!r}")

            peak = [0]
            stop = threading.Event()
            sampler = threading.Thread(target=_sample_rss, args=(server.pid, stop, peak), daemon=True)
            sampler.start()
            results = Results()
            plan = [
                [QUESTIONS[(c + q) % len(QUESTIONS)] for q in range(args.questions)]
                for c in range(args.clients)
            ]
            began = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                for _ in pool.map(lambda qs: _client(base, qs, results), plan):
                    pass
            wall = time.perf_counter() - began
            stop.set()
            sampler.join()
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()

    answered = len(results.latencies)
    ordered = sorted(results.latencies) or [0.0]
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(
        f"clients={args.clients} questions/client={args.questions} max_tokens={args.max_tokens} "
        f"queue_size={args.queue_size}"
    )
    print(
        f"answered={answered} errors={len(results.errors)} throttled_429={results.throttled} wall_s={wall:.1f}"
    )
    print(f"throughput={answered / wall:.3f} answers/s")
    print(f"latency_s p50={statistics.median(ordered):.1f} p95={p95:.1f} max={ordered[-1]:.1f}")
    print(f"server_peak_rss_mb={peak[0] / (1 << 20):.0f}")
    for error in results.errors[:5]:
        print("error:", error)


if __name__ == "__main__":
    main()
