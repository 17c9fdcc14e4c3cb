"""Secret scopes against a real PostgreSQL: what reading the project's and the platform's
secrets adds to a run's start (next to reading the package's own), and scripts' writes into
one scope from many runs at once (serialised by the scope's row lock) next to writes spread
over as many scopes. `python -m bench.scopes`; also a stage of `make bench`."""

from __future__ import annotations

import datetime
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.database import migrated_database
from bench.stats import percentile, ratio, report
from ferris_operator import model
from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.kek.secret_ring import ring_providers
from ferris_operator.records import RunRecord, Scope
from ferris_operator.secret_scopes.policies import ScopeObjects
from ferris_operator.secret_scopes.reading import ScopeReader
from ferris_operator.secret_scopes.writes import ScopeWriter
from ferris_operator.store.scopes import ScopeStore
from ferris_operator.store.vault import Vault

NS = "bench"


def _values(prefix: str, count: int) -> dict[str, str]:
    return {f"{prefix}_{i:03d}": os.urandom(24).hex() for i in range(count)}


def _run(package: str, i: int, namespace: str = NS) -> RunRecord:
    at = datetime.datetime.now(datetime.UTC)
    uid = f"run-{namespace}-{package}-{i}"
    return RunRecord(uid, namespace, uid, package, "puid", 1, 1, "Running", None, None, None, at, at, None)


class _Objects:
    """The scope objects, answered from memory: the API server's GET of each (policies.py) is
    not part of this figure, only the database's and the vault's work."""

    def __init__(self) -> None:
        self.bodies: dict[tuple[str, str, str], dict[str, Any]] = {}

    def add(self, scope: Scope) -> None:
        meta = {"uid": scope.uid, "name": scope.name, **({"namespace": scope.namespace} if scope.namespace else {})}
        plural = model.PROJECT_SECRETS if scope.kind == "project" else model.PLATFORM_SECRETS
        self.bodies[(plural, scope.namespace, scope.name)] = {
            "metadata": meta,
            "spec": {"readers": scope.readers, "writers": scope.writers},
        }

    def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.bodies.get((plural, namespace, name))


OBJECTS = _Objects()


def _scope(vault: Vault, store: ScopeStore, scope: Scope, values: dict[str, str]) -> None:
    vault.ingest(scope.namespace, f"scope:{scope.label}", scope.uid, values, keep_written=True)
    store.register(scope)
    OBJECTS.add(scope)


