"""The CLI reads a kubeconfig as kubectl does and takes the Authorization header from the client
library's own configuration: every credential kind a cloud user has, with no cluster at all
(the library makes the credential before any request)."""

from __future__ import annotations

import datetime
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from ferris_operator.cli.kubeconfig import CredentialError, Impersonation, context_of, credential_kind, load
from ferris_operator.cli.main import build_parser

SERVER = "https://127.0.0.1:6443"


def kubeconfig(path: Path, users: dict[str, dict[str, Any]], namespaces: dict[str, str] | None = None) -> Path:
    """One cluster; a context per user, named after it (with that namespace, if any); the first current."""
    contexts = [
        {
            "name": name,
            "context": {
                "cluster": "c",
                "user": name,
                **({"namespace": ns} if (ns := (namespaces or {}).get(name)) else {}),
            },
        }
        for name in users
    ]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": SERVER, "insecure-skip-tls-verify": True}}],
        "users": [{"name": name, "user": user} for name, user in users.items()],
        "contexts": contexts,
        "current-context": next(iter(users)),
    }
    path.write_text(yaml.safe_dump(config))
    return path


def exec_plugin(tmp_path: Path, lifetime: datetime.timedelta, fail: bool = False) -> dict[str, Any]:
    """An exec credential plugin that counts its calls and prints token t-<call>, valid ``lifetime``."""
    counter = tmp_path / "calls"
    script = tmp_path / "plugin.py"
    script.write_text(
        "import datetime, json, pathlib, sys\n"
        f"counter = pathlib.Path({str(counter)!r})\n"
        "calls = int(counter.read_text()) + 1 if counter.exists() else 1\n"
        "counter.write_text(str(calls))\n"
        + ("sys.stderr.write('token expired: run aws sso login'); sys.exit(3)\n" if fail else "")
        + f"expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds={lifetime.total_seconds()})\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential',"
        " 'status': {'token': f't-{calls}', 'expirationTimestamp': expiry.strftime('%Y-%m-%dT%H:%M:%SZ')}}))\n"
    )
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable, "args": [str(script)]}}


def test_a_static_token_is_found_where_the_client_library_keeps_it(tmp_path: Path) -> None:
    """Fails if the library moves the token and the CLI still reads a private key of its own."""
    kube = load(str(kubeconfig(tmp_path / "config", {"sa": {"token": "static-token-1"}})))
    assert kube.authorization() == "Bearer static-token-1"
    assert kube.headers() == {"Authorization": "Bearer static-token-1"}
    assert kube.credential == "bearer token"


def test_a_token_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-a-file\n")
    kube = load(str(kubeconfig(tmp_path / "config", {"sa": {"tokenFile": str(tmp_path / "token")}})))
    assert kube.authorization() == "Bearer from-a-file"


def test_an_exec_plugins_token_is_used_and_made_again_once_it_expires(tmp_path: Path) -> None:
    # The library refreshes a credential five minutes before it expires: this one is due in 2 s.
    user = exec_plugin(tmp_path, datetime.timedelta(minutes=5, seconds=2))
    kube = load(str(kubeconfig(tmp_path / "config", {"oidc": user})))
    assert kube.authorization() == "Bearer t-1" and kube.authorization() == "Bearer t-1"
    time.sleep(2.5)
    assert kube.authorization() == "Bearer t-2"
    assert (tmp_path / "calls").read_text() == "2"
    assert kube.credential.startswith("exec credential plugin")


def test_an_exec_plugin_that_fails_is_named_with_what_it_printed(tmp_path: Path) -> None:
    user = exec_plugin(tmp_path, datetime.timedelta(hours=1), fail=True)
    with pytest.raises(CredentialError) as caught:
        load(str(kubeconfig(tmp_path / "config", {"oidc": user})))
    assert "exec credential plugin" in str(caught.value) and "token expired: run aws sso login" in str(caught.value)


def test_a_client_certificate_sends_no_authorization_header(tmp_path: Path) -> None:
    (tmp_path / "c.crt").write_text("cert")
    (tmp_path / "c.key").write_text("key")
    user = {"client-certificate": str(tmp_path / "c.crt"), "client-key": str(tmp_path / "c.key")}
    kube = load(str(kubeconfig(tmp_path / "config", {"admin": user})))
    assert kube.headers() == {} and kube.configuration.cert_file == str(tmp_path / "c.crt")
    inline = {"client-certificate-data": "Y2VydA==", "client-key-data": "a2V5"}
    kube = load(str(kubeconfig(tmp_path / "inline", {"admin": inline})))
    assert Path(kube.configuration.cert_file).read_text() == "cert" and kube.credential == "client certificate"


def test_kubeconfig_files_merge_and_context_and_namespace_follow_kubectl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = kubeconfig(tmp_path / "a", {"alice": {"token": "a"}}, {"alice": "team-a"})
    second = kubeconfig(tmp_path / "b", {"bob": {"token": "b"}})
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    args = build_parser().parse_args(["runs"])
    assert context_of(args).authorization() == "Bearer a" and args.namespace == "team-a"
    args = build_parser().parse_args(["runs", "--context", "bob"])
    assert context_of(args).authorization() == "Bearer b" and args.namespace == "default"
    args = build_parser().parse_args(["runs", "--context", "bob", "-n", "mine", "--as", "carol", "--as-group", "g"])
    kube = context_of(args)
    assert args.namespace == "mine" and kube.impersonation == Impersonation("carol", ("g",))
    assert kube.headers() == {"Authorization": "Bearer b", "Impersonate-User": "carol", "Impersonate-Group": "g"}
    with pytest.raises(SystemExit, match="has no context 'nobody'"):
        context_of(build_parser().parse_args(["runs", "--context", "nobody"]))
    with pytest.raises(SystemExit, match="--as-group needs --as"):
        context_of(build_parser().parse_args(["runs", "--as-group", "g"]))


def test_a_refused_credential_is_named_with_what_to_try(tmp_path: Path) -> None:
    kube = load(str(kubeconfig(tmp_path / "config", {"sa": {"token": "old"}})))
    text = kube.refused("authenticate with a bearer token or a client certificate")
    assert text.startswith("401: the server refused the kubeconfig's bearer token (context 'sa')")
    assert "kubectl create token" in text
    assert credential_kind({"auth-provider": {"name": "oidc"}}) == "auth-provider 'oidc'"
    assert json.dumps(Impersonation().headers()) == "{}"


def test_a_token_files_newline_never_reaches_a_header_however_many_requests(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-a-file\n")
    kube = load(str(kubeconfig(tmp_path / "config", {"sa": {"tokenFile": str(tmp_path / "token")}})))
    for _ in range(3):  # what the client library sends on each request of a long command
        assert kube.configuration.get_api_key_with_prefix("BearerToken") == "Bearer from-a-file"


def test_the_console_opens_the_browser_on_a_private_page_not_the_code_in_its_arguments(tmp_path: Path) -> None:
    import stat

    from ferris_operator.cli.console_proxy import redirect_file

    url = "http://127.0.0.1:4000/?session=s3cr3t&x=<y>"
    page = redirect_file(tmp_path, url)
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    assert 'content="0;url=http://127.0.0.1:4000/?session=s3cr3t&amp;x=&lt;y&gt;"' in page.read_text()
