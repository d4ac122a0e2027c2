"""Messaging throughput (issue 4, benchmarks), each beside its peer or physical limit in the same run:

- send: messages accepted per second through `POST /api/v1/messages`, one message per request, each
  answered only after its credit reservation is committed on PostgreSQL (synchronous_commit as the
  server has it, normally on), beside Jasmin 0.11's HTTP `/send` (../shared/peers/jasmin) with the
  same connection count and the same one-segment message;
- batch: messages per second through `POST /api/v1/messages/batch` (1,000 per request), beside the
  same Jasmin figure;
- fanout: recipients per second of a campaign fan-out (render, reserve, enqueue), beside PostgreSQL
  COPY of the same rows (bench/campaign_fanout.py).

The load comes from wrk (as for Jasmin) against gunicorn serving kontor.wsgi, with the group commit on
(KONTOR_GROUP_COMMIT). The dispatch worker does not run during the window: a message counts as
accepted when it is durably queued with its credits reserved, as Jasmin's count when it is queued.
Every accepted message is then checked in the database and `kontor ledger verify` must pass.

    python -m bench messaging --seconds 20 --connections 8
    python -m bench messaging --seconds 1 --connections 2 --recipients 500 --no-peer --rls-rounds 1  # CI size

It then measures row-level security's cost (`--rls-rounds`, default 3): the send and batch loads against
a server with it off and one with it on, alternately, and prints on over off as rls_send and rls_batch.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import BenchUnavailable, drop_database, ratio, recreate_database, say, server_url, setup_django

DATABASE = "kontor_bench_messaging"
SEND_PATH = "/api/v1/messages"
BATCH_PATH = "/api/v1/messages/batch"
BATCH = 1000
TO = "+46701234567"
TEXT = "hello"
OPENING = 2_000_000_000
JASMIN = Path(__file__).resolve().parents[1].parent / "shared" / "peers" / "jasmin" / "bench-jasmin.sh"


@dataclass(frozen=True)
class World:
    account_id: int
    secret: str


def build_world() -> World:
    from kontor.access.models import User
    from kontor.access.perms import CUSTOMER_PERMS
    from kontor.access.services import create_api_key
    from kontor.ledger.posting import Leg, pool_wallet, post, provider_wallet
    from kontor.messaging.models import RateCardEntry
    from kontor.tenancy.models import Account, CreditMode, Customer

    RateCardEntry.objects.get_or_create(prefix="", defaults={"credits_per_segment": 1})
    customer = Customer.objects.create(
        name="Bench customer", billing_id="bench-msg", credit_mode=CreditMode.POOL, country="SE"
    )
    account = Account.objects.create(customer=customer, name="Bench")
    master = User.objects.create(
        customer=customer, email="master@bench.test", first_name="Bench", last_name="Master", is_master=True
    )
    wallet = pool_wallet(account)
    post("purchase", [Leg(provider_wallet(), -OPENING), Leg(wallet, OPENING)], actor=master, customer=customer)
    issued = create_api_key(account, actor=master, name="bench", perms=sorted(str(p) for p in CUSTOMER_PERMS))
    return World(account.pk, issued.secret)


# --- the server ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """gunicorn serving kontor.wsgi on a free loopback port, against the scratch database."""

    def __init__(self, database_url: str, *, workers: int, threads: int, rls: bool | None = None) -> None:
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or shutil.which("gunicorn")
        if gunicorn is None:
            raise BenchUnavailable("gunicorn is not installed")
        self.port = _free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "KONTOR_GROUP_COMMIT": "1",
            "KONTOR_FAST_LANE": "1",
            "CONN_MAX_AGE": "600",
            "DJANGO_SETTINGS_MODULE": "kontor.settings",
            "KONTOR_TESTING": "0",
        }
        if rls is not None:
            env["KONTOR_RLS"] = "1" if rls else "0"
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - gunicorn writes to it until stop()
            prefix="kontor-bench-gunicorn-", suffix=".log", delete=False
        )
        self.proc = subprocess.Popen(
            [
                gunicorn,
                "kontor.wsgi:application",
                f"--workers={workers}",
                f"--threads={threads}",
                "--worker-class=gthread",
                f"--bind=127.0.0.1:{self.port}",
                "--keep-alive=30",
                "--backlog=256",
                "--log-level=warning",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchUnavailable(f"gunicorn exited: {Path(self.log.name).read_text()[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise BenchUnavailable("gunicorn did not start listening within 60 s")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
        Path(self.log.name).unlink(missing_ok=True)


# --- load with wrk -------------------------------------------------------------------------------

LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad = 0; last = "" end
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
function response(status, headers, body)
  if status == 201 then ok = ok + 1 else bad = bad + 1; last = status .. " " .. string.sub(body, 1, 200) end
end
function done(summary, latency, requests)
  local o, b, l = 0, 0, ""
  for _, t in ipairs(threads) do
    o = o + t:get("ok"); b = b + t:get("bad")
    if t:get("last") ~= "" then l = t:get("last") end
  end
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.3f %.2f %.2f\\n", o,
    b + e.connect + e.read + e.write + e.timeout, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000))
  if l ~= "" then io.write("LAST " .. l .. "\\n") end
end
"""


