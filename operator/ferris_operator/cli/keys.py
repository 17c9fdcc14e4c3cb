"""`ferris keys`: generate master keys, report and rewrap data keys, retire old master keys.

The key provider is configured as the operator's is (FERRIS_KEY_PROVIDER and its variables,
docs/architecture.md#settings); ``--master-key-dir`` names the Secret-mounted ring, which stays
readable beside another provider, so ``rewrap`` migrates the ring's data keys to a KMS. The
commands that open the database or a key provider live in key_commands.py, imported when run."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ferris_operator.cli.lazy import lazy
from ferris_operator.crypto.keyring import generate_key_text


def register(commands: Any) -> None:
    keys = commands.add_parser("keys", help="master-key rotation").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("generate", help="print a new random master key (base64)").set_defaults(handler=generate)
    for name, text in (
        ("status", "how many data keys each key-encryption key still wraps"),
        ("rewrap", "rewrap every data key to the current key of the current provider (resumable)"),
        ("retire", "check that a master key id wraps nothing, so it can be removed"),
    ):
        parser = keys.add_parser(name, help=text)
        parser.add_argument("--database-url", default=os.environ.get("FERRIS_DATABASE_URL"))
        if name != "status":
            parser.add_argument("--master-key-dir", type=Path, default=os.environ.get("FERRIS_MASTER_KEY_DIR"))
        if name == "rewrap":
            parser.add_argument("--batch-size", type=int, default=500)
        if name == "retire":
            parser.add_argument("key_id")
        parser.set_defaults(handler=lazy("ferris_operator.cli.key_commands", name))


def generate(args: argparse.Namespace) -> int:
    print(generate_key_text())
    return 0
