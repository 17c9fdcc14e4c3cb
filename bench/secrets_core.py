"""The secrets core: ingestion and bundle decryption against raw AES-GCM on the same bytes,
and the time to rewrap 10,000 packages to a new master key. `python -m bench.secrets_core`."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.database import migrated_database
from ferris_ciphertext.bundle import new_run_key, open_bundle, seal_bundle
from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.kek.secret_ring import ring_providers
from ferris_operator.store.key_rotation import rewrap_batch
from ferris_operator.store.vault import Vault


def secrets_document(count: int) -> dict[str, str]:
    return {f"SECRET_{i:03d}": os.urandom(24).hex() for i in range(count)}


def timed(fn: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", type=int, default=10000)
    parser.add_argument("--secrets-per-package", type=int, default=20)
    args = parser.parse_args()
    ring = KeyRing({"k1": os.urandom(32), "k2": os.urandom(32)}, "k1")
    values = secrets_document(args.secrets_per_package)
    results: dict[str, float] = {}

    # Bundle decrypts (the runner's hot path) against raw AES-GCM on the same plaintext bytes.
    key = new_run_key()
    bundle = seal_bundle(key, "run-1", values, {})
    plaintext = json.dumps({"secrets": values, "files": {}}, separators=(",", ":")).encode()
    aes, nonce = AESGCM(key), os.urandom(12)
    raw = aes.encrypt(nonce, plaintext, b"aad")
    n = 20000
    bundle_s = timed(lambda: open_bundle(key, "run-1", bundle), n)
    raw_s = timed(lambda: json.loads(aes.decrypt(nonce, raw, b"aad")), n)
    results["bundle_decrypts_per_s"] = n / bundle_s
    results["raw_aesgcm_plus_json_per_s"] = n / raw_s
    results["bundle_vs_raw_ratio"] = bundle_s / raw_s

    with migrated_database() as (_, pool):
        vault = Vault(pool, ring_providers(ring))
        start = time.perf_counter()
        for i in range(args.packages):
            vault.ingest("bench", f"p{i}", f"uid-{i:06d}", values)
        ingest_s = time.perf_counter() - start
        results["secrets_ingested_per_s"] = args.packages * args.secrets_per_package / ingest_s
        results["packages_ingested_per_s"] = args.packages / ingest_s
        # The same bytes through raw AES-GCM only: the crypto share of ingestion.
        start = time.perf_counter()
        for _ in range(args.packages):
            for value in values.values():
                AESGCM(key).encrypt(os.urandom(12), value.encode(), b"aad")
        raw_ingest_s = time.perf_counter() - start
        results["raw_aesgcm_secrets_per_s"] = args.packages * args.secrets_per_package / raw_ingest_s
        results["ingest_vs_raw_ratio"] = ingest_s / raw_ingest_s

        rotated = KeyRing(ring.keys, "k2")
        start = time.perf_counter()
        total = 0
        while done := rewrap_batch(pool, ring_providers(rotated), 500):
            total += done
        results["rewrap_seconds"] = time.perf_counter() - start
        results["rewrapped_packages"] = total
    width = max(len(k) for k in results)
    for name, figure in results.items():
        print(f"{name:<{width}}  {figure:,.2f}")


if __name__ == "__main__":
    main()
