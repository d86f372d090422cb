#!/usr/bin/env python3
"""`make bench`: JobRunner against the limit of its own HTTP layer, and the
performance targets. Prints a table and writes bench-results/results.json.

    python3 scripts/bench/run.py [SECTION ...]

Shared machines are noisy: every comparison alternates A and B within one run and
is reported as a ratio with min, median and max; absolute figures carry that caveat.

The sections live in jrbench/sections/ (one module each, listed in
jrbench/sections/__init__.py); the binaries are found as jrbench/config.py says:
JOBRUNNER_BUILD_DIR (default .build/release), or JOBRUNNERD / JOBRUNNER_BENCH."""
from jrbench.main import main

if __name__ == "__main__":
    main()
