"""Benchmarks: one module per benchmark, each measuring its physical-limit baseline in the same run and
printing the ratio on its last line. `python -m bench` runs them all; `python -m bench NAME` one."""

BENCHMARKS = ["ledger", "messaging", "campaign_fanout", "crash"]
