"""The secrets vault: ingests, reads and forgets a package's secrets in PostgreSQL.

Values are encrypted under the package's data key before they reach the database; the data
key is stored wrapped by the active master key. Every multi-row change runs in one
transaction with the package row locked, so re-ingestion replaces the set atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from ferris_operator.crypto.envelope import (
    DataKey,
    decrypt_value,
    encrypt_value,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
    wrapped_key_id,
)
from ferris_operator.crypto.keyring import KeyRing


@dataclass(frozen=True)
class StoredSecrets:
    version: int
    values: dict[str, Any]

    def __repr__(self) -> str:  # values never printed
        return f"StoredSecrets(version={self.version}, names={sorted(self.values)})"


class Vault:
    def __init__(self, pool: ConnectionPool, ring: KeyRing) -> None:
        self._pool = pool
        self._ring = ring

    def _lock_package(self, conn: psycopg.Connection[Any], uid: str, namespace: str, name: str) -> tuple[DataKey, int]:
        row = conn.execute(
            "SELECT wrapped_dek, secrets_version FROM packages WHERE uid = %s FOR UPDATE", (uid,)
        ).fetchone()
        if row is None:
            dek = new_data_key()
            wrapped = wrap_data_key(self._ring, uid, dek)
            conn.execute(
                "INSERT INTO packages (uid, namespace, name, wrapped_dek, kek_id) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (uid) DO NOTHING",
                (uid, namespace, name, wrapped, self._ring.active_id),
            )
            row = conn.execute(
                "SELECT wrapped_dek, secrets_version FROM packages WHERE uid = %s FOR UPDATE", (uid,)
            ).fetchone()
            assert row is not None
        return unwrap_data_key(self._ring, uid, bytes(row[0])), int(row[1])

    def ensure_package(self, namespace: str, name: str, uid: str) -> int:
        """Create the package's row (and data key) if missing; returns its secrets version."""
        with self._pool.connection() as conn, conn.transaction():
            return self._lock_package(conn, uid, namespace, name)[1]

    def ingest(self, namespace: str, name: str, uid: str, secrets: dict[str, Any]) -> int:
        """Replace the package's secrets with ``secrets``; returns the new secrets version."""
        with self._pool.connection() as conn, conn.transaction():
            dek, current = self._lock_package(conn, uid, namespace, name)
            version = current + 1
            rows = [(uid, key, version, encrypt_value(dek, uid, key, version, value)) for key, value in secrets.items()]
            conn.execute("DELETE FROM secrets WHERE package_uid = %s", (uid,))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO secrets (package_uid, name, version, ciphertext) VALUES (%s, %s, %s, %s)", rows
                )
            conn.execute(
                "UPDATE packages SET secrets_version = %s, namespace = %s, name = %s, updated_at = now()"
                " WHERE uid = %s",
                (version, namespace, name, uid),
            )
        return version

    def read(self, uid: str) -> StoredSecrets:
        """Decrypt every secret of a package (empty, version 0, when it has none)."""
        with self._pool.connection() as conn:
            pkg = conn.execute("SELECT wrapped_dek, secrets_version FROM packages WHERE uid = %s", (uid,)).fetchone()
            if pkg is None:
                return StoredSecrets(0, {})
            rows = conn.execute(
                "SELECT name, version, ciphertext FROM secrets WHERE package_uid = %s ORDER BY name", (uid,)
            ).fetchall()
        dek = unwrap_data_key(self._ring, uid, bytes(pkg[0]))
        values = {name: decrypt_value(dek, uid, name, version, bytes(blob)) for name, version, blob in rows}
        return StoredSecrets(int(pkg[1]), values)

    def forget(self, uid: str) -> None:
        """Remove the package, its secrets and its state."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("DELETE FROM packages WHERE uid = %s", (uid,))


def kek_ids_in_use(pool: ConnectionPool) -> dict[str, int]:
    with pool.connection() as conn:
        return {kek: int(n) for kek, n in conn.execute("SELECT kek_id, count(*) FROM packages GROUP BY kek_id")}


def rewrap_batch(pool: ConnectionPool, ring: KeyRing, batch_size: int = 500) -> int:
    """Rewrap up to ``batch_size`` data keys not yet on the active master key.

    One transaction per batch, so an interrupted rewrap loses at most one batch of work and
    resumes where it stopped. Secret values are not touched. Returns how many were rewrapped.
    """
    with pool.connection() as conn, conn.transaction():
        rows = conn.execute(
            "SELECT uid, wrapped_dek FROM packages WHERE kek_id <> %s ORDER BY uid LIMIT %s FOR UPDATE SKIP LOCKED",
            (ring.active_id, batch_size),
        ).fetchall()
        updates = []
        for uid, wrapped in rows:
            dek = unwrap_data_key(ring, uid, bytes(wrapped))
            new = wrap_data_key(ring, uid, dek)
            updates.append((new, wrapped_key_id(new), uid))
        with conn.cursor() as cur:
            cur.executemany("UPDATE packages SET wrapped_dek = %s, kek_id = %s WHERE uid = %s", updates)
    return len(rows)
