"""`cdp serve` under real HTTP load, against a minimal strawberry + starlette app measured in the same run.

Both servers are real processes on loopback ports, run by uvicorn with the same settings (log level warning,
no log config; with `--workers N` the supervisor and shared socket of cdp/cli/serving.py):

* cdp: `cdp serve` over the demo data (`cdp demo --people N`; SQLite, or PostgreSQL with --postgres), looked up
  with the `profileByIdentifier` query of bench/api_latency.py as the demo admin key, purpose `support`: key
  authentication, the access gate, decryption and the audit entry committed before the response.
* minimal (bench/minimal_app.py): one strawberry query, `profileByEmail`, reading one row of a table with the
  same fields in clear from the same kind of database (no key, no gate, no audit, no encryption): what any
  GraphQL server pays.
* postgraphile (peer, only with --postgres and --postgraphile DIR): PostGraphile 4 (Node, one process) serving
  the minimal app's database, looked up with the `benchProfileByEmail` field it generates from the unique email
  column: the same single-row read with the same fields, by a GraphQL server built for PostgreSQL. Run with
  `--disable-query-log`, no watch mode, NODE_ENV=production. Node runs JavaScript on one thread: compare with
  cdp at --workers 1. Never installed by the bench; install it once outside the repository:
  `mkdir -p /tmp/pg4 && cd /tmp/pg4 && npm install postgraphile@4` (then --postgraphile /tmp/pg4).

wrk drives each server with keep-alive connections at each concurrency, each run bounded in time (--seconds)
and in requests (--max-requests), cycling through the same demo emails; every response is checked for the
profile. Per (server, concurrency) it reports throughput, p50/p95/p99 latency (wrk's), and the server's CPU
seconds per request (utime + stime of the server process and every process under it from /proc, before and
after the run); then the ratios cdp/minimal (goals: CPU per lookup <= 1.5x, throughput >= 60%, p95 < 10 ms)
and, as a peer figure, cdp/postgraphile. Runs alternate between the servers and repeat; figures are median
(min-max) over the repeats. Finally GET /healthz on cdp, idle and while 8 connections load lookups: a server
that never blocks answers it as fast either way.

wrk comes from Debian: `apt-get install -y wrk` (4.1.0 on bookworm).

  python bench/serve.py [--people 2000] [--postgres URL] [--workers 1] [--concurrency 1 8 32]
                        [--seconds 5] [--max-requests 20000] [--repeats 3] [--emails 500]
                        [--postgraphile DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import insert
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._setup import postgres_database  # noqa: E402
from bench._stats import Spread  # noqa: E402
from bench.minimal_app import DATABASE_ENV, metadata, profile_table  # noqa: E402
from cdp.db import make_engine  # noqa: E402
from cdp.demo import generate_demo  # noqa: E402

CDP_LOOKUP = """query Lookup($email: String!) {
  profileByIdentifier(kind: email, value: $email) { id firstName lastName email phone city }
}"""
MINIMAL_LOOKUP = """query Lookup($email: String!) {
  profileByEmail(email: $email) { id firstName lastName email phone city }
}"""
POSTGRAPHILE_LOOKUP = MINIMAL_LOOKUP.replace("profileByEmail", "benchProfileByEmail")
EXPECT = '"firstName"'  # a lookup's response without this text failed
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# --- data ------------------------------------------------------------------------------------------------------


def demo_emails(people: int, count: int) -> list[str]:
    """Lower-case emails of the demo people (`cdp demo` uses seed 7), one per person, the first `count`."""
    emails = []
    for person in generate_demo(seed=7, people=people).people:
        lower = [e for e in person.emails if e == e.lower()]
        if lower:
            emails.append(lower[0])
    return emails[:count]


def fill_minimal(url: str, people: int) -> None:
    """The minimal app's table: one row per demo email, the same kind of fields as the cdp lookup returns."""
    engine = make_engine(url)
    metadata.create_all(engine)  # WAL on SQLite, kept by the file
    rows, seen = [], set()
    for person in generate_demo(seed=7, people=people).people:
        first, _, last = (person.names[0] if person.names else "").partition(" ")
        for email in person.emails:
            if email == email.lower() and email not in seen:
                seen.add(email)
                rows.append({"id": str(uuid.uuid4()), "email": email, "first_name": first, "last_name": last,
                             "phone": person.phones[0] if person.phones else None,
                             "city": person.cities[0] if person.cities else None})  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(profile_table), rows)
    engine.dispose()


