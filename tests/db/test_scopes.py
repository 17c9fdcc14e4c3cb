"""Project and platform secrets against a real PostgreSQL: what a run reads (package, then
project, then platform; readers applied), scripts' writes allowed only by a scope's writers and
audited without values, concurrent writers losing nothing, a new secrets.json keeping what
scripts wrote, tampering failing closed, and no plaintext at rest."""

from __future__ import annotations

import datetime
import threading
import uuid
from typing import Any

import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from ferris_ciphertext.format import TamperedCiphertext, UnknownKeyId
from ferris_devcluster.postgres import LocalPostgres
from ferris_operator import model
from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.kek.secret_ring import ring_providers
from ferris_operator.records import RunRecord, Scope
from ferris_operator.secret_scopes.policies import ScopeObjects
from ferris_operator.secret_scopes.reading import ScopeReader
from ferris_operator.secret_scopes.writes import ScopeWriter
from ferris_operator.store.key_rotation import rewrap_batch
from ferris_operator.store.scopes import ScopeStore
from ferris_operator.store.vault import MAX_SCOPE_BYTES, MAX_SCOPE_SECRETS, Vault
from tests.canaries import assert_no_canary

CANARY = "scope-c4n4ry-Zq9x7"


def body_of(scope: Scope) -> dict[str, Any]:
    """The FerrisProjectSecrets or FerrisPlatformSecrets object a scope's row was recorded for."""
    meta = {"uid": scope.uid, "name": scope.name, **({"namespace": scope.namespace} if scope.namespace else {})}
    spec: dict[str, Any] = {"writers": scope.writers}
    if scope.kind == "platform":
        spec["readers"] = scope.readers
    return {"metadata": meta, "spec": spec}


