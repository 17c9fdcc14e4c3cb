"""The secrets vault: ingests, reads and forgets a package's secrets in PostgreSQL.

Values are encrypted under the package's data key before they reach the database; the data
key is stored wrapped by the active master key. Every multi-row change runs in one
transaction with the package row locked, so re-ingestion replaces the set atomically.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, LiteralString

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from ferris_ciphertext.format import CiphertextError
from ferris_operator.crypto.envelope import (
    DataKey,
    decrypt_param_file,
    decrypt_run_params,
    decrypt_state,
    decrypt_value,
    encrypt_param_file,
    encrypt_run_params,
    encrypt_state,
    encrypt_value,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
)
from ferris_operator.kek.base import KeyRejected, WrappedKey
from ferris_operator.kek.providers import KeyProviders
from ferris_operator.problems import (
    MasterKeyMismatch,
    PackageNotStored,
    ScopeFull,
    ScopeGone,
    StateQuotaExceeded,
    VersionGone,
)
from ferris_operator.records import StoredSecrets
from ferris_wire.runner_api import ParamFile

__all__ = [
    "ScopeFull",
    "ScopeGone",
    "StateQuotaExceeded",
    "StoredSecrets",
    "Vault",
    "VersionGone",
]

log = logging.getLogger("ferris.vault")

# The columns of a wrapped data key, in every table that keeps one (packages, service_keys).
KEY_COLUMNS = "wrapped_dek, kek_provider, kek_id, kek_annotations"

MAX_STATE_KEYS = 64
MAX_SCOPE_SECRETS = 256
MAX_SCOPE_BYTES = 128 * 1024  # the values of one scope, as JSON: every reader's bundle carries them
MAX_STATE_BYTES = 1024 * 1024  # ciphertext, per package


def wrapped_of(row: Sequence[Any]) -> WrappedKey:
    """A ``WrappedKey`` from the four ``KEY_COLUMNS`` of a row."""
    annotations = {key: base64.b64decode(value) for key, value in (row[3] or {}).items()}
    return WrappedKey(str(row[1]), str(row[2]), bytes(row[0]), annotations)


def key_columns(wrapped: WrappedKey) -> tuple[bytes, str, str, Jsonb]:
    """The values of ``KEY_COLUMNS`` for a ``WrappedKey``."""
    annotations = {key: base64.b64encode(value).decode() for key, value in wrapped.annotations.items()}
    return wrapped.ciphertext, wrapped.provider, wrapped.key_id, Jsonb(annotations)


def open_key(keys: KeyProviders, uid: str, wrapped: WrappedKey) -> DataKey:
    """The holder's data key; ``MasterKeyMismatch`` when the key provider does not open it (the
    database was restored beside another master key, or the row was altered);
    ``KeyProviderUnavailable`` when the provider cannot be asked. Nothing is written then:
    callers fail (or wait) before any change."""
    try:
        return unwrap_data_key(keys, uid, wrapped)
    except (CiphertextError, KeyRejected) as exc:
        raise MasterKeyMismatch(
            f"the data key of these secrets is wrapped by {wrapped.provider} key {wrapped.key_id!r}, and it does "
            f"not open: {exc}. The database and the key provider do not belong together (restored with another "
            "master key?); configure the key this database was written with. Nothing was changed"
        ) from None


class Vault:
    def __init__(self, pool: ConnectionPool, keys: KeyProviders) -> None:
        self._pool = pool
        self._keys = keys

    def _unwrap(self, uid: str, row: Sequence[Any]) -> DataKey:
        return open_key(self._keys, uid, wrapped_of(row))

    def _lock_package(
        self, conn: psycopg.Connection[Any], uid: str, namespace: str, name: str
    ) -> tuple[DataKey, int, str | None]:
        """The package's row, locked (made with a new data key if missing): (data key, secrets
        version, what that version was taken in from)."""
        select = f"SELECT {KEY_COLUMNS}, secrets_version, secrets_source FROM packages WHERE uid = %s FOR UPDATE"
        row = conn.execute(select, (uid,)).fetchone()
        if row is None:
            wrapped = wrap_data_key(self._keys, uid, new_data_key())
            conn.execute(
                f"INSERT INTO packages (uid, namespace, name, {KEY_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (uid) DO NOTHING",
                (uid, namespace, name, *key_columns(wrapped)),
            )
            row = conn.execute(select, (uid,)).fetchone()
            assert row is not None
        return self._unwrap(uid, row), int(row[4]), row[5]

    def ensure_package(self, namespace: str, name: str, uid: str) -> int:
        """Create the package's row (and data key) if missing; returns its secrets version."""
        with self._pool.connection() as conn, conn.transaction():
            return self._lock_package(conn, uid, namespace, name)[1]

    def verify(self, uid: str) -> None:
        """``MasterKeyMismatch`` unless the holder's data key (if it has one) opens."""
        with self._pool.connection() as conn:
            row = conn.execute(f"SELECT {KEY_COLUMNS} FROM packages WHERE uid = %s", (uid,)).fetchone()
        if row is not None:
            self._unwrap(uid, row)

    def ingest(
        self,
        namespace: str,
        name: str,
        uid: str,
        secrets: dict[str, Any],
        keep_written: bool = False,
        source: str | None = None,
    ) -> int:
        """Replace the package's secrets with ``secrets``; returns the new secrets version.
        Older versions go, except those that active runs or next attempts still pin. With ``keep_written`` (a
        scope), values scripts wrote stay unless ``secrets`` names them. ``source`` names what
        was taken in (None: an upload): the source the current version came from, taken in
        again (a handler and the periodic re-read racing), makes no new version."""
        with self._pool.connection() as conn, conn.transaction():
            dek, current, current_source = self._lock_package(conn, uid, namespace, name)
            if source is not None and source == current_source:
                return current
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
            # Versions stay while an active run, or a next attempt not started yet, pins them.
            conn.execute(
                "DELETE FROM secrets WHERE package_uid = %s AND version NOT IN ("
                " SELECT secrets_version FROM runs WHERE package_uid = %s AND secrets_version IS NOT NULL"
                " AND phase NOT IN ('Succeeded', 'Failed', 'Cancelled')"
                " UNION SELECT secrets_version FROM retries WHERE package_uid = %s AND secrets_version IS NOT NULL"
                " AND consumed_at IS NULL AND start_after > now() - interval '1 day')",
                (uid, uid, uid),
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO secrets (package_uid, name, version, ciphertext, written_by)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    rows,
                )
            conn.execute(
                "UPDATE packages SET secrets_version = %s, secrets_source = %s, namespace = %s, name = %s,"
                " updated_at = now() WHERE uid = %s",
                (version, source, namespace, name, uid),
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
                f"SELECT {KEY_COLUMNS}, secrets_version FROM packages WHERE uid = %s FOR UPDATE", (scope_uid,)
            ).fetchone()
            if row is None:
                raise ScopeGone(f"{scope} no longer exists")
            dek, current = self._unwrap(scope_uid, row), int(row[4])
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
            size = len(json.dumps({key: plain for key, (plain, _) in values.items()}, separators=(",", ":")))
            if size > MAX_SCOPE_BYTES:
                raise ScopeFull(
                    f"{scope} would hold {size} bytes of secrets, over its budget of {MAX_SCOPE_BYTES} bytes"
                    " (every reader's run carries them all); write less, or remove some from its source"
                )
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
                "SELECT p.uid, p.secrets_version, s.name, s.ciphertext, p.wrapped_dek, p.kek_provider, p.kek_id,"
                " p.kek_annotations FROM packages p"
                " LEFT JOIN secrets s ON s.package_uid = p.uid AND s.version = p.secrets_version"
                " WHERE p.uid = ANY(%s) ORDER BY p.uid",
                (uids,),
            ).fetchall()
        found: dict[str, StoredSecrets] = {}
        for row in rows:
            uid, version = str(row[0]), int(row[1])
            if uid in found:
                continue
            dek = self._unwrap(uid, row[4:])
            values = {
                name: decrypt_value(dek, uid, name, version, bytes(blob))
                for owner, _, name, blob, *_ in rows
                if owner == uid and name is not None
            }
            found[uid] = StoredSecrets(version, values)
        return found

    def read(self, uid: str, version: int | None = None, missing_ok: bool = True) -> StoredSecrets:
        """Decrypt a package's secrets: the current version, or ``version`` (one a run pinned).
        Empty at version 0, when it has none; VersionGone when ``version`` is no longer stored.
        A package without a row has none, or, when not ``missing_ok``, raises PackageNotStored
        (a run must never start without secrets its package has but this database lacks)."""
        with self._pool.connection() as conn:
            pkg = conn.execute(f"SELECT {KEY_COLUMNS}, secrets_version FROM packages WHERE uid = %s", (uid,)).fetchone()
            if pkg is None:
                if not missing_ok:
                    raise PackageNotStored(uid)
                return StoredSecrets(0, {})
            wanted = int(pkg[4]) if version is None else version
            rows = conn.execute(
                "SELECT name, version, ciphertext FROM secrets WHERE package_uid = %s AND version = %s ORDER BY name",
                (uid, wanted),
            ).fetchall()
        if wanted > 0 and not rows:
            raise VersionGone(f"secrets version {wanted} of the package is no longer stored")
        dek = self._unwrap(uid, pkg)
        values = {name: decrypt_value(dek, uid, name, v, bytes(blob)) for name, v, blob in rows}
        return StoredSecrets(wanted, values)

    def _state_key(self, conn: psycopg.Connection[Any], package_uid: str, lock: bool) -> DataKey | None:
        select = f"SELECT {KEY_COLUMNS} FROM packages WHERE uid = %s" + (" FOR UPDATE" if lock else "")
        row = conn.execute(select, (package_uid,)).fetchone()
        return None if row is None else self._unwrap(package_uid, row)

    def put_run_params(self, package_uid: str, run_uid: str, values: dict[str, Any]) -> None:
        """Keep a run's secret params, encrypted under its package's data key, bound to the run."""
        with self._pool.connection() as conn, conn.transaction():
            dek = self._state_key(conn, package_uid, lock=False)
            if dek is None:
                raise PackageNotStored(package_uid)
            blob = encrypt_run_params(dek, package_uid, run_uid, values)
            conn.execute(
                "INSERT INTO run_secret_params (run_uid, package_uid, ciphertext) VALUES (%s, %s, %s)"
                " ON CONFLICT (run_uid) DO NOTHING",
                (run_uid, package_uid, blob),
            )

    def run_params(self, package_uid: str, run_uid: str) -> dict[str, Any] | None:
        """A run's secret params; None when none were kept for it (for this package)."""
        blob, dek = self._kept_for_run(
            "SELECT ciphertext FROM run_secret_params WHERE run_uid = %s AND package_uid = %s",
            (run_uid, package_uid),
            package_uid,
        )
        return None if blob is None or dek is None else decrypt_run_params(dek, package_uid, run_uid, blob)

    def _kept_for_run(
        self, query: LiteralString, args: tuple[str, ...], package_uid: str
    ) -> tuple[bytes | None, DataKey | None]:
        """The ciphertext ``query`` finds for a run, and its package's data key (None: either
        is not there)."""
        with self._pool.connection() as conn:
            row = conn.execute(query, args).fetchone()
            if row is None:
                return None, None
            return bytes(row[0]), self._state_key(conn, package_uid, lock=False)

    def put_param_files(self, package_uid: str, run_uid: str, files: Mapping[str, tuple[str, bytes]]) -> None:
        """Keep the files given for a run's file params (param: (name, content)), each encrypted
        under its package's data key and bound to the run and the param, its name, size and
        SHA-256 beside it in the clear; all in one transaction (the run sees all or none)."""
        with self._pool.connection() as conn, conn.transaction():
            dek = self._state_key(conn, package_uid, lock=False)
            if dek is None:
                raise PackageNotStored(package_uid)
            for param, (name, data) in files.items():
                blob = encrypt_param_file(dek, package_uid, run_uid, param, data)
                conn.execute(
                    "INSERT INTO run_param_files (run_uid, param, package_uid, name, bytes, sha256, ciphertext)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (run_uid, param) DO NOTHING",
                    (run_uid, param, package_uid, name, len(data), hashlib.sha256(data).hexdigest(), blob),
                )

    def param_files(self, package_uid: str, run_uid: str) -> dict[str, ParamFile]:
        """What was kept for a run's file params (of this package), by param: never the file."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT param, name, bytes, sha256 FROM run_param_files WHERE run_uid = %s AND package_uid = %s",
                (run_uid, package_uid),
            ).fetchall()
        return {
            param: ParamFile(param=param, name=name, bytes=size, sha256=digest) for param, name, size, digest in rows
        }

    def param_file(self, package_uid: str, run_uid: str, param: str) -> bytes | None:
        """The file kept for one of a run's file params, decrypted; None when none was kept."""
        blob, dek = self._kept_for_run(
            "SELECT ciphertext FROM run_param_files WHERE run_uid = %s AND param = %s AND package_uid = %s",
            (run_uid, param, package_uid),
            package_uid,
        )
        return None if blob is None or dek is None else decrypt_param_file(dek, package_uid, run_uid, param, blob)

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

    def service_key(self, name: str, replace_unopened: bool = True) -> DataKey:
        """One of the operator's own keys (``run-tokens``): made on first use, stored wrapped by
        the current key provider like a data key, bound to ``service:NAME``. The operator and
        the server, started together, read the same key. One that no longer opens (the
        database restored beside another master key) is replaced (unless not
        ``replace_unopened``), since it protects no stored data: only tokens of runs started
        under it stop verifying, and the other process reads the new one when a token names it."""
        holder = f"service:{name}"
        select = f"SELECT {KEY_COLUMNS} FROM service_keys WHERE name = %s FOR UPDATE"
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(select, (name,)).fetchone()
            if row is not None:
                try:
                    return self._unwrap(holder, row)
                except MasterKeyMismatch as mismatch:
                    if not replace_unopened:
                        raise
                    log.warning("service key %s does not open and is replaced: %s", name, mismatch)
                    conn.execute("DELETE FROM service_keys WHERE name = %s", (name,))
            wrapped = wrap_data_key(self._keys, holder, new_data_key())
            conn.execute(
                f"INSERT INTO service_keys (name, {KEY_COLUMNS}) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (name) DO NOTHING",
                (name, *key_columns(wrapped)),
            )
            row = conn.execute(select, (name,)).fetchone()
            assert row is not None
        return self._unwrap(holder, row)