# --- processes -------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without CDP_* settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


@dataclass
class Server:
    name: str
    base: str
    process: subprocess.Popen
    query: str

    def cpu_seconds(self) -> float:
        """utime + stime of the server process and every process under it (uvicorn's workers)."""
        parents: dict[int, int] = {}
        ticks: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
            parents[int(entry.name)] = int(fields[1])
            ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
        tree, frontier = {self.process.pid}, [self.process.pid]
        while frontier:
            frontier = [pid for pid, parent in parents.items() if parent in frontier and pid not in tree]
            tree.update(frontier)
        return sum(ticks.get(pid, 0) for pid in tree) / CLOCK_TICKS


@contextmanager
def started(
    name: str, command: list[str], env: dict[str, str], log: Path, query: str, ready: str = "/healthz"
) -> Iterator[Server]:
    """`command` + `--port P` as a server process; up and answering GET `ready` with 200."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own commands
        [*command, "--port", str(port)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("w")
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(f"{name} server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}{ready}", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{name} server did not answer {ready}")
        yield Server(name, base, process, query)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:  # a server stuck in its own requests
            process.kill()
            process.wait()


# --- load ------------------------------------------------------------------------------------------------------

WRK_SCRIPT = """
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
local cap = tonumber(os.getenv("BENCH_MAX_REQUESTS"))
local expect = os.getenv("BENCH_EXPECT")
local threads = {}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
wrk.headers["X-CDP-Purpose"] = "support"

