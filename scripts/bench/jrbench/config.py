"""Where the binaries are, and how long to run.

JOBRUNNER_BUILD_DIR: the folder holding jobrunnerd and jobrunner-bench
  (default .build/release of this checkout);
JOBRUNNERD, JOBRUNNER_BENCH: one binary each, overriding that folder;
BENCH_QUICK=1: fewer rounds, shorter runs, smaller data sets."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD_DIR = os.environ.get("JOBRUNNER_BUILD_DIR") or os.path.join(ROOT, ".build/release")
BIN = os.environ.get("JOBRUNNERD") or os.path.join(BUILD_DIR, "jobrunnerd")
ENGINE_BENCH = os.environ.get("JOBRUNNER_BENCH") or os.path.join(BUILD_DIR, "jobrunner-bench")
HERE = os.path.join(ROOT, "scripts/bench")
OUT = os.path.join(ROOT, "bench-results")
QUICK = os.environ.get("BENCH_QUICK") == "1"
ROUNDS = 2 if QUICK else 5
SECONDS = 2 if QUICK else 3
CORES = os.cpu_count() or 2
