"""Events on the local cluster: a chain of three packages started by one event sent through the
server, each run with the previous one's outcome in its params; the same event twice is one
run; an event stored while the operator is SIGKILLed is routed when it returns; a loop of runs
that send events stops at the chain depth limit; what scripts send is masked; namespaces are
walls; a webhook signed with a FerrisEventSource's key starts a run, a bad signature stores
nothing."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ferris_operator.triggers.signatures import sign

from .conftest import Ferris

pytestmark = pytest.mark.cluster

ENDED = "ferris_executor.run_execution.execution_finished"
PRINT_ARGS = "import json, sys\nargs = json.loads(sys.argv[1])\nprint('got', json.dumps(args, sort_keys=True))\n"


def trigger(name: str, package: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ferris.io/v1alpha1",
        "kind": "FerrisTrigger",
        "metadata": {"name": name},
        "spec": {"targets": [{"packageRef": {"name": package}}], **spec},
    }


def send(ferris: Ferris, ns: str, event_type: str, data: dict[str, Any], event_id: str, wait: str = "10") -> Any:
    sent = ferris.ferris(
        "send-event", "-n", ns, "--type", event_type, "--source", "/shop", "--id", event_id,
        "--data", json.dumps(data), "--wait", wait,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    return json.loads(sent.stdout)


def event_runs(ferris: Ferris, ns: str, package: str) -> list[dict[str, Any]]:
    return ferris.runs(ns, f"ferris.io/package={package},ferris.io/trigger=Event")


def wait_event_runs(ferris: Ferris, ns: str, package: str, count: int, timeout: float = 120) -> list[dict[str, Any]]:
    return ferris.wait_runs(ns, f"ferris.io/package={package},ferris.io/trigger=Event", count, timeout)


def test_one_event_starts_a_chain_of_three_packages_each_with_the_previous_outcome(ferris: Ferris, ns: str) -> None:
    for package in ("a", "b", "c"):
        ferris.package(ns, package, PRINT_ARGS)
        ferris.wait_condition(ns, "ferrispackage", package, "Ready")
    after_b = {"typePrefix": "io.ferris.run.", "data": [{"path": "finished_package", "equals": "b"}]}
    ferris.apply(
        ns,
        trigger("orders", "a", filter={"type": "com.example.order", "data": [{"path": "item", "equals": "book"}]}),
        trigger("after-a", "b", filter={"type": ENDED, "subject": "a"}),
        trigger("after-b", "c", filter=after_b),
    )
    for name in ("orders", "after-a", "after-b"):
        ferris.wait_condition(ns, "ferristrigger", name, "Listening")
    answer = send(ferris, ns, "com.example.order", {"item": "book", "count": 2}, "order-1")
    assert answer["routed"] and answer["triggers"] == ["orders"] and answer["duplicate"] is False
    [run_a] = answer["runs"]
    assert ferris.wait_run(ns, run_a)["status"]["phase"] == "Succeeded"
    [b] = wait_event_runs(ferris, ns, "b", 1)
    assert ferris.wait_run(ns, b["metadata"]["name"])["status"]["phase"] == "Succeeded"
    [c] = wait_event_runs(ferris, ns, "c", 1)
    assert ferris.wait_run(ns, c["metadata"]["name"])["status"]["phase"] == "Succeeded"

    params_a = ferris.get(ns, "ferrisrun", run_a)["spec"]["params"]
    assert params_a == {"item": "book", "count": 2, "origin_event_type": "com.example.order"}
    assert b["spec"]["params"]["origin_event_type"] == ENDED
    assert (b["spec"]["params"]["finished_package"], b["spec"]["params"]["finished_run"]) == ("a", run_a)
    assert b["spec"]["params"]["phase"] == "Succeeded"
    assert c["spec"]["params"]["origin_event_type"] == "io.ferris.run.finished.v1"
    assert (c["spec"]["params"]["finished_package"], c["spec"]["params"]["phase"]) == ("b", "Succeeded")
    depths = [ferris.get(ns, "ferrisrun", n)["metadata"]["annotations"]["ferris.io/chain-depth"] for n in (run_a,)]
    depths += [
        b["metadata"]["annotations"]["ferris.io/chain-depth"],
        c["metadata"]["annotations"]["ferris.io/chain-depth"],
    ]
    assert depths == ["1", "2", "3"]
    # The script saw the event's data at the top level of sys.argv[1], as in the Ferris executor.
    shown = ferris.ferris("results", run_a, "-n", ns)
    assert '"item": "book"' in shown.stdout and '"origin_event_type": "com.example.order"' in shown.stdout

    again = send(ferris, ns, "com.example.order", {"item": "book", "count": 2}, "order-1")
    assert again["duplicate"] is True and again["runs"] == [run_a] and again["seq"] == answer["seq"]
    assert len(event_runs(ferris, ns, "a")) == 1

    status = ferris.get(ns, "ferristrigger", "orders")["status"]
    assert (status["events"], status["runs"], status["refused"]) == (1, 1, 0)
    assert status["lastEvent"]["id"] == "order-1"
    printed = ferris.kubectl("get", "ftrig", "-n", ns).stdout.splitlines()
    assert printed[0].split() == ["NAME", "TYPE", "PACKAGE", "EVENTS", "RUNS", "LAST", "EVENT", "READY", "AGE"]
    row = next(line.split() for line in printed if line.startswith("orders "))
    assert row[1:5] == ["com.example.order", "a", "1", "1"] and row[6] == "True"
    listed = ferris.ferris("events", "-n", ns)
    assert listed.returncode == 0, listed.stderr
    assert any(line.split()[1] == "com.example.order" and run_a in line for line in listed.stdout.splitlines())
    ended = [line for line in listed.stdout.splitlines() if ENDED in line]
    assert len(ended) == 3  # one per run: a, b and c


def test_an_event_stored_while_the_operator_is_killed_is_routed_when_it_returns(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "late", PRINT_ARGS)
    ferris.wait_condition(ns, "ferrispackage", "late", "Ready")
    ferris.apply(ns, trigger("on-late", "late", filter={"type": "com.example.late"}))
    ferris.wait_condition(ns, "ferristrigger", "on-late", "Listening")
    ferris.stack.kill_operator()
    try:
        answer = send(ferris, ns, "com.example.late", {"n": 1}, "late-1", wait="1")
        assert answer["routed"] is False and answer["runs"] == []  # stored, answered 202
        assert send(ferris, ns, "com.example.late", {"n": 1}, "late-1", wait="0")["duplicate"] is True
    finally:
        ferris.stack.start_operator()
    [run] = wait_event_runs(ferris, ns, "late", 1)
    assert ferris.wait_run(ns, run["metadata"]["name"])["status"]["phase"] == "Succeeded"
    time.sleep(3)
    assert len(event_runs(ferris, ns, "late")) == 1


LOOP = """import json, sys
from ferris_ef import context, get_secret
n = json.loads(sys.argv[1]).get("n", 0)
print("loop", n)
context.events.send("com.example.again", data={"n": n + 1, "leak": get_secret("TOKEN")})
"""


def test_a_loop_stops_at_the_depth_limit_and_what_scripts_send_is_masked(ferris: Ferris, ns: str) -> None:
    canary = "evt-c4n4ry-" + uuid.uuid4().hex
    ferris.secret(ns, "loop-source", json.dumps({"TOKEN": canary}))
    ferris.package(ns, "loop", LOOP, secretsFrom={"secretName": "loop-source"})
    ferris.wait_condition(ns, "ferrispackage", "loop", "Ready")
    ferris.apply(ns, trigger("again", "loop", filter={"type": "com.example.again"}))
    ferris.wait_condition(ns, "ferristrigger", "again", "Listening")
    first = ferris.create_run(ns, "loop")
    assert ferris.wait_run(ns, first)["status"]["phase"] == "Succeeded"
    limit = int(ferris.stack.operator_env["FERRIS_MAX_CHAIN_DEPTH"])
    runs = wait_event_runs(ferris, ns, "loop", limit + 1, timeout=240)
    by_depth = {int(r["metadata"]["annotations"]["ferris.io/chain-depth"]): r["metadata"]["name"] for r in runs}
    assert sorted(by_depth) == list(range(1, limit + 2))
    refused = ferris.wait_run(ns, by_depth[limit + 1])
    assert refused["status"]["phase"] == "Failed"
    condition = next(c for c in refused["status"]["conditions"] if c["type"] == "Succeeded")
    assert condition["reason"] == "ChainTooDeep" and f"the limit is {limit}" in condition["message"]
    for depth in range(1, limit + 1):
        run = ferris.wait_run(ns, by_depth[depth])
        assert run["status"]["phase"] == "Succeeded" and run["spec"]["params"]["n"] == depth
        assert run["spec"]["params"]["leak"] == "****"  # masked by the runner before it was sent
    time.sleep(5)
    assert len(event_runs(ferris, ns, "loop")) == limit + 1  # nothing after the refused run
    with psycopg.connect(ferris.stack.postgres.url) as conn:
        stored = conn.execute("SELECT count(*) FROM events WHERE data::text LIKE %s", (f"%{canary}%",)).fetchone()
        sent = conn.execute(
            "SELECT count(*) FROM events WHERE namespace = %s AND sent_by LIKE 'run/%%' AND type = 'com.example.again'",
            (ns,),
        ).fetchone()
    assert stored == (0,) and sent is not None and sent[0] == limit + 1
    assert canary not in ferris.kubectl("get", "ferrisruns,ferristriggers,events", "-n", ns, "-o", "yaml").stdout


def test_an_event_never_starts_a_package_of_another_namespace(ferris: Ferris, ns: str) -> None:
    other = "e2e-" + uuid.uuid4().hex[:8]
    ferris.kubectl("create", "namespace", other)
    ferris.package(other, "victim", PRINT_ARGS)
    ferris.wait_condition(other, "ferrispackage", "victim", "Ready")
    ferris.apply(other, trigger("any", "victim"))  # no filter: every event of its own namespace
    ferris.wait_condition(other, "ferristrigger", "any", "Listening")
    answer = send(ferris, ns, "com.example.anything", {"x": 1}, "wall-1")
    assert answer["routed"] and answer["triggers"] == [] and answer["runs"] == []
    time.sleep(2)
    assert event_runs(ferris, other, "victim") == []


def post_signed(ferris: Ferris, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    stack = ferris.stack
    context = ssl.create_default_context(cafile=str(stack.server_tls_dir / "ca.crt"))
    request = urllib.request.Request(stack.server_url + path + "?wait=10", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def stored_events(ferris: Ferris, ns: str) -> int:
    with psycopg.connect(ferris.stack.postgres.url) as conn:
        row = conn.execute("SELECT count(*) FROM events WHERE namespace = %s AND sent_by LIKE 'source/%%'", (ns,))
        return int(row.fetchone()[0])  # type: ignore[index]


def test_a_webhook_signed_with_the_event_sources_key_starts_a_run_and_a_bad_signature_stores_nothing(
    ferris: Ferris, ns: str
) -> None:
    key = uuid.uuid4().hex.encode()
    ferris.kubectl(
        "create", "secret", "generic", "hook-key", "-n", ns,
        "--type=ferris.io/event-source-key", f"--from-literal=key={key.decode()}",
    )  # fmt: skip
    ferris.package(ns, "deploy", PRINT_ARGS)
    ferris.wait_condition(ns, "ferrispackage", "deploy", "Ready")
    ferris.apply(
        ns,
        {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisEventSource",
            "metadata": {"name": "github"},
            "spec": {
                "secretRef": {"name": "hook-key"},
                "eventType": "com.github",
                "typeHeader": "X-GitHub-Event",
                "idHeader": "X-GitHub-Delivery",
            },
        },
        trigger("on-push", "deploy", filter={"type": "com.github.push"}, targets=[
            {"packageRef": {"name": "deploy"}, "params": {"branch": "ref"}}
        ]),
    )  # fmt: skip
    ready = ferris.wait_condition(ns, "ferriseventsource", "github", "KeyStored")
    path = ferris.get(ns, "ferriseventsource", "github")["status"]["path"]
    assert path in ready["message"] and not ferris.exists(ns, "secret", "hook-key")  # the key left Kubernetes
    ferris.wait_condition(ns, "ferristrigger", "on-push", "Listening")
    body = json.dumps({"ref": "refs/heads/main", "after": "abc123"}).encode()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1"}

    for wrong in ("sha256=" + "0" * 64, sign(b"another-key-of-32-bytes-........", body), ""):
        status, answer = post_signed(ferris, path, body, {**headers, "X-Hub-Signature-256": wrong})
        assert status == 401 and "nothing was stored" in answer["error"]
    status, _ = post_signed(
        ferris, path.replace("/github/", "/nobody/"), body, {**headers, "X-Hub-Signature-256": sign(key, body)}
    )
    assert status == 401  # an event source that does not exist looks the same from outside
    assert stored_events(ferris, ns) == 0

    status, answer = post_signed(ferris, path, body, {**headers, "X-Hub-Signature-256": sign(key, body)})
    assert status == 200, answer
    assert (answer["type"], answer["id"], answer["triggers"]) == ("com.github.push", "d-1", ["on-push"])
    [run] = answer["runs"]
    finished = ferris.wait_run(ns, run)
    assert finished["status"]["phase"] == "Succeeded"
    assert finished["spec"]["params"] == {"branch": "refs/heads/main", "origin_event_type": "com.github.push"}
    again, answer = post_signed(ferris, path, body, {**headers, "X-Hub-Signature-256": sign(key, body)})
    assert again == 200 and answer["duplicate"] is True and answer["runs"] == [run]
    # The captured delivery replayed with headers the signature does not cover: the same event.
    replay = {**headers, "X-GitHub-Event": "push", "X-GitHub-Delivery": "d-2", "X-Hub-Signature-256": sign(key, body)}
    status, answer = post_signed(ferris, path, body, replay)
    assert status == 200 and answer["duplicate"] is True and answer["runs"] == [run], answer
    # ...or as a CloudEvent in binary mode, whose ce- headers are not signed either: refused.
    binary = {**replay, "ce-specversion": "1.0", "ce-id": "x-3", "ce-type": "com.github.push", "ce-source": "/gh"}
    status, answer = post_signed(ferris, path, body, binary)
    assert status == 400 and "binary mode" in answer["error"]
    assert stored_events(ferris, ns) == 1
    assert len(event_runs(ferris, ns, "deploy")) == 1


def test_the_events_example_chains_extract_into_load(ferris: Ferris) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "events"
    ns = "ferris-events-demo"
    ferris.kubectl("apply", "-k", str(example))
    for package in ("extract", "load"):
        ferris.wait_condition(ns, "ferrispackage", package, "Ready")
    for name in ("on-order", "after-extract"):
        ferris.wait_condition(ns, "ferristrigger", name, "Listening")
    answer = send(ferris, ns, "com.example.order.created", {"id": 42}, "order-42")
    [extract] = answer["runs"]
    assert ferris.wait_run(ns, extract)["status"]["phase"] == "Succeeded"
    [load] = wait_event_runs(ferris, ns, "load", 1)
    assert ferris.wait_run(ns, load["metadata"]["name"])["status"]["phase"] == "Succeeded"
    shown = ferris.ferris("results", load["metadata"]["name"], "-n", ns)
    assert f"loading after extract {extract} Succeeded" in shown.stdout
    listed = ferris.ferris("events", "-n", ns).stdout
    assert "com.example.extracted" in listed and "com.example.order.created" in listed
    ferris.kubectl("delete", "namespace", ns, "--wait=false")


FORGER = (
    "import json, sys\nfrom ferris_ef import _State, context\n"
    "args = json.loads(sys.argv[1])\n"
    "forged = {'id': context.run_id, 'type': '" + ENDED + "', 'subject': args['package_name'],\n"
    "          'data': {'finished_package': args['package_name'], 'phase': 'Succeeded', 'reason': 'Succeeded',\n"
    "                   'stolen': 'attacker-params'}}\n"
    "try:\n    _State()._call({'op': 'event', 'event': forged}, 'context.events.send')\n    print('FORGED: sent')\n"
    "except RuntimeError as exc:\n    print('refused:', exc)\n"
    "raise SystemExit(1)\n"
)


def test_a_script_cannot_send_its_own_runs_end_and_the_genuine_end_starts_what_it_should(
    ferris: Ferris, ns: str
) -> None:
    """Untrusted code inside a run forges its run's end (Succeeded) through the runner's own
    channel, under its run's source and with its run's uid as id, then fails: the genuine end
    (Failed) must be the one recorded, and an after-success trigger must start nothing."""
    ferris.package(ns, "forger", FORGER)
    ferris.package(ns, "on-success", PRINT_ARGS)
    ferris.package(ns, "on-failure", PRINT_ARGS)
    for package in ("forger", "on-success", "on-failure"):
        ferris.wait_condition(ns, "ferrispackage", package, "Ready")
    succeeded = {"type": ENDED, "subject": "forger", "data": [{"path": "phase", "equals": "Succeeded"}]}
    failed = {"type": ENDED, "subject": "forger", "data": [{"path": "phase", "equals": "Failed"}]}
    ferris.apply(ns, trigger("after-success", "on-success", filter=succeeded))
    ferris.apply(ns, trigger("after-failure", "on-failure", filter=failed))
    for name in ("after-success", "after-failure"):
        ferris.wait_condition(ns, "ferristrigger", name, "Listening")
    run = ferris.create_run(ns, "forger")
    assert ferris.wait_run(ns, run)["status"]["phase"] == "Failed"
    output = ferris.ferris("results", run, "-n", ns).stdout
    assert "refused:" in output and "only Ferris sends" in output and "FORGED" not in output, output
    [after] = wait_event_runs(ferris, ns, "on-failure", 1)
    assert after["spec"]["params"]["phase"] == "Failed" and "stolen" not in after["spec"]["params"]
    time.sleep(3)  # the router's pass after the end: nothing more comes
    assert event_runs(ferris, ns, "on-success") == []


def test_what_a_package_outputs_is_what_the_next_one_in_the_chain_is_given(ferris: Ferris, ns: str) -> None:
    """extract sets outputs (one of them a secret, which leaves the pod masked); a trigger on its
    end maps them to load's params; results, events and the history show them, never the secret."""
    canary = "out-c4n4ry-" + uuid.uuid4().hex
    ferris.secret(ns, "extract-source", json.dumps({"TOKEN": canary}))
    extract = (
        "from ferris_ef import context, get_secret\n"
        "context.outputs.set('rows', 3)\n"
        "context.outputs.set('table', 'orders')\n"
        "context.outputs.set('leak', {'token': get_secret('TOKEN')})\n"
        "context.outputs.set('half', 'x' * 40000)\n"
        "try:\n"
        "    context.outputs.set('more', 'x' * 40000)\n"
        "except RuntimeError as refused:\n"
        "    print('refused:', refused)\n"
    )
    load = (
        "import json, sys\nargs = json.loads(sys.argv[1])\nprint('loading', args['rows'], 'rows into', args['table'])\n"
    )
    ferris.package(ns, "extract", extract, secretsFrom={"secretName": "extract-source"})
    ferris.package(ns, "load", load)
    for package in ("extract", "load"):
        ferris.wait_condition(ns, "ferrispackage", package, "Ready")
    mapped = {"packageRef": {"name": "load"}, "params": {"rows": "outputs.rows", "table": "outputs.table"}}
    ferris.apply(ns, trigger("after-extract", "load", filter={"type": ENDED, "subject": "extract"}, targets=[mapped]))
    ferris.wait_condition(ns, "ferristrigger", "after-extract", "Listening")
    run = ferris.create_run(ns, "extract")
    assert ferris.wait_run(ns, run)["status"]["phase"] == "Succeeded"
    [loaded] = wait_event_runs(ferris, ns, "load", 1)
    assert ferris.wait_run(ns, loaded["metadata"]["name"])["status"]["phase"] == "Succeeded"
    assert {k: loaded["spec"]["params"][k] for k in ("rows", "table")} == {"rows": 3, "table": "orders"}
    said = ferris.ferris("results", loaded["metadata"]["name"], "-n", ns)
    assert "loading 3 rows into orders" in said.stdout, said.stdout + said.stderr
    shown = ferris.ferris("results", run, "-n", ns)
    assert "=== outputs ===" in shown.stdout and "rows = 3" in shown.stdout and 'table = "orders"' in shown.stdout
    assert 'leak = {"token": "****"}' in shown.stdout
    assert "refused: context.outputs.set failed: a run's outputs are at most 65536 bytes of JSON" in shown.stdout
    with psycopg.connect(ferris.stack.postgres.url) as conn:
        rows = conn.execute("SELECT data::text FROM events WHERE namespace = %s", (ns,)).fetchall()
        stored = conn.execute("SELECT outputs::text FROM runs WHERE namespace = %s", (ns,)).fetchall()
    stored_text = json.dumps([r[0] for r in rows + stored])
    assert '\\"rows\\": 3' in stored_text and '\\"token\\": \\"****\\"' in stored_text, stored_text
    for text in (shown.stdout, stored_text, json.dumps(loaded)):
        assert canary not in text