function setup(thread)
  thread:set("offset", #threads * 7919)
  threads[#threads + 1] = thread
end

function init(args)
  answered, failed, i = 0, 0, offset
end

function request()
  i = i + 1
  return wrk.format(nil, nil, nil, bodies[i % #bodies + 1])
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 or not string.find(body, expect, 1, true) or string.find(body, '"errors"', 1, true) then
    failed = failed + 1
  end
  if answered >= cap then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local failures = 0
  for _, thread in ipairs(threads) do failures = failures + thread:get("failed") end
  io.write(string.format(
    'BENCH {"requests": %d, "seconds": %.6f, "p50": %d, "p95": %d, "p99": %d, "failed": %d, "errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), failures,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
      + summary.errors.status))
end
"""


@dataclass(frozen=True)
class Run:
    requests: int
    seconds: float
    p50: float  # seconds
    p95: float
    p99: float
    cpu: float  # server CPU seconds over the run
    failed: int  # responses without the profile, HTTP errors and timeouts (wrk --timeout 10s)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_per_request(self) -> float:
        return self.cpu / max(self.requests, 1)


class Load:
    """wrk runs against one server: bodies file, script and key prepared once."""

    def __init__(self, work: Path, server: Server, emails: list[str], key: str) -> None:
        self.server = server
        bodies = work / f"{server.name}-bodies.jsonl"
        lines = (json.dumps({"query": server.query, "variables": {"email": e}}) + "\n" for e in emails)
        bodies.write_text("".join(lines))
        script = work / "load.lua"
        script.write_text(WRK_SCRIPT)
        self.script = script
        self.env = {**os.environ, "BENCH_BODIES": str(bodies), "BENCH_KEY": key, "BENCH_EXPECT": EXPECT}

    def command(self, connections: int, seconds: int, max_requests: int) -> tuple[list[str], dict[str, str]]:
        threads = 1 if connections == 1 else 2
        per_thread = max(1, max_requests // threads)
        args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
                "-s", str(self.script), f"{self.server.base}/graphql"]  # fmt: skip
        return args, {**self.env, "BENCH_MAX_REQUESTS": str(per_thread)}

    def run(self, connections: int, seconds: int, max_requests: int) -> Run:
        args, env = self.command(connections, seconds, max_requests)
        cpu_before = self.server.cpu_seconds()
        out = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout  # noqa: S603
        cpu = self.server.cpu_seconds() - cpu_before
        figures = json.loads(next(line for line in out.splitlines() if line.startswith("BENCH "))[6:])
        return Run(figures["requests"], figures["seconds"], figures["p50"] / 1e6, figures["p95"] / 1e6,
                   figures["p99"] / 1e6, cpu, figures["failed"] + figures["errors"])  # fmt: skip


def health_latency(base: str, seconds: float) -> list[float]:
    """GET /healthz one after another (keep-alive) for `seconds`: each latency in seconds."""
    samples = []
    with httpx.Client(base_url=base) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            start = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            samples.append(time.perf_counter() - start)
            time.sleep(0.005)
    return samples


def health_under_load(load: Load, seconds: int) -> tuple[float, float, int]:
    """/healthz p50 and p95 (seconds) while 8 connections load lookups, and the lookups answered."""
    args, env = load.command(8, seconds + 1, 10**9)
    wrk = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)  # noqa: S603
    time.sleep(0.5)
    samples = health_latency(load.server.base, seconds)
    out, _ = wrk.communicate()
    answered = json.loads(next(line for line in out.splitlines() if line.startswith("BENCH "))[6:])["requests"]
    return statistics.median(samples), Spread(tuple(samples)).quantile(0.95), answered


# --- report ----------------------------------------------------------------------------------------------------


def median_ratio(runs: dict[str, list[Run]], figure: Callable[[Run], float], baseline: str) -> float:
    """Median of cdp's `figure` over the baseline's median."""
    return statistics.median(map(figure, runs["cdp"])) / statistics.median(map(figure, runs[baseline]))


def report(concurrency: int, runs: dict[str, list[Run]]) -> None:
    cdp, others = runs["cdp"], [name for name in runs if name != "cdp"]
    rows = [
        ("throughput req/s", lambda r: r.rate, 1.0, 0),
        ("p50 ms", lambda r: r.p50, 1000.0, 2),
        ("p95 ms", lambda r: r.p95, 1000.0, 2),
        ("p99 ms", lambda r: r.p99, 1000.0, 2),
        ("CPU ms/request", lambda r: r.cpu_per_request, 1000.0, 3),
    ]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nconcurrency {concurrency}: median (min–max) over {len(cdp)} runs each; load average {load}")
    print(f"{'':18s}" + "".join(f" {name:>30s}" for name in runs) + "".join(f" {'cdp/' + n:>26s}" for n in others))
    for label, figure, scale, digits in rows:
        cells = [f" {Spread(tuple(map(figure, side))).show(scale, digits):>30s}" for side in runs.values()]
        for name in others:
            ratio = Spread(tuple(figure(x) / figure(y) for x, y in zip(cdp, runs[name], strict=True)))
            cells.append(f" {ratio.show(1, 2):>26s}")
        print(f"{label:18s}" + "".join(cells))
    failed = [", ".join(str(r.failed) if r.requests else "none answered" for r in side) for side in runs.values()]
    print(f"{'failed responses':18s}" + "".join(f" {f:>30s}" for f in failed))
    cpu = median_ratio(runs, lambda r: r.cpu_per_request, "minimal")
    rate = median_ratio(runs, lambda r: r.rate, "minimal")
    p95 = statistics.median(r.p95 for r in cdp) * 1000
    print(f"goals: CPU per lookup {cpu:.2f}x minimal (<= 1.5), throughput {rate:.0%} of minimal (>= 60%), "
          f"p95 {p95:.2f} ms (< 10)")  # fmt: skip
    if "postgraphile" in runs:
        cpu = median_ratio(runs, lambda r: r.cpu_per_request, "postgraphile")
        rate = median_ratio(runs, lambda r: r.rate, "postgraphile")
        print(f"peer: CPU per lookup {cpu:.2f}x PostGraphile's, throughput {rate:.0%} of PostGraphile's")


def postgraphile_command(directory: str | None, postgres: str | None, database_url: str) -> list[str] | None:
    """PostGraphile 4's command line over `database_url` (no --port), or None with the reason printed."""
    if directory is None:
        return None
    cli = Path(directory) / "node_modules" / "postgraphile" / "cli.js"
    node = shutil.which("node")
    reason = (
        "needs --postgres" if postgres is None
        else f"{cli} not found (install: cd {directory} && npm install postgraphile@4)" if not cli.is_file()
        else "node not found" if node is None
        else None
    )  # fmt: skip
    if reason is not None or node is None:
        print(f"PostGraphile peer skipped: {reason}")
        return None
    connection = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    return [node, str(cli), "--connection", connection, "--schema", "public", "--host", "127.0.0.1",
            "--disable-query-log"]  # fmt: skip


# --- main ------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--postgres", default=None, help="admin URL; the bench creates and drops its databases")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--emails", type=int, default=500, help="distinct emails the load cycles through")
    parser.add_argument("--postgraphile", metavar="DIR", help="where `npm install postgraphile@4` was run (peer)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/serve.py needs wrk: apt-get install -y wrk")
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        data_url = stack.enter_context(postgres_database(args.postgres)) if args.postgres else None
        minimal_url = (
            stack.enter_context(postgres_database(args.postgres)) if args.postgres else f"sqlite:///{work}/minimal.db"
        )
        cdp_env = clean_env(CDP_DATA_DIR=str(work / "cdp"), **({"CDP_DATABASE_URL": data_url} if data_url else {}))
        print(f"loading the demo ({args.people} people) into cdp and the minimal table ...", flush=True)
        subprocess.run([sys.executable, "-m", "cdp.cli.main", "demo", "--people", str(args.people)],  # noqa: S603
                       env=cdp_env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        fill_minimal(minimal_url, args.people)
        key = (work / "cdp" / "demo-admin.key").read_text().strip()
        emails = demo_emails(args.people, args.emails)
        workers = ["--workers", str(args.workers)]
        cdp_command = [sys.executable, "-m", "cdp.cli.main", "serve", *workers]
        cdp = stack.enter_context(started("cdp", cdp_command, cdp_env, work / "cdp.log", CDP_LOOKUP))
        minimal_command = [sys.executable, "-m", "bench.minimal_app", *workers]
        minimal_env = clean_env(**{DATABASE_ENV: minimal_url})
        minimal = stack.enter_context(
            started("minimal", minimal_command, minimal_env, work / "minimal.log", MINIMAL_LOOKUP)
        )
        servers = [cdp, minimal]
        peer_command = postgraphile_command(args.postgraphile, args.postgres, minimal_url)
        if peer_command is not None:
            peer_env = clean_env(NODE_ENV="production")
            peer_log = work / "postgraphile.log"
            servers.append(stack.enter_context(
                started("postgraphile", peer_command, peer_env, peer_log, POSTGRAPHILE_LOOKUP, ready="/graphiql")
            ))  # fmt: skip
        loads = {s.name: Load(work, s, emails, key) for s in servers}
        backend = "postgresql" if args.postgres else "sqlite"
        print(f"backend {backend}, workers {args.workers}, {len(emails)} distinct emails, runs of "
              f"{args.seconds} s or {args.max_requests} requests, {os.cpu_count()} CPUs shared with wrk")  # fmt: skip
        for load in loads.values():  # warm-up: every email once per worker (data keys, caches, pools)
            load.run(8, max(args.seconds, 10), len(emails) * args.workers * 2)
        for concurrency in args.concurrency:
            runs: dict[str, list[Run]] = {name: [] for name in loads}
            for _ in range(args.repeats):
                for name, load in loads.items():
                    runs[name].append(load.run(concurrency, args.seconds, args.max_requests))
            report(concurrency, runs)
        idle = [statistics.median(health_latency(cdp.base, 2)) for _ in range(args.repeats)]
        loaded = [health_under_load(loads["cdp"], args.seconds) for _ in range(args.repeats)]
        print(f"\nGET /healthz on cdp, idle: p50 {Spread(tuple(idle)).show(1000, 2)} ms")
        print(f"GET /healthz on cdp while 8 connections load lookups: p50 "
              f"{Spread(tuple(p50 for p50, _, _ in loaded)).show(1000, 2)} ms, p95 "
              f"{Spread(tuple(p95 for _, p95, _ in loaded)).show(1000, 2)} ms "
              f"({statistics.median(n for _, _, n in loaded):.0f} lookups answered meanwhile)")  # fmt: skip


if __name__ == "__main__":
    main()
