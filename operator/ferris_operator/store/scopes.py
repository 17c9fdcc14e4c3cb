"""Secret scopes' policies (who reads, who writes) and the audit of scripts' writes, in
PostgreSQL. The values are the vault's."""

from __future__ import annotations

import datetime
from typing import Any, LiteralString

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from ferris_operator.records import Scope, SecretWrite

SCOPE_COLUMNS: LiteralString = "uid, kind, namespace, name, readers, writers"
WRITE_COLUMNS: LiteralString = (
    "seq, at, scope, name, version, outcome, message, run_uid, run_namespace, run_name, package_name, scope_uid"
)


def _scope(row: tuple[Any, ...]) -> Scope:
    uid, kind, namespace, name, readers, writers = row
    return Scope(uid, kind, namespace, name, dict(readers or {}), list(writers or []))


def _write(row: tuple[Any, ...]) -> SecretWrite:
    return SecretWrite(*row)


class ScopeStore:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def register(self, scope: Scope) -> None:
        """Record (or update) a scope's policy; its vault row must exist (ensure_package)."""
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO scopes (uid, kind, namespace, name, readers, writers) VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (uid) DO UPDATE SET readers = EXCLUDED.readers, writers = EXCLUDED.writers,"
                " updated_at = now()",
                (scope.uid, scope.kind, scope.namespace, scope.name, Jsonb(scope.readers), Jsonb(scope.writers)),
            )

    def around(self, namespace: str) -> list[Scope]:
        """The namespace's project scope and the platform scopes that may concern it (naming it
        as a reader or writer, or selecting readers by label; the caller applies the rules),
        the project first, then the platform's by name."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT "  # noqa: S608 - literal strings only
                + SCOPE_COLUMNS
                + " FROM scopes WHERE (kind = 'project' AND namespace = %(ns)s) OR (kind = 'platform' AND ("
                " readers->'namespaces' ? %(ns)s OR readers ? 'namespaceSelector'"
                " OR writers @> jsonb_build_array(jsonb_build_object('namespace', %(ns)s::text))))"
                " ORDER BY kind DESC, name, uid",
                {"ns": namespace},
            ).fetchall()
        return [_scope(row) for row in rows]

    def expire_writes(self, older_than: datetime.datetime) -> int:
        """Remove the audit of writes announced and made before ``older_than``; how many went."""
        with self._pool.connection() as conn:
            cursor = conn.execute("DELETE FROM secret_writes WHERE at < %s AND announced_at IS NOT NULL", (older_than,))
            return cursor.rowcount

    def writes_of_run(self, run_uid: str) -> int:
        """How many writes and refusals of the run are audited (index secret_writes_by_run)."""
        with self._pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM secret_writes WHERE run_uid = %s", (run_uid,)).fetchone()
        return int(row[0]) if row else 0

    def refused(self, scope: str, name: str, message: str, run: dict[str, str], scope_uid: str | None = None) -> None:
        """Audit a write that was refused (``run``: uid, namespace, name, package)."""
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO secret_writes (scope_uid, scope, name, outcome, message, run_uid, run_namespace,"
                " run_name, package_name) VALUES (%s, %s, %s, 'refused', %s, %s, %s, %s, %s)",
                (scope_uid, scope, name, message, run["uid"], run["namespace"], run["name"], run["package"]),
            )

    def unannounced(self, limit: int = 100) -> list[SecretWrite]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT "  # noqa: S608 - literal strings only
                + WRITE_COLUMNS
                + " FROM secret_writes WHERE announced_at IS NULL ORDER BY seq LIMIT %s",
                (limit,),
            ).fetchall()
        return [_write(row) for row in rows]

    def announced(self, seqs: list[int]) -> None:
        with self._pool.connection() as conn:
            conn.execute("UPDATE secret_writes SET announced_at = now() WHERE seq = ANY(%s)", (seqs,))

    def writes(self, namespace: str, limit: int = 50, before: int | None = None) -> list[SecretWrite]:
        """The writes (and refusals) of the namespace's runs, newest first."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT "  # noqa: S608 - literal strings only
                + WRITE_COLUMNS
                + " FROM secret_writes WHERE run_namespace = %s AND (%s::bigint IS NULL OR seq < %s)"
                " ORDER BY seq DESC LIMIT %s",
                (namespace, before, before, limit),
            ).fetchall()
        return [_write(row) for row in rows]
