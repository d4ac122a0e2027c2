"""The HTTP crash test (issue 8 §1): concurrent clients drive the API under the mix of operations the
issue names (purchases on invoice, transfers, batch transfers, single and batch sends, campaigns,
replays of an Idempotency-Key) against gunicorn (group commit and fast lane on, as in production) and
`kontor worker` on PostgreSQL, while gunicorn (master and workers) and the worker are killed with
SIGKILL and restarted. Afterwards it checks, from the database:

- every acknowledged operation is there exactly once, by its key (one journal or message set per key),
  and nothing refused left an effect;
- per customer, the wallets sum to zero (conservation) and no customer wallet is below zero;
- `kontor ledger verify` passes;
- every message's reservation was settled, released or refunded as its final status says;
- no 5xx outside the moments of the kills (the 5xx and connection errors of a short window after each
  kill are counted separately), no failed task, no failed sweep;
- each snapshot a reader took of one customer's wallet list through the API is consistent.

Everything is bounded by operations and by state: each request is retried under its key until it gets a
definite answer, the drain waits until nothing is left to do (with a generous cap that only fires on a
hang and says what hung). The last line reads

    crash: operations=N kills=K anomalies=A http5xx=E

    python -m bench crash --operations 100000 --clients 8 --kills 5 --worker-kills 2
    python -m bench crash          # the tiny CI size

The world, the client, the killer and the checks are reusable: tests/reliability/test_crash_http.py runs
the same code at a small size and asserts on the JSON report (--json)."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import http.client
import json
import os
import queue
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.common import BenchUnavailable, drop_database, recreate_database, say, server_url, setup_django

DATABASE = "kontor_crash"
ROOT = Path(__file__).resolve().parents[1]
SETTINGS = "bench.crash_settings"
# A request that overlaps a kill, or starts before the restarted server has answered for this long,
# belongs to that kill (its connection error or 5xx is the kill's, not a defect).
KILL_GRACE = 2.0
# Safety caps that only fire on a hang; none of them is a performance target.
MAX_ATTEMPTS = 2000  # retries of one request until a definite answer (a server down that long hangs)
MAX_5XX = 30  # a 5xx that keeps coming is a defect, not a kill: the operation gets no definite answer
IN_FLIGHT_RETRIES = 40  # "still in flight" answers before the operation is put aside and retried at the end
START_CAP = 180.0  # a server or worker that does not come up
DRAIN_CAP = 1800.0  # the drain as a whole, plus DRAIN_PER_MESSAGE for each message still waiting at its start
DRAIN_PER_MESSAGE = 1.0  # far beyond any worker's pace: the cap scales with the backlog, never judges speed
DRAIN_STALL = 120.0  # the drain making no progress at all
OPENING_USER = 2000
OPENING_SYSTEM = 5000
OPENING_POOL = 5000
PASSWORD = "crash-test-2026"
ANOMALY_EXAMPLES = 5

_STARTED: list[subprocess.Popen[bytes]] = []
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the process that started it dies, however it dies (a killed
    test run must not leave a server behind). Linux only; elsewhere atexit has to do."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _kill_all_started() -> None:
    for proc in _STARTED:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


atexit.register(_kill_all_started)


# --- the world -----------------------------------------------------------------------------------


@dataclass
class Party:
    """An API key and whom it acts as."""

    secret: str
    user_id: int
    account_id: int


@dataclass
class Tenant:
    customer_id: int
    mode: str  # individual, pool, reader (transfers only: its wallet list is a constant sum)
    master: list[Party]  # one key per account
    senders: list[Party]  # keys that send
    system_wallet: int
    wallets: dict[int, int]  # user wallets: wallet id -> user id
    pools: dict[int, int]  # account id -> its pool wallet (a key reaches only its own account's pool)
    total: int = 0  # the reader's customer: what its listed wallets always sum to


@dataclass
class World:
    tenants: list[Tenant]

    def by_mode(self, mode: str) -> Tenant:
        return next(t for t in self.tenants if t.mode == mode)

    @property
    def customer_ids(self) -> list[int]:
        return [t.customer_id for t in self.tenants]


def build_world(tag: str = "crash") -> World:
    """Three customers: one in individual mode (three senders with their own keys), one in pool mode
    (two accounts), and the reader's customer (individual mode, only transfers). Needs Django set up."""
    from kontor.access.models import Role, User
    from kontor.access.perms import CUSTOMER_PERMS
    from kontor.access.services import create_api_key
    from kontor.ledger.posting import Leg, pool_wallet, post, provider_wallet, system_wallet, user_wallet
    from kontor.messaging.models import RateCardEntry
    from kontor.tenancy.models import Account, CreditMode, Customer, Membership

    RateCardEntry.objects.get_or_create(prefix="", defaults={"credits_per_segment": 1})
    sender_role = Role.objects.get(customer=None, slug="sender")
    everything = sorted(str(p) for p in CUSTOMER_PERMS)
    tenants = []
    for mode, accounts, users in (("individual", 1, 3), ("pool", 2, 0), ("reader", 1, 4)):
        credit_mode = CreditMode.POOL if mode == "pool" else CreditMode.INDIVIDUAL
        customer = Customer.objects.create(
            name=f"{tag} {mode}", billing_id=f"{tag}-{mode}", credit_mode=credit_mode, country="SE"
        )
        master = User.objects.create(
            customer=customer, email=f"master@{mode}.{tag}.test", first_name="M", last_name=mode, is_master=True
        )
        master_keys, senders, wallets, pools = [], [], {}, {}
        account_objs = [Account.objects.create(customer=customer, name=f"{mode} {i}") for i in range(accounts)]
        provider = provider_wallet(customer=customer)
        system = system_wallet(customer)
        opening = [Leg(provider, -OPENING_SYSTEM), Leg(system, OPENING_SYSTEM)]
        for account in account_objs:
            issued = create_api_key(account, actor=master, name="crash master", perms=everything)
            master_keys.append(Party(issued.secret, master.pk, account.pk))
            if mode == "pool":
                pool = pool_wallet(account)
                pools[account.pk] = pool.pk
                opening += [Leg(provider, -OPENING_POOL), Leg(pool, OPENING_POOL)]
                senders.append(master_keys[-1])
        for i in range(users):
            user = User.objects.create(
                customer=customer, email=f"u{i}@{mode}.{tag}.test", first_name="U", last_name=str(i)
            )
            Membership.objects.create(customer=customer, account=account_objs[0], user=user, role=sender_role)
            wallet = user_wallet(user)
            wallets[wallet.pk] = user.pk
            opening += [Leg(provider, -OPENING_USER), Leg(wallet, OPENING_USER)]
            issued = create_api_key(account_objs[0], actor=user, name="crash sender", perms=["send_sms"])
            senders.append(Party(issued.secret, user.pk, account_objs[0].pk))
        # The opening balances are one purchase, told apart from the run's by having no key.
        post("purchase", opening, actor=master, customer=customer, reason="crash opening")
        total = OPENING_SYSTEM + OPENING_USER * users + OPENING_POOL * (accounts if mode == "pool" else 0)
        tenants.append(Tenant(customer.pk, mode, master_keys, senders, system.pk, wallets, pools, total))
    return World(tenants)


