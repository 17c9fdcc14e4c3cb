"""`ferris seal`: encrypt a secrets.json on the client to the operator's public sealing key."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ferris_operator.cli.kubeconfig import add_arguments, context_of
from ferris_operator.crypto.sealing import PublicSealingKey, seal_text
from ferris_operator.ingest.secrets_json import SecretsJsonError, parse_secrets_json
from ferris_operator.secret_scopes.service import PLATFORM_SEALED_NAMESPACE, PROJECT_SEALED_FOR, platform_sealed_for


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "seal", help="seal a secrets.json for one package, project or platform scope (safe to commit)"
    )
    parser.add_argument("file", nargs="?", default="-", help="secrets.json path, or - for standard input")
    parser.add_argument("--namespace", "-n", help="namespace of the FerrisPackage or project")
    owner = parser.add_mutually_exclusive_group(required=True)
    owner.add_argument("--package", help="name of the FerrisPackage")
    owner.add_argument(
        "--project", action="store_true", help="for the namespace's FerrisProjectSecrets (spec.sealedSecrets)"
    )
    owner.add_argument("--platform", metavar="NAME", help="for the FerrisPlatformSecrets NAME (cluster-scoped)")
    parser.add_argument(
        "--public-key", type=Path, help="offline: a file holding KEY_ID:BASE64 (the ConfigMap's 'active')"
    )
    parser.add_argument("--operator-namespace", default="ferris-system")
    add_arguments(parser, namespace=False)
    parser.add_argument("--configmap", default="ferris-sealing-public-key")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.platform is None and not args.namespace:
        print("ferris seal: --namespace is needed for a package or a project", file=sys.stderr)
        return 2
    raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    try:
        parse_secrets_json(raw)
    except SecretsJsonError as exc:
        print(f"ferris seal: {exc}", file=sys.stderr)
        return 2
    if args.public_key:
        key = PublicSealingKey.from_text(args.public_key.read_text())
    else:
        from ferris_operator.k8s.sealing_keys import public_key_of

        configmap = context_of(args).get(f"/api/v1/namespaces/{args.operator_namespace}/configmaps/{args.configmap}")
        key = public_key_of(configmap)
    if args.platform is not None:
        print(seal_text(key, raw, PLATFORM_SEALED_NAMESPACE, platform_sealed_for(args.platform)))
    else:
        print(seal_text(key, raw, args.namespace, PROJECT_SEALED_FOR if args.project else args.package))
    return 0
