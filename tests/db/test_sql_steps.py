""".sql steps against a real PostgreSQL: the runner as a process, its mounts laid out as the Job
mounts them, a runner API on loopback recording its reports; the database is the test server's,
reached through a URL whose password is a canary that no report may hold."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ferris_devcluster.postgres import LocalPostgres
from tests.unit.ferris_runner.test_main_process import RUNNER, lay_out, runner_api


@dataclass(frozen=True)
class Database:
    url: str  # with the canary password
    admin_url: str
    password: str


@pytest.fixture
def database(postgres_server: LocalPostgres) -> Iterator[Database]:
    """A database of its own, owned by a role of its own whose password is a canary."""
    suffix = uuid.uuid4().hex[:10]
    name, role, password = f"s_{suffix}", f"r_{suffix}", f"canary-pw-{suffix}"
    admin = postgres_server.url_for("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        conn.execute(f'CREATE DATABASE "{name}" OWNER {role}')
    yield Database(
        f"postgresql://{role}:{password}@127.0.0.1:{postgres_server.port}/{name}",
        postgres_server.url_for(name),
        password,
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f"DROP ROLE {role}")


SQL_DOCUMENT = {"sqlConnectionSecret": "warehouse", "sqlTransaction": "single", "sqlMaxRows": 2}
MADE = """-- the run's table
CREATE TABLE readings (id serial PRIMARY KEY, city text NOT NULL, note text);
INSERT INTO readings (city, note) VALUES (%(city)s, 'ok'), ('Split', '100%% sure');
INSERT INTO readings (city, note) VALUES ('Zagreb', '50% off'), ('Osijek', NULL);
SELECT city, note FROM readings ORDER BY id;
"""


def run_sql(
    tmp_path: Path,
    sql: str,
    database: Database,
    params: dict[str, Any] | None = None,
    document: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    script: str = "print('before the sql')",
) -> tuple[subprocess.CompletedProcess[str], list[tuple[str, dict[str, Any]]]]:
    """A run of a.py (``script``) then q.sql; returns the runner's exit and every report it sent."""
    _, env = lay_out(
        tmp_path,
        script=script,
        more=(("q.sql", sql),),
        secrets={"warehouse": database.url, "A": "secret-value"} if secrets is None else secrets,
        document={"params": params or {}, **SQL_DOCUMENT, **(document or {})},
    )
    with runner_api() as (url, reports):
        env["FERRIS_API_URL"] = url
        done = subprocess.run([RUNNER], env=env, capture_output=True, text=True, timeout=120)
    return done, reports


def sql_output(reports: list[tuple[str, dict[str, Any]]]) -> tuple[str, str]:
    """The .sql step's (phase, output) as its last report said."""
    last = [body for path, body in reports if path.endswith("/steps/1") and "output" in body][-1]
    return last["phase"], last["output"]


def rows(database: Database, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database.admin_url) as conn:
        return conn.execute(query.encode()).fetchall()


def test_a_sql_step_creates_inserts_from_a_param_and_selects_printing_counts_and_first_rows(
    tmp_path: Path, database: Database
) -> None:
    done, reports = run_sql(tmp_path, MADE, database, params={"city": "Rijeka"})
    assert done.returncode == 0, done.stderr
    phase, output = sql_output(reports)
    assert phase == "Succeeded"
    assert output.splitlines() == [
        "-- statement 1 (line 2): CREATE TABLE readings (id serial PRIMARY KEY, city text NOT NULL, note text)",
        "CREATE TABLE",
        "-- statement 2 (line 3): INSERT INTO readings (city, note) VALUES (%(city)s, 'ok'), ('Split', '100%% sure')",
        "INSERT 0 2",
        "-- statement 3 (line 4): INSERT INTO readings (city, note) VALUES ('Zagreb', '50% off'), ('Osijek', NULL)",
        "INSERT 0 2",
        "-- statement 4 (line 5): SELECT city, note FROM readings ORDER BY id",
        "city | note",
        "Rijeka | ok",
        "Split | 100% sure",
        "(4 rows, 2 not shown)",
        "SELECT 4",
        "-- committed: 4 statements",
    ]
    assert rows(database, "SELECT city FROM readings ORDER BY id") == [
        ("Rijeka",),
        ("Split",),
        ("Zagreb",),
        ("Osijek",),
    ]
    verdict = next(body for path, body in reports if path.endswith("/finish"))
    assert verdict["succeeded"] is True


