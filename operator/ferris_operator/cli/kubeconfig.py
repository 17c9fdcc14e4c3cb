"""The kubeconfig as kubectl reads it, for every verb of the `ferris` CLI: `--kubeconfig` (else
KUBECONFIG, several files merged, else ~/.kube/config), `--context`, the context's namespace
when `-n` is not given, and the user's credentials exactly as the Kubernetes client library
produces them: a static `token`, a `tokenFile`, an exec credential plugin (re-run when its
credential expires, so a long `logs -f` or console session outlives its first token), an
`auth-provider` the library supports, or a client certificate from files or inline data.

The Authorization header comes from the library's own `Configuration.auth_settings()` (which
runs its refresh hook), never from a key of its private dictionaries: a rename inside the
library must not silently send no credential (the unit test checks this against the library).
`--as` / `--as-group` ask the API server and the Ferris server to act as another user, as
kubectl's do: both check the caller's `impersonate` right first."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAMESPACE_DEFAULT = "default"  # kubectl's, when the context names none


class CredentialError(Exception):
    """The kubeconfig's credential could not be produced; the text says which and what to try."""


@dataclass(frozen=True)
class Impersonation:
    user: str | None = None
    groups: tuple[str, ...] = ()

    def headers(self) -> dict[str, str]:
        """Impersonate-User once; the groups joined as one header (aiohttp and urllib keep one
        value a name); the server splits them on commas, which group names cannot hold."""
        if not self.user:
            return {}
        found = {"Impersonate-User": self.user}
        if self.groups:
            found["Impersonate-Group"] = ",".join(self.groups)
        return found


def credential_kind(user: dict[str, Any]) -> str:
    """What a kubeconfig user entry authenticates with, in words for an error message. Pure."""
    if user.get("exec"):
        return f"exec credential plugin {user['exec'].get('command', '?')!r}"
    if user.get("auth-provider"):
        return f"auth-provider {(user['auth-provider'] or {}).get('name', '?')!r}"
    if user.get("token"):
        return "bearer token"
    if user.get("tokenFile"):
        return f"token file {user['tokenFile']}"
    if user.get("client-certificate") or user.get("client-certificate-data"):
        return "client certificate"
    if user.get("username"):
        return "username and password"
    return "no credential"


