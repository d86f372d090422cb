"""Runs the sections named on the command line (all of them without names),
prints the table and writes bench-results/results.json."""
import shutil
import sys

from .config import CORES, ROUNDS, SECONDS
from .report import write_results
from .sections import PARTS, SECTIONS


def main(argv=None):
    names = sys.argv[1:] if argv is None else argv
    unknown = [n for n in names if n not in SECTIONS and n not in PARTS]
    if unknown:
        sys.exit(f"unknown section {', '.join(unknown)}; sections: {' '.join(SECTIONS)}; parts: {' '.join(PARTS)}")
    for tool in ("wrk", "gcc", "pkg-config"):
        if not shutil.which(tool):
            sys.exit(f"bench needs {tool} (make deps installs it)")
    print(f"JobRunner benchmarks on {CORES} cores; {ROUNDS} alternating rounds of {SECONDS} s "
          "(shared machines are noisy: read ratios, not absolutes)\n", flush=True)

    for name in names or list(SECTIONS):
        (SECTIONS.get(name) or PARTS[name])()
    print(f"\nwrote {write_results()}")