@pytest.mark.long
def test_a_join_starts_one_run_per_order_once_both_events_came_within_the_window(ferris: Ferris, ns: str) -> None:
    """paid then packed for one order: one run with both events' data; paid twice then packed:
    one; another order's packed: none; packed after the window: none; everything sent again:
    nothing more; the operator SIGKILLed between paid and packed: still one run."""
    ferris.package(ns, "ship", PRINT_ARGS)
    ferris.wait_condition(ns, "ferrispackage", "ship", "Ready")
    join = {
        "filters": [{"name": "paid", "type": "com.shop.paid"}, {"name": "packed", "type": "com.shop.packed"}],
        "correlate": {"path": "data.order_id"},
        "within": "30s",
    }
    ferris.apply(ns, trigger("gate", "ship", join=join))
    ferris.wait_condition(ns, "ferristrigger", "gate", "Listening")

    def order(kind: str, number: int, event_id: str) -> Any:
        return send(ferris, ns, f"com.shop.{kind}", {"order_id": number, kind: True}, event_id)

    def runs_for(number: int) -> list[dict[str, Any]]:
        return [r for r in event_runs(ferris, ns, "ship") if r["spec"]["params"]["paid"]["order_id"] == number]

    assert order("paid", 1, "p-1")["runs"] == []
    [made] = order("packed", 1, "k-1")["runs"]
    run = ferris.get(ns, "ferrisrun", made)
    assert run["spec"]["params"] == {
        "paid": {"order_id": 1, "paid": True},
        "packed": {"order_id": 1, "packed": True},
        "origin_event_type": "com.shop.packed",
    }
    order("paid", 2, "p-2a")
    order("paid", 2, "p-2b")
    assert len(order("packed", 2, "k-2")["runs"]) == 1
    assert order("packed", 3, "k-3")["runs"] == []  # never paid
    order("paid", 4, "p-4")
    time.sleep(31)
    assert order("packed", 4, "k-4")["runs"] == []  # past the window
    for kind, number, event_id in (("paid", 1, "p-1"), ("packed", 1, "k-1"), ("packed", 2, "k-2")):
        assert order(kind, number, event_id)["duplicate"] is True
    order("paid", 5, "p-5")
    ferris.stack.kill_operator()
    try:
        answer = order("packed", 5, "k-5")  # stored by the server; routed when the operator is back
    finally:
        ferris.stack.start_operator()
    assert answer["routed"] is False
    deadline = time.monotonic() + 60
    while not runs_for(5):
        assert time.monotonic() < deadline, "the join of order 5 made no run after the operator came back"
        time.sleep(1)
    time.sleep(3)  # the next routing passes make nothing more
    assert [len(runs_for(n)) for n in (1, 2, 3, 4, 5)] == [1, 1, 0, 0, 1]
    assert ferris.wait_run(ns, made)["status"]["phase"] == "Succeeded"
    status = ferris.get(ns, "ferristrigger", "gate")["status"]
    assert status["runs"] == 3 and status["events"] >= 9
