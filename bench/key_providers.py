"""What the key provider adds to a run's start: reading a package's secrets (its data key
unwrapped, 20 values decrypted) with the master key ring, the test KMS v2 plugin and OpenBao's
transit engine, each with the data key cached and cold (every read asks the provider), against
a real PostgreSQL. `python -m bench.key_providers`; also a stage of `make bench`."""

from __future__ import annotations

import os
import time
from typing import Any

from bench.database import migrated_database
from bench.stats import percentile, report
from ferris_devcluster.kms import KmsPlugin
from ferris_devcluster.openbao import OpenBao
from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.kek.base import KeyProvider
from ferris_operator.kek.kmsv2 import KmsV2Provider
from ferris_operator.kek.providers import KeyProviders
from ferris_operator.kek.secret_ring import SecretRingProvider
from ferris_operator.kek.transit import TransitProvider
from ferris_operator.store.vault import Vault


def _reads(vault: Vault, uid: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        vault.read(uid)
        out.append((time.perf_counter() - start) * 1000)
    return out


def measure(reads: int = 300) -> dict[str, Any]:
    values = {f"S_{i:02d}": os.urandom(24).hex() for i in range(20)}
    results: dict[str, Any] = {"reads": reads}
    with migrated_database() as (_, pool), KmsPlugin() as plugin, OpenBao() as bao:
        kms = KmsV2Provider(plugin.socket, timeout=5.0)
        providers: dict[str, KeyProvider] = {
            "ring": SecretRingProvider(KeyRing({"k1": os.urandom(32)}, "k1")),
            "kms_v2": kms,
            "transit": TransitProvider(bao.address, "ferris", token_file=bao.token_file),
        }
        for name, provider in providers.items():
            uid = f"pkg-{name}"
            Vault(pool, KeyProviders(provider)).ingest("bench", uid, uid, values)
            for mode, seconds in (("cached", 300.0), ("cold", 0.0)):
                latencies = _reads(Vault(pool, KeyProviders(provider, cache_seconds=seconds)), uid, reads)
                results[f"{name}_{mode}_p50_ms"] = percentile(latencies, 50)
                results[f"{name}_{mode}_p99_ms"] = percentile(latencies, 99)
        kms.close()
    for name in ("kms_v2", "transit"):
        for mode in ("cached", "cold"):
            for pct in ("p50", "p99"):
                added = results[f"{name}_{mode}_{pct}_ms"] - results[f"ring_cold_{pct}_ms"]
                results[f"{name}_{mode}_added_{pct}_ms"] = added
    return results


def summary(r: dict[str, Any]) -> str:
    parts = [f"ring p50 {r['ring_cold_p50_ms']:.2f} ms (p99 {r['ring_cold_p99_ms']:.2f})"]
    for name, label in (("kms_v2", "KMS v2 plugin"), ("transit", "transit")):
        parts.append(
            f"{label} adds p50 {r[f'{name}_cold_added_p50_ms']:.2f} ms / p99 {r[f'{name}_cold_added_p99_ms']:.2f} ms "
            f"cold, {r[f'{name}_cached_added_p50_ms']:.2f} / {r[f'{name}_cached_added_p99_ms']:.2f} ms cached"
        )
    return f"key providers, a run's secrets read ({r['reads']} reads each): " + "; ".join(parts)


def main() -> None:
    report(measure(), summary)


if __name__ == "__main__":
    main()
