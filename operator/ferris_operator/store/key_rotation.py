"""Which key-encryption keys wrap the stored data keys, and moving them all to the current key
of the current provider: a rotation inside one provider, or a migration between providers
(the Secret-mounted ring to a KMS and back). Secret values are never touched: only the small
wrapped keys are, one batch per transaction, so an interrupted rewrap resumes where it
stopped."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from ferris_operator.crypto.envelope import wrap_data_key
from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.kek.providers import KeyProviders
from ferris_operator.kek.secret_ring import NAME as SECRET_RING
from ferris_operator.problems import KeyProviderUnavailable
from ferris_operator.store.vault import KEY_COLUMNS, key_columns, open_key, wrapped_of

# Every table that keeps wrapped data keys, with its key column and how its holder is named.
_HOLDERS = (("packages", "uid", ""), ("service_keys", "name", "service:"))


def kek_ids_in_use(pool: ConnectionPool) -> dict[tuple[str, str], int]:
    """(provider, key id) -> how many data keys it wraps."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT kek_provider, kek_id, count(*) FROM ("
            " SELECT kek_provider, kek_id FROM packages UNION ALL SELECT kek_provider, kek_id FROM service_keys"
            ") k GROUP BY kek_provider, kek_id"
        ).fetchall()
    return {(str(provider), str(kek)): int(n) for provider, kek, n in rows}


def current_key(keys: KeyProviders) -> tuple[str, str]:
    """(provider, key id) that new data keys are wrapped with; KeyProviderUnavailable when the
    provider cannot say."""
    status = keys.current.status()
    if not status.healthy or not status.key_id:
        raise KeyProviderUnavailable(status.message)
    return keys.current.name, status.key_id


def rewrap_batch(pool: ConnectionPool, keys: KeyProviders, batch_size: int = 500) -> int:
    """Rewrap up to ``batch_size`` data keys not on the current key; returns how many."""
    provider, key_id = current_key(keys)
    done = 0
    for table, column, prefix in _HOLDERS:
        with pool.connection() as conn, conn.transaction():
            rows = conn.execute(
                f"SELECT {column}, {KEY_COLUMNS} FROM {table} WHERE (kek_provider, kek_id) <> (%s, %s)"
                f" ORDER BY {column} LIMIT %s FOR UPDATE SKIP LOCKED",
                (provider, key_id, batch_size - done),
            ).fetchall()
            updates = []
            for row in rows:
                holder = prefix + str(row[0])
                wrapped = wrap_data_key(keys, holder, open_key(keys, holder, wrapped_of(row[1:])))
                if (wrapped.provider, wrapped.key_id) != (provider, key_id):
                    raise KeyProviderUnavailable(
                        f"{provider} reports {key_id!r} as its current key but wrapped with {wrapped.key_id!r}; "
                        "rewrap again once the provider's rotation has settled"
                    )
                updates.append((*key_columns(wrapped), row[0]))
            with conn.cursor() as cur:
                cur.executemany(
                    f"UPDATE {table} SET wrapped_dek = %s, kek_provider = %s, kek_id = %s, kek_annotations = %s"
                    f" WHERE {column} = %s",
                    updates,
                )
        done += len(rows)
        if done >= batch_size:
            break
    return done


def unreadable_keys(in_use: dict[tuple[str, str], int], providers: list[str], ring: KeyRing | None) -> list[str]:
    """``provider/key id`` of the keys in use that no configured provider holds: a provider not
    configured, or a ring key id not mounted. (Another key under the same id shows only when a
    data key fails to open: MasterKeyMismatch on its holder.)"""
    return sorted(
        f"{provider}/{key_id}"
        for provider, key_id in in_use
        if provider not in providers or (provider == SECRET_RING and (ring is None or key_id not in ring.keys))
    )