class _Collected(logging.Handler):
    """What the client library logs while it produces a credential: an exec plugin's failure
    (with its stderr) is logged there, not raised."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _library_errors() -> Iterator[_Collected]:
    collected = _Collected()
    root = logging.getLogger()
    root.addHandler(collected)
    try:
        yield collected
    finally:
        root.removeHandler(collected)


@dataclass
class KubeContext:
    """One context of a kubeconfig, loaded: where the cluster is, who the user is, and how."""

    configuration: Any  # kubernetes.client.Configuration (imported lazily: the CLI starts fast)
    context: str
    namespace: str
    user: dict[str, Any]
    impersonation: Impersonation = field(default_factory=Impersonation)

    @property
    def credential(self) -> str:
        return credential_kind(self.user)

    def authorization(self, known_errors: tuple[str, ...] = ()) -> str | None:
        """The Authorization header's value as the client library makes it now (refreshing an
        expired exec credential first); None for a client certificate. CredentialError when the
        kubeconfig names an exec plugin and neither a token nor a certificate came out."""
        with _library_errors() as errors:
            settings = self.configuration.auth_settings()
        value = str((settings.get("BearerToken") or {}).get("value") or "").strip()  # a token file's newline
        if value:
            return value
        if self.user.get("exec") and not self.configuration.cert_file:
            detail = "; ".join([*known_errors, *errors.messages]) or "it printed no token"
            raise CredentialError(
                f"the kubeconfig's {self.credential} (context {self.context!r}) failed: {detail}. Run the plugin"
                " yourself to see why, or log in again with your cloud's tool"
            )
        return None

    def headers(self) -> dict[str, str]:
        """Authorization (if the credential is a token) and the impersonation headers."""
        found = self.impersonation.headers()
        if (value := self.authorization()) is not None:
            found["Authorization"] = value
        return found

    def refused(self, reason: str) -> str:
        """The text for a 401 from a server: which credential was refused and what to try."""
        hint = {
            "bearer token": "a token from `kubectl create token` expires (one hour by default): get a new one",
            "no credential": "the context's user has no credential: use a context that has one (--context)",
        }.get(self.credential, "check that `kubectl auth whoami` works with the same kubeconfig and context")
        return (
            f"401: the server refused the kubeconfig's {self.credential} (context {self.context!r}): {reason}."
            f" {hint[0].upper()}{hint[1:]}"
        )

    def api_client(self, impersonating: bool = True) -> Any:
        """A client of the Kubernetes API as this context's user (and, ``impersonating``, as the
        user it impersonates)."""
        from kubernetes import client

        api = client.ApiClient(self.configuration)
        for name, value in self.impersonation.headers().items() if impersonating else ():
            api.set_default_header(name, value)
        return api

    def apply(self, path: str, body: dict[str, Any]) -> Any:
        """Server-side apply of ``body`` at ``path`` (the object's own path) as this context's
        user, owned by the field manager ``ferris-cli``; the object as stored. ``ApiException``
        when the API server refuses."""
        from kubernetes.client.exceptions import ApiException

        api = self.api_client()
        headers = {"Accept": "application/json", "Content-Type": "application/apply-patch+yaml"}
        method, url, headers, data, _ = api.param_serialize(
            method="PATCH",
            resource_path=path,
            query_params=[("fieldManager", "ferris-cli"), ("force", "true")],
            header_params=headers,
            body=json.dumps(body),
            auth_settings=["BearerToken"],
        )
        response = api.call_api(method, url, header_params=headers, body=data)
        raw = response.read() or b""
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=raw.decode(errors="replace"), data=None)
        return json.loads(raw)

    def get(self, path: str, impersonating: bool = True) -> Any:
        """GET one API path as this context's user; its JSON. A plain request, not a typed API:
        the core API's class alone costs a command 0.35 s of CPU to import. The client library
        still makes the credential (an exec plugin's token refreshed); ``ApiException`` when the
        API server refuses, as from a typed API."""
        from kubernetes.client.exceptions import ApiException

        api = self.api_client(impersonating)
        accept = {"Accept": "application/json"}
        method, url, headers, _, _ = api.param_serialize(
            method="GET", resource_path=path, header_params=accept, auth_settings=["BearerToken"]
        )
        response = api.call_api(method, url, header_params=headers)
        data = response.read() or b""
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=data.decode(errors="replace"), data=None)
        return json.loads(data)


def load(
    kubeconfig: str | None = None, context: str | None = None, impersonation: Impersonation | None = None
) -> KubeContext:
    """The context ``context`` (else the current one) of ``kubeconfig`` (else KUBECONFIG's
    files merged, else ~/.kube/config). CredentialError names the file or context that fails."""
    from kubernetes import client, config
    from kubernetes.config.kube_config import KubeConfigMerger

    files = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    configuration = client.Configuration()
    try:
        merged = KubeConfigMerger(files).config
        contexts, current = config.list_kube_config_contexts(config_file=files)
        wanted = context or first_current_context(files) or current["name"]
        chosen = next((c for c in contexts if c["name"] == wanted), None)
        if chosen is None:
            names = ", ".join(sorted(c["name"] for c in contexts))
            raise CredentialError(f"the kubeconfig {files} has no context {context!r} (it has: {names})")
        with _library_errors() as errors:
            config.load_kube_config(config_file=files, context=chosen["name"], client_configuration=configuration)
    except config.ConfigException as exc:
        raise CredentialError(f"cannot use the kubeconfig {files}: {exc}") from None
    _trim_tokens(configuration)
    user_name = (chosen.get("context") or {}).get("user")
    users = {node.value.get("name"): node.value.get("user") or {} for node in merged.safe_get("users") or []}
    kube = KubeContext(
        configuration,
        str(chosen["name"]),
        str((chosen.get("context") or {}).get("namespace") or NAMESPACE_DEFAULT),
        dict(users.get(user_name) or {}),
        impersonation or Impersonation(),
    )
    if kube.user.get("exec"):
        kube.authorization(tuple(errors.messages))  # a plugin that failed at load: say so now, with its words
    return kube


def _trim_tokens(configuration: Any) -> None:
    """Tokens trimmed of white space after every refresh, as kubectl trims a token file (one
    written with `kubectl create token ... > file` ends in a newline, which the client library
    would otherwise send, and which no HTTP library accepts in a header)."""
    refresh = configuration.refresh_api_key_hook

    def trim(conf: Any) -> None:
        for key, value in list(conf.api_key.items()):
            conf.api_key[key] = str(value).strip()

    def refreshed(conf: Any) -> None:
        if refresh is not None:
            refresh(conf)  # the library's hook sets itself as the hook again: put this one back
        conf.refresh_api_key_hook = refreshed
        trim(conf)

    trim(configuration)
    configuration.refresh_api_key_hook = refreshed


def first_current_context(files: str) -> str | None:
    """The current-context of the first of ``files`` (os.pathsep-separated) that sets one: the
    one kubectl uses when KUBECONFIG names several files."""
    import yaml

    for name in files.split(os.pathsep):
        path = Path(name).expanduser()
        if not name or not path.is_file():
            continue
        loaded = yaml.safe_load(path.read_text()) or {}
        if isinstance(loaded, dict) and loaded.get("current-context"):
            return str(loaded["current-context"])
    return None


def add_arguments(parser: argparse.ArgumentParser, namespace: bool = True) -> None:
    """The flags kubectl users expect on every verb."""
    if namespace:
        parser.add_argument("-n", "--namespace", help="the namespace (default: the kubeconfig context's, as kubectl's)")
    parser.add_argument("--kubeconfig", help="the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)")
    parser.add_argument("--context", help="the kubeconfig context to use (default: the current one)")
    parser.add_argument("--as", dest="as_user", metavar="USER", help="act as this user (needs the impersonate right)")
    parser.add_argument(
        "--as-group", action="append", default=[], metavar="GROUP", help="with --as: act with this group (repeatable)"
    )


def context_of(args: argparse.Namespace) -> KubeContext:
    """The kubeconfig context the verb's flags name, loaded once per command; fills in
    ``args.namespace`` from the context when -n was not given."""
    loaded: KubeContext | None = getattr(args, "_kube_context", None)
    if loaded is None:
        if args.as_group and not args.as_user:
            raise SystemExit(f"ferris {args.command}: --as-group needs --as")
        try:
            loaded = load(args.kubeconfig, args.context, Impersonation(args.as_user, tuple(args.as_group)))
        except CredentialError as exc:
            raise SystemExit(f"ferris {args.command}: {exc}") from None
        args._kube_context = loaded
        if getattr(args, "namespace", "") is None:
            args.namespace = loaded.namespace
    return loaded