def _latencies(fn: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def _writes(writer: ScopeWriter, packages: list[str], per_writer: int) -> tuple[float, list[float], int]:
    """Each package's writer thread writes ``per_writer`` times; (seconds, latencies ms, refused)."""
    latencies: list[float] = []
    refused = 0

    def work(package: str) -> None:
        nonlocal refused
        for i in range(per_writer):
            start = time.perf_counter()
            # A refresher writes its own token again and again (as an OAuth refresh does).
            answer = writer.write(_run(package, i), f"TOKEN_{package}", os.urandom(16).hex(), "project")
            latencies.append((time.perf_counter() - start) * 1000)
            refused += answer.status != 200

    start = time.perf_counter()
    with ThreadPoolExecutor(len(packages)) as pool:
        list(pool.map(work, packages))
    return time.perf_counter() - start, latencies, refused


def measure(reads: int = 500, writers: int = 8, per_writer: int = 50, platforms: int = 100) -> dict[str, Any]:
    ring = KeyRing({"k1": os.urandom(32)}, "k1")
    with migrated_database(pool_size=writers + 2) as (_, pool):
        vault, store = Vault(pool, ring_providers(ring)), ScopeStore(pool)
        vault.ingest(NS, "pkg", "pkg-uid", _values("PKG", 20))
        packages = [f"w{i}" for i in range(writers)]
        _scope(
            vault,
            store,
            Scope("prj-uid", "project", NS, "project", {}, [{"package": p} for p in packages]),
            _values("PRJ", 20),
        )
        for i in range(platforms):  # three readable by the namespace, the others by someone else
            readers = {"namespaces": [NS if i < 3 else f"other-{i}"]}
            _scope(
                vault,
                store,
                Scope(f"plt-{i:03d}", "platform", "", f"shared-{i:03d}", readers, []),
                _values(f"PLT{i}", 20),
            )
        reader = ScopeReader(store, vault, lambda namespace: {}, ScopeObjects(OBJECTS))
        package_only = _latencies(lambda: vault.read("pkg-uid"), reads)
        with_scopes = _latencies(lambda: (vault.read("pkg-uid"), reader.for_run(NS, {})), reads)
        scoped = reader.for_run(NS, {})

        one_scope_s, one_latencies, one_refused = _writes(
            ScopeWriter(store, vault, ScopeObjects(OBJECTS)), packages, per_writer
        )
        final = vault.read("prj-uid")
        for i, package in enumerate(packages):  # one project per writer: nothing to wait for
            scope = Scope(f"prj-{i}", "project", f"{NS}-{i}", "project", {}, [{"package": package}])
            _scope(vault, store, scope, _values("PRJ", 20))
        spread: list[float] = []
        start = time.perf_counter()

        def own(i: int) -> None:
            writer = ScopeWriter(store, vault, ScopeObjects(OBJECTS))
            for j in range(per_writer):
                run = _run(packages[i], j, f"{NS}-{i}")
                began = time.perf_counter()
                writer.write(run, "TOKEN", os.urandom(16).hex(), "project")
                spread.append((time.perf_counter() - began) * 1000)

        with ThreadPoolExecutor(writers) as executor:
            list(executor.map(own, range(writers)))
        spread_s = time.perf_counter() - start
    total = writers * per_writer
    return {
        "reads": reads,
        "readable_platform_scopes": len([label for label in scoped.versions if label.startswith("platform/")]),
        "platform_scopes_stored": platforms,
        "package_read_p50_ms": percentile(package_only, 50),
        "package_read_p99_ms": percentile(package_only, 99),
        "with_scopes_p50_ms": percentile(with_scopes, 50),
        "with_scopes_p99_ms": percentile(with_scopes, 99),
        "with_scopes_over_package_p50": ratio(percentile(with_scopes, 50), percentile(package_only, 50)),
        "writers": writers,
        "writes": total,
        "one_scope_writes_per_s": total / one_scope_s,
        "one_scope_write_p50_ms": percentile(one_latencies, 50),
        "one_scope_write_p99_ms": percentile(one_latencies, 99),
        "one_scope_refused": one_refused,
        "one_scope_final_version": final.version,
        "one_scope_final_names": len(final.values),
        "spread_writes_per_s": total / spread_s,
        "spread_write_p50_ms": percentile(spread, 50),
        "one_scope_over_spread_throughput": ratio(total / one_scope_s, total / spread_s),
    }


def summary(r: dict[str, Any]) -> str:
    return (
        f"secret scopes: a run's secrets read with its project and {r['readable_platform_scopes']} readable platform "
        f"scopes (of {r['platform_scopes_stored']} stored) p50 {r['with_scopes_p50_ms']:.2f} ms vs "
        f"{r['package_read_p50_ms']:.2f} ms for the package alone ({r['with_scopes_over_package_p50']:.2f}x); "
        f"{r['writers']} runs writing one scope {r['one_scope_writes_per_s']:.0f} writes/s "
        f"(p99 {r['one_scope_write_p99_ms']:.0f} ms; version {r['one_scope_final_version']}, "
        f"{r['one_scope_final_names']} names, {r['one_scope_refused']} refused) vs {r['spread_writes_per_s']:.0f}/s "
        f"spread over {r['writers']} scopes ({r['one_scope_over_spread_throughput']:.2f})"
    )


def main() -> None:
    report(measure(), summary)


if __name__ == "__main__":
    main()
