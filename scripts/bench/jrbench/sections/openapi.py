"""Section openapi: the cached OpenAPI document vs GET /api/job-types."""
import shutil
import statistics
import tempfile
import urllib.request

from ..client import wrk
from ..config import ROUNDS
from ..daemon import Daemon, write_command_types
from ..report import results, row, summary


def bench_openapi():
    """GET /api/openapi.json (served from the bytes cached per set of job types) vs GET /api/job-types, with 50 command types."""
    print("openapi: GET /api/openapi.json (cached document) vs GET /api/job-types, 54 job types", flush=True)
    work = tempfile.mkdtemp(prefix="jobrunner-bench-openapi-")
    params = {"name": {"type": "string", "required": True, "max_length": 64, "pattern": "^[a-z0-9_]+$"},
              "level": {"type": "integer", "default": 1, "min": 1, "max": 9},
              "mode": {"type": "string", "enum": ["full", "diff"], "default": "full"}}
    write_command_types(work, {f"type{i:02d}": {"command": ["/bin/true"], "params": params} for i in range(50)})
    d = Daemon("--job-types-dir", work)
    try:
        doc_bytes = len(urllib.request.urlopen(d.url + "/api/openapi.json", timeout=30).read())
        types_bytes = len(urllib.request.urlopen(d.url + "/api/job-types", timeout=30).read())
        got_doc, got_types, ratios = [], [], []
        for i in range(ROUNDS):
            pair = [("doc", "/api/openapi.json"), ("types", "/api/job-types")]
            got = {who: wrk(d.url + path) for who, path in (pair if i % 2 == 0 else pair[::-1])}
            got_doc.append(got["doc"])
            got_types.append(got["types"])
            ratios.append(got["doc"] * doc_bytes / (got["types"] * types_bytes))
        s = summary(ratios)
        results["openapi"] = {"doc_bytes": doc_bytes, "types_bytes": types_bytes, "doc_rps": summary(got_doc),
                              "types_rps": summary(got_types), "bytes_ratio": s}
        row(f"GET /api/openapi.json ({doc_bytes:,} B) vs /api/job-types ({types_bytes:,} B)",
            f"{statistics.median(got_doc):,.0f}/s vs {statistics.median(got_types):,.0f}/s", "reported",
            f"bytes/s ratio {s['median']:.2f} (min {s['min']:.2f}, max {s['max']:.2f})")
    finally:
        d.stop()
        shutil.rmtree(work, ignore_errors=True)

