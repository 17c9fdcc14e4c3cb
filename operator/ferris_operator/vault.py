"""The secrets vault: ingests, reads and forgets a package's secrets in PostgreSQL.

Values are encrypted under the package's data key before they reach the database; the data
key is stored wrapped by the active master key. Every multi-row change runs in one
transaction with the package row locked, so re-ingestion replaces the set atomically.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from ferris_operator.crypto.envelope import (
    DataKey,
    decrypt_state,
    decrypt_value,
    encrypt_state,
    encrypt_value,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
    wrapped_key_id,
)
from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.ports import StateQuotaExceeded, StoredSecrets, VersionGone

__all__ = ["StateQuotaExceeded", "StoredSecrets", "Vault", "VersionGone", "kek_ids_in_use", "rewrap_batch"]

MAX_STATE_KEYS = 64
MAX_STATE_BYTES = 1024 * 1024  # ciphertext, per package


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
        """Replace the package's secrets with ``secrets``; returns the new secrets version.
        Older versions go, except those that active runs still pin."""
        with self._pool.connection() as conn, conn.transaction():
            dek, current = self._lock_package(conn, uid, namespace, name)
            version = current + 1
            rows = [(uid, key, version, encrypt_value(dek, uid, key, version, value)) for key, value in secrets.items()]
            conn.execute(
                "DELETE FROM secrets WHERE package_uid = %s AND version NOT IN ("
                " SELECT secrets_version FROM runs WHERE package_uid = %s AND secrets_version IS NOT NULL"
                " AND phase NOT IN ('Succeeded', 'Failed', 'Cancelled'))",
                (uid, uid),
            )
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

    def read(self, uid: str, version: int | None = None) -> StoredSecrets:
        """Decrypt a package's secrets: the current version, or ``version`` (one a run pinned).
        Empty at version 0, when it has none; VersionGone when ``version`` is no longer stored."""
        with self._pool.connection() as conn:
            pkg = conn.execute("SELECT wrapped_dek, secrets_version FROM packages WHERE uid = %s", (uid,)).fetchone()
            if pkg is None:
                return StoredSecrets(0, {})
            wanted = int(pkg[1]) if version is None else version
            rows = conn.execute(
                "SELECT name, version, ciphertext FROM secrets WHERE package_uid = %s AND version = %s ORDER BY name",
                (uid, wanted),
            ).fetchall()
        if wanted > 0 and not rows:
            raise VersionGone(f"secrets version {wanted} of the package is no longer stored")
        dek = unwrap_data_key(self._ring, uid, bytes(pkg[0]))
        values = {name: decrypt_value(dek, uid, name, v, bytes(blob)) for name, v, blob in rows}
        return StoredSecrets(wanted, values)

    def _state_key(self, conn: psycopg.Connection[Any], package_uid: str, lock: bool) -> DataKey | None:
        if lock:
            row = conn.execute("SELECT wrapped_dek FROM packages WHERE uid = %s FOR UPDATE", (package_uid,)).fetchone()
        else:
            row = conn.execute("SELECT wrapped_dek FROM packages WHERE uid = %s", (package_uid,)).fetchone()
        return None if row is None else unwrap_data_key(self._ring, package_uid, bytes(row[0]))

    def state_get(self, package_uid: str) -> dict[str, Any]:
        """The package's ``context.state``, decrypted. Values stored in plaintext by an older
        version are encrypted now (and their plaintext cleared)."""
        with self._pool.connection() as conn, conn.transaction():
            rows = conn.execute(
                "SELECT key, value, ciphertext FROM package_state WHERE package_uid = %s", (package_uid,)
            ).fetchall()
            if not rows:
                return {}
            dek = self._state_key(conn, package_uid, lock=any(blob is None for _, _, blob in rows))
            if dek is None:
                return {}
            state: dict[str, Any] = {}
            for key, plain, blob in rows:
                if blob is None:
                    state[key] = plain
                    conn.execute(
                        "UPDATE package_state SET ciphertext = %s, value = NULL WHERE package_uid = %s AND key = %s",
                        (encrypt_state(dek, package_uid, key, plain), package_uid, key),
                    )
                else:
                    state[key] = decrypt_state(dek, package_uid, key, bytes(blob))
        return state

    def state_put(self, package_uid: str, key: str, value: Any) -> None:
        """Store one ``context.state`` value, encrypted, within the package's quota."""
        with self._pool.connection() as conn, conn.transaction():
            dek = self._state_key(conn, package_uid, lock=True)  # serialises writers of one package
            if dek is None:
                raise StateQuotaExceeded("the package no longer exists; its state cannot be written")
            blob = encrypt_state(dek, package_uid, key, value)
            row = conn.execute(
                "SELECT count(*), COALESCE(sum(COALESCE(octet_length(ciphertext), octet_length(value::text))), 0)"
                " FROM package_state WHERE package_uid = %s AND key <> %s",
                (package_uid, key),
            ).fetchone()
            assert row is not None
            keys, size = int(row[0]) + 1, int(row[1]) + len(blob)
            if keys > MAX_STATE_KEYS:
                raise StateQuotaExceeded(
                    f"context.state holds at most {MAX_STATE_KEYS} keys per package; reuse or remove keys"
                )
            if size > MAX_STATE_BYTES:
                raise StateQuotaExceeded(
                    f"context.state holds at most {MAX_STATE_BYTES} bytes per package (this write makes {size}); "
                    "store less, or keep large data elsewhere"
                )
            conn.execute(
                "INSERT INTO package_state (package_uid, key, ciphertext) VALUES (%s, %s, %s)"
                " ON CONFLICT (package_uid, key) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, value = NULL,"
                " updated_at = now()",
                (package_uid, key, blob),
            )

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
