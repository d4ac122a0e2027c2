"""gunicorn's configuration for production: `gunicorn -c python:kontor.gunicorn_conf kontor.wsgi`.

Threads let one process hold several requests at once, which is what lets the group commit
(messaging/bulk/groupcommit.py) put their reservations into one transaction; the fast lane answers plain
sends before Django's middleware (messaging/api/fastlane.py). Each setting can be overridden by its
environment variable or on the command line."""

import multiprocessing
import os

bind = os.environ.get("KONTOR_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("KONTOR_WORKERS", str(multiprocessing.cpu_count())))
worker_class = "gthread"
threads = int(os.environ.get("KONTOR_THREADS", "8"))
keepalive = 30
wsgi_app = "kontor.wsgi:application"
raw_env = [
    f"KONTOR_GROUP_COMMIT={os.environ.get('KONTOR_GROUP_COMMIT', '1')}",
    f"KONTOR_FAST_LANE={os.environ.get('KONTOR_FAST_LANE', '1')}",
]


def worker_exit(server, worker):  # type: ignore[no-untyped-def]
    # Write what the committer still holds before the worker goes.
    from kontor.messaging.bulk import groupcommit

    groupcommit.shutdown()
