"""The secrets vault: ingests, reads and forgets a package's secrets in PostgreSQL.

Values are encrypted under the package's data key before they reach the database; the data
key is stored wrapped by the active master key. Every multi-row change runs in one
transaction with the package row locked, so re-ingestion replaces the set atomically.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from ferris_ciphertext.format import CiphertextError
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
from ferris_operator.ports import (
    MasterKeyMismatch,
    ScopeFull,
    ScopeGone,
    StateQuotaExceeded,
    StoredSecrets,
    VersionGone,
)

__all__ = [
    "ScopeFull",
    "ScopeGone",
    "StateQuotaExceeded",
    "StoredSecrets",
    "Vault",
    "VersionGone",
    "kek_ids_in_use",
    "rewrap_batch",
]

MAX_STATE_KEYS = 64
MAX_SCOPE_SECRETS = 256
MAX_STATE_BYTES = 1024 * 1024  # ciphertext, per package


class Vault:
    def __init__(self, pool: ConnectionPool, ring: KeyRing) -> None:
        self._pool = pool
        self._ring = ring

    def _unwrap(self, uid: str, wrapped: bytes) -> DataKey:
        """The holder's data key; ``MasterKeyMismatch`` when the operator's master key ring does
        not open it (the database was restored beside another master key Secret, or the row
        was altered). Nothing is written then: callers fail before any change."""
        try:
            return unwrap_data_key(self._ring, uid, wrapped)
        except CiphertextError as exc:
            try:
                kek = repr(wrapped_key_id(wrapped))
            except CiphertextError:
                kek = "(unreadable)"
            raise MasterKeyMismatch(
                f"the data key of these secrets is wrapped by master key {kek}, and the operator's key ring "
                f"({', '.join(sorted(self._ring.keys))}) does not open it ({type(exc).__name__}): the database "
                "and the master key Secret do not belong together (restored with another key?); mount the "
                "master key this database was written with. Nothing was changed"
            ) from None

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
        return self._unwrap(uid, bytes(row[0])), int(row[1])

    def ensure_package(self, namespace: str, name: str, uid: str) -> int:
        """Create the package's row (and data key) if missing; returns its secrets version."""
        with self._pool.connection() as conn, conn.transaction():
            return self._lock_package(conn, uid, namespace, name)[1]

    def verify(self, uid: str) -> None:
        """``MasterKeyMismatch`` unless the holder's data key (if it has one) opens."""
        with self._pool.connection() as conn:
            row = conn.execute("SELECT wrapped_dek FROM packages WHERE uid = %s", (uid,)).fetchone()
        if row is not None:
            self._unwrap(uid, bytes(row[0]))

    def ingest(self, namespace: str, name: str, uid: str, secrets: dict[str, Any], keep_written: bool = False) -> int:
        """Replace the package's secrets with ``secrets``; returns the new secrets version.
        Older versions go, except those that active runs still pin. With ``keep_written`` (a
        scope), values scripts wrote stay unless ``secrets`` names them."""
        with self._pool.connection() as conn, conn.transaction():
            dek, current = self._lock_package(conn, uid, namespace, name)
            version = current + 1
            kept = self._written(conn, dek, uid, current, exclude=set(secrets)) if keep_written else {}
            rows: list[tuple[str, str, int, bytes, str | None]] = [
                (uid, key, version, encrypt_value(dek, uid, key, version, value), None)
                for key, value in secrets.items()
            ]
            rows += [
                (uid, key, version, encrypt_value(dek, uid, key, version, value), run)
                for key, (value, run) in kept.items()
            ]
            conn.execute(
                "DELETE FROM secrets WHERE package_uid = %s AND version NOT IN ("
                " SELECT secrets_version FROM runs WHERE package_uid = %s AND secrets_version IS NOT NULL"
                " AND phase NOT IN ('Succeeded', 'Failed', 'Cancelled'))",
                (uid, uid),
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO secrets (package_uid, name, version, ciphertext, written_by)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    rows,
                )
            conn.execute(
                "UPDATE packages SET secrets_version = %s, namespace = %s, name = %s, updated_at = now()"
                " WHERE uid = %s",
                (version, namespace, name, uid),
            )
        return version

    @staticmethod
    def _written(
        conn: psycopg.Connection[Any], dek: DataKey, uid: str, version: int, exclude: set[str]
    ) -> dict[str, tuple[Any, str]]:
        """The values scripts wrote at ``version`` (name -> (value, run uid)), less ``exclude``."""
        rows = conn.execute(
            "SELECT name, ciphertext, written_by FROM secrets"
            " WHERE package_uid = %s AND version = %s AND written_by IS NOT NULL",
            (uid, version),
        ).fetchall()
        return {
            key: (decrypt_value(dek, uid, key, version, bytes(blob)), str(run))
            for key, blob, run in rows
            if key not in exclude
        }

    def write_one(self, scope_uid: str, scope: str, name: str, value: Any, run: dict[str, str]) -> int:
        """A script's ``context.secrets.set`` into a scope: a new version holding every value of
        the last one and ``name`` = ``value``, and its audit row (``run``: uid, namespace, name,
        package), in one transaction with the scope's row locked, so concurrent writers of one
        scope follow each other and lose nothing. Returns the new version; ``ScopeGone`` when
        the scope was deleted meanwhile; ``ScopeFull`` past ``MAX_SCOPE_SECRETS`` names."""
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "SELECT wrapped_dek, secrets_version FROM packages WHERE uid = %s FOR UPDATE", (scope_uid,)
            ).fetchone()
            if row is None:
                raise ScopeGone(f"{scope} no longer exists")
            dek, current = self._unwrap(scope_uid, bytes(row[0])), int(row[1])
            version = current + 1
            previous = conn.execute(
                "SELECT name, ciphertext, written_by FROM secrets WHERE package_uid = %s AND version = %s",
                (scope_uid, current),
            ).fetchall()
            values: dict[str, tuple[Any, str | None]] = {
                key: (decrypt_value(dek, scope_uid, key, current, bytes(blob)), by) for key, blob, by in previous
            }
            values[name] = (value, run["uid"])
            if len(values) > MAX_SCOPE_SECRETS:
                raise ScopeFull(f"{scope} holds at most {MAX_SCOPE_SECRETS} secrets; remove some from its source")
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO secrets (package_uid, name, version, ciphertext, written_by)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    [
                        (scope_uid, key, version, encrypt_value(dek, scope_uid, key, version, plain), by)
                        for key, (plain, by) in values.items()
                    ],
                )
            conn.execute("DELETE FROM secrets WHERE package_uid = %s AND version < %s", (scope_uid, version))
            conn.execute(
                "UPDATE packages SET secrets_version = %s, updated_at = now() WHERE uid = %s", (version, scope_uid)
            )
            conn.execute(
                "INSERT INTO secret_writes (scope_uid, scope, name, version, outcome, message, run_uid,"
                " run_namespace, run_name, package_name) VALUES (%s, %s, %s, %s, 'written', %s, %s, %s, %s, %s)",
                (
                    scope_uid,
                    scope,
                    name,
                    version,
                    f"{name} written to {scope} (version {version})",
                    run["uid"],
                    run["namespace"],
                    run["name"],
                    run["package"],
                ),
            )
        return version

    def read_current(self, uids: list[str]) -> dict[str, StoredSecrets]:
        """The current secrets of several holders (scopes) at once; a holder gone is left out."""
        if not uids:
            return {}
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT p.uid, p.wrapped_dek, p.secrets_version, s.name, s.ciphertext FROM packages p"
                " LEFT JOIN secrets s ON s.package_uid = p.uid AND s.version = p.secrets_version"
                " WHERE p.uid = ANY(%s) ORDER BY p.uid",
                (uids,),
            ).fetchall()
        found: dict[str, StoredSecrets] = {}
        for uid, wrapped, version in {(r[0], bytes(r[1]), int(r[2])) for r in rows}:
            dek = self._unwrap(uid, wrapped)
            values = {
                name: decrypt_value(dek, uid, name, version, bytes(blob))
                for owner, _, _, name, blob in rows
                if owner == uid and name is not None
            }
            found[uid] = StoredSecrets(version, values)
        return found

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
        dek = self._unwrap(uid, bytes(pkg[0]))
        values = {name: decrypt_value(dek, uid, name, v, bytes(blob)) for name, v, blob in rows}
        return StoredSecrets(wanted, values)

    def _state_key(self, conn: psycopg.Connection[Any], package_uid: str, lock: bool) -> DataKey | None:
        if lock:
            row = conn.execute("SELECT wrapped_dek FROM packages WHERE uid = %s FOR UPDATE", (package_uid,)).fetchone()
        else:
            row = conn.execute("SELECT wrapped_dek FROM packages WHERE uid = %s", (package_uid,)).fetchone()
        return None if row is None else self._unwrap(package_uid, bytes(row[0]))

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
