"""The sections, in the order `make bench` runs them, and the parts a section
is made of that can also run alone (`run.py dependable_pickup`)."""
from . import (auth, cluster, commands, dashboards, dependable, engine, enqueue, fanout, footprint, history,
               http_server, json_parse, metrics, openapi, pickup, postgres, schedules, search, webhooks)

SECTIONS = {
    "http": http_server.bench_http,
    "enqueue": enqueue.bench_enqueue,
    "pickup": pickup.bench_pickup,
    "engine": engine.bench_engine,
    "fanout": fanout.bench_fanout,
    "footprint": footprint.bench_footprint,
    "history": history.bench_history,
    "search": search.bench_search,
    "json": json_parse.bench_json,
    "dashboards": dashboards.bench_dashboards,
    "schedules": schedules.bench_schedules,
    "commands": commands.bench_commands,
    "dependable": dependable.bench_dependable,
    "auth": auth.bench_auth,
    "openapi": openapi.bench_openapi,
    "webhooks": webhooks.bench_webhooks,
    "metrics": metrics.bench_metrics,
    "postgres": postgres.bench_postgres,
    "postgres_search": postgres.bench_postgres_search,
    "cluster": cluster.bench_cluster,
}

PARTS = {
    "dependable_pickup": dependable.dependable_pickup,
    "dependable_enqueue": dependable.dependable_enqueue,
    "dependable_waiting": dependable.dependable_waiting,
    "cluster_throughput": cluster.cluster_throughput,
    "cluster_pickup": cluster.cluster_pickup,
}