def test_a_failing_statement_is_named_with_its_line_and_nothing_of_the_file_is_kept(
    tmp_path: Path, database: Database
) -> None:
    sql = "CREATE TABLE kept (n int);\nINSERT INTO kept VALUES (1);\n\nSELECT n\n  FROM missing_table;\nSELECT 2;"
    done, reports = run_sql(tmp_path, sql, database)
    assert done.returncode == 1
    phase, output = sql_output(reports)
    assert phase == "Failed"
    assert (
        'statement 3 (line 5) failed: relation "missing_table" does not exist: SELECT n;'
        " nothing of this file was kept (one transaction)"
    ) in output
    assert "statement 4" not in output
    assert rows(database, "SELECT to_regclass('kept') IS NULL") == [(True,)]
    verdict = next(body for path, body in reports if path.endswith("/finish"))
    assert verdict == {"succeeded": False, "message": "step q.sql exited with code 1"}


def test_per_statement_keeps_what_ran_before_the_failure(tmp_path: Path, database: Database) -> None:
    sql = "CREATE TABLE kept (n int);\nINSERT INTO kept VALUES (1);\nSELECT 1/0;"
    done, reports = run_sql(tmp_path, sql, database, document={"sqlTransaction": "perStatement"})
    assert done.returncode == 1
    _, output = sql_output(reports)
    assert "statement 3 (line 3) failed: division by zero: SELECT 1/0" in output
    assert "nothing of this file was kept" not in output
    assert rows(database, "SELECT n FROM kept") == [(1,)]


def test_a_placeholder_naming_no_param_fails_naming_it(tmp_path: Path, database: Database) -> None:
    done, reports = run_sql(tmp_path, "SELECT 1;\nSELECT %(nowhere)s;", database)
    assert done.returncode == 1
    _, output = sql_output(reports)
    assert "statement 2 (line 2) uses %(nowhere)s, which is not a param of this run" in output


def test_a_secret_the_package_lacks_fails_the_step_naming_it(tmp_path: Path, database: Database) -> None:
    done, reports = run_sql(tmp_path, "SELECT 1;", database, secrets={"A": "secret-value"})
    assert done.returncode == 1
    _, output = sql_output(reports)
    assert "spec.sql.connectionSecret names 'warehouse', which the package's secrets.json does not hold" in output


@pytest.mark.parametrize(
    "url",
    [
        "not a url at all with canary-pw-0123",
        "postgresql://nobody:canary-pw-0123@127.0.0.1:1/none",
    ],
)
def test_an_unusable_url_fails_the_step_without_quoting_it(tmp_path: Path, database: Database, url: str) -> None:
    done, reports = run_sql(tmp_path, "SELECT 1;", database, secrets={"warehouse": url})
    assert done.returncode == 1
    _, output = sql_output(reports)
    assert "warehouse" in output and ("not a PostgreSQL connection URL" in output or "cannot connect" in output)
    assert "canary-pw-0123" not in json.dumps(reports) + done.stdout + done.stderr


def test_the_connection_url_and_its_password_are_masked_even_when_the_package_masks_nothing(
    tmp_path: Path, database: Database
) -> None:
    """A script that prints the URL, and a statement that returns the password, print ****."""
    sql = f"SELECT current_user, '{database.password}' AS pw, '{database.url}' AS url;"
    done, reports = run_sql(tmp_path, sql, database, document={"maskSecrets": False})
    assert done.returncode == 0, done.stderr
    _, output = sql_output(reports)
    assert "**** | ****" in output
    everything = json.dumps(reports) + done.stdout + done.stderr
    assert database.password not in everything and database.url not in everything


def test_only_a_sql_step_is_given_the_connection(tmp_path: Path, database: Database) -> None:
    script = "import os; print('sql settings:', os.environ.get('FERRIS_SQL_FD'))"
    done, reports = run_sql(tmp_path, "SELECT 1;", database, script=script)
    assert done.returncode == 0, done.stderr
    first = [body for path, body in reports if path.endswith("/steps/0") and "output" in body][-1]
    assert first["output"] == "sql settings: None\n"


def test_ferris_dev_run_runs_a_folders_sql_step_against_the_database_its_secret_names(
    tmp_path: Path, database: Database, capfd: pytest.CaptureFixture[str]
) -> None:
    from ferris_runner.local import main as dev_run

    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"execution_order": ["make.sql", "show.py"]}))
    (folder / "make.sql").write_text("CREATE TABLE t (n int);\nINSERT INTO t SELECT generate_series(1, %(n)s);\n")
    (folder / "show.py").write_text("print('shown')\n")
    (folder / "secrets.json").write_text(json.dumps({"DB": database.url}))
    assert dev_run([str(folder), "-p", "n=3"]) == 1  # no --sql-secret: the step says what it lacks
    assert "make.sql is a .sql step, and the package sets no spec.sql.connectionSecret" in capfd.readouterr().out
    assert dev_run([str(folder), "-p", "n=3", "--sql-secret", "DB"]) == 0
    out = capfd.readouterr().out
    assert "INSERT 0 3\n-- committed: 2 statements\n=== show.py ===\nshown\n" in out
    assert rows(database, "SELECT count(*) FROM t") == [(3,)]
    assert database.password not in out
