"""Ledger throughput (issue 3 §7): transfers per second through the service layer, the HTTP API and the
batch operation, each beside pgbench TPC-B with the same number of clients on the same server, in
the same run, with durable commits. The last line printed is the three ratios.

    python -m bench ledger --seconds 10 --clients 8
    python -m bench ledger --seconds 1 --clients 2      # CI: proves it still runs
    python -m bench ledger --profile service            # cProfile one client in-process
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import http.client
import io
import json
import multiprocessing
import pstats
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.common import (
    BenchUnavailable,
    Pgbench,
    PgbenchResult,
    Throughput,
    drop_database,
    forget_inherited_connections,
    ratio,
    recreate_database,
    run_clients,
    say,
    server_url,
    setup_django,
    synchronous_commit,
)

DATABASE = "kontor_bench"
API_PATH = "/api/v1/credits/transfers"
BATCH = 1000
OPENING = 10_000_000


@dataclass(frozen=True)
class World:
    customer_id: int
    account_id: int
    master_id: int
    wallet_ids: list[int]
    api_secret: str | None


def build_world(users: int, *, with_key: bool) -> World:
    from kontor.access.models import Role, User
    from kontor.access.perms import CUSTOMER_PERMS
    from kontor.access.services import create_api_key
    from kontor.ledger.posting import Leg, post, provider_wallet, user_wallet
    from kontor.tenancy.models import Account, CreditMode, Customer, Membership

    customer = Customer.objects.create(name="Bench customer", billing_id="bench-1", credit_mode=CreditMode.INDIVIDUAL)
    account = Account.objects.create(customer=customer, name="Bench")
    sender = Role.objects.get(customer=None, slug="sender")
    master = User.objects.create(
        customer=customer, email="master@bench.test", first_name="Bench", last_name="Master", is_master=True
    )
    wallets = []
    provider = provider_wallet()
    for i in range(users):
        user = User.objects.create(customer=customer, email=f"u{i}@bench.test", first_name="U", last_name=str(i))
        Membership.objects.create(customer=customer, account=account, user=user, role=sender)
        wallet = user_wallet(user)
        post("purchase", [Leg(provider, -OPENING), Leg(wallet, OPENING)], actor=master, customer=customer)
        wallets.append(wallet.pk)
    secret = None
    if with_key:
        issued = create_api_key(account, actor=master, name="bench", perms=sorted(str(p) for p in CUSTOMER_PERMS))
        secret = issued.secret
    return World(customer.pk, account.pk, master.pk, wallets, secret)


# --- (a) the service layer -----------------------------------------------------------------------


class ServiceClient:
    def __init__(self, world: World, index: int, wallet_ids: list[int] | None = None) -> None:
        from kontor.access.models import User
        from kontor.ledger.models import Wallet

        self.master = User.objects.select_related("customer").get(pk=world.master_id)
        ids = wallet_ids or world.wallet_ids
        self.wallets = list(Wallet.objects.select_related("user__customer").filter(pk__in=ids))
        self.rng = random.Random(index)


def service_setup(world: World) -> Any:
    return lambda index: ServiceClient(world, index)


def service_step(client: ServiceClient) -> int:
    from kontor.ledger.services import transfer

    source, target = client.rng.sample(client.wallets, 2)
    transfer(source, target, 1, actor=client.master)
    return 1


# --- (c) the batch operation ---------------------------------------------------------------------


def batch_setup(world: World, clients: int) -> Any:
    def setup(index: int) -> ServiceClient:
        # Each client moves credits among its own slice of wallets, as separate teams would; slices
        # that overlapped would make whole batches queue behind each other's row locks.
        return ServiceClient(world, index, world.wallet_ids[index::clients])

    return setup


def batch_step(client: ServiceClient) -> int:
    from kontor.ledger.services import Transfer, batch_transfer

    pairs = [client.rng.sample(client.wallets, 2) for _ in range(BATCH)]
    batch_transfer([Transfer(s, t, 1) for s, t in pairs], actor=client.master)
    return BATCH


# --- (b) the HTTP API ----------------------------------------------------------------------------


def api_endpoint_exists() -> bool:
    from django.urls import Resolver404, resolve

    try:
        resolve(API_PATH)
    except Resolver404:
        return False
    return True


@functools.cache
def _body_fields() -> tuple[str | None, str | None, str | None]:
    """(source, target, amount) field names, read once from the endpoint's own OpenAPI schema (another
    module owns the endpoint; building the schema takes half a second, so never per request)."""
    from kontor.api.core import api

    schema = api.get_openapi_schema()
    operation = schema["paths"].get(API_PATH, {}).get("post", {})
    ref = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    props = ref.get("properties") or schema["components"]["schemas"].get(ref.get("$ref", "").split("/")[-1], {}).get(
        "properties", {}
    )
    source = target = amount = None
    for name in props:
        low = name.lower()
        if "source" in low or low.startswith("from"):
            source = name
        elif "target" in low or low.startswith("to") or "destination" in low:
            target = name
        elif "amount" in low or "quantity" in low:
            amount = name
    return source, target, amount


def _transfer_body(source: int, target: int) -> dict[str, Any]:
    names = _body_fields()
    return {names[0] or "source": source, names[1] or "target": target, names[2] or "amount": 1}


def _serve(sock: socket.socket) -> None:
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

    forget_inherited_connections()
    from django.db import connections

    # Persistent connections, as a production deployment configures (or pgbouncer): the settings leave
    # CONN_MAX_AGE at Django's 0, which would open a PostgreSQL connection per request.
    connections["default"].settings_dict["CONN_MAX_AGE"] = 600
    from kontor.wsgi import application

    class Handler(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass  # an access log line per request would be measured too

    server = WSGIServer(sock.getsockname(), Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.server_name, server.server_port = "127.0.0.1", sock.getsockname()[1]
    server.setup_environ()
    server.set_app(application)
    server.serve_forever()


class ApiServer:
    """A small pre-fork WSGI server (gunicorn is not installed): one single-threaded worker process per
    client, each on its own port, so no worker ever waits on another's accept()."""

    def __init__(self, workers: int) -> None:
        from django.db import connections

        connections.close_all()
        ctx = multiprocessing.get_context("fork")
        self.socks: list[socket.socket] = []
        self.procs = []
        for _ in range(workers):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            sock.listen(16)
            self.socks.append(sock)
            self.procs.append(ctx.Process(target=_serve, args=(sock,), daemon=True))
        self.ports = [sock.getsockname()[1] for sock in self.socks]
        for proc in self.procs:
            proc.start()

    def port_for(self, client: int) -> int:
        return self.ports[client % len(self.ports)]

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.join(5)
        for sock in self.socks:
            sock.close()


