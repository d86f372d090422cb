"""`make bench` as a package (scripts/bench/jrbench): the entry refuses a section it
does not know, naming the ones it has, and finds the binaries where it is told."""
import os
import subprocess
import sys

from conftest import ROOT

RUN = os.path.join(ROOT, "scripts", "bench", "run.py")
# The sections `make bench` runs, in order (README, Performance), and the parts that run alone.
SECTIONS = ["http", "enqueue", "pickup", "engine", "fanout", "footprint", "history", "search", "json", "dashboards",
            "schedules", "commands", "dependable", "auth", "openapi", "webhooks", "metrics", "postgres",
            "postgres_search", "cluster"]
PARTS = ["dependable_pickup", "dependable_enqueue", "dependable_waiting", "cluster_throughput", "cluster_pickup"]


def bench_python(code, **env):
    """Runs `code` with the bench package importable; its stdout."""
    r = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(RUN), capture_output=True, text=True,
                       timeout=30, env={k: v for k, v in {**os.environ, **env}.items() if v is not None})
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_an_unknown_section_is_refused_with_the_list():
    r = subprocess.run([sys.executable, RUN, "http", "no_such_section"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert r.stdout == ""  # nothing ran: refused before the first section
    assert r.stderr.startswith("unknown section no_such_section; ")
    assert f"sections: {' '.join(SECTIONS)};" in r.stderr
    assert f"parts: {' '.join(PARTS)}" in r.stderr


def test_the_sections_run_in_the_documented_order():
    out = bench_python("from jrbench.sections import SECTIONS, PARTS; print(' '.join(SECTIONS)); print(' '.join(PARTS))")
    assert out.split("\n")[:2] == [" ".join(SECTIONS), " ".join(PARTS)]


def test_the_binaries_come_from_the_build_dir_or_their_own_variables():
    show = "from jrbench import config; print(config.BIN); print(config.ENGINE_BENCH)"
    default = bench_python(show, JOBRUNNER_BUILD_DIR=None, JOBRUNNERD=None, JOBRUNNER_BENCH=None).split()
    assert default == [os.path.join(ROOT, ".build/release/jobrunnerd"), os.path.join(ROOT, ".build/release/jobrunner-bench")]
    built = bench_python(show, JOBRUNNER_BUILD_DIR="/elsewhere/release", JOBRUNNERD=None, JOBRUNNER_BENCH=None).split()
    assert built == ["/elsewhere/release/jobrunnerd", "/elsewhere/release/jobrunner-bench"]
    one = bench_python(show, JOBRUNNER_BUILD_DIR="/elsewhere/release", JOBRUNNERD="/opt/jr/jobrunnerd",
                       JOBRUNNER_BENCH="/opt/jr/bench").split()
    assert one == ["/opt/jr/jobrunnerd", "/opt/jr/bench"]
