"""Sandbox latency: cold start, per-call cost in a persistent session, and 32 sessions at once.

    python bench/sandbox_latency.py [--calls 200] [--concurrent 32] [--backends bwrap local]

For every available backend (see ``BACKENDS``; one line adds one):

* **fresh run**: ``sandbox.run("x = 1")``, a new sandboxed interpreter per call (the cold start),
  next to a bare ``python3 -c "x = 1"`` subprocess started the same way, the peer it is compared to;
* **session start**: opening a session (sandbox + interpreter + driver handshake);
* **session call**: ``session.run("x += 1")`` in one long-lived session;
* **concurrency**: ``--concurrent`` threads, each with its own session from a
  :class:`SandboxPool`, all calling at once; errors are counted.

Medians and 95th percentiles of ``--calls`` calls, interleaved fresh/session so that drift on
this shared machine hits both alike, and the ratios fresh run / session call and
fresh run / bare interpreter. Goals: session overhead <= 5 ms per call, bwrap cold start
<= 100 ms, no errors under concurrency.

Then, for bwrap, what the seccomp filter costs: the same sandbox with and without the filter
(the latter a test-only build that must never run untrusted code), calls interleaved in one
process: cold start and session call, each with the filter's added milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import threading
import time
import warnings
from collections.abc import Callable

from gym_reason.sandboxes import Limits, Sandbox, SandboxPool, SandboxUnavailable, make_sandbox

BACKENDS: dict[str, Callable[[Limits], Sandbox]] = {
    "bwrap": lambda limits: make_sandbox("bwrap", limits),
    "local": lambda limits: make_sandbox("local", limits),
    "docker": lambda limits: make_sandbox("docker", limits),
}
"""Backend name -> factory. Add a backend with one line here."""

GOALS_MS = {"session call": 5.0, "bwrap cold start": 100.0}


def _ms(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered) * 1000:8.2f} ms   p95 {p95 * 1000:8.2f} ms"


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _bare_python(interpreter: str) -> None:
    subprocess.run([interpreter, "-c", "x = 1"], check=True, capture_output=True)


def _concurrency(sandbox: Sandbox, threads: int, calls: int) -> tuple[int, int, float]:
    """``threads`` sessions calling at once; returns (calls made, errors, seconds)."""
    errors: list[str] = []
    done = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker(index: int) -> None:
        try:
            with pool.session(timeout=300) as session:
                session.run(f"mine = {index}", timeout=60)
                barrier.wait(timeout=300)
                for step in range(calls):
                    result = session.run(f"print(mine * {step})", timeout=60)
                    if result.stdout != f"{index * step}\n":
                        errors.append(f"thread {index}: {result}")
                    with lock:
                        done[0] += 1
        except Exception as error:
            errors.append(f"thread {index}: {error!r}")

    with SandboxPool(sandbox, size=threads) as pool:
        workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        start = time.perf_counter()
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        seconds = time.perf_counter() - start
    for error in errors[:5]:
        print(f"    error: {error[:300]}")
    return done[0], len(errors), seconds


def bench_backend(name: str, sandbox: Sandbox, calls: int, concurrent: int) -> None:
    interpreter = getattr(sandbox, "interpreter", "/usr/bin/python3")
    for _ in range(3):  # warm-up: page cache, the first spawn's imports
        sandbox.run("x = 1")
        _bare_python(interpreter)
    fresh, bare, call = [], [], []
    starts = [_timed(lambda: sandbox.session().close()) for _ in range(max(5, calls // 10))]
    with sandbox.session() as session:
        session.run("x = 0")
        for _ in range(calls):  # interleaved
            fresh.append(_timed(lambda: sandbox.run("x = 1")))
            bare.append(_timed(lambda: _bare_python(interpreter)))
            call.append(_timed(lambda: session.run("x += 1")))
        assert session.run("print(x)").stdout == f"{calls}\n"
    print(f"\n{name}: {calls} calls each")
    print(f"  fresh run (cold start)           {_ms(fresh)}")
    print(f"  bare {interpreter:<27} {_ms(bare)}   (no sandbox, the peer)")
    print(f"  session start                    {_ms(starts)}")
    print(f"  session call                     {_ms(call)}")
    print(f"  ratio fresh run / session call   {statistics.median(fresh) / statistics.median(call):8.1f}x")
    print(f"  ratio fresh run / bare python    {statistics.median(fresh) / statistics.median(bare):8.2f}x")
    made, errors, seconds = _concurrency(sandbox, concurrent, max(1, calls // 10))
    print(
        f"  {concurrent} concurrent sessions          {made} calls in {seconds:.2f}s "
        f"({made / seconds:.0f} calls/s incl. starting them), errors: {errors}"
    )
    goals = [("session call", statistics.median(call))]
    if name == "bwrap":
        goals.append(("bwrap cold start", statistics.median(fresh)))
    for goal, seconds_taken in goals:
        verdict = "ok" if seconds_taken * 1000 <= GOALS_MS[goal] else "MISSED"
        print(f"  goal {goal} <= {GOALS_MS[goal]:g} ms: {verdict}")
    print(f"  goal no errors under concurrency: {'ok' if errors == 0 else 'MISSED'}")


def compare_filter(limits: Limits, calls: int) -> None:
    """bwrap with and without its seccomp filter, interleaved: what the filter adds to a cold start and a call."""
    from gym_reason.sandboxes.bwrap import BwrapSandbox

    try:
        boxes = {
            "with filter": BwrapSandbox(limits),
            "without filter": BwrapSandbox(limits, _without_seccomp_filter=True),
        }
    except SandboxUnavailable as error:
        print(f"\nseccomp filter cost: bwrap unavailable here ({error})")
        return
    fresh: dict[str, list[float]] = {name: [] for name in boxes}
    call: dict[str, list[float]] = {name: [] for name in boxes}
    sessions = {name: box.session() for name, box in boxes.items()}
    try:
        for name, box in boxes.items():  # warm-up
            box.run("x = 1")
            sessions[name].run("x = 0")
        for _ in range(calls):
            for name, box in boxes.items():
                fresh[name].append(_timed(lambda box=box: box.run("x = 1")))
                call[name].append(_timed(lambda name=name: sessions[name].run("x += 1")))
    finally:
        for session in sessions.values():
            session.close()
        for box in boxes.values():
            box.close()
    print(
        f"\nseccomp filter cost (bwrap, {calls} interleaved calls each; memory {boxes['with filter'].info['memory']})"
    )
    for label, times in (("cold start", fresh), ("session call", call)):
        for name in boxes:
            print(f"  {label:<13} {name:<15} {_ms(times[name])}")
        added = statistics.median(times["with filter"]) - statistics.median(times["without filter"])
        print(f"  {label:<13} the filter adds {added * 1000:+.2f} ms (median)")
    cold = statistics.median(fresh["with filter"]) * 1000
    overhead = statistics.median(call["with filter"]) * 1000
    print(
        f"  goal cold start with the filter <= {GOALS_MS['bwrap cold start']:g} ms: {'ok' if cold <= GOALS_MS['bwrap cold start'] else 'MISSED'} ({cold:.1f} ms)"
    )
    print(
        f"  goal session call with the filter <= {GOALS_MS['session call']:g} ms: {'ok' if overhead <= GOALS_MS['session call'] else 'MISSED'} ({overhead:.2f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="timed calls per measurement")
    parser.add_argument("--concurrent", type=int, default=32, help="sessions calling at once")
    parser.add_argument("--backends", nargs="*", default=list(BACKENDS), choices=list(BACKENDS))
    args = parser.parse_args()
    limits = Limits(cpu_seconds=10, memory_mb=512)
    for name in args.backends:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the local backend's "isolates nothing" warning
                sandbox = BACKENDS[name](limits)
        except SandboxUnavailable as error:
            print(f"\n{name}: unavailable here ({error})")
            continue
        with sandbox:
            bench_backend(name, sandbox, args.calls, args.concurrent)
    if "bwrap" in args.backends:
        compare_filter(limits, args.calls)


if __name__ == "__main__":
    main()
