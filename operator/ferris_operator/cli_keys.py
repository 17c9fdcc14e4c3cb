"""`ferris keys`: generate master keys, report and rewrap data keys, retire old master keys."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ferris_operator.crypto.keyring import generate_key_text, load_keyring
from ferris_operator.store.db import open_pool
from ferris_operator.vault import kek_ids_in_use, rewrap_batch


def register(commands: Any) -> None:
    keys = commands.add_parser("keys", help="master-key rotation").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("generate", help="print a new random master key (base64)").set_defaults(handler=generate)
    for name, handler, text in (
        ("status", status, "how many data keys each master key id still wraps"),
        ("rewrap", rewrap, "rewrap every data key to the active master key (resumable)"),
        ("retire", retire, "check that a master key id wraps nothing, so it can be removed"),
    ):
        parser = keys.add_parser(name, help=text)
        parser.add_argument("--database-url", default=os.environ.get("FERRIS_DATABASE_URL"))
        if name != "status":
            parser.add_argument("--master-key-dir", type=Path, default=os.environ.get("FERRIS_MASTER_KEY_DIR"))
        if name == "rewrap":
            parser.add_argument("--batch-size", type=int, default=500)
        if name == "retire":
            parser.add_argument("key_id")
        parser.set_defaults(handler=handler)


def generate(args: argparse.Namespace) -> int:
    print(generate_key_text())
    return 0


def _need(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        if not getattr(args, name, None):
            flag = "--" + name.replace("_", "-")
            raise SystemExit(f"ferris keys: {flag} is required (or FERRIS_{name.upper()})")


def status(args: argparse.Namespace) -> int:
    _need(args, "database_url")
    with open_pool(args.database_url, max_size=1) as pool:
        counts = kek_ids_in_use(pool)
    for key_id, count in sorted(counts.items()):
        print(f"{key_id}\t{count} data keys")
    if not counts:
        print("no packages stored")
    return 0


def rewrap(args: argparse.Namespace) -> int:
    _need(args, "database_url", "master_key_dir")
    ring = load_keyring(args.master_key_dir)
    total = 0
    with open_pool(args.database_url, max_size=1) as pool:
        while done := rewrap_batch(pool, ring, args.batch_size):
            total += done
            remaining = sum(n for k, n in kek_ids_in_use(pool).items() if k != ring.active_id)
            print(f"rewrapped {total}, {remaining} remaining", file=sys.stderr)
    print(f"all data keys are wrapped by {ring.active_id} ({total} rewrapped now)")
    return 0


def retire(args: argparse.Namespace) -> int:
    _need(args, "database_url", "master_key_dir")
    ring = load_keyring(args.master_key_dir)
    if args.key_id == ring.active_id:
        print(f"ferris keys: {args.key_id} is the active key; make another key active first", file=sys.stderr)
        return 1
    with open_pool(args.database_url, max_size=1) as pool:
        in_use = kek_ids_in_use(pool).get(args.key_id, 0)
    if in_use:
        print(
            f"ferris keys: refusing to retire {args.key_id}: it still wraps {in_use} data keys; "
            "run `ferris keys rewrap` first",
            file=sys.stderr,
        )
        return 1
    print(f"{args.key_id} wraps no data key: remove it from the master-key Secret")
    return 0