@dataclass(frozen=True)
class Load:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    last_error: str

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk(url: str, *, key: str, body: dict[str, Any], seconds: float, connections: int) -> Load:
    binary = shutil.which("wrk")
    if binary is None:
        raise BenchUnavailable("wrk is not installed (apt-get install wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA)
    try:
        env = {**os.environ, "BENCH_BODY": json.dumps(body), "BENCH_KEY": key}
        threads = max(1, min(2, connections))
        out = subprocess.run(
            [
                binary,
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "30s",
                "-s",
                script.name,
                url,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    finally:
        os.unlink(script.name)
    match = re.search(r"^RESULT (\d+) (\d+) ([0-9.]+) ([0-9.]+) ([0-9.]+)$", out, re.M)
    if match is None:
        raise BenchUnavailable(f"could not read wrk's result: {out[-300:]}")
    last = re.search(r"^LAST (.*)$", out, re.M)
    ok, bad, dur, p50, p95 = match.groups()
    return Load(int(ok), int(bad), float(dur), float(p50), float(p95), last.group(1) if last else "")


# --- the peer ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    per_second: float
    line: str


def jasmin(seconds: float, connections: int) -> Peer | None:
    if not JASMIN.exists():
        say(f"jasmin: {JASMIN} not found; no peer figure")
        return None
    run = subprocess.run(
        ["bash", str(JASMIN), str(max(1, round(seconds))), str(connections)],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("jasmin ")]
    match = re.search(r"accepted_per_s=([0-9.]+)", lines[-1]) if lines else None
    if run.returncode != 0 or match is None:
        say(f"jasmin: failed ({run.returncode}): {(run.stderr or run.stdout)[-300:]}")
        return None
    return Peer(float(match.group(1)), lines[-1])


# --- checks --------------------------------------------------------------------------------------


def stored_messages(account_id: int) -> int:
    from kontor.messaging.models import Message

    return Message.objects.filter(account_id=account_id).count()


def verify_ledger() -> bool:
    from django.core.management import call_command

    try:
        call_command("ledger", "verify")
    except SystemExit as exc:
        return not exc.code
    except Exception as exc:
        say(f"ledger verify failed: {exc}")
        return False
    return True


# --- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench messaging", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument("--recipients", type=int, default=100_000, help="campaign size for the fan-out")
    parser.add_argument("--no-peer", action="store_true", help="skip Jasmin (CI)")
    parser.add_argument("--only", default="send,batch,fanout")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--rls-rounds",
        type=int,
        default=3,
        help="rounds of send and batch with row-level security off, then on, for its cost (0: none)",
    )
    args = parser.parse_args(argv)
    only = set(args.only.split(","))

    server = server_url()
    try:
        url = recreate_database(server, DATABASE)
    except BenchUnavailable as exc:
        say(f"messaging: skipped: {exc}")
        say("messaging ratios: send=n/a batch=n/a fanout=n/a (PostgreSQL unavailable)")
        return 2
    results: dict[str, str] = {}
    failed = False
    srv: Server | None = None
    try:
        setup_django(url)
        world = build_world()
        from django.db import connections

        connections.close_all()
        peer = None if args.no_peer else jasmin(args.seconds, args.connections)
        if peer is not None:
            say(peer.line)
        if only & {"send", "batch"}:
            srv = Server(url, workers=args.workers, threads=args.threads)
            say(f"kontor: gunicorn {args.workers} workers x {args.threads} threads, {args.connections} connections")
            before = stored_messages(world.account_id)
            connections.close_all()
            if "send" in only:
                single = {"to": TO, "text": TEXT}
                wrk(
                    srv.base + SEND_PATH,
                    key=world.secret,
                    body=single,
                    seconds=min(3, args.seconds),
                    connections=args.connections,
                )  # warm-up
                load = wrk(
                    srv.base + SEND_PATH,
                    key=world.secret,
                    body=single,
                    seconds=args.seconds,
                    connections=args.connections,
                )
                say(
                    f"send: {load.per_second:.1f} messages/s accepted (p50 {load.p50_ms} ms, p95 {load.p95_ms} ms, "
                    f"{load.requests} in {load.seconds:.1f}s, errors {load.errors})"
                )
                if load.errors:
                    say(f"send: last error: {load.last_error}")
                    failed = True
                results["send"] = ratio(load.per_second, peer.per_second) if peer else "n/a"
            if "batch" in only:
                body = {"messages": [{"to": TO, "text": TEXT}] * BATCH}
                load = wrk(
                    srv.base + BATCH_PATH,
                    key=world.secret,
                    body=body,
                    seconds=args.seconds,
                    connections=args.connections,
                )
                rate = load.per_second * BATCH
                say(
                    f"batch: {rate:.0f} messages/s accepted ({load.requests} requests of {BATCH}, "
                    f"p50 {load.p50_ms} ms, errors {load.errors})"
                )
                if load.errors:
                    say(f"batch: last error: {load.last_error}")
                    failed = True
                results["batch"] = ratio(rate, peer.per_second) if peer else "n/a"
            srv.stop()
            srv = None
            after = stored_messages(world.account_id)
            say(f"stored: {after - before} messages in the database")
        if args.rls_rounds and only & {"send", "batch"}:
            costs, rls_errors = rls_cost(url, world, args, only)
            results.update(costs)
            failed = failed or rls_errors > 0
        if "fanout" in only:
            results["fanout"] = run_fanout(args.recipients)
        if not verify_ledger():
            failed = True
            say("ledger verify: FAILED")
        else:
            say("ledger verify: ok")
        parts = " ".join(f"{name}={value}" for name, value in results.items())
        peer_figure = f"Jasmin's {peer.per_second:.0f}/s" if peer else "no peer run"
        say(
            f"messaging ratios: {parts} (vs {peer_figure} for send and batch, PostgreSQL COPY for fanout, "
            "the same load without row-level security for rls_*)"
        )
        return 1 if failed else 0
    except BenchUnavailable as exc:
        say(f"messaging: skipped: {exc}")
        say("messaging ratios: send=n/a batch=n/a fanout=n/a (unavailable)")
        return 2
    finally:
        if srv is not None:
            srv.stop()
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(server, DATABASE)


def rls_cost(url: str, world: World, args: argparse.Namespace, only: set[str]) -> tuple[dict[str, str], int]:
    """Row-level security's cost: rounds of the same loads against a server with it off (the owner, as
    before issue 8) and one with it on (kontor_app under the policies), alternating so that drift on the
    machine falls on both; the median of each side's rounds, on over off."""
    from statistics import median

    paths = {
        "send": (SEND_PATH, {"to": TO, "text": TEXT}, 1),
        "batch": (BATCH_PATH, {"messages": [{"to": TO, "text": TEXT}] * BATCH}, BATCH),
    }
    seen: dict[tuple[str, bool], list[float]] = {}
    errors = 0
    for round_no in range(args.rls_rounds):
        for on in (False, True):
            srv = Server(url, workers=args.workers, threads=args.threads, rls=on)
            try:
                for name in ("send", "batch"):
                    if name not in only:
                        continue
                    path, body, per_request = paths[name]
                    wrk(srv.base + path, key=world.secret, body=body, seconds=1, connections=args.connections)
                    load = wrk(
                        srv.base + path, key=world.secret, body=body, seconds=args.seconds, connections=args.connections
                    )
                    rate = load.per_second * per_request
                    seen.setdefault((name, on), []).append(rate)
                    errors += load.errors
                    say(
                        f"rls round {round_no + 1} {'on ' if on else 'off'}: {name} {rate:.0f} messages/s, "
                        f"errors {load.errors}"
                    )
            finally:
                srv.stop()
    out: dict[str, str] = {}
    for name in ("send", "batch"):
        if (name, True) not in seen:
            continue
        on, off = median(seen[(name, True)]), median(seen[(name, False)])
        say(f"rls: {name} {on:.0f} with row-level security, {off:.0f} without (median of {args.rls_rounds} rounds)")
        out[f"rls_{name}"] = ratio(on, off)
    return out, errors


def run_fanout(recipients: int) -> str:
    """bench/campaign_fanout.py in its own process (it points Django at its own scratch database)."""
    run = subprocess.run(
        [sys.executable, "-m", "bench", "campaign_fanout", "--recipients", str(recipients)],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = run.stdout.strip().splitlines()
    for line in lines[:-1]:
        say(f"fanout: {line}")
    match = re.search(r"([0-9.]+)x", lines[-1]) if lines else None
    if run.returncode != 0 or match is None:
        say(f"fanout: failed ({run.returncode}): {(run.stderr or run.stdout)[-400:]}")
        return "n/a"
    say(f"fanout: {lines[-1]}")
    return f"{float(match.group(1)):.2f}x"
