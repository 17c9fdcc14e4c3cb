"""`ferris package DIR`: a package folder as the Ferris executor's users keep it (see
package_folder.py) made into a FerrisPackage, the ConfigMap of its files and FerrisTriggers from
its manifest: printed as YAML, written as a kustomization beside the files for a GitOps
repository (`--kustomize`; `--all` for a repository of such folders), or applied (`--apply`)
as the kubeconfig's user. A secrets.json is applied as a typed Secret the operator takes in
and deletes, or sealed for a repository (`--seal`): never written anywhere in plain text."""

from __future__ import annotations

import argparse
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from ferris_operator import model
from ferris_operator.cli.kubeconfig import add_arguments, context_of
from ferris_operator.cli.package_folder import (
    configmap_objects,
    kustomization,
    package_object,
    repository_kustomization,
    trigger_objects,
)
from ferris_wire.package_folder import SECRETS, Folder, FolderError, read_folder, sql_steps


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "package", help="make a package folder (manifest.json, scripts, files) into Ferris objects"
    )
    parser.add_argument("folder", type=Path, help="the package's folder (with --all: a folder of package folders)")
    parser.add_argument("--name", help="the package's name (default: the folder's)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--kustomize", action="store_true", help="write kustomization.yaml and ferrispackage.yaml beside the files"
    )
    mode.add_argument(
        "--apply", action="store_true", help="apply the objects into --namespace as your kubeconfig's user"
    )
    parser.add_argument("--all", action="store_true", help="every folder in FOLDER is a package (with --kustomize)")
    parser.add_argument("--seal", action="store_true", help="seal secrets.json for --namespace (for a repository)")
    parser.add_argument("--skip-secrets", action="store_true", help="leave secrets.json out")
    parser.add_argument("--operator-namespace", default="ferris-system", help="where the sealing key is (--seal)")
    parser.add_argument(
        "--sql-secret", metavar="NAME", help="for .sql steps: the key of secrets.json holding the database's URL"
    )
    parser.add_argument(
        "--sql-transaction",
        choices=("single", "perStatement"),
        default="single",
        help="a .sql file as one transaction (default) or a commit per statement",
    )
    # The namespace only when applying or sealing: reading a folder needs no kubeconfig.
    parser.add_argument(
        "-n", "--namespace", default="", help="with --apply or --seal (default: the kubeconfig context's)"
    )
    add_arguments(parser, namespace=False)
    parser.set_defaults(handler=run)


