"""Shared benchmark plumbing: a Tinn server in a subprocess, a load loop, rates and percentiles.

Typical use::

    from _common import RequestSpec, print_results, run_load, tinn_server

    with tinn_server({"TINN_BENCHMARK_ROUTES": "true"}) as server:
        result = run_load(server.url, RequestSpec("GET", "/health/live"), concurrency=32, duration=5)
    print_results([result])

The load comes from ``wrk`` when it is installed and the request is fixed (it costs the server's CPU
the least), else from a pool of concurrent ``httpx`` clients, which tops out at a few thousand
requests per second and so measures the client rather than the server for fast routes
(``apt-get install wrk``). Measure what you compare in the same run, against a baseline taken in
that run: these machines are shared and noisy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = [
    "LoadResult",
    "RequestSpec",
    "Server",
    "async_rate",
    "free_port",
    "median",
    "median_result",
    "percentile",
    "print_results",
    "rate",
    "run_load",
    "run_wrk_script",
    "tinn_server",
    "wrk_available",
]


# --- the server -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def tinn_server(env: Mapping[str, str] | None = None, *, timeout: float = 90.0) -> Iterator[Server]:
    """``tinn serve`` in a subprocess on a free port, with a fresh data folder (SQLite by default).

    ``env`` adds or overrides ``TINN_*`` variables. Waits until ``/health`` answers 200; the process
    is stopped (and the folder removed) on exit. The server's log is in ``Server.log``.
    """
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="tinn-bench-"))
    log = data_dir / "server.log"
    variables = {
        **os.environ,
        "TINN_HOST": "127.0.0.1",
        "TINN_PORT": str(port),
        "TINN_DATA_DIR": str(data_dir),
        "TINN_LOG_LEVEL": "warning",
        "TINN_ACCESS_LOG": "false",
        **(env or {}),
    }
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tinn", "serve"], env=variables, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        _wait_for_health(url, process, log, timeout)
        yield Server(url, data_dir, process, log)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


def _wait_for_health(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"tinn serve exited with {process.returncode}:\n{_tail(log)}")
            try:
                if client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"tinn serve did not become healthy in {timeout:.0f} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- load ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestSpec:
    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass
class LoadResult:
    name: str
    requests: int
    errors: int
    seconds: float
    tool: str
    # Latencies in seconds (httpx); wrk reports percentiles only.
    latencies: list[float] = field(default_factory=list)
    reported: dict[float, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def latency(self, q: float) -> float:
        """The ``q`` quantile (0-1) of the latencies, in seconds."""
        if q in self.reported:
            return self.reported[q]
        return percentile(self.latencies, q)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0-1) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_load(
    base_url: str,
    request: RequestSpec | Callable[[], RequestSpec],
    *,
    name: str | None = None,
    concurrency: int = 32,
    duration: float = 5.0,
    ok: Sequence[int] = (200,),
    tool: str = "auto",
) -> LoadResult:
    """``concurrency`` clients sending requests back to back for ``duration`` seconds.

    ``request`` is one fixed request or a factory called for every request. ``tool`` is ``wrk``,
    ``httpx`` or ``auto`` (wrk for a fixed request when installed). Responses outside ``ok`` are
    counted as errors (wrk only tells non-2xx/3xx apart).
    """
    label = name or (request.path if isinstance(request, RequestSpec) else "requests")
    use_wrk = tool == "wrk" or (tool == "auto" and wrk_available() and isinstance(request, RequestSpec))
    if use_wrk:
        if not isinstance(request, RequestSpec):
            raise ValueError("wrk sends one fixed request; pass a RequestSpec")
        return _run_wrk(base_url, request, label, concurrency, duration)
    factory = request if callable(request) else (lambda: request)
    return asyncio.run(_run_httpx(base_url, factory, label, concurrency, duration, frozenset(ok)))


async def _run_httpx(
    base_url: str,
    factory: Callable[[], RequestSpec],
    name: str,
    concurrency: int,
    duration: float,
    ok: frozenset[int],
) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    stop = started + duration

    async def worker() -> None:
        # One client per worker: a shared async pool serialises on its own bookkeeping.
        nonlocal errors
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            while time.perf_counter() < stop:
                spec = factory()
                begin = time.perf_counter()
                try:
                    response = await client.request(
                        spec.method, spec.path, headers=dict(spec.headers), content=spec.body
                    )
                    if response.status_code not in ok:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - begin)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return LoadResult(name, len(latencies), errors, elapsed, "httpx", latencies)


_WRK_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
_WRK_PERCENTILE = re.compile(r"^\s*(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_WRK_REQUESTS = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", re.MULTILINE)
_WRK_ERRORS = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")
_WRK_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def _run_wrk(base_url: str, spec: RequestSpec, name: str, concurrency: int, duration: float) -> LoadResult:
    if spec.method != "GET" or spec.body is not None:
        raise ValueError("the wrk runner sends GET requests without a body")
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--latency"]
    for header, value in spec.headers.items():
        command += ["-H", f"{header}: {value}"]
    command.append(base_url + spec.path)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return _parse_wrk(output, name)


def run_wrk_script(
    base_url: str,
    method: str,
    paths: Sequence[str],
    *,
    name: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    concurrency: int = 32,
    duration: float = 5.0,
) -> LoadResult:
    """wrk sending ``method`` with a fixed ``body`` to ``paths`` in turn (a Lua script), e.g. POSTs
    or PUTs spread over many instances. Non-2xx/3xx answers and socket errors count as errors."""
    with tempfile.TemporaryDirectory(prefix="tinn-wrk-") as folder:
        body_file = Path(folder) / "body"
        body_file.write_bytes(body or b"")
        quoted = ", ".join(_lua_string(path) for path in paths)
        lines = [f"wrk.method = {_lua_string(method)}"]
        lines += [f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in (headers or {}).items()]
        if body is not None:
            lines.append(f"local f = io.open({_lua_string(str(body_file))}, 'rb')")
            lines.append("wrk.body = f:read('*a')")
            lines.append("f:close()")
        lines += [
            f"local paths = {{{quoted}}}",
            "local i = 0",
            "request = function()",
            "  i = i % #paths + 1",
            "  return wrk.format(nil, paths[i])",
            "end",
        ]
        script = Path(folder) / "request.lua"
        script.write_text("\n".join(lines) + "\n")
        command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--latency"]
        # A slow answer is latency, not a socket error (wrk's default timeout is 2 s).
        command += ["--timeout", "30s", "-s", str(script), base_url + paths[0]]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return _parse_wrk(output, name)


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parse_wrk(output: str, name: str) -> LoadResult:
    requests = _WRK_REQUESTS.search(output)
    if requests is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    errors = sum(int(n) for n in _WRK_ERRORS.findall(output))
    socket_errors = _WRK_SOCKET_ERRORS.search(output)
    if socket_errors is not None:
        errors += sum(int(n) for n in socket_errors.groups())
    reported = {
        int(q) / 100: float(value) * _WRK_UNITS[unit] for q, value, unit in _WRK_PERCENTILE.findall(output)
    }
    seconds = float(requests.group(2)) * _WRK_UNITS[requests.group(3)]
    return LoadResult(name, int(requests.group(1)), errors, seconds, "wrk", reported=reported)


# --- in-process rates ---------------------------------------------------------------------------


def rate(operation: Callable[[], object], seconds: float = 2.0, batch: int = 50) -> float:
    """Calls of ``operation`` per second, measured for about ``seconds``."""
    calls = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(batch):
            operation()
        calls += batch
    return calls / elapsed


async def async_rate(
    operation: Callable[[], Awaitable[object]], seconds: float = 2.0, batch: int = 50
) -> float:
    """Awaited calls of ``operation`` per second, one at a time, measured for about ``seconds``."""
    calls = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(batch):
            await operation()
        calls += batch
    return calls / elapsed


# --- reporting ----------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return "n/a" if seconds != seconds else f"{seconds * 1000:.2f} ms"  # NaN check


def print_results(results: Sequence[LoadResult]) -> None:
    """One line per result: requests/s, p50, p99, errors."""
    width = max(len(result.name) for result in results)
    print(f"{'':{width}}  {'req/s':>10}  {'p50':>10}  {'p99':>10}  errors  tool")
    for result in results:
        print(
            f"{result.name:{width}}  {result.rps:>10.0f}  {_ms(result.latency(0.5)):>10}  "
            f"{_ms(result.latency(0.99)):>10}  {result.errors:>6}  {result.tool}"
        )


def median_result(results: Sequence[LoadResult]) -> LoadResult:
    """The run with the median rate (robust against one disturbed round)."""
    ordered = sorted(results, key=lambda result: result.rps)
    return ordered[(len(ordered) - 1) // 2]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
