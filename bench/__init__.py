"""Benchmarks: one module per benchmark, each measuring its physical-limit baseline in the same run and
printing the ratio on its last line. `python -m bench` runs them all; `python -m bench NAME` one."""

import os

BENCHMARKS = ["ledger", "messaging", "campaign_fanout", "crash"]

# Benchmarks run the demo set-up on this machine, and so do the servers and workers they start (which
# inherit this): on the public demo key unless SECRET_KEY is set (kontor/settings.py).
os.environ.setdefault("KONTOR_DEMO", "1")
