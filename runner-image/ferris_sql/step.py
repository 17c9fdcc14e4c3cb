"""`python -m ferris_sql.step FILE ARGUMENT`: one `.sql` step of a run, started by the runner as it
starts a `.py` step, its output masked and reported the same way.

The connection comes from a descriptor the runner passes (``FERRIS_SQL_FD``: a JSON object with
the URL from the package secret `spec.sql.connectionSecret` names, the transaction mode and how
many rows of a result to print), never from the command line or the environment. The file's
statements run in order, in one transaction unless the package says `perStatement`; each prints
its status (`INSERT 0 3`) and a result's first rows. A statement may use the run's params as
`%(name)s` placeholders, bound by the driver (never pasted into the text); in such a statement
a literal `%` is written `%%`. The first failure names the statement, its line, and ends the
step with exit code 1 (in one transaction, nothing of the file is kept)."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import psycopg
from psycopg.types.json import Jsonb

from ferris_sql.split import SplitError, Statement, split

FD_ENV = "FERRIS_SQL_FD"
SINGLE, PER_STATEMENT = "single", "perStatement"
PLACEHOLDER = re.compile(r"%\(([A-Za-z_][A-Za-z0-9_]*)\)s")
MAX_CELL = 200  # characters of one value printed
CONNECT_TIMEOUT = 15  # seconds


class StepFailed(Exception):
    """What ends the step, said in one line."""


def read_settings(fd: int) -> dict[str, Any]:
    size = os.fstat(fd).st_size
    settings = json.loads(os.pread(fd, size, 0))
    if not isinstance(settings, dict):
        raise StepFailed("the runner passed no SQL settings")
    return settings


def bindings(statement: Statement, argument: Mapping[str, Any]) -> dict[str, Any] | None:
    """The params a statement's ``%(name)s`` placeholders name, adapted for the driver; None for a
    statement without placeholders (run as written, a ``%`` in it being just a ``%``)."""
    names = set(PLACEHOLDER.findall(statement.text))
    if not names:
        return None
    missing = sorted(n for n in names if n not in argument or n == "secrets")
    if missing:
        raise StepFailed(
            f"statement {statement.number} (line {statement.line}) uses %({missing[0]})s, which is not a param of"
            " this run: give it (ferris run -p NAME=VALUE) or add it to the package's params"
        )
    return {n: Jsonb(argument[n]) if isinstance(argument[n], dict) else argument[n] for n in names}


def cell(value: object) -> str:
    text = "NULL" if value is None else str(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def print_result(cursor: psycopg.Cursor[Any], max_rows: int, out: TextIO) -> None:
    """A result's column names, its first ``max_rows`` rows, and how many it had."""
    assert cursor.description is not None
    out.write(" | ".join(column.name for column in cursor.description) + "\n")
    rows: Sequence[Any] = cursor.fetchmany(max_rows) if max_rows else []
    for row in rows:
        out.write(" | ".join(cell(value) for value in row) + "\n")
    total = cursor.rowcount
    more = f", {total - len(rows)} not shown" if total > len(rows) else ""
    out.write(f"({total} row{'s' if total != 1 else ''}{more})\n")


def error_line(statement: Statement, error: psycopg.Error) -> int:
    """The file's line a PostgreSQL error points at (its position in the statement), else the
    statement's first."""
    position = getattr(error.diag, "statement_position", None)
    if position and position.isdigit():
        return statement.line + statement.text[: int(position) - 1].count("\n")
    return statement.line


def run(statements: list[Statement], argument: Mapping[str, Any], settings: Mapping[str, Any], out: TextIO) -> None:
    secret, url = settings.get("secret"), settings.get("url")
    if not isinstance(url, str) or not url:
        raise StepFailed(
            f"spec.sql.connectionSecret names {secret!r}, which the package's secrets.json does not hold as a"
            " string: add it (a postgresql:// URL) with ferris secrets set, or name another secret"
        )
    single = settings.get("transaction", SINGLE) != PER_STATEMENT
    max_rows = int(settings.get("maxRows", 20))
    try:
        connection = psycopg.connect(
            url, autocommit=not single, connect_timeout=CONNECT_TIMEOUT, application_name="ferris-run"
        )
    except psycopg.ProgrammingError:
        # libpq's words would quote the text it could not read: part of the URL, said nowhere.
        raise StepFailed(
            f"the package secret {secret} is not a PostgreSQL connection URL"
            " (postgresql://USER:PASSWORD@HOST:PORT/DATABASE): set it again"
        ) from None
    except psycopg.OperationalError as exc:
        raise StepFailed(f"cannot connect to the database of secret {secret}: {str(exc).strip()}") from None
    with connection:
        for statement in statements:
            out.write(f"-- statement {statement.number} (line {statement.line}): {statement.first_line()}\n")
            out.flush()
            params = bindings(statement, argument)
            try:
                with connection.cursor() as cursor:
                    cursor.execute(statement.text.encode(), params)  # bytes: a literal query, never re-parsed
                    if cursor.description is not None:
                        print_result(cursor, max_rows, out)
                    out.write(f"{cursor.statusmessage or 'OK'}\n")
            except psycopg.Error as exc:
                primary = exc.diag.message_primary or str(exc).strip()
                kept = " nothing of this file was kept (one transaction)" if single else ""
                raise StepFailed(  # leaving the connection's block rolls the transaction back
                    f"statement {statement.number} (line {error_line(statement, exc)}) failed: {primary}:"
                    f" {statement.first_line()}{';' + kept if kept else ''}"
                ) from None
            out.flush()
        if single:
            connection.commit()
            out.write(f"-- committed: {len(statements)} statement{'s' if len(statements) != 1 else ''}\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m ferris_sql.step FILE ARGUMENT", file=sys.stderr)
        return 2
    path, argument = Path(args[0]), json.loads(args[1])
    try:
        fd = os.environ.get(FD_ENV)
        if not fd or not fd.isdigit():
            raise StepFailed(f"{path.name} is a .sql step, and the package sets no spec.sql.connectionSecret")
        settings = read_settings(int(fd))
        try:
            statements = split(path.read_text())
        except SplitError as exc:
            raise StepFailed(f"{path.name}: {exc}") from None
        if not statements:
            raise StepFailed(f"{path.name} holds no statement")
        run(statements, argument, settings, sys.stdout)
    except StepFailed as exc:
        sys.stdout.flush()
        print(f"ferris: {exc}", file=sys.stderr, flush=True)
        return 1
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
