"""A throwaway PostgreSQL server for the PostgreSQL and cluster sections."""
import glob
import os
import subprocess

from .config import ROOT


class Postgres:
    """A throwaway cluster (scripts/pg-throwaway, fsync on to compare with SQLite's);
    closing its stdin stops it and removes its directory."""

    def __init__(self):
        self.proc = subprocess.Popen(["/bin/sh", os.path.join(ROOT, "scripts", "pg-throwaway")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env={**os.environ, "PG_THROWAWAY_FSYNC": "on"})
        line = self.proc.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError("the throwaway PostgreSQL did not start")
        self.dir = line.split(" ", 1)[1].strip()
        self.psql = os.path.join(sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))[-1], "psql")
        self.count = 0

    def new_database(self):
        self.count += 1
        name = f"bench_{self.count}"
        subprocess.run([self.psql, "-X", "-q", "-h", self.dir, "-U", "jobrunner", "-d", "postgres", "-c", f"CREATE DATABASE {name}"],
                       check=True, capture_output=True)
        return f"postgresql:///{name}?host={self.dir}&user=jobrunner"

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(60)

