"""`kontor worker`: the django-tasks database worker, plus the sweeps that pick up what no task carries
(due scheduled messages, lost or stuck dispatches, early delivery reports, due webhook retries), every
`--sweep-seconds` in a thread of the same process, so a deployment needs no cron entry for them.

At least once: django-tasks-db marks a task RUNNING when a worker claims it and has no way of noticing
that the worker died (kill -9, OOM, a lost host): the task would stay RUNNING forever. Here a task's
`started_at` is its lease. While this worker runs a task, a heartbeat thread renews the lease every
third of `KONTOR_TASK_LEASE_SECONDS` (default 60); the sweep thread puts every RUNNING task whose lease
has expired back to READY, so another worker runs it again (every handler is idempotent, see
docs/messaging.md). A task that has been claimed KONTOR_TASK_MAX_CLAIMS times (default 5) without
finishing kills its workers, it seems: it is marked FAILED instead of being handed out forever."""

from __future__ import annotations

import datetime as dt
import io
import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from kontor.core.retry import retrying

log = logging.getLogger(__name__)

SWEEPS = ("dispatch_pending", "deliver_webhooks", "purge_removed_columns")
LEASE_EXPIRED = "kontor.core.tasks.LeaseExpired"


def lease_seconds() -> float:
    return float(getattr(settings, "KONTOR_TASK_LEASE_SECONDS", 60))


def max_claims() -> int:
    return int(getattr(settings, "KONTOR_TASK_MAX_CLAIMS", 5))


def requeue_expired_tasks(now: dt.datetime | None = None) -> tuple[int, int]:
    """Put RUNNING tasks whose lease expired (their worker died) back to READY, and fail those claimed
    `max_claims()` times already. Returns (requeued, failed). Rows another sweep holds are skipped."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=lease_seconds())

    def sweep() -> tuple[int, int]:
        requeued = failed = 0
        expired = (
            DBTaskResult.objects.select_for_update(skip_locked=True)
            .filter(status="RUNNING", started_at__lt=cutoff)
            .order_by("started_at")[:500]
        )
        for task in expired:
            if len(task.worker_ids or []) >= max_claims():
                task.status, task.finished_at = "FAILED", now
                task.exception_class_path = LEASE_EXPIRED
                task.traceback = (
                    f"The lease expired {len(task.worker_ids)} times (its worker died each time); not run again.\n"
                )
                task.save(update_fields=["status", "finished_at", "exception_class_path", "traceback"])
                log.error("task %s (%s) failed: its workers died %d times", task.pk, task.task_path, max_claims())
                failed += 1
            else:
                # READY again, with run_after kept: the worker loop picks it up like a new task.
                task.status, task.started_at = "READY", None
                task.save(update_fields=["status", "started_at"])
                log.warning("task %s (%s) requeued: its worker %s died", task.pk, task.task_path, task.worker_ids[-1:])
                requeued += 1
        return requeued, failed

    return retrying(sweep)


def sweep_once() -> None:
    """Requeue abandoned tasks, then run every sweep once; one that fails is logged and the others still run."""
    try:
        requeue_expired_tasks()
    except Exception:
        log.exception("requeueing abandoned tasks failed")
    for name in SWEEPS:
        try:
            call_command(name, stdout=io.StringIO())
        except Exception:
            log.exception("sweep %s failed", name)
        finally:
            connection.close()  # this thread's; the next round opens a fresh one


def _requeue_quietly() -> None:
    try:
        requeue_expired_tasks()
    except Exception:
        log.exception("requeueing abandoned tasks failed")
    finally:
        connection.close()


def sweep_forever(every: float, stop: threading.Event) -> None:
    """Sweep at once (a restarted worker recovers what its predecessor left without waiting a round),
    then every `every` seconds; abandoned tasks are requeued more often, twice per lease."""
    tick = max(0.01, min(every, lease_seconds() / 2))
    next_sweep = time.monotonic()
    while True:
        if time.monotonic() >= next_sweep:
            sweep_once()
            next_sweep = time.monotonic() + every
        else:
            _requeue_quietly()
        if stop.wait(min(tick, max(0.01, next_sweep - time.monotonic()))):
            return


class Heartbeat:
    """Renews the lease (`started_at`) of the task this worker is running, from its own thread (and
    database connection), so that a long task is never taken for an abandoned one."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.current: Any = None
        self._lock = threading.Lock()

    def hold(self, task_id: Any) -> None:
        with self._lock:
            self.current = task_id

    def drop(self) -> None:
        with self._lock:
            self.current = None

    def beat(self) -> int:
        with self._lock:
            task_id = self.current
        if task_id is None:
            return 0
        return DBTaskResult.objects.filter(pk=task_id, status="RUNNING").update(started_at=timezone.now())

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.every):
            try:
                self.beat()
            except Exception:  # a missed beat is survivable: the lease is three beats long
                log.warning("task lease not renewed", exc_info=True)
            finally:
                connection.close()


class LeasedWorker(Worker):
    """django-tasks-db's worker, holding a lease on the task it runs (see the module docstring)."""

    def __init__(self, *, heartbeat: Heartbeat, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.heartbeat = heartbeat

    def run_task(self, db_task_result: DBTaskResult) -> None:
        self.heartbeat.hold(db_task_result.pk)
        try:
            super().run_task(db_task_result)
        finally:
            self.heartbeat.drop()


class Command(BaseCommand):
    help = "Run the background worker (django-tasks, database backend) until interrupted."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--interval", type=float, default=0.5, help="Seconds between polls when idle.")
        parser.add_argument("--batch", action="store_true", help="Exit once the queue is empty.")
        parser.add_argument(
            "--sweep-seconds",
            type=float,
            default=60.0,
            help="Seconds between sweeps (see SWEEPS: dispatch, webhooks, column purge); 0 turns them off.",
        )
        parser.add_argument("--worker-id", default="", help="This worker's id (default: a random one).")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        heartbeat = Heartbeat(max(0.01, lease_seconds() / 3))
        threading.Thread(target=heartbeat.run, args=(stop,), name="kontor-lease", daemon=True).start()
        if not options["batch"] and options["sweep_seconds"] > 0:
            threading.Thread(
                target=sweep_forever, args=(options["sweep_seconds"], stop), name="kontor-sweeps", daemon=True
            ).start()
        logging.getLogger("django_tasks_db").setLevel(logging.INFO)
        worker = LeasedWorker(
            heartbeat=heartbeat,
            queue_names=list(settings.TASKS["default"].get("QUEUES") or ["default"]),
            interval=options["interval"],
            batch=options["batch"],
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=options["worker_id"] or get_random_string(32),
            excluded_queue_names=[],
        )
        try:
            worker.configure_signals()
            worker.run()
        finally:
            stop.set()
