"""Section auth: bearer tokens and TLS against an open, plain daemon."""
import os
import shutil
import statistics
import subprocess
import tempfile

from ..client import wrk
from ..config import BIN, ROUNDS
from ..daemon import Daemon
from ..report import results, row, summary


def bench_auth():
    """GET /api/stats with a bearer token (tokens required) vs an open daemon, and over TLS vs plain."""
    print("auth: GET /api/stats with a bearer token vs without; over TLS vs plain", flush=True)
    work = tempfile.mkdtemp(prefix="jobrunner-bench-auth-")
    token, entry = subprocess.run([BIN, "token", "new", "bench", "--scopes", "read"], capture_output=True, text=True,
                                  check=True).stdout.splitlines()
    config = os.path.join(work, "c.json")
    with open(config, "w") as f:
        f.write('{"tokens": [%s]}' % entry)
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    plain, secured, tls = Daemon(), Daemon("--config", config), Daemon("--tls-cert", cert, "--tls-key", key)
    try:
        def compare(name, a, b, target=None):
            got_a, got_b, ratios = [], [], []
            for i in range(ROUNDS):
                order = [("a", a), ("b", b)] if i % 2 == 0 else [("b", b), ("a", a)]
                got = {who: wrk(url, env=env, script=script) for who, (url, env, script) in order}
                got_a.append(got["a"])
                got_b.append(got["b"])
                ratios.append(got["a"] / got["b"])
            s = summary(ratios)
            results[f"auth {name}"] = {"a_rps": summary(got_a), "b_rps": summary(got_b), "ratio": s}
            verdict = f"ratio {s['median']:.2f} (min {s['min']:.2f}, max {s['max']:.2f})"
            if target:
                verdict += " OK" if s["median"] >= target else " BELOW"
            row(name, f"{statistics.median(got_a):,.0f}/s vs {statistics.median(got_b):,.0f}/s",
                f"ratio >= {target}" if target else "reported", verdict)

        compare("GET /api/stats, bearer token / open", (secured.url + "/api/stats", {"WRK_TOKEN": token}, "bearer.lua"),
                (plain.url + "/api/stats", None, None), target=0.95)
        compare("GET /api/stats, TLS / plain", (tls.url + "/api/stats", None, None), (plain.url + "/api/stats", None, None))
    finally:
        for d in (plain, secured, tls):
            d.stop()
        shutil.rmtree(work, ignore_errors=True)

