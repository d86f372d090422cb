"""The OpenAPI contract from outside: /api/openapi.json of the built daemon is
valid OpenAPI 3.1 (openapi-spec-validator), carries this daemon's command job
types, follows a SIGHUP reload, and schemathesis run against a live daemon of its
own (open, loopback, two command types) finds no 5xx and no response that breaks
the document. /api/docs renders it in Chromium."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import jsonschema
import pytest
import requests
from openapi_spec_validator import validate
from playwright.sync_api import expect

from conftest import BINARY, OUTPUT, Daemon
from test_rest import finished, submit
from waits import wait_for

# Two command types with every kind of param (run with real programs: /bin/echo, /bin/true).
TYPES = [
    {"name": "greet", "description": "Say hello", "command": ["/bin/echo", "{name}", "{times}", "{loud}", "{ratio}", "{mode}"],
     "params": {"name": {"type": "string", "required": True, "max_length": 20, "pattern": "^[a-z]+$",
                         "description": "Who to greet"},
                "times": {"type": "integer", "default": 1, "min": -5, "max": 5},
                "loud": {"type": "boolean", "default": False},
                "ratio": {"type": "number", "default": 0.5, "min": 0, "max": 1},
                "mode": {"type": "string", "enum": ["plain", "fancy"], "default": "plain"}}},
    {"name": "noop", "description": "Does nothing", "command": ["/bin/true"]},
]

# The checks the contract promises: no server error, and every response as documented.
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance"]


def start(tmp_path, *args):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"job_types": TYPES}))
    return Daemon("--config", str(config), *args)


@pytest.fixture
def contract(tmp_path):
    """A daemon of this test's own: schemathesis clears, cancels and schedules freely."""
    d = start(tmp_path)
    yield d
    assert d.stop() == 0, "".join(d.log)


def document(url):
    r = requests.get(f"{url}/api/openapi.json")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    return r.json()


def test_document_is_valid_openapi_with_the_command_types(contract):
    doc = document(contract.url)
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema
    assert doc["openapi"] == "3.1.0"
    schemas = doc["components"]["schemas"]
    greet = schemas["Params.greet"]
    assert greet["required"] == ["name"] and greet["additionalProperties"] is False
    assert greet["properties"]["name"]["pattern"] == "^[a-z]+$"
    assert greet["properties"]["times"]["minimum"] == -5
    assert greet["properties"]["mode"]["enum"] == ["plain", "fancy"]
    body = doc["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert [ref["$ref"].rsplit(".", 1)[1] for ref in body["oneOf"]] == ["countdown", "prime", "fibonacci", "echo", "greet", "noop"]
    # What the schema calls valid, the daemon accepts; what it refuses, the daemon refuses.
    ok = requests.post(f"{contract.url}/api/jobs", json={"job_type": "greet", "params": {"name": "ada", "times": -5, "ratio": 1}})
    assert ok.status_code == 201, ok.text
    bad = requests.post(f"{contract.url}/api/jobs", json={"job_type": "greet", "params": {"name": "Ada"}})
    assert bad.status_code == 400 and bad.json() == {"error": "Parameter 'name' must match ^[a-z]+$"}


# Minutes of generated traffic (the run's own limit below is 400 s): past the suite's default timeout.
@pytest.mark.timeout(600)
def test_a_default_schemathesis_run_finds_nothing(contract, tmp_path):
    """schemathesis as anyone would run it: a random seed, its default phases
    (examples, coverage, fuzzing, stateful), every operation including the
    progress stream: no failure, and no warning that the document is off (the
    daemon refusing what the document allows, validation_mismatch, or a pattern
    schemathesis cannot use)."""
    operations = sum(len([m for m in item if m in ("get", "post", "put", "delete")])
                     for item in document(contract.url)["paths"].values())
    config = tmp_path / "schemathesis.toml"
    # The warnings that say the document is off fail the run; missing_test_data
    # (random ids that name no job) says nothing about the document.
    config.write_text('[warnings]\nfail-on = ["validation_mismatch", "unsupported_regex", "missing_deserializer",'
                      ' "unresolvable_reference", "method_not_allowed", "base_url_mismatch"]\n')
    # One worker: on Python 3.11 two threads describing hypothesis strategies run
    # ast.parse at once, and 3.11's AST converter keeps its recursion depth in
    # state the threads share, so it can fail with "SystemError: AST constructor
    # recursion depth mismatch" (a CPython bug, not the daemon's).
    # A progress stream of a running job is read for --request-timeout seconds
    # (or 20 events): 3 s keeps the run short.
    command = [os.path.join(os.path.dirname(sys.executable), "st"), "--config-file", str(config),
               "run", f"{contract.url}/api/openapi.json", "--checks", ",".join(CHECKS), "--max-examples", "25",
               "--request-timeout", "3", "--workers", "1", "--generation-database", "none", "--no-color"]
    started = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True, timeout=400, cwd=tmp_path)
    elapsed = time.monotonic() - started
    seed = re.search(r"Seed:\s+(\d+)", run.stdout)
    assert run.returncode == 0, f"seed {seed and seed.group(1)}\n" + run.stdout[-20000:] + run.stderr[-5000:]
    assert "Schema validation mismatch" not in run.stdout, run.stdout[-20000:]
    # Every operation was tested but the document itself (which schemathesis
    # leaves out as the schema's own URL), with real traffic.
    selected = re.search(r"Selected:\s+(\d+)", run.stdout)
    tested = re.search(r"Tested:\s+(\d+)", run.stdout)
    assert selected and tested and tested.group(1) == selected.group(1), run.stdout[-5000:]
    assert int(tested.group(1)) >= operations - 1, run.stdout[-5000:]
    generated = re.search(r"(\d+) generated", run.stdout)
    assert generated and int(generated.group(1)) >= 500, run.stdout[-5000:]
    assert contract.proc.poll() is None
    print(f"schemathesis (seed {seed and seed.group(1)}): {generated.group(1)} requests in {elapsed:.1f} s")