class ApiClient:
    def __init__(self, world: World, index: int, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {world.api_secret}", "Content-Type": "application/json"}
        self.wallets = world.wallet_ids
        self.rng = random.Random(index)

    def send(self, body: dict[str, Any]) -> tuple[int, bytes]:
        self.conn.request("POST", API_PATH, body=json.dumps(body), headers=self.headers)
        response = self.conn.getresponse()
        return response.status, response.read()


def api_step(client: ApiClient) -> int:
    source, target = client.rng.sample(client.wallets, 2)
    status, payload = client.send(_transfer_body(source, target))
    if status >= 300:
        raise RuntimeError(f"{API_PATH} answered {status}: {payload[:200]!r}")
    return 1


def run_api(world: World, clients: int, seconds: float) -> Throughput:
    server = ApiServer(clients)
    try:
        # The sockets listen already, so a request simply waits for its worker to finish importing
        # Django; one request per worker warms it up before the clock starts.
        for index in range(clients):
            warm = ApiClient(world, index, server.port_for(index))
            status, payload = warm.send(_transfer_body(world.wallet_ids[0], world.wallet_ids[1]))
            warm.conn.close()
            if status >= 300:
                raise BenchUnavailable(f"the API refused the warm-up transfer: {status} {payload[:200]!r}")
        return run_clients(clients, seconds, lambda i: ApiClient(world, i, server.port_for(i)), api_step)
    except OSError as exc:
        raise BenchUnavailable(f"the API server did not answer: {exc}") from None
    finally:
        server.stop()


# --- profile -------------------------------------------------------------------------------------


def profile(world: World, what: str, n: int) -> None:
    client = ServiceClient(world, 0)
    step = batch_step if what == "batch" else service_step
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(n):
        step(client)
    profiler.disable()
    elapsed = time.perf_counter() - started
    calls = n * (BATCH if what == "batch" else 1)
    say(f"profile {what}: {calls} transfers in {elapsed:.2f}s ({calls / elapsed:.0f}/s, one client)")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    say(out.getvalue())
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        step(client)
    say(f"queries per {what} call: {len(queries)}")
    for query in queries.captured_queries[:40]:
        say("   ", query["sql"][:160])


# --- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ledger", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--users", type=int, default=200, help="wallets the transfers move between")
    parser.add_argument("--scale", type=int, default=8, help="pgbench scale factor")
    parser.add_argument("--profile", choices=["service", "batch"], help="cProfile one client instead")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    parser.add_argument("--only", default="service,api,batch", help="comma-separated subset of service,api,batch")
    args = parser.parse_args(argv)

    server = server_url()
    pgbench: Pgbench | None = None
    try:
        url = recreate_database(server, DATABASE)
    except BenchUnavailable as exc:
        say(f"ledger: skipped: {exc}")
        say("ledger ratios: service=n/a api=n/a batch=n/a (PostgreSQL unavailable)")
        return 2
    try:
        setup_django(url)
        world = build_world(max(args.users, 2 * args.clients), with_key=True)
        if args.profile:
            profile(world, args.profile, 300 if args.profile == "service" else 3)
            return 0
        say(f"ledger bench: {args.clients} clients, {args.seconds:g}s each, synchronous_commit={synchronous_commit()}")
        pgbench = Pgbench(server, scale=args.scale)
        seconds = max(1, round(args.seconds))
        results: dict[str, tuple[Throughput | None, PgbenchResult]] = {}

        def measure(name: str, run: Callable[[], Throughput | None]) -> None:
            assert pgbench is not None
            base = pgbench.tpcb(clients=args.clients, seconds=seconds)
            say(f"pgbench tpcb: {base.tps:.0f} tps (scale {base.scale}, {base.clients} clients, {base.seconds}s)")
            result = run()
            results[name] = (result, base)
            if result is not None:
                unit = f", {BATCH}/call" if name == "batch" else ""
                say(
                    f"{name}: {result.per_second:.0f} transfers/s ({result.operations} in {result.seconds:.1f}s{unit})"
                    f" = {ratio(result.per_second, base.tps)} pgbench"
                )
                for error in result.errors[:5]:
                    say(f"{name}: ERROR {error}")

        measure("service", lambda: run_clients(args.clients, args.seconds, service_setup(world), service_step))
        measure("api", lambda: _api_or_none(world, args.clients, args.seconds))
        measure("batch", lambda: run_clients(args.clients, args.seconds, batch_setup(world, args.clients), batch_step))
        from django.core.management import call_command

        call_command("ledger", "verify")
        say(_ratios_line(results))
        failed = any(r is not None and r.errors for r, _ in results.values())
        return 1 if failed else 0
    except BenchUnavailable as exc:
        say(f"ledger: skipped: {exc}")
        say("ledger ratios: service=n/a api=n/a batch=n/a (baseline unavailable)")
        return 2
    finally:
        from django.db import connections

        connections.close_all()
        if pgbench is not None:
            pgbench.drop()
        if not args.keep:
            drop_database(server, DATABASE)


def _api_or_none(world: World, clients: int, seconds: float) -> Throughput | None:
    if not api_endpoint_exists():
        say(f"api: endpoint missing ({API_PATH} does not resolve); counted as 0")
        return None
    try:
        return run_api(world, clients, seconds)
    except BenchUnavailable as exc:
        say(f"api: {exc}; counted as 0")
        return None


def _ratios_line(results: dict[str, tuple[Throughput | None, PgbenchResult]]) -> str:
    parts = []
    for name, (result, base) in results.items():
        parts.append(f"{name}={ratio(result.per_second, base.tps) if result is not None else '0.00x'}")
    tps = "/".join(f"{base.tps:.0f}" for _, base in results.values())
    return f"ledger ratios: {' '.join(parts)} (vs pgbench tpcb {tps} tps, {'/'.join(results)})"
