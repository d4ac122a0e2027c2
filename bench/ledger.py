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
import http.client
import io
import json
import multiprocessing
import pstats
import random
import socket
import time
from dataclasses import dataclass
from typing import Any

from bench.common import (
    BenchUnavailable,
    Throughput,
    drop_database,
    forget_inherited_connections,
    ratio,
    recreate_database,
    run_clients,
    run_pgbench,
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


def _transfer_body(source: int, target: int) -> dict[str, Any]:
    """The request body, named after the endpoint's own OpenAPI schema (another module owns it)."""
    from kontor.api.core import api

    schema = api.get_openapi_schema()
    operation = schema["paths"].get(API_PATH, {}).get("post", {})
    ref = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    props = ref.get("properties") or schema["components"]["schemas"].get(ref.get("$ref", "").split("/")[-1], {}).get(
        "properties", {}
    )
    body: dict[str, Any] = {}
    for name in props:
        low = name.lower()
        if "source" in low or low.startswith("from"):
            body[name] = source
        elif "target" in low or low.startswith("to") or "destination" in low:
            body[name] = target
        elif "amount" in low or "quantity" in low:
            body[name] = 1
    return body or {"source": source, "target": target, "amount": 1}


def _serve(fd: int) -> None:
    from werkzeug.serving import WSGIRequestHandler, make_server

    forget_inherited_connections()
    from kontor.wsgi import application

    class Handler(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as any production client would use

        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    make_server("127.0.0.1", 0, application, request_handler=Handler, fd=fd).serve_forever()


class ApiServer:
    """A small pre-fork WSGI server: one listening socket, one single-threaded worker process per client
    (each serves one keep-alive connection at a time). gunicorn is not installed; this is the same shape."""

    def __init__(self, workers: int) -> None:
        from django.db import connections

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        connections.close_all()
        ctx = multiprocessing.get_context("fork")
        self.procs = [ctx.Process(target=_serve, args=(self.sock.fileno(),), daemon=True) for _ in range(workers)]
        for proc in self.procs:
            proc.start()

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.join(5)
        self.sock.close()


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
        probe = None
        for _ in range(50):  # the workers need a moment to import Django
            try:
                probe = ApiClient(world, 0, server.port)
                status, payload = probe.send(_transfer_body(world.wallet_ids[0], world.wallet_ids[1]))
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise BenchUnavailable("the API server did not start")
        if status >= 300:
            raise BenchUnavailable(f"the API refused the probe transfer: {status} {payload[:200]!r}")
        return run_clients(clients, seconds, lambda i: ApiClient(world, i, server.port), api_step)
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
    parser.add_argument("--debug-api", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    server = server_url()
    try:
        url = recreate_database(server, DATABASE)
    except BenchUnavailable as exc:
        say(f"ledger: skipped: {exc}")
        say("ledger ratios: service=n/a api=n/a batch=n/a (PostgreSQL unavailable)")
        return 2
    try:
        setup_django(url)
        world = build_world(max(args.users, 2 * args.clients), with_key=True)
        if args.debug_api:
            server = ApiServer(2)
            time.sleep(3)
            client = ApiClient(world, 0, server.port)
            for _ in range(5):
                t = time.perf_counter()
                status, payload = client.send(_transfer_body(world.wallet_ids[0], world.wallet_ids[1]))
                say(status, payload[:300], f"{(time.perf_counter() - t) * 1000:.1f} ms")
            server.stop()
            return 0
        if args.profile:
            profile(world, args.profile, 300 if args.profile == "service" else 3)
            return 0
        say(f"ledger bench: {args.clients} clients, {args.seconds:g}s each, synchronous_commit={synchronous_commit()}")
        seconds = max(1, round(args.seconds))
        tpcb = run_pgbench(server, clients=args.clients, seconds=seconds, scale=args.scale)
        say(f"pgbench tpcb: {tpcb.tps:.0f} tps (scale {tpcb.scale}, {tpcb.clients} clients, {tpcb.seconds}s)")

        service = run_clients(args.clients, args.seconds, service_setup(world), service_step)
        say(f"service: {service.per_second:.0f} transfers/s ({service.operations} in {service.seconds:.1f}s)")
        api_ratio = "0.00x"
        if not api_endpoint_exists():
            say(f"api: endpoint missing ({API_PATH} does not resolve); counted as 0")
        else:
            try:
                api = run_api(world, args.clients, args.seconds)
            except BenchUnavailable as exc:
                say(f"api: {exc}; counted as 0")
            else:
                say(f"api: {api.per_second:.0f} transfers/s ({api.operations} in {api.seconds:.1f}s)")
                api_ratio = ratio(api.per_second, tpcb.tps)
                _report_errors("api", api)
        batch = run_clients(args.clients, args.seconds, batch_setup(world, args.clients), batch_step)
        say(f"batch: {batch.per_second:.0f} transfers/s ({batch.operations} in {batch.seconds:.1f}s, {BATCH}/call)")
        _report_errors("service", service)
        _report_errors("batch", batch)
        from django.core.management import call_command

        call_command("ledger", "verify")
        say(
            f"ledger ratios: service={ratio(service.per_second, tpcb.tps)} api={api_ratio} "
            f"batch={ratio(batch.per_second, tpcb.tps)} (vs pgbench tpcb {tpcb.tps:.0f} tps)"
        )
        failed = service.errors or batch.errors
        return 1 if failed else 0
    except BenchUnavailable as exc:
        say(f"ledger: skipped: {exc}")
        say("ledger ratios: service=n/a api=n/a batch=n/a (baseline unavailable)")
        return 2
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(server, DATABASE)


def _report_errors(name: str, result: Throughput) -> None:
    for error in result.errors[:5]:
        say(f"{name}: ERROR {error}")