# --- the processes -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """gunicorn (kontor.gunicorn_conf) and `kontor worker`, each in its own process group so that a
    SIGKILL reaches the master and all its workers at once."""

    def __init__(
        self,
        database_url: str,
        *,
        port: int | None,
        web_workers: int,
        threads: int,
        var_dir: Path,
        task_workers: int = 1,
    ) -> None:
        self.task_workers = max(1, task_workers)
        self.port = port or _free_port()
        self.var_dir = var_dir
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "KONTOR_VAR_DIR": str(var_dir),
            "KONTOR_BIND": f"127.0.0.1:{self.port}",
            "KONTOR_WORKERS": str(web_workers),
            "KONTOR_THREADS": str(threads),
            "KONTOR_GROUP_COMMIT": "1",
            "KONTOR_FAST_LANE": "1",
            "KONTOR_TESTING": "0",
            "CONN_MAX_AGE": "600",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "crash-test-secret-key-0123456789-abcdefghijklmnop",
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
        for name in ("PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER", "KONTOR_PG_TEST_NAME"):
            self.env.pop(name, None)
        self.web: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.web_starts = 0
        self.worker_starts = 0
        # The parent-death signal fires when the *thread* that started a child ends, so every child is
        # started by this one thread, which lives as long as the process.
        self._spawns: queue.Queue[tuple[list[str], str, queue.Queue[Any]]] = queue.Queue()
        threading.Thread(target=self._spawner, name="crash-spawner", daemon=True).start()

    def _spawner(self) -> None:
        while True:
            argv, log_name, answer = self._spawns.get()
            try:
                with (self.var_dir / log_name).open("ab") as log:
                    proc = subprocess.Popen(
                        argv,
                        cwd=ROOT,
                        env=self.env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        preexec_fn=_die_with_parent,  # only prctl: safe in a threaded parent
                    )
                _STARTED.append(proc)
                answer.put(proc)
            except BaseException as exc:
                answer.put(exc)

    def _spawn(self, argv: list[str], log_name: str) -> subprocess.Popen[bytes]:
        answer: queue.Queue[Any] = queue.Queue()
        self._spawns.put((argv, log_name, answer))
        result = answer.get()
        if isinstance(result, BaseException):
            raise result
        return result  # type: ignore[no-any-return]

    def start_web(self) -> None:
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or shutil.which("gunicorn")
        if gunicorn is None:
            raise BenchUnavailable("gunicorn is not installed")
        self.web_starts += 1
        self.web = self._spawn([gunicorn, "-c", "python:kontor.gunicorn_conf", "--log-level=warning"], "gunicorn.log")

    def start_worker(self) -> None:
        """`kontor worker`, as many processes as asked for: one service, started and killed together."""
        self.worker_starts += 1
        self.workers = [
            self._spawn(
                [sys.executable, "manage.py", "worker", "--interval", "0.1", "--sweep-seconds", "1"], "worker.log"
            )
            for _ in range(self.task_workers)
        ]

    def worker_exited(self) -> bool:
        return any(proc.poll() is not None for proc in self.workers)

    def wait_web(self, probe: Party) -> None:
        """Until the API answers (bounded by a cap that only a server that cannot start reaches)."""
        assert self.web is not None
        cap = time.monotonic() + START_CAP
        while time.monotonic() < cap:
            if self.web.poll() is not None:
                raise BenchUnavailable(f"gunicorn exited: {self.log_tail('gunicorn.log')}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request(
                    "GET", "/api/v1/credits/wallets?limit=1", headers={"Authorization": f"Bearer {probe.secret}"}
                )
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        raise BenchUnavailable(f"gunicorn did not answer within {START_CAP:.0f} s: {self.log_tail('gunicorn.log')}")

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes] | None) -> None:
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def kill_web(self) -> None:
        self._kill(self.web)
        self.web = None

    def kill_worker(self) -> None:
        for proc in self.workers:
            self._kill(proc)
        self.workers = []

    def stop(self) -> None:
        for proc in (self.web, *self.workers):
            if proc is None or proc.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                self._kill(proc)
        # Whatever of the group outlived its leader (a gunicorn worker, say) goes too.
        for proc in (self.web, *self.workers):
            if proc is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
        self.web, self.workers = None, []

    def log_tail(self, name: str, chars: int = 800) -> str:
        path = self.var_dir / name
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


# --- the client ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """The definite answer an operation got (or None: it never got one)."""

    status: int | None
    body: Any
    attempts: int


@dataclass
class Op:
    index: int
    key: str
    kind: str
    tenant: int  # index into world.tenants
    party: Party
    path: str
    body: dict[str, Any]
    expect: int = 0  # messages or journals the operation creates when it succeeds


@dataclass
class Record:
    op: Op
    outcome: Outcome
    replay_of: str | None = None


class Timeline:
    """Kills and the errors clients saw, to tell the kills' errors from the rest."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.windows: list[list[float]] = []  # [killed at, answering again at]
        self.generation = 0  # gunicorn kills so far
        self.worker_kills = 0

    def web_killed(self) -> int:
        with self.lock:
            self.generation += 1
            self.windows.append([time.monotonic(), float("inf")])
            return len(self.windows) - 1

    def web_ready(self, index: int) -> None:
        with self.lock:
            self.windows[index][1] = time.monotonic()

    def at_kill(self, started: float, ended: float, generation: int) -> bool:
        """Did the request overlap a kill, or start before the server settled after one, or use a
        connection opened before a kill?"""
        with self.lock:
            if generation != self.generation:
                return True
            return any(started <= ready + KILL_GRACE and ended >= killed for killed, ready in self.windows)