class Cluster:
    """The scope objects as the API server would answer for them (typed against ScopeObjectsPort)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.reads = 0

    def put(self, scope: Scope) -> None:
        plural = model.PROJECT_SECRETS if scope.kind == "project" else model.PLATFORM_SECRETS
        self.objects[(plural, scope.namespace, scope.name)] = body_of(scope)

    def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads += 1
        return self.objects.get((plural, namespace, name))


class World:
    def __init__(self, pool: ConnectionPool, ring: KeyRing) -> None:
        self.pool = pool
        self.vault = Vault(pool, ring_providers(ring))
        self.store = ScopeStore(pool)
        self.label_reads: list[str] = []
        self.labels: dict[str, dict[str, str]] = {}
        self.cluster = Cluster()
        self.objects = ScopeObjects(self.cluster)
        self.reader = ScopeReader(self.store, self.vault, self._labels, self.objects)
        self.writer = ScopeWriter(self.store, self.vault, self.objects)
        self.ns = "ns-" + uuid.uuid4().hex[:8]  # the database is shared by the tests: names of their own

    def _labels(self, namespace: str) -> dict[str, str]:
        self.label_reads.append(namespace)
        return self.labels.get(namespace, {})

    def project(self, values: dict[str, object], writers: list[dict[str, str]] | None = None) -> Scope:
        scope = Scope("prj-" + uuid.uuid4().hex[:8], "project", self.ns, "project", {}, writers or [])
        self.vault.ingest(self.ns, "scope:project", scope.uid, dict(values), keep_written=True)
        self.store.register(scope)
        self.cluster.put(scope)
        return scope

    def platform(
        self, values: dict[str, object], readers: dict[str, object], writers: list[dict[str, str]] | None = None
    ) -> Scope:
        name = "plat-" + uuid.uuid4().hex[:8]
        scope = Scope("plt-" + uuid.uuid4().hex[:8], "platform", "", name, readers, writers or [])
        self.vault.ingest("", f"scope:platform:{name}", scope.uid, dict(values), keep_written=True)
        self.store.register(scope)
        self.cluster.put(scope)
        return scope

    def run(self, package: str, namespace: str | None = None) -> RunRecord:
        now = datetime.datetime.now(datetime.UTC)
        uid = "run-" + uuid.uuid4().hex[:8]
        return RunRecord(
            uid, namespace or self.ns, uid, package, "puid", 1, 1, "Running", None, None, None, now, now, None
        )


@pytest.fixture
def world(pool: ConnectionPool, ring: KeyRing) -> World:
    return World(pool, ring)


def test_a_name_resolves_package_then_project_then_platform_and_the_run_records_where_from(world: World) -> None:
    world.project({"SHARED": "from-project", "PROJECT_ONLY": "p"})
    platform = world.platform({"SHARED": "from-platform", "GLOBAL": "g"}, {"namespaces": [world.ns]})
    scoped = world.reader.for_run(world.ns, {"SHARED": "from-package"})
    assert scoped.project == {"SHARED": "from-project", "PROJECT_ONLY": "p"}
    assert scoped.platform == {"SHARED": "from-platform", "GLOBAL": "g"}
    assert scoped.sources == {
        "SHARED": "package",
        "PROJECT_ONLY": "project",
        "GLOBAL": f"platform/{platform.name}",
    }
    assert scoped.versions == {"project": 1, f"platform/{platform.name}": 1}
    assert "from-project" not in repr(scoped) and world.label_reads == []  # no selector: no label read


def test_a_namespace_outside_the_readers_reads_nothing_of_the_platform(world: World) -> None:
    world.platform({"GLOBAL": "g"}, {"namespaces": ["someone-else"]})
    world.platform({"GLOBAL": "g"}, {})  # no readers: nobody
    world.platform({"GLOBAL": "g"}, {"namespaceSelector": {"matchLabels": {"tier": "gold"}}})
    scoped = world.reader.for_run(world.ns, {})
    assert scoped.platform == {} and "GLOBAL" not in scoped.sources
    assert world.label_reads == [world.ns]  # read once, for the selector


def test_a_label_selector_lets_a_namespace_read(world: World) -> None:
    world.labels[world.ns] = {"tier": "gold", "team": "data"}
    world.platform(
        {"GLOBAL": "g"},
        {"namespaceSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold"]}]}},
    )
    assert world.reader.for_run(world.ns, {}).platform == {"GLOBAL": "g"}


def test_a_database_writer_who_widens_a_platform_scopes_readers_opens_nothing(world: World) -> None:
    """Who reads a platform scope is its object's (guarded by RBAC), not the database row's."""
    platform = world.platform({"GLOBAL": CANARY}, {"namespaces": ["someone-else"]})
    with world.pool.connection() as conn:
        conn.execute("UPDATE scopes SET readers = %s WHERE uid = %s", (Jsonb({"namespaces": [world.ns]}), platform.uid))
    assert world.reader.for_run(world.ns, {}).platform == {}
    widened = Scope(platform.uid, "platform", "", platform.name, {"namespaces": [world.ns]}, [])
    world.cluster.put(widened)  # the platform team widens the object itself: read at once
    assert world.reader.for_run(world.ns, {}).platform == {"GLOBAL": CANARY}


def test_a_project_row_pointed_at_another_scope_opens_nothing(world: World) -> None:
    """A database writer turns a platform scope's row into this namespace's project: the object
    found where the row points is another one (or none), so nothing is read from that uid."""
    platform = world.platform({"GLOBAL": CANARY}, {})
    world.project({"MINE": "m"})  # the namespace's own project object stays what it is
    with world.pool.connection() as conn:
        conn.execute(
            "UPDATE scopes SET kind = 'project', namespace = %s, name = 'project' WHERE uid = %s",
            (world.ns, platform.uid),
        )
    scoped = world.reader.for_run(world.ns, {})
    assert scoped.project == {"MINE": "m"} and CANARY not in scoped.project.values() and scoped.platform == {}


def test_a_writer_added_in_the_database_writes_nothing(world: World) -> None:
    project = world.project({"A": "a"})  # the object names no writer
    with world.pool.connection() as conn:
        conn.execute("UPDATE scopes SET writers = %s WHERE uid = %s", (Jsonb([{"package": "w"}]), project.uid))
    answer = world.writer.write(world.run("w"), "TOKEN", CANARY, "project")
    assert answer.status == 403 and world.vault.read(project.uid).values == {"A": "a"}


def test_a_namespace_no_scope_concerns_costs_the_api_server_nothing(world: World) -> None:
    assert world.reader.for_run("ns-nobody-" + uuid.uuid4().hex[:6], {}).project == {}
    assert world.cluster.reads == 0


def test_a_write_without_a_policy_is_refused_with_the_fix_and_audited(world: World) -> None:
    project = world.project({"A": "a"})
    run = world.run("refresher")
    answer = world.writer.write(run, "TOKEN", CANARY, "project")
    assert answer.status == 403 and "add {package: refresher} to spec.writers" in answer.text
    answer = world.writer.write(run, "TOKEN", CANARY, "platform")
    assert answer.status == 403 and f"{{namespace: {world.ns}, package: refresher}}" in answer.text
    assert world.vault.read(project.uid).values == {"A": "a"}
    refused = [w for w in world.store.writes(world.ns) if w.run_uid == run.uid]
    assert [(w.outcome, w.scope, w.name) for w in refused] == [
        ("refused", "platform", "TOKEN"),
        ("refused", "project", "TOKEN"),
    ]


def test_a_namespace_without_project_secrets_is_told_to_create_them(world: World) -> None:
    answer = world.writer.write(world.run("refresher"), "TOKEN", "x" * 8, "project")
    assert answer.status == 403 and "has no project secrets: create a FerrisProjectSecrets" in answer.text


def test_an_allowed_write_makes_a_new_version_seen_by_the_next_run_of_another_package(world: World) -> None:
    project = world.project({"A": "a"}, writers=[{"package": "refresher"}])
    run = world.run("refresher")
    answer = world.writer.write(run, "TOKEN", {"access": CANARY}, "project")
    assert answer.status == 200 and answer.version == 2 and CANARY not in answer.text
    scoped = world.reader.for_run(world.ns, {})  # a run of any package of the namespace
    assert scoped.project == {"A": "a", "TOKEN": {"access": CANARY}} and scoped.versions["project"] == 2
    written = [w for w in world.store.writes(world.ns) if w.run_uid == run.uid]
    assert [(w.outcome, w.scope, w.name, w.version) for w in written] == [("written", "project", "TOKEN", 2)]
    assert world.vault.read(project.uid).version == 2


def test_platform_writes_need_the_namespace_and_the_package_named(world: World) -> None:
    platform = world.platform({}, {}, writers=[{"namespace": world.ns, "package": "refresher"}])
    assert world.writer.write(world.run("refresher", "other-ns"), "T", "abcdef", "platform").status == 403
    assert world.writer.write(world.run("other-pkg"), "T", "abcdef", "platform").status == 403
    answer = world.writer.write(world.run("refresher"), "T", "abcdef", "platform")
    assert answer.status == 200 and platform.label in answer.text
    assert world.reader.for_run(world.ns, {}).platform == {}  # writing grants no reading


def test_two_concurrent_writers_lose_nothing(world: World) -> None:
    project = world.project({"BASE": "b"}, writers=[{"package": "w"}])
    errors: list[BaseException] = []

    def writer(prefix: str) -> None:
        try:
            for i in range(15):
                assert (
                    world.writer.write(world.run("w"), f"{prefix}_{i}", f"value-{prefix}-{i}", "project").status == 200
                )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in ("A", "B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stored = world.vault.read(project.uid)
    assert stored.version == 31 and len(stored.values) == 31
    with world.pool.connection() as conn:
        versions = conn.execute(
            "SELECT DISTINCT version FROM secrets WHERE package_uid = %s", (project.uid,)
        ).fetchall()
    assert versions == [(31,)]  # older versions go: runs carry what they read in their bundle


def test_a_new_secrets_json_keeps_what_scripts_wrote_unless_it_names_it(world: World) -> None:
    project = world.project({"A": "a"}, writers=[{"package": "w"}])
    world.writer.write(world.run("w"), "TOKEN", "written-token", "project")
    world.writer.write(world.run("w"), "OTHER", "written-other", "project")
    world.vault.ingest(world.ns, "scope:project", project.uid, {"A": "a2", "OTHER": "from-source"}, keep_written=True)
    assert world.vault.read(project.uid).values == {"A": "a2", "OTHER": "from-source", "TOKEN": "written-token"}


def move_ciphertext(world: World, source: tuple[str, str], target: tuple[str, str]) -> None:
    """Put the ciphertext of (holder uid, name) ``source`` in place of ``target``'s."""
    with world.pool.connection() as conn:
        conn.execute(
            "UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets WHERE package_uid = %s AND name = %s)"
            " WHERE package_uid = %s AND name = %s",
            (*source, *target),
        )