def _fail(message: str) -> int:
    print(f"ferris package: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    try:
        if args.all:
            if not args.kustomize:
                return _fail("--all writes a kustomization per folder: give --kustomize too")
            folders = [p for p in sorted(args.folder.iterdir()) if p.is_dir() and not p.name.startswith(".")]
            if not folders:
                return _fail(f"{args.folder} holds no package folder")
            for path in folders:
                _write_kustomization(args, path, read_folder(path))
            (args.folder / "kustomization.yaml").write_text(
                yaml.safe_dump(repository_kustomization([p.name for p in folders]), sort_keys=False)
            )
            print(f"wrote {args.folder / 'kustomization.yaml'} with {len(folders)} packages")
            return 0
        folder = read_folder(args.folder, args.name)
    except FolderError as exc:
        return _fail(str(exc))
    for note in folder.manifest.notes:
        print(f"ferris package: note: {note}", file=sys.stderr)
    if args.apply:
        return _apply(args, folder)
    if args.kustomize:
        try:
            _write_kustomization(args, args.folder, folder)
        except FolderError as exc:
            return _fail(str(exc))
        return 0
    try:
        secrets, sql = _sealed(args, folder), _sql(args, folder)
    except FolderError as exc:
        return _fail(str(exc))
    objects = [*configmap_objects(folder), package_object(folder, secrets, sql), *trigger_objects(folder)]
    print(yaml.safe_dump_all(objects, sort_keys=False), end="")
    return 0


def _sealed(args: argparse.Namespace, folder: Folder) -> dict[str, Any] | None:
    """spec.sealedSecrets for output that goes into a repository; a FolderError when secrets.json
    would otherwise be written in plain text."""
    if folder.secrets is None or args.skip_secrets:
        return None
    if not args.seal:
        raise FolderError(
            f"{SECRETS} would go into the output in plain text: pass --seal -n NAMESPACE to seal it for that"
            " namespace, --apply to hand it to the operator, or --skip-secrets"
        )
    if not args.namespace:
        raise FolderError("--seal needs --namespace: sealed secrets open only in the namespace they were sealed for")
    from ferris_operator.crypto.sealing import seal_text
    from ferris_operator.ingest.secrets_json import SecretsJsonError, parse_secrets_json
    from ferris_operator.k8s.sealing_keys import public_key_of

    try:
        parse_secrets_json(folder.secrets)
    except SecretsJsonError as exc:
        raise FolderError(f"{SECRETS}: {exc}") from None
    configmap = context_of(args).get(
        f"/api/v1/namespaces/{args.operator_namespace}/configmaps/ferris-sealing-public-key"
    )
    return {"sealedSecrets": seal_text(public_key_of(configmap), folder.secrets, args.namespace, folder.name)}


def _sql(args: argparse.Namespace, folder: Folder) -> dict[str, str] | None:
    """spec.sql from --sql-secret; a FolderError when the folder has .sql steps and no database."""
    if args.sql_secret:
        return {"connectionSecret": args.sql_secret, "transaction": args.sql_transaction}
    if found := sql_steps(folder):
        raise FolderError(
            f"{found[0]} is a .sql step: give --sql-secret NAME, the key of {SECRETS} holding the URL"
            " (postgresql://USER:PASSWORD@HOST:PORT/DATABASE) of the database it runs against"
        )
    return None


def _write_kustomization(args: argparse.Namespace, path: Path, folder: Folder) -> None:
    secrets, sql = _sealed(args, folder), _sql(args, folder)
    objects = [package_object(folder, secrets, sql), *trigger_objects(folder)]
    (path / "ferrispackage.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
    (path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization(folder), sort_keys=False))
    print(f"wrote {path / 'kustomization.yaml'} and {path / 'ferrispackage.yaml'} (package {folder.name})")


def _apply(args: argparse.Namespace, folder: Folder) -> int:
    """Server-side apply as the kubeconfig's user: the files' ConfigMap first, the secrets.json as
    a typed Secret the operator takes in (and deletes), then the package and its triggers."""
    from ferris_operator.ingest.intake import SOURCE_SECRET_TYPE

    try:
        sql = _sql(args, folder)  # before anything is applied
    except FolderError as exc:
        return _fail(str(exc))
    kube = context_of(args)
    namespace = urllib.parse.quote(args.namespace or kube.namespace)
    core, ferris = f"/api/v1/namespaces/{namespace}", f"/apis/{model.GROUP}/{model.VERSION}/namespaces/{namespace}"
    for configmap in configmap_objects(folder):
        kube.apply(f"{core}/configmaps/{configmap['metadata']['name']}", configmap)
    secrets = None
    if folder.secrets is not None and not args.skip_secrets:
        name = f"{folder.name}-secrets"
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "type": SOURCE_SECRET_TYPE,
            "stringData": {SECRETS: folder.secrets.decode("utf-8", errors="replace")},
        }
        kube.apply(f"{core}/secrets/{name}", secret)
        secrets = {"secretsFrom": {"secretName": name}}
    package = package_object(folder, secrets, sql)
    kube.apply(f"{ferris}/{model.PACKAGES}/{folder.name}", package)
    for trigger in trigger_objects(folder):
        kube.apply(f"{ferris}/{model.TRIGGERS}/{trigger['metadata']['name']}", trigger)
    made = ", ".join(
        [
            "configmap",
            *(["secret"] if secrets else []),
            "package",
            *(["triggers"] if folder.manifest.trigger_events else []),
        ]
    )
    print(f"ferrispackage.ferris.io/{folder.name} applied in {urllib.parse.unquote(namespace)} ({made})")
    return 0