@dataclass
class Errors:
    http5xx: int = 0  # outside the kills: defects
    conn: int = 0  # connection errors outside the kills: defects too
    kill_5xx: int = 0
    kill_conn: int = 0
    in_flight: int = 0  # 409 idempotency_key_in_flight answers, retried
    examples: list[str] = field(default_factory=list)


class Client:
    """One keep-alive connection; `call` retries a request under its Idempotency-Key after a connection
    error or a 5xx until it gets a definite answer."""

    def __init__(self, port: int, timeline: Timeline, errors: Errors, lock: threading.Lock) -> None:
        self.port, self.timeline, self.errors, self.lock = port, timeline, errors, lock
        self.conn: http.client.HTTPConnection | None = None
        self.generation = 0

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            self.generation = self.timeline.generation
        return self.conn

    def _drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def once(self, method: str, path: str, party: Party, body: Any = None, key: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {party.secret}"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if key:
            headers["Idempotency-Key"] = key
        conn = self._connection()
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw[:300].decode(errors="replace")
        return response.status, data

    def _note(self, started: float, generation: int, what: str, *, is_5xx: bool) -> None:
        at_kill = self.timeline.at_kill(started, time.monotonic(), generation)
        with self.lock:
            if at_kill:
                if is_5xx:
                    self.errors.kill_5xx += 1
                else:
                    self.errors.kill_conn += 1
            else:
                if is_5xx:
                    self.errors.http5xx += 1
                else:
                    self.errors.conn += 1
                if len(self.errors.examples) < 20:
                    self.errors.examples.append(what)

    def call(
        self, method: str, path: str, party: Party, body: Any = None, key: str | None = None, *, retry: bool = True
    ) -> Outcome:
        """`retry=False` for a request without a key: it cannot be retried safely, so a connection error
        or a 5xx leaves its outcome unknown (status None)."""
        in_flight = failures = 0
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if attempt > 1 and not retry:
                return Outcome(None, "unknown: not retried without a key", attempt - 1)
            started = time.monotonic()
            self._connection()
            generation = self.generation
            try:
                status, data = self.once(method, path, party, body, key)
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                self._note(
                    started, generation, f"{method} {path} key={key}: {exc.__class__.__name__}: {exc}", is_5xx=False
                )
                time.sleep(min(0.05 * attempt, 0.5))
                continue
            if status >= 500:
                self._note(started, generation, f"{method} {path} key={key}: {status} {str(data)[:300]}", is_5xx=True)
                failures += 1
                if failures >= MAX_5XX:
                    return Outcome(None, f"{status} on {failures} tries: {str(data)[:200]}", attempt)
                time.sleep(min(0.05 * attempt, 0.5))
                continue
            if status == 409 and isinstance(data, dict) and data.get("code") == "idempotency_key_in_flight":
                in_flight += 1
                with self.lock:
                    self.errors.in_flight += 1
                if in_flight >= IN_FLIGHT_RETRIES:
                    return Outcome(None, data, attempt)
                time.sleep(min(0.05 * in_flight, 0.5))
                continue
            return Outcome(status, data, attempt)
        return Outcome(None, "no definite answer", MAX_ATTEMPTS)


# --- the mix of operations -----------------------------------------------------------------------

MIX = {"purchase": 8, "transfer": 20, "batch_transfer": 8, "send": 28, "send_fast": 8, "batch_send": 14, "campaign": 4}
KINDS = {"individual": MIX, "pool": MIX, "reader": {"transfer": 60, "batch_transfer": 40}}
TENANT_WEIGHTS = {"individual": 45, "pool": 35, "reader": 20}
REPLAY_SHARE = 0.06
PATHS = {
    "purchase": "/api/v1/credits/purchases",
    "transfer": "/api/v1/credits/transfers",
    "batch_transfer": "/api/v1/credits/transfers/batch",
    "send": "/api/v1/messages",
    "send_fast": "/api/v1/messages",  # no key: the fast lane answers it (at most once, never retried)
    "batch_send": "/api/v1/messages/batch",
    "campaign": "/api/v1/messages/campaigns",
}


def _number(rng: random.Random) -> str:
    return f"+4670{rng.randint(1_000_000, 9_999_999)}"


def _text(rng: random.Random, key: str, extra: str = "") -> str:
    # The key in the text ties every message to its operation; a few fail in each way the simulator can.
    roll = rng.random()
    command = "#undeliverable" if roll < 0.05 else "#fail" if roll < 0.08 else "#expire" if roll < 0.10 else ""
    return f"k={key} {extra}hello {command}".strip()


def _transfer_pair(rng: random.Random, tenant: Tenant, master: Party) -> tuple[int, int]:
    roll = rng.random()
    if tenant.mode == "pool":
        pool = tenant.pools[master.account_id]
        return (tenant.system_wallet, pool) if roll < 0.6 else (pool, tenant.system_wallet)
    wallets = list(tenant.wallets)
    if tenant.mode == "reader" and roll < 0.25:
        return rng.choice(wallets), tenant.system_wallet
    if roll < 0.6:
        a, b = rng.sample(wallets, 2)
        return a, b
    return tenant.system_wallet, rng.choice(wallets)


def plan(world: World, index: int, seed: int) -> Op:
    """The index-th operation: the same every time it is asked for."""
    rng = random.Random(f"{seed}:{index}")
    names = list(TENANT_WEIGHTS)
    mode = rng.choices(names, [TENANT_WEIGHTS[n] for n in names])[0]
    t_index = next(i for i, t in enumerate(world.tenants) if t.mode == mode)
    tenant = world.tenants[t_index]
    kinds = KINDS[mode]
    kind = rng.choices(list(kinds), list(kinds.values()))[0]
    key = f"k{seed}-{index:07d}"
    master = rng.choice(tenant.master)
    sender = rng.choice(tenant.senders)
    body: dict[str, Any]
    expect = 1
    party = master
    if kind == "purchase":
        users = list(tenant.wallets.values())
        for_user = rng.choice(users) if users and rng.random() < 0.7 else None
        body = {
            "quantity": rng.randint(100, 800),
            "for_user_id": for_user,
            "payment_method": "invoice",
            "billing_details": {"company": "Crash AB", "contact_name": "Crash Test"},
        }
    elif kind == "transfer":
        a, b = _transfer_pair(rng, tenant, master)
        body = {"from_wallet_id": a, "to_wallet_id": b, "amount": rng.randint(1, 60), "reason": f"k={key}"}
    elif kind == "batch_transfer":
        expect = rng.randint(2, 5)
        items = []
        for n in range(expect):
            a, b = _transfer_pair(rng, tenant, master)
            items.append(
                {"from_wallet_id": a, "to_wallet_id": b, "amount": rng.randint(1, 30), "reason": f"k={key} {n}"}
            )
        body = {"transfers": items}
    elif kind in ("send", "send_fast"):
        party = sender
        body = {"to": _number(rng), "text": _text(rng, key)}
    elif kind == "batch_send":
        party = sender
        expect = rng.randint(2, 10)
        body = {"messages": [{"to": _number(rng), "text": _text(rng, key, f"{n} ")} for n in range(expect)]}
    else:  # campaign
        party = sender
        expect = rng.randint(2, 8)
        body = {"name": key, "text": f"k={key} campaign", "numbers": [_number(rng) for _ in range(expect)]}
    return Op(index, key, kind, t_index, party, PATHS[kind], body, expect)


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Config:
    operations: int = 300
    clients: int = 3
    kills: int = 1
    worker_kills: int = 1
    seed: int = 1
    web_workers: int = 2
    threads: int = 4
    port: int | None = None
    task_workers: int = 1


@dataclass
class Snapshot:
    ok: int = 0
    torn: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)


