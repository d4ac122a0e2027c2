"""`python -m bench [NAME [options]]`: with no name, every benchmark in turn, each in its own process
(each points Django at its own scratch database)."""

from __future__ import annotations

import importlib
import subprocess
import sys

from bench import BENCHMARKS


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        print("benchmarks:", ", ".join(BENCHMARKS))
        return 0
    if argv and not argv[0].startswith("-"):
        name, rest = argv[0], argv[1:]
        if name not in BENCHMARKS:
            print(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
            return 2
        return int(importlib.import_module(f"bench.{name}").main(rest) or 0)
    worst = 0
    for name in BENCHMARKS:
        print(f"== bench {name}", flush=True)
        worst = max(worst, subprocess.run([sys.executable, "-m", "bench", name, *argv], check=False).returncode)
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
