"""Section 8, json: parse time per key, and an 80,000-key body refused by the API."""
import json
import subprocess
import time
import urllib.error
import urllib.request

from ..config import ENGINE_BENCH, QUICK
from ..daemon import Daemon
from ..report import results, row, summary


def bench_json():
    print("8. JSON: parse time per key of one large object (linear: about the same at any size)", flush=True)
    per_key = {}
    for keys in (10_000, 80_000):
        out = subprocess.run([ENGINE_BENCH, "json", str(keys), "9" if QUICK else "21"],
                             capture_output=True, text=True, check=True).stdout
        f = json.loads(out)
        per_key[keys] = f
        row(f"object of {keys:,} keys ({f['bytes'] / 1e6:.2f} MB)",
            f"{f['ns_per_key']:.0f} ns/key: jansson {f['jansson_ns_per_key']:.0f}, to JSONValue {f['convert_ns_per_key']:.0f}")
    # A scan per key (quadratic) would make the conversion 8x slower per key at 8x
    # the keys; cache misses alone (the 80k-key tables outgrow the caches) make it
    # 1.3-2.6x slower on the development machine.
    ratio = per_key[80_000]["convert_ns_per_key"] / per_key[10_000]["convert_ns_per_key"]
    row("to JSONValue, per key at 80k / at 10k", f"{ratio:.2f}", "< 4 (quadratic: 8)", "OK" if ratio < 4 else "NOT LINEAR")
    # The same hostile body against the API: refused (more than 10,000 members)
    # after one linear parse, instead of holding a libmicrohttpd thread for seconds.
    body = ("{" + ",".join(f'"{i:x}":1' for i in range(80_000)) + "}").encode()
    d = Daemon()
    try:
        times = []
        for _ in range(5 if QUICK else 21):
            req = urllib.request.Request(d.url + "/api/jobs", data=body, method="POST")
            start = time.perf_counter()
            try:
                urllib.request.urlopen(req, timeout=30)
                raise RuntimeError("an 80,000-key body was accepted")
            except urllib.error.HTTPError as e:
                if e.code != 400:
                    raise
            times.append(time.perf_counter() - start)
        s = summary([t * 1000 for t in times])
        results["json"] = {"per_key": per_key, "convert_per_key_ratio": ratio, "post_80k_keys_ms": s}
        row(f"POST /api/jobs, 80,000 keys ({len(body) / 1e6:.2f} MB) -> 400", f"{s['median']:.1f} ms median (max {s['max']:.1f})")
    finally:
        d.stop()