def sse_events(text):
    """The events of an SSE body as a parser reads them: event, data, id."""
    events = []
    for block in text.split("\n\n"):
        event = {}
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            if field in ("event", "id"):
                event[field] = value
            elif field == "data":
                event["data"] = value
        if "data" in event:
            events.append(event)
    return events


def test_progress_stream_as_documented(contract):
    doc = document(contract.url)
    op = doc["paths"]["/api/jobs/{id}/progress"]["get"]
    job = submit(contract.url, "greet", name="ada")
    done = wait_for(lambda: finished(contract.url, job["id"]))
    with requests.get(f"{contract.url}/api/jobs/{job['id']}/progress", params={"after": 0}, stream=True, timeout=10) as r:
        assert str(r.status_code) in op["responses"]
        assert r.headers["Content-Type"] in op["responses"]["200"]["content"]
        events = sse_events(r.text)
    assert [e["event"] for e in events] == ["status", "log", "complete"]
    # Each event as the document says: its fields, and its data's JSON by its name.
    schema = doc["components"]["schemas"]["ProgressEvent"]
    outer = {k: v for k, v in schema.items() if k != "oneOf"}
    for event in events:
        jsonschema.validate(event, outer)
        [kind] = [k for k in schema["oneOf"] if k["properties"]["event"]["const"] == event["event"]]
        jsonschema.validate(json.loads(event["data"]), kind["properties"]["data"]["contentSchema"])
    # A client that saw the end gets 204, as documented.
    last = requests.get(f"{contract.url}/api/jobs/{job['id']}/progress", headers={"Last-Event-ID": "999"}, timeout=10)
    assert last.status_code == 204 and "204" in op["responses"]
    missing = requests.get(f"{contract.url}/api/jobs/999999/progress", timeout=10)
    assert missing.status_code == 404 and "404" in op["responses"] and done["status"] == "completed"


def test_sighup_brings_new_types_into_the_document(tmp_path):
    jobs_d = tmp_path / "jobs.d"
    jobs_d.mkdir()
    d = start(tmp_path, "--job-types-dir", str(jobs_d))
    try:
        assert "Params.later" not in document(d.url)["components"]["schemas"]
        (jobs_d / "later.json").write_text(json.dumps({"name": "later", "description": "added on SIGHUP", "command": ["/bin/true"],
                                                       "params": {"n": {"type": "integer", "min": 2, "max": 3, "required": True}}}))
        d.proc.send_signal(signal.SIGHUP)
        later = wait_for(lambda: document(d.url)["components"]["schemas"].get("Params.later"))
        assert later["properties"]["n"] == {"type": "integer", "minimum": 2, "maximum": 3,
                                            "description": "A string of an integer (digits, an optional minus) is accepted too."}
        validate(document(d.url))
    finally:
        assert d.stop() == 0, "".join(d.log)


def test_docs_page_renders_the_contract(browser, contract):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{contract.url}/api/docs#op-createJob")
    expect(page.locator("#status")).to_contain_text("paths")
    create = page.locator("#op-createJob")
    expect(create).to_have_attribute("open", "")
    expect(create.locator("summary")).to_contain_text("POST")
    expect(create.locator("summary")).to_contain_text("scope: submit")
    # The command type's params with their rules, inline in the body's alternatives.
    greet = create.locator(".alternatives > li", has_text="greet").first
    expect(greet).to_contain_text("matches ^[a-z]+$")
    expect(greet).to_contain_text('one of: "plain", "fancy"')
    expect(greet).to_contain_text("-5 to 5")
    # Every documented operation is on the page.
    count = sum(len([m for m in item if m in ("get", "post", "put", "delete")]) for item in document(contract.url)["paths"].values())
    expect(page.locator("details.op")).to_have_count(count)
    os.makedirs(OUTPUT, exist_ok=True)
    page.screenshot(path=os.path.join(OUTPUT, "api-docs.png"))
    assert errors == []
    context.close()


def test_with_tokens_the_contract_is_open_and_the_refusals_are_documented(tmp_path):
    token, entry = subprocess.run([BINARY, "token", "new", "viewer", "--scopes", "read"], capture_output=True, text=True,
                                  check=True).stdout.splitlines()[:2]
    config = tmp_path / "tokens.json"
    config.write_text('{"tokens": [%s]}' % entry)
    d = Daemon("--config", str(config))
    try:
        doc = document(d.url)  # no token: the contract is open
        assert requests.get(f"{d.url}/api/docs").status_code == 200
        assert doc["paths"]["/api/openapi.json"]["get"]["security"] == [{}]
        # Each refusal is one the document names for that operation, with its body shape.
        for method, path, documented, headers, expected in [
            ("get", "/api/jobs", "/api/jobs", {}, 401),
            ("post", "/api/jobs", "/api/jobs", {"Authorization": f"Bearer {token}"}, 403),
            ("put", "/api/queues/mail", "/api/queues/{name}", {"Authorization": f"Bearer {token}"}, 403),
        ]:
            r = requests.request(method, d.url + path, headers=headers, json={"job_type": "echo"} if method == "post" else {"paused": True})
            assert r.status_code == expected, r.text
            op = doc["paths"][documented][method]
            assert str(expected) in op["responses"] and set(r.json()) == {"error"}
            scope = op["x-scope"]
            assert op["security"] == [{"bearerAuth": [scope]}, {"sessionCookie": [scope]}]
        assert requests.get(f"{d.url}/api/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        assert d.stop() == 0, "".join(d.log)