def test_scoped_ciphertexts_moved_between_scopes_or_names_fail_closed(world: World, ring: KeyRing) -> None:
    one = world.project({"X": "x1", "Y": "y1"})
    two = World(world.pool, ring).project({"X": "x2"})  # another namespace's
    move_ciphertext(world, (two.uid, "X"), (one.uid, "X"))
    with pytest.raises(UnknownKeyId):
        world.reader.for_run(world.ns, {})
    three = world.project({"X": "x3", "Y": "y3"})
    move_ciphertext(world, (three.uid, "Y"), (three.uid, "X"))
    with pytest.raises(TamperedCiphertext):
        world.vault.read_current([three.uid])


def test_no_written_value_reaches_the_database_in_plaintext_audit_rows_included(
    postgres_server: LocalPostgres, database_url: str, world: World
) -> None:
    world.project({"SEED": CANARY}, writers=[{"package": "w"}])
    world.platform({"SEED": CANARY}, {"namespaces": [world.ns]})
    assert world.writer.write(world.run("w"), "TOKEN", {"nested": CANARY}, "project").status == 200
    assert world.writer.write(world.run("nobody"), "TOKEN", CANARY, "project").status == 403
    dump = postgres_server.dump(database_url.rsplit("/", 1)[1])
    assert world.ns.encode() in dump and b"secret_writes" in dump
    assert_no_canary("the pg_dump", dump, [CANARY])


