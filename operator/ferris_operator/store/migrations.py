"""Versioned schema migrations, applied at operator start.

Idempotent, and safe when two operators start at once: the whole run holds a transaction-level
advisory lock, so a second migrator waits, then finds nothing left to apply.
"""

from __future__ import annotations

from typing import Any, LiteralString

import psycopg

MIGRATION_LOCK_ID = 0x46455252  # "FERR"

MIGRATIONS: tuple[tuple[int, LiteralString], ...] = (
    (
        1,
        """
        CREATE TABLE packages (
            uid              text PRIMARY KEY,
            namespace        text NOT NULL,
            name             text NOT NULL,
            wrapped_dek      bytea NOT NULL,
            kek_id           text NOT NULL,
            secrets_version  integer NOT NULL DEFAULT 0,
            created_at       timestamptz NOT NULL DEFAULT now(),
            updated_at       timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX packages_by_name ON packages (namespace, name);
        CREATE INDEX packages_by_kek ON packages (kek_id);
        CREATE TABLE secrets (
            package_uid  text NOT NULL REFERENCES packages (uid) ON DELETE CASCADE,
            name         text NOT NULL,
            version      integer NOT NULL,
            ciphertext   bytea NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now(),
            updated_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (package_uid, name)
        );
        CREATE TABLE package_state (
            package_uid  text NOT NULL REFERENCES packages (uid) ON DELETE CASCADE,
            key          text NOT NULL,
            value        jsonb NOT NULL,
            updated_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (package_uid, key)
        );
        CREATE TABLE runs (
            uid                 text PRIMARY KEY,
            namespace           text NOT NULL,
            name                text NOT NULL,
            package_name        text NOT NULL,
            package_uid         text,
            package_generation  bigint,
            secrets_version     integer,
            phase               text NOT NULL DEFAULT 'Pending',
            reason              text,
            message             text,
            job_name            text,
            token_sha256        text,
            created_at          timestamptz NOT NULL DEFAULT now(),
            started_at          timestamptz,
            finished_at         timestamptz
        );
        CREATE INDEX runs_by_name ON runs (namespace, name);
        CREATE INDEX runs_by_package ON runs (namespace, package_name, created_at);
        CREATE TABLE steps (
            run_uid      text NOT NULL REFERENCES runs (uid) ON DELETE CASCADE,
            idx          integer NOT NULL,
            name         text NOT NULL,
            phase        text NOT NULL,
            exit_code    integer,
            started_at   timestamptz,
            finished_at  timestamptz,
            output       text NOT NULL DEFAULT '',
            PRIMARY KEY (run_uid, idx)
        );
        """,
    ),
    (
        2,
        """
        -- The periodic resync reads the active runs every 10 s: an index that holds only them
        -- keeps that read small however long the history grows.
        CREATE INDEX runs_active ON runs (created_at)
            WHERE phase NOT IN ('Succeeded', 'Failed', 'Cancelled');
        """,
    ),
    (
        3,
        """
        -- context.state is encrypted under the package's data key like its secrets. Rows written
        -- before keep their plaintext value until the package's state is next read, when the
        -- operator encrypts them and clears the plaintext.
        ALTER TABLE package_state ADD COLUMN ciphertext bytea;
        ALTER TABLE package_state ALTER COLUMN value DROP NOT NULL;
        ALTER TABLE package_state ADD CONSTRAINT package_state_one_form
            CHECK ((value IS NULL) <> (ciphertext IS NULL));
        """,
    ),
    (
        4,
        """
        -- A run pins the secrets version it started with; a re-upload keeps the versions that
        -- active runs pin, so that a run whose bundle must be sealed again gets what it pinned.
        ALTER TABLE secrets DROP CONSTRAINT secrets_pkey;
        ALTER TABLE secrets ADD PRIMARY KEY (package_uid, version, name);
        """,
    ),
    (
        5,
        """
        -- The server's history pages: newest first, a page at a time from a (created_at, uid)
        -- cursor, within one namespace or one package, without counting the history.
        CREATE INDEX runs_page ON runs (namespace, created_at DESC, uid DESC);
        CREATE INDEX runs_page_by_package ON runs (namespace, package_name, created_at DESC, uid DESC);
        DROP INDEX runs_by_package;
        """,
    ),
    (
        6,
        """
        -- The params a run started with (not secret: they are in the FerrisRun's spec), so that
        -- history shows them and a rerun has them after the FerrisRun is gone. NULL: too large.
        ALTER TABLE runs ADD COLUMN params jsonb;
        """,
    ),
    (
        7,
        """
        -- Runners report to the server; the operator publishes and finishes. report_seq counts
        -- the reports the server stored, published_seq the last one the operator published, so
        -- that what a lost notification missed is found again. The runner's own verdict waits
        -- in runner_succeeded and runner_message until the operator finishes the run with it.
        ALTER TABLE runs ADD COLUMN report_seq bigint NOT NULL DEFAULT 0,
          ADD COLUMN published_seq bigint NOT NULL DEFAULT 0,
          ADD COLUMN runner_succeeded boolean,
          ADD COLUMN runner_message text;
        """,
    ),
    (
        8,
        """
        -- What started each run (Manual, Schedule, Retry, Event), as its FerrisRun says, so that
        -- history tells them apart and pages of one trigger cost what pages of a package cost.
        ALTER TABLE runs ADD COLUMN trigger text;
        CREATE INDEX runs_page_by_trigger ON runs (namespace, trigger, created_at DESC, uid DESC);
        """,
    ),
    (
        9,
        """
        -- context.scheduler.retry: a run asks for a later run of its package. The server keeps
        -- the request; the operator makes the FerrisRun (named by the request) and marks it made.
        CREATE TABLE retries (
            id text PRIMARY KEY,
            run_uid text NOT NULL,
            namespace text NOT NULL,
            package_name text NOT NULL,
            run_name text NOT NULL,
            start_after timestamptz NOT NULL,
            params jsonb NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now(),
            made_at timestamptz
        );
        CREATE INDEX retries_by_run ON retries (run_uid);
        CREATE INDEX retries_pending ON retries (created_at) WHERE made_at IS NULL;
        """,
    ),
    (
        10,
        """
        -- Events (issue: runs that start themselves, part 2). An event is stored before it is
        -- acknowledged, once per namespace, source and id (a redelivery finds the first); the
        -- operator routes it into runs and records what it did in outcome.
        ALTER TABLE runs ADD COLUMN depth integer NOT NULL DEFAULT 0;
        CREATE TABLE events (
            seq bigserial PRIMARY KEY,
            namespace text NOT NULL,
            id text NOT NULL,
            source text NOT NULL,
            type text NOT NULL,
            also_type text,
            subject text,
            data jsonb NOT NULL DEFAULT '{}',
            depth integer NOT NULL DEFAULT 0,
            sent_by text NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            routed_at timestamptz,
            outcome jsonb,
            UNIQUE (namespace, source, id)
        );
        CREATE INDEX events_unrouted ON events (seq) WHERE routed_at IS NULL;
        CREATE INDEX events_page ON events (namespace, seq DESC);
        CREATE INDEX events_by_age ON events (received_at);
        CREATE INDEX events_by_sender ON events (sent_by);
        CREATE TABLE trigger_counts (
            trigger_uid text PRIMARY KEY,
            events bigint NOT NULL DEFAULT 0,
            runs bigint NOT NULL DEFAULT 0,
            refused bigint NOT NULL DEFAULT 0,
            last_seq bigint
        );
        """,
    ),
    (
        11,
        """
        -- Secret scopes (issue: secrets beyond one package). A project's or the platform's
        -- secrets live in packages/secrets under the scope object's uid; scopes holds who may
        -- read and write them. A value a script wrote names its run (written_by) and survives
        -- a new secrets.json that does not name it. secret_writes is the audit of every write
        -- and refusal: names, scope and run, never a value.
        CREATE TABLE scopes (
            uid text PRIMARY KEY REFERENCES packages (uid) ON DELETE CASCADE,
            kind text NOT NULL CHECK (kind IN ('project', 'platform')),
            namespace text NOT NULL,
            name text NOT NULL,
            readers jsonb NOT NULL DEFAULT '{}',
            writers jsonb NOT NULL DEFAULT '[]',
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX scopes_by_namespace ON scopes (kind, namespace);
        ALTER TABLE secrets ADD COLUMN written_by text;
        ALTER TABLE runs ADD COLUMN secret_sources jsonb;
        CREATE TABLE secret_writes (
            seq bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            scope_uid text,
            scope text NOT NULL,
            name text NOT NULL,
            version integer,
            outcome text NOT NULL CHECK (outcome IN ('written', 'refused')),
            message text NOT NULL,
            run_uid text NOT NULL,
            run_namespace text NOT NULL,
            run_name text NOT NULL,
            package_name text NOT NULL,
            announced_at timestamptz
        );
        CREATE INDEX secret_writes_unannounced ON secret_writes (seq) WHERE announced_at IS NULL;
        CREATE INDEX secret_writes_page ON secret_writes (run_namespace, seq DESC);
        """,
    ),
    (
        12,
        """
        -- Key providers (issue: the master key out of Kubernetes). A wrapped data key records
        -- which provider wrapped it and that provider's annotations (KMS v2), besides the key
        -- id: everything needed to unwrap it later, never the key. Rows written before are the
        -- Secret-mounted key ring's. service_keys holds the operator's own keys (the run-token
        -- key), wrapped the same way, so that no key lives only in a Kubernetes Secret.
        ALTER TABLE packages ADD COLUMN kek_provider text NOT NULL DEFAULT 'secret-ring';
        ALTER TABLE packages ADD COLUMN kek_annotations jsonb NOT NULL DEFAULT '{}';
        DROP INDEX packages_by_kek;
        CREATE INDEX packages_by_kek ON packages (kek_provider, kek_id);
        CREATE TABLE service_keys (
            name text PRIMARY KEY,
            wrapped_dek bytea NOT NULL,
            kek_provider text NOT NULL,
            kek_id text NOT NULL,
            kek_annotations jsonb NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now()
        );
        """,
    ),
    (
        13,
        """
        -- Attempts (issue: nothing lost under faults, spec.retries). A run knows which attempt
        -- it is, how many its policy allows, the policy itself (taken when the first attempt
        -- started) and the attempt before it. An automatic retry is a retries row with the
        -- attempt it makes, that policy and the secrets version to pin; made_uid names the
        -- FerrisRun made for it (the only way a run is recognised as that attempt), and
        -- consumed_at says the pin has passed to that run's own row.
        ALTER TABLE runs ADD COLUMN attempt integer NOT NULL DEFAULT 1;
        ALTER TABLE runs ADD COLUMN max_attempts integer NOT NULL DEFAULT 1;
        ALTER TABLE runs ADD COLUMN retry_of text;
        ALTER TABLE runs ADD COLUMN retry_policy jsonb;
        ALTER TABLE retries ADD COLUMN attempt integer;
        ALTER TABLE retries ADD COLUMN max_attempts integer;
        ALTER TABLE retries ADD COLUMN retry_policy jsonb;
        ALTER TABLE retries ADD COLUMN package_uid text;
        ALTER TABLE retries ADD COLUMN secrets_version integer;
        ALTER TABLE retries ADD COLUMN retry_of_name text;
        ALTER TABLE retries ADD COLUMN made_uid text;
        ALTER TABLE retries ADD COLUMN consumed_at timestamptz;
        CREATE INDEX retries_by_made_uid ON retries (made_uid) WHERE made_uid IS NOT NULL;
        CREATE INDEX retries_pinning ON retries (package_uid)
            WHERE secrets_version IS NOT NULL AND consumed_at IS NULL;
        """,
    ),
    (
        14,
        """
        -- A run's end shown in its FerrisRun (issue: nothing lost under faults). The end is
        -- decided in PostgreSQL first; published_phase says the status shows it. A run that
        -- ended while the API server could not be written (a restart) is found by this index
        -- and published again, and its key Secret deleted, by a periodic pass.
        ALTER TABLE runs ADD COLUMN published_phase text;
        UPDATE runs SET published_phase = phase WHERE phase IN ('Succeeded', 'Failed', 'Cancelled');
        CREATE INDEX runs_end_unpublished ON runs (finished_at)
            WHERE phase IN ('Succeeded', 'Failed', 'Cancelled') AND published_phase IS DISTINCT FROM phase;
        """,
    ),
    (
        15,
        """
        -- What the current secrets version was taken in from (a Secret's uid and resourceVersion,
        -- a sealed text's digest; NULL: an upload). A handler and the periodic re-read that both
        -- take in one Secret store one version, not two.
        ALTER TABLE packages ADD COLUMN secrets_source text;
        """,
    ),
    (
        16,
        """
        -- The uid of the run's key Secret, as the operator created (or found and checked) it: the
        -- run's end deletes exactly that object (a uid precondition) without reading it first.
        -- NULL: runs started before this column; their end reads the Secret and checks its owner.
        ALTER TABLE runs ADD COLUMN key_secret_uid text;
        """,
    ),
    (
        17,
        """
        -- A run's audited writes and refusals are counted before each write (at most 100 a run),
        -- and the audit is removed after its retention, oldest first.
        CREATE INDEX secret_writes_by_run ON secret_writes (run_uid);
        CREATE INDEX secret_writes_by_age ON secret_writes (at) WHERE announced_at IS NOT NULL;
        """,
    ),
    (
        18,
        """
        -- Run history has a retention (store/retention.py): finished runs go after
        -- FERRIS_HISTORY_RETENTION_DAYS, oldest first, and a namespace's step output over
        -- FERRIS_HISTORY_OUTPUT_BYTES_PER_NAMESPACE is removed from its oldest runs. output_bytes
        -- is the run's step output, counted when it ends (NULL: ended before this migration,
        -- counted by the next pass); output_removed_at says its output went for the quota.
        ALTER TABLE runs ADD COLUMN output_bytes bigint, ADD COLUMN output_removed_at timestamptz;
        CREATE INDEX runs_by_finish ON runs (finished_at) WHERE finished_at IS NOT NULL;
        CREATE INDEX runs_output_by_age ON runs (namespace, finished_at) INCLUDE (output_bytes)
            WHERE output_bytes > 0;
        CREATE INDEX runs_output_uncounted ON runs (finished_at)
            WHERE output_bytes IS NULL AND finished_at IS NOT NULL;
        """,
    ),
    (
        19,
        """
        -- What a run's scripts set with context.outputs.set (JSON, at most 64 KiB a run): kept
        -- with the run, shown in its history and carried in the event of its end.
        ALTER TABLE runs ADD COLUMN outputs jsonb;
        """,
    ),
    (
        20,
        """
        -- The events a FerrisTrigger's spec.join waits on (store/joins.py): one row per event and
        -- part; one open event per trigger, joining value and part; completed ones kept marked.
        CREATE TABLE join_parts (
            trigger_uid text NOT NULL,
            correlation text NOT NULL,
            part text NOT NULL,
            event_seq bigint NOT NULL,
            data jsonb NOT NULL,
            at timestamptz NOT NULL,
            completed_at timestamptz,
            PRIMARY KEY (trigger_uid, event_seq, part)
        );
        CREATE UNIQUE INDEX join_parts_open ON join_parts (trigger_uid, correlation, part)
            WHERE completed_at IS NULL;
        CREATE INDEX join_parts_by_age ON join_parts (at);
        """,
    ),
    (
        21,
        """
        -- A run's secret params (paramsSchema secret: true), encrypted under its package's data
        -- key and bound to the run's uid: written by the server right after it made the run,
        -- read by the operator into the run's sealed bundle, removed when the run ends.
        CREATE TABLE run_secret_params (
            run_uid text PRIMARY KEY,
            package_uid text NOT NULL,
            ciphertext bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        """,
    ),
    (
        22,
        """
        -- A running step's output arrives in chunks (at most one a second), each a row of its
        -- own: appending to steps.output would rewrite the whole output (up to 4 MiB) for every
        -- chunk. live_chars is where the chunks end (the next one's start), live_chunks how many
        -- came (the bound on what one step's token may make the database write). The step's
        -- last report, or the run's end, replaces them with the output kept in steps.output.
        ALTER TABLE steps ADD COLUMN live_chars integer NOT NULL DEFAULT 0,
            ADD COLUMN live_chunks integer NOT NULL DEFAULT 0;
        CREATE TABLE step_chunks (
            run_uid text NOT NULL,
            idx integer NOT NULL,
            start integer NOT NULL,
            text text NOT NULL,
            PRIMARY KEY (run_uid, idx, start),
            FOREIGN KEY (run_uid, idx) REFERENCES steps (run_uid, idx) ON DELETE CASCADE
        );
        """,
    ),
    (
        23,
        """
        -- The package content objects (ConfigMaps shared by the runs of one content) each run
        -- mounts: the sweep of content no run needs keeps those an active run names.
        ALTER TABLE runs ADD COLUMN contents text[] NOT NULL DEFAULT '{}';
        """,
    ),
    (
        24,
        """
        -- The files given for a run's file params (paramsSchema type: file), each encrypted
        -- under its package's data key and bound to the run and the param: written by the server
        -- right after it made the run, fetched by the run's runner through the runner API, deleted
        -- with the run's history. name, bytes and sha256 are what anyone who reads the run sees
        -- (name and size) and what the runner checks the file against (sealed in its bundle).
        CREATE TABLE run_param_files (
            run_uid text NOT NULL,
            param text NOT NULL,
            package_uid text NOT NULL,
            name text NOT NULL,
            bytes integer NOT NULL,
            sha256 text NOT NULL,
            ciphertext bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (run_uid, param)
        );
        CREATE INDEX run_param_files_by_age ON run_param_files (created_at);
        """,
    ),
)

LATEST = MIGRATIONS[-1][0]


def migrate(conn: psycopg.Connection[Any]) -> list[int]:
    """Apply pending migrations; returns the versions applied by this call."""
    applied: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}
        for version, sql in MIGRATIONS:
            if version in done:
                continue
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            applied.append(version)
    return applied