class Run:
    def __init__(self, world: World, cluster: Cluster, config: Config) -> None:
        self.world, self.cluster, self.config = world, cluster, config
        self.timeline = Timeline()
        self.errors = Errors()
        self.lock = threading.Lock()
        self.next_index = 0
        self.records: list[Record] = []
        self.acked: list[Record] = []  # 201s, for replays
        self.deferred: list[Op] = []
        self.snapshot = Snapshot()
        self.done = threading.Event()
        self.kill_lock = threading.Lock()
        self.kill_threads: list[threading.Thread] = []
        self.crashes: list[str] = []
        events = config.kills + config.worker_kills
        # The kills land evenly through the run, the worker's between gunicorn's.
        kinds = ["web"] * config.kills
        for n in range(config.worker_kills):
            kinds.insert(
                min(len(kinds), (2 * n + 1) * max(1, config.kills) // (2 * max(1, config.worker_kills))), "worker"
            )
        self.kill_at = {max(1, (j + 1) * config.operations // (events + 1)): kind for j, kind in enumerate(kinds)}

    # kills

    def _kill(self, kind: str) -> None:
        with self.kill_lock:
            if kind == "web":
                window = self.timeline.web_killed()
                self.cluster.kill_web()
                self.cluster.start_web()
                self.cluster.wait_web(self.world.by_mode("reader").master[0])
                self.timeline.web_ready(window)
            else:
                self.timeline.worker_kills += 1
                self.cluster.kill_worker()
                self.cluster.start_worker()

    def _maybe_kill(self, index: int) -> None:
        kind = self.kill_at.get(index)
        if kind is not None:
            thread = threading.Thread(target=self._guard(self._kill), args=(kind,), name=f"kill-{kind}-{index}")
            thread.start()
            self.kill_threads.append(thread)

    def _guard(self, target: Any) -> Any:
        def run(*args: Any) -> None:
            try:
                target(*args)
            except BaseException as exc:  # a harness failure must end the run loudly, not hang it
                with self.lock:
                    self.crashes.append(f"{target.__name__}: {exc.__class__.__name__}: {exc}")
                self.done.set()

        run.__name__ = getattr(target, "__name__", "thread")
        return run

    # clients

    def _take(self) -> int | None:
        with self.lock:
            if self.next_index >= self.config.operations or self.crashes:
                return None
            self.next_index += 1
            return self.next_index - 1

    def _client(self, number: int) -> None:
        client = Client(self.cluster.port, self.timeline, self.errors, self.lock)
        rng = random.Random(f"replay:{self.config.seed}:{number}")
        while (index := self._take()) is not None:
            self._maybe_kill(index)
            with self.lock:
                earlier = rng.choice(self.acked) if self.acked and rng.random() < REPLAY_SHARE else None
            if earlier is not None:
                op = earlier.op
                outcome = client.call("POST", op.path, op.party, op.body, op.key)
                record = Record(op, outcome, replay_of=op.key)
            else:
                op = plan(self.world, index, self.config.seed)
                if op.kind == "send_fast":
                    outcome = client.call("POST", op.path, op.party, op.body, retry=False)
                else:
                    outcome = client.call("POST", op.path, op.party, op.body, op.key)
                record = Record(op, outcome)
            keyed = op.kind != "send_fast"
            with self.lock:
                self.records.append(record)
                if outcome.status is None and record.replay_of is None and keyed:
                    self.deferred.append(op)
                if outcome.status == 201 and record.replay_of is None and keyed:
                    self.acked.append(record)

    def _reader(self) -> None:
        tenant = self.world.by_mode("reader")
        client = Client(self.cluster.port, self.timeline, self.errors, self.lock)
        while not self.done.is_set() or self.snapshot.ok + len(self.snapshot.torn) < 3:
            outcome = client.call("GET", "/api/v1/credits/wallets?limit=100", tenant.master[0])
            if outcome.status != 200 or not isinstance(outcome.body, dict):
                with self.lock:
                    self.snapshot.unanswered.append(f"answer {outcome.status}: {str(outcome.body)[:200]}")
                if len(self.snapshot.unanswered) > 20:
                    return
                continue
            items = outcome.body["items"]
            total = sum(w["balance"] for w in items)
            with self.lock:
                if total == tenant.total:
                    self.snapshot.ok += 1
                else:
                    balances = {w["id"]: w["balance"] for w in items}
                    self.snapshot.torn.append(f"wallets sum to {total}, not {tenant.total}: {balances}")
            time.sleep(0.02)  # a reader, not a load generator

    def drive(self) -> None:
        reader = threading.Thread(target=self._guard(self._reader), name="reader")
        reader.start()
        clients = [
            threading.Thread(target=self._guard(self._client), args=(n,), name=f"client-{n}")
            for n in range(self.config.clients)
        ]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        for thread in self.kill_threads:
            thread.join()
        self.done.set()
        reader.join()
        # Operations that met only "in flight": once more, now that nothing else runs.
        client = Client(self.cluster.port, self.timeline, self.errors, self.lock)
        for op in self.deferred:
            self.records.append(
                Record(op, client.call("POST", op.path, op.party, op.body, op.key), replay_of="deferred")
            )


# --- after the run -------------------------------------------------------------------------------


def drain(customer_ids: list[int], cluster: Cluster | None = None, waited: list[str] | None = None) -> list[str]:
    """Wait until no message is in flight, no campaign is sending and no task waits or runs. Bounded by
    state: it stops when nothing moved for DRAIN_STALL seconds or after a cap that grows with the backlog,
    and says what hung."""
    from django.db import connection
    from django_tasks_db.models import DBTaskResult

    from kontor.messaging.models import Campaign, Message, Status

    waiting = (Status.QUEUED, Status.SUBMITTED, Status.ACCEPTED)
    started = last_change = time.monotonic()
    last: tuple[Any, ...] = ()
    cap: float | None = None
    while True:
        messages = Counter(
            Message.objects.filter(customer_id__in=customer_ids, status__in=waiting).values_list("status", flat=True)
        )
        sending = Campaign.objects.filter(customer_id__in=customer_ids, status=Campaign.State.SENDING).count()
        tasks = Counter(DBTaskResult.objects.filter(status__in=["READY", "RUNNING"]).values_list("status", flat=True))
        state = (tuple(sorted(messages.items())), sending, tuple(sorted(tasks.items())))
        connection.close()
        if waited is not None and not waited:
            waited.append(f"messages {dict(messages)}, campaigns sending {sending}, tasks {dict(tasks)}")
        if not messages and not sending and not tasks:
            return []
        now = time.monotonic()
        if state != last:
            last, last_change = state, now
        if cluster is not None and cluster.worker_exited():
            return [f"the worker exited during the drain: {cluster.log_tail('worker.log')}"]
        if cap is None:
            cap = DRAIN_CAP + DRAIN_PER_MESSAGE * sum(messages.values())
        if now - last_change > DRAIN_STALL or now - started > cap:
            return [f"not drained: messages {dict(messages)}, campaigns sending {sending}, tasks {dict(tasks)}"]
        time.sleep(0.5)


KEY_IN = re.compile(r"^k=(\S+) ")


def check(world: World, records: list[Record]) -> dict[str, list[str]]:
    """What must hold in the database after the run; anomalies by kind."""
    from django.core.management import call_command
    from django.db.models import Sum
    from django_tasks_db.models import DBTaskResult

    from kontor.ledger.models import JournalTransaction, Wallet
    from kontor.messaging.models import Campaign, Direction, Message, Status

    anomalies: dict[str, list[str]] = defaultdict(list)
    customers = world.customer_ids
    first = {r.op.key: r for r in records if r.replay_of is None}
    final: dict[str, Record] = {}  # the answer each operation ended with (its retry at the end included)
    for r in records:
        if r.replay_of in (None, "deferred") and (r.op.key not in final or r.outcome.status is not None):
            final[r.op.key] = r

    # Replays answer what the first request got.
    for r in records:
        if r.replay_of in (None, "deferred"):
            continue
        original = first[r.op.key].outcome
        if r.outcome.status != original.status or _ids(r.op.kind, r.outcome.body) != _ids(r.op.kind, original.body):
            anomalies["replay_differs"].append(
                f"{r.op.kind} {r.op.key}: first {original.status} {str(original.body)[:120]}, "
                f"replay {r.outcome.status} {str(r.outcome.body)[:120]}"
            )

    # Effects by key: journals of purchases and transfers, messages, campaigns.
    effects: dict[str, set[str]] = defaultdict(set)
    for pk, kind, key, reason in JournalTransaction.objects.filter(
        customer_id__in=customers, kind__in=["purchase", "transfer", "allocation"]
    ).values_list("pk", "kind", "idempotency_key", "reason"):
        match = re.match(r"^k=(\S+)", reason or "")
        owner = key if kind == "purchase" else match.group(1) if match else None
        if owner is None:
            if reason != "crash opening":
                anomalies["journal_without_operation"].append(f"{kind} {pk}: {reason}")
            continue
        effects[owner].add(str(pk))
    in_campaigns = Message.objects.filter(customer_id__in=customers, campaign_id__isnull=False)
    campaign_messages: Counter[int] = Counter(in_campaigns.values_list("campaign_id", flat=True))
    for pk, text in Message.objects.filter(
        customer_id__in=customers, direction=Direction.OUT, campaign_id__isnull=True
    ).values_list("pk", "text"):
        match = KEY_IN.match(text)
        if match is None:
            anomalies["message_without_operation"].append(f"message {pk}: {text[:60]}")
            continue
        effects[match.group(1)].add(str(pk))
    campaigns: dict[str, list[int]] = defaultdict(list)
    for pk, name in Campaign.objects.filter(customer_id__in=customers).values_list("pk", "name"):
        campaigns[name].append(pk)

    for key, r in final.items():
        op, outcome = r.op, r.outcome
        got = effects.pop(key, set())
        if op.kind == "send_fast" and outcome.status is None:
            # Sent without a key and cut off by a kill: it may or may not have been stored, never twice.
            if len(got) > 1:
                anomalies["applied_more_than_once"].append(f"send_fast {key}: {sorted(got)}")
            continue
        if outcome.status is None:
            found = f"{len(got)} effects" if op.kind != "campaign" else f"campaigns {campaigns.pop(key, [])}"
            anomalies["no_definite_answer"].append(f"{op.kind} {key} ({found}): {str(outcome.body)[:200]}")
            continue
        if op.kind == "campaign":
            mine = campaigns.pop(key, [])
            if outcome.status != 201:
                if mine:
                    anomalies["refused_but_applied"].append(f"campaign {key}: {outcome.status}, campaigns {mine}")
                continue
            if len(mine) != 1:
                anomalies["applied_more_than_once" if len(mine) > 1 else "lost"].append(f"campaign {key}: {mine}")
                continue
            count = campaign_messages.get(mine[0], 0)
            expected = outcome.body.get("recipients_count", op.expect)
            if count != expected:
                anomalies["campaign_messages"].append(
                    f"campaign {key} ({mine[0]}): {count} messages, {expected} recipients"
                )
            continue
        if outcome.status != 201:
            if got:
                anomalies["refused_but_applied"].append(
                    f"{op.kind} {key}: answered {outcome.status}, found {sorted(got)}"
                )
            continue
        acked = _ids(op.kind, outcome.body)
        if got != acked:
            kind = "applied_more_than_once" if acked < got else "lost" if got < acked else "mismatch"
            anomalies[kind].append(f"{op.kind} {key}: acknowledged {sorted(acked)}, found {sorted(got)}")
    for key, ids in effects.items():
        anomalies["effect_of_unknown_key"].append(f"{key}: {sorted(ids)}")
    for name, pks in campaigns.items():
        anomalies["campaign_of_unknown_key"].append(f"{name}: {pks}")

    # Conservation per customer, no negative wallet.
    sums = dict(
        Wallet.objects.filter(customer_id__in=customers)
        .values("customer_id")
        .annotate(s=Sum("balance"))
        .values_list("customer_id", "s")
    )
    for customer_id in customers:
        if sums.get(customer_id, 0) != 0:
            anomalies["not_conserved"].append(f"customer {customer_id}: wallets sum to {sums.get(customer_id)}")
    for pk, kind, balance in (
        Wallet.objects.filter(customer_id__in=customers, balance__lt=0)
        .exclude(kind="provider")
        .values_list("pk", "kind", "balance")
    ):
        anomalies["negative_wallet"].append(f"{kind} wallet {pk}: {balance}")

    # Each message's reservation went where its status says.
    by_reference: dict[str, Counter[str]] = defaultdict(Counter)
    for reference, kind in JournalTransaction.objects.filter(
        customer_id__in=customers, reference__startswith="message:", kind__in=["consumption", "release", "refund"]
    ).values_list("reference", "kind"):
        by_reference[reference][kind] += 1
    refunds = JournalTransaction.objects.filter(
        customer_id__in=customers, kind="refund", idempotency_key__startswith="sys:refund:message:"
    ).values_list("idempotency_key", flat=True)
    for key in refunds:
        by_reference[key.removeprefix("sys:refund:")]["refund"] += 1
    allowed = {
        Status.DELIVERED: [{"consumption": 1}],
        Status.ACCEPTED: [{"consumption": 1}],
        Status.FAILED: [{"release": 1}, {"consumption": 1, "refund": 1}],
        Status.EXPIRED: [{"consumption": 1, "refund": 1}],
        Status.REJECTED: [{"release": 1}, {}],
    }
    held = 0
    for pk, status, credits in Message.objects.filter(customer_id__in=customers, direction=Direction.OUT).values_list(
        "pk", "status", "credits"
    ):
        seen = dict(by_reference.get(f"message:{pk}", {}))
        if status in allowed:
            if seen not in allowed[status]:
                anomalies["reservation_not_settled"].append(f"message {pk} {status}: journals {seen}")
        else:
            held += credits
            anomalies["message_not_final"].append(f"message {pk} {status}")
    hold = Wallet.objects.filter(customer_id__in=customers, kind="hold").aggregate(s=Sum("balance"))["s"] or 0
    if hold != held:
        anomalies["hold_mismatch"].append(f"hold wallets hold {hold}, messages in flight {held}")

    failed = DBTaskResult.objects.filter(status="FAILED")
    for name, error in failed.values_list("task_path", "exception_class_path")[:ANOMALY_EXAMPLES]:
        anomalies["task_failed"].append(f"{name}: {error}")
    if failed.count() > ANOMALY_EXAMPLES:
        anomalies["task_failed"].append(f"... {failed.count()} failed tasks in all")

    try:
        call_command("ledger", "verify", stdout=open(os.devnull, "w"))  # noqa: SIM115
    except (SystemExit, Exception) as exc:
        anomalies["ledger_verify"].append(f"{exc.__class__.__name__}: {exc}")
    return dict(anomalies)


def _ids(kind: str, body: Any) -> set[str]:
    """The ids an answer names (journals or messages)."""
    if not isinstance(body, dict):
        return set()
    if kind in ("purchase", "transfer"):
        return {str(body.get("journal_id"))}
    if kind == "batch_transfer":
        return {str(j) for j in body.get("journal_ids", [])}
    if kind in ("send", "send_fast"):
        return {str(body.get("id"))}
    if kind == "batch_send":
        return {str(m["id"]) for m in body.get("messages", [])}
    return {str(body.get("id"))}


def log_anomalies(cluster: Cluster) -> dict[str, list[str]]:
    """What the worker's log says went wrong: failed sweeps, by their distinct cause."""
    path = cluster.var_dir / "worker.log"
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    causes: Counter[str] = Counter()
    for n, line in enumerate(lines):
        match = re.search(r"sweep (\S+) failed", line)
        if match is None:
            continue
        # The exception is the first unindented line after the traceback.
        cause = next((later for later in lines[n + 2 : n + 200] if later and not later[0].isspace()), "")
        if cause.startswith("Traceback") or re.match(r"\d{4}-\d\d-\d\d ", cause):
            cause = ""
        causes[f"{match.group(1)}: {cause[:200]}"] += 1
    return {"sweep_failed": [f"{count}x {cause}" for cause, count in causes.most_common()]} if causes else {}


# --- the report ----------------------------------------------------------------------------------


@dataclass
class Report:
    operations: int
    kills: int
    worker_kills: int
    acknowledged: int
    refused: dict[str, int]
    refusal_examples: dict[str, str]
    replays: int
    snapshots: int
    errors: dict[str, Any]
    anomalies: dict[str, list[str]]
    seconds: float
    phases: dict[str, Any]
    log_dir: str

    @property
    def anomaly_count(self) -> int:
        return sum(len(v) for v in self.anomalies.values())

    def line(self) -> str:
        drive = self.phases.get("drive") or self.seconds
        rate = self.operations / drive if drive else 0.0
        return (
            f"crash: operations={self.operations} kills={self.kills + self.worker_kills} "
            f"anomalies={self.anomaly_count} http5xx={self.errors['http5xx']} "
            f"kill_5xx={self.errors['kill_5xx']} kill_conn_errors={self.errors['kill_conn']} "
            f"ops_per_s={rate:.1f}"
        )


def execute(world: World, database_url: str, config: Config, var_dir: Path) -> Report:
    """Start the cluster, drive it with kills, drain, check. Django must point at the same database."""
    from django.db import connections

    connections.close_all()
    cluster = Cluster(
        database_url,
        port=config.port,
        web_workers=config.web_workers,
        threads=config.threads,
        var_dir=var_dir,
        task_workers=config.task_workers,
    )
    started = time.monotonic()
    try:
        cluster.start_worker()
        cluster.start_web()
        cluster.wait_web(world.by_mode("reader").master[0])
        run = Run(world, cluster, config)
        up = time.monotonic()
        run.drive()
        driven = time.monotonic()
        waited: list[str] = []
        drained = drain(world.customer_ids, cluster, waited)
        seconds = time.monotonic() - started
        phases = {
            "start": round(up - started, 1),
            "drive": round(driven - up, 1),
            "drain": round(time.monotonic() - driven, 1),
            "restarts": [round(ready - killed, 1) for killed, ready in run.timeline.windows],
            "drain_waited_on": waited[0] if waited else "",
        }
    finally:
        cluster.stop()
    anomalies = check(world, run.records)
    if drained:
        anomalies["not_drained"] = drained
    for kind, items in log_anomalies(cluster).items():
        anomalies[kind] = items
    if run.snapshot.torn:
        anomalies["torn_read"] = run.snapshot.torn
    if run.snapshot.unanswered:
        anomalies["reader_unanswered"] = run.snapshot.unanswered
    if run.crashes:
        anomalies["harness"] = run.crashes
    if run.errors.http5xx or run.errors.conn:
        anomalies["http_error_outside_kills"] = run.errors.examples
    refused: Counter[str] = Counter()
    refusal_examples: dict[str, str] = {}
    for r in run.records:
        if r.replay_of is None and r.outcome.status not in (201, None):
            body = r.outcome.body if isinstance(r.outcome.body, dict) else {}
            name = f"{r.op.kind}:{r.outcome.status}:{body.get('code', '')}"
            refused[name] += 1
            refusal_examples.setdefault(name, f"{json.dumps(r.op.body)[:200]} -> {json.dumps(body)[:300]}")
    return Report(
        operations=len(run.records),
        kills=run.timeline.generation,
        worker_kills=run.timeline.worker_kills,
        acknowledged=len(run.acked),
        refused=dict(refused),
        refusal_examples=refusal_examples,
        replays=sum(1 for r in run.records if r.replay_of not in (None, "deferred")),
        snapshots=run.snapshot.ok + len(run.snapshot.torn),
        errors={k: v for k, v in asdict(run.errors).items() if k != "examples"},
        anomalies=anomalies,
        seconds=seconds,
        phases=phases,
        log_dir=str(var_dir),
    )


def print_report(report: Report) -> None:
    say(
        f"crash: {report.acknowledged} acknowledged, refused {report.refused}, {report.replays} replays, "
        f"{report.snapshots} reader snapshots, errors {report.errors}, {report.seconds:.0f} s {report.phases}; "
        f"logs in {report.log_dir}"
    )
    for name, example in sorted(report.refusal_examples.items()):
        say(f"refused {name}: e.g. {example}")
    for kind, items in sorted(report.anomalies.items()):
        say(f"anomaly {kind}: {len(items)}")
        for item in items[:ANOMALY_EXAMPLES]:
            say(f"    {item[:400]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench crash", description=__doc__.split("\n\n")[0])
    parser.add_argument("--operations", type=int, default=300)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--kills", type=int, default=1, help="kill -9 of gunicorn (master and workers)")
    parser.add_argument("--worker-kills", type=int, default=1, help="kill -9 of `kontor worker`")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument(
        "--task-workers", type=int, default=1, help="`kontor worker` processes (killed and restarted together)"
    )
    parser.add_argument("--port", type=int, default=None, help="loopback port for gunicorn (default: a free one)")
    parser.add_argument("--database", default=DATABASE, help="scratch database (dropped and created)")
    parser.add_argument("--json", default=None, help="also write the report here")
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    args = parser.parse_args(argv)
    config = Config(
        operations=args.operations,
        clients=args.clients,
        kills=args.kills,
        worker_kills=args.worker_kills,
        seed=args.seed,
        web_workers=args.web_workers,
        threads=args.threads,
        port=args.port,
        task_workers=args.task_workers,
    )
    server = server_url()
    var_dir = Path(tempfile.mkdtemp(prefix="kontor-crash-"))
    try:
        url = recreate_database(server, args.database)
    except BenchUnavailable as exc:
        say(f"crash: skipped: {exc}")
        say("crash: operations=0 kills=0 anomalies=n/a http5xx=n/a (PostgreSQL unavailable)")
        return 2
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    # SIGTERM (a timeout, Ctrl-C's cousin) still runs the clean-up below.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    report: Report | None = None
    try:
        setup_django(url)
        world = build_world()
        report = execute(world, url, config, var_dir)
        print_report(report)
        if args.json:
            Path(args.json).write_text(json.dumps({**asdict(report), "anomaly_count": report.anomaly_count}, indent=1))
        say(report.line())
        return 1 if report.anomaly_count or report.errors["http5xx"] else 0
    except BenchUnavailable as exc:
        say(f"crash: skipped: {exc}")
        say("crash: operations=0 kills=0 anomalies=n/a http5xx=n/a (unavailable)")
        return 2
    finally:
        _kill_all_started()
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(server, args.database)
            if report is None or not report.anomaly_count:
                shutil.rmtree(var_dir, ignore_errors=True)