def test_rewrap_moves_scopes_data_keys_too_and_their_values_still_open(world: World, ring: KeyRing) -> None:
    project = world.project({"A": "a"})
    platform = world.platform({"G": "g"}, {"namespaces": [world.ns]})
    rotated = KeyRing(ring.keys, "k2")
    while rewrap_batch(world.pool, ring_providers(rotated), 500):
        pass
    with world.pool.connection() as conn:
        keks = conn.execute(
            "SELECT DISTINCT kek_id FROM packages WHERE uid = ANY(%s)", ([project.uid, platform.uid],)
        ).fetchall()
    assert keks == [("k2",)]
    vault = Vault(world.pool, ring_providers(rotated))
    scoped = ScopeReader(world.store, vault, lambda namespace: {}, world.objects).for_run(world.ns, {})
    assert scoped.project == {"A": "a"} and scoped.platform == {"G": "g"}


def test_a_deleted_scope_leaves_no_value_nor_policy_and_its_audit_stays(world: World) -> None:
    project = world.project({"A": "a"}, writers=[{"package": "w"}])
    assert world.writer.write(world.run("w"), "T", "abcdef", "project").status == 200
    world.vault.forget(project.uid)
    with world.pool.connection() as conn:
        left = conn.execute(
            "SELECT (SELECT count(*) FROM secrets WHERE package_uid = %s),"
            " (SELECT count(*) FROM scopes WHERE uid = %s)",
            (project.uid, project.uid),
        ).fetchone()
    assert left == (0, 0)
    assert world.reader.for_run(world.ns, {}).project == {}
    assert [w.name for w in world.store.writes(world.ns)] == ["T"]
    assert world.writer.write(world.run("w"), "T", "abcdef", "project").status == 403  # nothing to write into


def test_a_scope_holds_at_most_256_names_and_a_write_past_that_is_413_naming_the_cap(world: World) -> None:
    full = {f"S{i:03d}": "v" for i in range(MAX_SCOPE_SECRETS)}
    world.project(full, writers=[{"package": "w"}])
    refused = world.writer.write(world.run("w"), "ONE_MORE", "abcdef", "project")
    assert refused.status == 413 and f"at most {MAX_SCOPE_SECRETS} secrets" in refused.text
    assert world.writer.write(world.run("w"), "S000", "abcdef", "project").status == 200  # a name it has: kept


def test_a_write_into_a_scope_deleted_meanwhile_is_409_and_stores_nothing(world: World) -> None:
    project = world.project({"A": "a"}, writers=[{"package": "w"}])
    seen = world.store.around(world.ns)  # what the writer read, before the scope went

    class Stale:
        def around(self, namespace: str) -> Any:
            return seen

        def __getattr__(self, name: str) -> Any:
            return getattr(world.store, name)

    world.vault.forget(project.uid)
    answer = ScopeWriter(Stale(), world.vault, world.objects).write(world.run("w"), "T", "abcdef", "project")  # type: ignore[arg-type]
    assert answer.status == 409 and "no longer exists" in answer.text
    with world.pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM secrets WHERE package_uid = %s", (project.uid,)).fetchone() == (0,)


