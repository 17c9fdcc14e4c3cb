"""The `ferris keys` commands that open the database or a key provider: status, rewrap and
retire (their arguments are declared in keys.py)."""

from __future__ import annotations

import argparse
import os
import sys

from ferris_operator.crypto.keyring import KeyRingError
from ferris_operator.kek.factory import KeySetup, key_setup
from ferris_operator.problems import KeyProviderUnavailable, MasterKeyMismatch
from ferris_operator.settings import KeyProviderSettings
from ferris_operator.store.db import open_pool
from ferris_operator.store.key_rotation import current_key, kek_ids_in_use, rewrap_batch


def _need(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        if not getattr(args, name, None):
            flag = "--" + name.replace("_", "-")
            raise SystemExit(f"ferris keys: {flag} is required (or FERRIS_{name.upper()})")


def _setup(args: argparse.Namespace) -> KeySetup:
    env = dict(os.environ)
    if args.master_key_dir:
        env["FERRIS_MASTER_KEY_DIR"] = str(args.master_key_dir)
    try:
        return key_setup(KeyProviderSettings.from_env(env, "ferris keys"), args.master_key_dir)
    except KeyRingError as exc:
        raise SystemExit(f"ferris keys: master key: {exc}") from None


def status(args: argparse.Namespace) -> int:
    _need(args, "database_url")
    with open_pool(args.database_url, max_size=1) as pool:
        counts = kek_ids_in_use(pool)
    for (provider, key_id), count in sorted(counts.items()):
        print(f"{provider}\t{key_id}\t{count} data keys")
    if not counts:
        print("no packages stored")
    return 0


def rewrap(args: argparse.Namespace) -> int:
    _need(args, "database_url")
    keys = _setup(args).providers
    total = 0
    try:
        target = current_key(keys)
        with open_pool(args.database_url, max_size=1) as pool:
            while done := rewrap_batch(pool, keys, args.batch_size):
                total += done
                remaining = sum(n for key, n in kek_ids_in_use(pool).items() if key != target)
                print(f"rewrapped {total}, {remaining} remaining", file=sys.stderr)
    except (KeyProviderUnavailable, MasterKeyMismatch) as exc:
        print(f"ferris keys: rewrap stopped after {total} (run it again to resume): {exc}", file=sys.stderr)
        return 1
    print(f"all data keys are wrapped by {target[0]} key {target[1]} ({total} rewrapped now)")
    return 0


def retire(args: argparse.Namespace) -> int:
    _need(args, "database_url", "master_key_dir")
    ring = _setup(args).ring
    assert ring is not None  # --master-key-dir is required
    if args.key_id == ring.active_id and os.environ.get("FERRIS_KEY_PROVIDER", "secret-ring") == "secret-ring":
        print(f"ferris keys: {args.key_id} is the active key; make another key active first", file=sys.stderr)
        return 1
    with open_pool(args.database_url, max_size=1) as pool:
        in_use = kek_ids_in_use(pool).get(("secret-ring", args.key_id), 0)
    if in_use:
        print(
            f"ferris keys: refusing to retire {args.key_id}: it still wraps {in_use} data keys; "
            "run `ferris keys rewrap` first",
            file=sys.stderr,
        )
        return 1
    print(f"{args.key_id} wraps no data key: remove it from the master-key Secret")
    return 0
