"""How long run history stays in PostgreSQL, and how much step output a namespace keeps.

Finished runs whose end is published go after the history retention, oldest first, with their
steps and the retry requests they made (none still waiting). A namespace whose finished runs
hold more step output than its quota loses the output of its oldest runs first: each of their
steps keeps one line saying why, the runs and their outcome stay. Both work in batches, so one
pass never holds a long transaction, and a pass that stops part-way is finished by the next."""

from __future__ import annotations

import datetime
from typing import LiteralString

from psycopg_pool import ConnectionPool

ENDED: LiteralString = "phase IN ('Succeeded', 'Failed', 'Cancelled') AND published_phase = phase"


class RetentionStore:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def expire_runs(self, older_than: datetime.datetime, batch: int = 1000) -> int:
        """Remove up to ``batch`` finished runs that ended before ``older_than``; how many went."""
        with self._pool.connection() as conn, conn.transaction():
            gone = conn.execute(
                "DELETE FROM runs WHERE uid IN (SELECT uid FROM runs WHERE finished_at < %s AND "  # noqa: S608
                + ENDED
                + " AND NOT EXISTS (SELECT 1 FROM retries r WHERE r.run_uid = runs.uid AND r.made_at IS NULL)"
                " ORDER BY finished_at LIMIT %s) RETURNING uid",
                (older_than, batch),
            ).fetchall()
            uids = [uid for (uid,) in gone]
            if uids:
                conn.execute("DELETE FROM retries WHERE run_uid = ANY(%s)", (uids,))
                conn.execute("DELETE FROM run_param_files WHERE run_uid = ANY(%s)", (uids,))
        return len(uids)

    def expire_secret_params(self, older_than: datetime.datetime) -> int:
        """Secret params kept before ``older_than`` whose run is not active: a run that ended
        before the server kept them, or that never was recorded. A run's end removes its own."""
        with self._pool.connection() as conn:
            cursor = conn.execute(
                "DELETE FROM run_secret_params p WHERE p.created_at < %s AND NOT EXISTS"
                " (SELECT 1 FROM runs r WHERE r.uid = p.run_uid AND r.phase IN ('Pending', 'Running'))",
                (older_than,),
            )
            return cursor.rowcount

    def expire_param_files(self, older_than: datetime.datetime) -> int:
        """Files kept before ``older_than`` for a run history never recorded (a FerrisRun deleted
        before it started): a recorded run's go with its history."""
        with self._pool.connection() as conn:
            cursor = conn.execute(
                "DELETE FROM run_param_files f WHERE f.created_at < %s AND NOT EXISTS"
                " (SELECT 1 FROM runs r WHERE r.uid = f.run_uid)",
                (older_than,),
            )
            return cursor.rowcount

    def count_output(self, batch: int = 1000) -> int:
        """Count the output of up to ``batch`` runs that ended before it was counted at the end."""
        with self._pool.connection() as conn:
            cursor = conn.execute(
                "UPDATE runs SET output_bytes = (SELECT COALESCE(sum(octet_length(output)), 0) FROM steps"
                " WHERE run_uid = runs.uid) WHERE uid IN (SELECT uid FROM runs WHERE output_bytes IS NULL"
                " AND finished_at IS NOT NULL ORDER BY finished_at LIMIT %s)",
                (batch,),
            )
            return cursor.rowcount

    def over_quota(self, quota: int) -> dict[str, int]:
        """The namespaces whose finished runs hold more than ``quota`` bytes of step output, and by
        how much."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT namespace, sum(output_bytes) FROM runs WHERE output_bytes > 0"
                " GROUP BY namespace HAVING sum(output_bytes) > %s",
                (quota,),
            ).fetchall()
        return {namespace: int(total) - quota for namespace, total in rows}

    def remove_oldest_output(self, namespace: str, excess: int, note: str, batch: int = 1000) -> int:
        """Remove the step output of the namespace's oldest finished runs until ``excess`` bytes
        went (or ``batch`` runs did); how many bytes went."""
        with self._pool.connection() as conn, conn.transaction():
            rows = conn.execute(
                "SELECT uid, output_bytes FROM runs WHERE namespace = %s AND output_bytes > 0"
                " ORDER BY finished_at LIMIT %s",
                (namespace, batch),
            ).fetchall()
            chosen, freed = [], 0
            for uid, size in rows:
                if freed >= excess:
                    break
                chosen.append(uid)
                freed += int(size)
            if chosen:
                conn.execute("UPDATE steps SET output = %s WHERE run_uid = ANY(%s) AND output <> ''", (note, chosen))
                conn.execute(
                    "UPDATE runs SET output_bytes = 0, output_removed_at = now() WHERE uid = ANY(%s)", (chosen,)
                )
        return freed