def test_a_platform_write_goes_to_the_first_platform_scope_by_name_whatever_the_order_made(world: World) -> None:
    writers = [{"namespace": world.ns, "package": "w"}]
    suffix = uuid.uuid4().hex[:6]
    for name in (f"zz-{suffix}", f"aa-{suffix}", f"mm-{suffix}"):  # made in this order, not by name
        scope = Scope(f"plt-{name}", "platform", "", name, {"namespaces": [world.ns]}, writers)
        world.vault.ingest("", f"scope:platform:{name}", scope.uid, {"X": name}, keep_written=True)
        world.store.register(scope)
        world.cluster.put(scope)
    answer = world.writer.write(world.run("w"), "TOKEN", "abcdef", "platform")
    assert answer.status == 200 and f"aa-{suffix}" in answer.text, answer.text
    scoped = world.reader.for_run(world.ns, {})
    assert scoped.platform["X"] == f"aa-{suffix}" and scoped.sources["X"] == f"platform/aa-{suffix}"


def test_a_scope_has_a_byte_budget_and_a_write_past_it_is_413_naming_it(world: World) -> None:
    """24 writes of 60 KB into a platform scope made every reader's bundle too large to make."""
    world.platform({}, {"namespaces": [world.ns]}, writers=[{"namespace": world.ns, "package": "w"}])
    assert world.writer.write(world.run("w"), "A", "x" * 100_000, "platform").status == 200
    refused = world.writer.write(world.run("w"), "B", "y" * 40_000, "platform")
    assert refused.status == 413 and f"over its budget of {MAX_SCOPE_BYTES} bytes" in refused.text
    assert world.writer.write(world.run("w"), "A", "small", "platform").status == 200  # shrinking is fine


def test_a_writer_that_lists_names_writes_those_only(world: World) -> None:
    writers = [{"namespace": world.ns, "package": "w", "names": ["W_TOKEN"]}]
    world.platform({"PLATFORM_KEY": "the platform team's"}, {"namespaces": [world.ns]}, writers=writers)
    assert world.writer.write(world.run("w"), "W_TOKEN", "abcdef", "platform").status == 200
    refused = world.writer.write(world.run("w"), "PLATFORM_KEY", "overwritten", "platform")
    assert refused.status == 403 and "lists the names it may write" in refused.text
    assert world.reader.for_run(world.ns, {}).platform["PLATFORM_KEY"] == "the platform team's"


def test_a_run_writes_or_is_refused_100_times_at_most_and_its_refusals_make_one_event_a_pass(world: World) -> None:
    from ferris_operator.secret_scopes.handlers import ScopeHandlers

    world.project({"A": "a"}, writers=[{"package": "w"}])
    flooder = world.run("nobody")  # may not write: every write is refused, and audited
    answers = [world.writer.write(flooder, f"N{i}", "v", "project").status for i in range(105)]
    assert answers[:100] == [403] * 100 and set(answers[100:]) == {429}
    assert world.store.writes_of_run(flooder.uid) == 100  # the 429s are not audited: bounded

    class Events:
        def __init__(self) -> None:
            self.made: list[tuple[str, str]] = []

        def event(self, involved: Any, kind: str, reason: str, message: str, event_type: str = "Warning") -> None:
            self.made.append((reason, message))

    kube = Events()
    handlers = ScopeHandlers.__new__(ScopeHandlers)
    handlers.store, handlers.kube = world.store, kube  # only what announcing refusals touches
    mine = [w for w in world.store.unannounced(1000) if w.run_uid == flooder.uid]
    handlers._announce_refused(mine)
    assert len(kube.made) == 1 and "(and 99 more refused writes of this run)" in kube.made[0][1]


def test_the_write_audit_goes_after_its_retention(world: World) -> None:
    world.project({"A": "a"}, writers=[{"package": "w"}])
    assert world.writer.write(world.run("w"), "T", "abcdef", "project").status == 200
    mine = [w for w in world.store.unannounced(1000) if w.run_namespace == world.ns]
    world.store.announced([w.seq for w in mine])
    cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=90)
    world.store.expire_writes(cutoff)
    assert len(world.store.writes(world.ns)) == 1  # younger than the retention: kept
    with world.pool.connection() as conn:  # (other tests share this database: age this test's row only)
        conn.execute("UPDATE secret_writes SET at = at - interval '91 days' WHERE run_namespace = %s", (world.ns,))
    assert world.store.expire_writes(cutoff) >= 1
    assert world.store.writes(world.ns) == []
