"""What the README and docs/architecture.md promise, each checked on the local cluster."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from .conftest import Ferris

pytestmark = pytest.mark.cluster
SLOW = "import time\nprint('started', flush=True)\ntime.sleep(20)\nprint('done')"


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)
    return value


def phase(ferris: Ferris, ns: str, run: str) -> str | None:
    return (ferris.get(ns, "ferrisrun", run).get("status") or {}).get("phase")


def reason(body: dict[str, Any]) -> str:
    return str(next(c for c in body["status"]["conditions"] if c["type"] == "Succeeded")["reason"])


def test_concurrency_policy_forbid_refuses_a_second_active_run(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "forbid", SLOW, concurrencyPolicy="Forbid")
    ferris.wait_condition(ns, "ferrispackage", "forbid", "Ready")
    first = ferris.create_run(ns, "forbid")
    wait_for(lambda: phase(ferris, ns, first) == "Running", "the first run")
    second = ferris.wait_run(ns, ferris.create_run(ns, "forbid"))
    assert (second["status"]["phase"], reason(second)) == ("Failed", "ConcurrencyForbidden")
    assert first in next(c for c in second["status"]["conditions"] if c["type"] == "Succeeded")["message"]
    assert phase(ferris, ns, first) == "Running"  # untouched


def test_concurrency_policy_replace_cancels_the_active_run(ferris: Ferris, ns: str) -> None:
    # The first run sleeps long enough to be replaced on a busy machine (it slept one second,
    # and sometimes ended before the second run came); the second, one second.
    sleeper = "import json, sys, time\nprint('started', flush=True)\ntime.sleep(json.loads(sys.argv[1])['sleep'])\n"
    ferris.package(ns, "replace", sleeper, params={"sleep": 1}, concurrencyPolicy="Replace")
    ferris.wait_condition(ns, "ferrispackage", "replace", "Ready")
    first = ferris.create_run(ns, "replace", params={"sleep": 120})
    wait_for(lambda: phase(ferris, ns, first) == "Running", "the first run")
    second = ferris.create_run(ns, "replace")
    replaced = ferris.wait_run(ns, first)
    assert (replaced["status"]["phase"], reason(replaced)) == ("Cancelled", "Replaced")
    assert ferris.wait_run(ns, second)["status"]["phase"] == "Succeeded"
    ferris.wait_gone(ns, first)


def test_keep_source_leaves_the_secret_and_the_short_value_warning_is_given(ferris: Ferris, ns: str) -> None:
    ferris.secret(ns, "kept", json.dumps({"PIN": "12", "LONG": "long-enough"}))
    ferris.package(ns, "keeps", "print(1)", secretsFrom={"secretName": "kept", "keepSource": True})
    ferris.wait_condition(ns, "ferrispackage", "keeps", "Ready")
    assert ferris.exists(ns, "secret", "kept")
    status = ferris.get(ns, "ferrispackage", "keeps")["status"]
    assert status["warnings"] == ["secret PIN is shorter than 4 characters and is not masked in output"]
    events = ferris.wait_events(ns, "keeps", "ShortSecretNotMasked")
    assert len(events) == 1 and "PIN" in events[0]["message"] and "12" not in events[0]["message"]


def test_configmap_scripts_wait_for_their_source_and_are_bounded(ferris: Ferris, ns: str, tmp_path: Path) -> None:
    ref = {"name": "lib", "key": "main.py"}
    ferris.package(ns, "from-cm", [], scripts=[{"name": "main.py", "configMapRef": ref}])
    cond = ferris.wait_condition(ns, "ferrispackage", "from-cm", "ScriptSourceMissing")
    assert "ConfigMap lib with key main.py (in data or binaryData) not found" in cond["message"]
    ferris.kubectl("create", "configmap", "lib", "-n", ns, "--from-literal=main.py=print('from a configmap')")
    ferris.wait_condition(ns, "ferrispackage", "from-cm", "Ready")
    run = ferris.wait_run(ns, ferris.create_run(ns, "from-cm"))
    assert "from a configmap" in ferris.steps(run["metadata"]["uid"])[0][4]
    (tmp_path / "main.py").write_text("#" + "x" * 900_000)
    parts = []
    for k in range(10):  # 9 MB in ten ConfigMaps: over the 8 MiB a package holds
        ferris.kubectl("create", "configmap", f"huge-{k}", "-n", ns, f"--from-file={tmp_path / 'main.py'}")
        parts.append({"name": f"huge-{k}", "key": "main.py"})
    ferris.package(ns, "too-big", [], scripts=[{"name": "main.py", "configMapRefs": parts}])
    cond = ferris.wait_condition(ns, "ferrispackage", "too-big", "InvalidScripts")
    assert "over a package's limit of 8388608" in cond["message"]


def test_a_run_deleted_mid_run_is_recorded_as_such(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "deleted", SLOW)
    ferris.wait_condition(ns, "ferrispackage", "deleted", "Ready")
    run = ferris.create_run(ns, "deleted")
    uid = wait_for(lambda: phase(ferris, ns, run) == "Running" and ferris.get(ns, "ferrisrun", run), "running")[
        "metadata"
    ]["uid"]
    ferris.kubectl("delete", "ferrisrun", run, "-n", ns, "--wait=false")
    row = wait_for(lambda: (r := ferris.run_row(uid)) and r[0] == "Cancelled" and r, "RunDeleted in PostgreSQL", 60)
    assert row[1] == "RunDeleted"


def test_the_package_finalizer_removes_its_rows_and_keeps_the_history(ferris: Ferris, ns: str) -> None:
    ferris.secret(ns, "fin", json.dumps({"A": "value-a"}))
    ferris.package(ns, "fin", "print(1)", secretsFrom={"secretName": "fin"})
    ferris.wait_condition(ns, "ferrispackage", "fin", "Ready")
    package = ferris.get(ns, "ferrispackage", "fin")
    run = ferris.wait_run(ns, ferris.create_run(ns, "fin"))
    wait_for(
        lambda: (
            (ferris.get(ns, "ferrispackage", "fin")["status"].get("lastRun") or {}).get("name")
            == run["metadata"]["name"]
        ),
        "status.lastRun",
        15,
    )
    ferris.kubectl("delete", "ferrispackage", "fin", "-n", ns)
    with psycopg.connect(ferris.stack.postgres.url) as conn:
        uid = package["metadata"]["uid"]
        for table, column in (("packages", "uid"), ("secrets", "package_uid"), ("package_state", "package_uid")):
            count = conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = %s", (uid,)).fetchone()  # noqa: S608
            assert count == (0,), table
        history = conn.execute("SELECT phase FROM runs WHERE uid = %s", (run["metadata"]["uid"],)).fetchone()
    assert history == ("Succeeded",)


def test_output_is_capped_at_4_mib_in_postgresql_and_1_kib_in_status(ferris: Ferris, ns: str) -> None:
    script = "import sys\nfor i in range(5 * 1024):\n    sys.stdout.write(('%06d' % i) + 'x' * 1017 + '\\n')\n"
    ferris.package(ns, "loud", script)
    ferris.wait_condition(ns, "ferrispackage", "loud", "Ready")
    run = ferris.wait_run(ns, ferris.create_run(ns, "loud"))
    assert run["status"]["phase"] == "Succeeded"
    output = ferris.steps(run["metadata"]["uid"])[0][4]
    assert 0.98 * 4 * 1024 * 1024 < len(output) <= 4 * 1024 * 1024, len(output)
    assert output.startswith("000000" + "x" * 1017)  # the head is kept...
    assert output.rstrip().endswith("005119" + "x" * 1017)  # ...and the tail
    head, _, rest = output.partition("[ferris: ")  # ...and what was dropped between them is said
    marker, tail = rest.split("]\n", 1)
    size, lines = (int(n.replace(",", "")) for n in re.findall(r"[\d,]+", marker.split(" of output")[0]))
    assert "of output dropped here (the first" in marker and size == lines * 1024
    kept = len(head) + len(tail)
    assert kept + size == 5 * 1024 * 1024  # every byte is either kept or counted
    assert len(run["status"]["steps"][0]["outputTail"]) == 1024


def test_health_readiness_and_metrics_are_served(ferris: Ferris, ns: str) -> None:
    base = f"http://127.0.0.1:{ferris.stack.health_port}"
    for path, expected in (("/healthz", "ok"), ("/readyz", "ready")):
        with urllib.request.urlopen(base + path, timeout=5) as response:
            assert response.read().decode() == expected
    ferris.package(ns, "metered", "print(1)")
    ferris.wait_condition(ns, "ferrispackage", "metered", "Ready")
    ferris.wait_run(ns, ferris.create_run(ns, "metered"))
    with urllib.request.urlopen(base + "/metrics", timeout=5) as response:
        metrics = response.read().decode()
    started = next(line for line in metrics.splitlines() if line.startswith("ferris_runs_started_total "))
    assert float(started.split()[1]) >= 1
    assert 'ferris_runs_finished_total{phase="Succeeded",reason="Succeeded"}' in metrics


def test_the_schema_keeps_package_ref_immutable_and_a_cancel_final(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "cel", SLOW)
    ferris.wait_condition(ns, "ferrispackage", "cel", "Ready")
    run = ferris.create_run(ns, "cel", cancel=True)
    moved = ferris.kubectl(
        "patch",
        "ferrisrun",
        run,
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"spec": {"packageRef": {"name": "other"}}}',
        check=False,
    )
    assert moved.returncode != 0 and "packageRef is immutable; create a new FerrisRun" in moved.stderr
    resumed = ferris.kubectl(
        "patch", "ferrisrun", run, "-n", ns, "--type=merge", "-p", '{"spec": {"cancel": false}}', check=False
    )
    assert resumed.returncode != 0 and "a cancelled run cannot be resumed" in resumed.stderr
    assert ferris.wait_run(ns, run)["status"]["phase"] == "Cancelled"


def test_a_package_created_while_postgresql_is_down_says_so_then_becomes_ready(ferris: Ferris, ns: str) -> None:
    ferris.stack.postgres.stop()
    try:
        ferris.package(ns, "patient", "print(1)")
        cond = ferris.wait_condition(ns, "ferrispackage", "patient", "DatabaseUnavailable")
        assert "PostgreSQL is unavailable" in cond["message"]
    finally:
        ferris.stack.postgres.start()
    ferris.wait_condition(ns, "ferrispackage", "patient", "Ready", timeout=90)


def test_a_source_secret_created_again_is_read_by_the_periodic_resync(ferris: Ferris, ns: str) -> None:
    """No annotation, no spec change: only the operator's own loop reads the Secret again."""
    ferris.secret(ns, "rotates", json.dumps({"TOKEN": "first-token"}))
    ferris.package(ns, "rotates", "print(1)", secretsFrom={"secretName": "rotates"})
    ferris.wait_condition(ns, "ferrispackage", "rotates", "Ready")
    wait_for(lambda: not ferris.exists(ns, "secret", "rotates"), "the source Secret to be deleted once ingested")
    ferris.secret(ns, "rotates", json.dumps({"TOKEN": "second-token", "MORE": "more-value"}))
    status = wait_for(
        lambda: (s := ferris.get(ns, "ferrispackage", "rotates")["status"]["secrets"])["version"] == 2 and s,
        "the periodic resync to ingest the new Secret",
        30,
    )
    assert status["names"] == ["MORE", "TOKEN"]


def test_a_finished_run_past_its_ttl_is_deleted_and_its_history_kept(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "short-lived", "print('gone soon')", ttlSecondsAfterFinished=1)
    ferris.wait_condition(ns, "ferrispackage", "short-lived", "Ready")
    run = ferris.wait_run(ns, ferris.create_run(ns, "short-lived"))
    wait_for(lambda: not ferris.exists(ns, "ferrisrun", run["metadata"]["name"]), "the TTL to delete the run", 45)
    assert ferris.run_row(run["metadata"]["uid"]) == ("Succeeded", "Succeeded", 0, 1)
