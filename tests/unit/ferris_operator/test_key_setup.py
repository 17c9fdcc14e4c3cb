"""Which key providers the settings make: the current one, every other configured one as a
reader, and a clear stop when what the kind needs is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferris_operator.crypto.keyring import generate_key_text
from ferris_operator.kek.factory import key_setup
from ferris_operator.settings import KeyProviderSettings


def ring_dir(tmp_path: Path) -> Path:
    (tmp_path / "k1").write_text(generate_key_text())
    (tmp_path / "active").write_text("k1")
    return tmp_path


def settings(env: dict[str, str]) -> KeyProviderSettings:
    return KeyProviderSettings.from_env(env, "ferris-operator")


def test_the_ring_alone_by_default(tmp_path: Path) -> None:
    setup = key_setup(settings({"FERRIS_MASTER_KEY_DIR": str(tmp_path)}), ring_dir(tmp_path))
    assert setup.providers.current.name == "secret-ring" and setup.providers.names == ["secret-ring"]
    assert setup.ring is not None and setup.ring.active_id == "k1"


def test_a_kms_current_with_the_ring_and_transit_readable(tmp_path: Path) -> None:
    env = {
        "FERRIS_KEY_PROVIDER": "kms-v2",
        "FERRIS_KMS_SOCKET": "/run/kms/kms.sock",
        "FERRIS_TRANSIT_ADDRESS": "https://bao:8200",
        "FERRIS_TRANSIT_ROLE": "ferris",
        "FERRIS_DATA_KEY_CACHE_SECONDS": "0",
    }
    setup = key_setup(settings(env), ring_dir(tmp_path))
    assert setup.providers.current.name == "kms-v2"
    assert setup.providers.names == ["kms-v2", "secret-ring", "transit"]


def test_back_to_the_ring_with_the_kms_readable(tmp_path: Path) -> None:
    env = {"FERRIS_KEY_PROVIDER": "secret-ring", "FERRIS_MASTER_KEY_DIR": "x", "FERRIS_KMS_SOCKET": "/run/k.sock"}
    setup = key_setup(settings(env), ring_dir(tmp_path))
    assert setup.providers.current.name == "secret-ring" and setup.providers.names == ["kms-v2", "secret-ring"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FERRIS_KEY_PROVIDER": "hsm"}, "FERRIS_KEY_PROVIDER is 'hsm'; set one of secret-ring, kms-v2, transit"),
        ({}, "FERRIS_KEY_PROVIDER=secret-ring needs FERRIS_MASTER_KEY_DIR"),
        ({"FERRIS_KEY_PROVIDER": "kms-v2"}, "FERRIS_KEY_PROVIDER=kms-v2 needs FERRIS_KMS_SOCKET"),
        (
            {"FERRIS_KEY_PROVIDER": "transit", "FERRIS_TRANSIT_ADDRESS": "https://bao:8200"},
            "FERRIS_KEY_PROVIDER=transit needs FERRIS_TRANSIT_TOKEN_FILE or FERRIS_TRANSIT_ROLE",
        ),
    ],
)
def test_what_a_kind_needs_is_named_when_missing(env: dict[str, str], message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        settings(env)


def test_a_transit_engine_over_plain_http_is_refused_unless_allowed_for_a_test(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from ferris_operator.settings import KeyProviderSettings

    env = {"FERRIS_KEY_PROVIDER": "transit", "FERRIS_TRANSIT_ADDRESS": "http://bao:8200", "FERRIS_TRANSIT_ROLE": "r"}
    with pytest.raises(SystemExit, match="plain HTTP would carry the login and every data key in clear"):
        KeyProviderSettings.from_env(env, "ferris-operator")
    allowed = KeyProviderSettings.from_env({**env, "FERRIS_TRANSIT_ALLOW_HTTP": "true"}, "ferris-operator")
    assert allowed.transit_address == "http://bao:8200" and "plain HTTP" in caplog.text


def test_a_kms_socket_where_kube_apiserver_keeps_its_own_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    from ferris_operator.settings import KeyProviderSettings

    env = {"FERRIS_KEY_PROVIDER": "kms-v2", "FERRIS_KMS_SOCKET": "/var/run/kmsplugin/socket.sock"}
    KeyProviderSettings.from_env(env, "ferris-operator")
    assert "looks like kube-apiserver's own KMS plugin" in caplog.text
    caplog.clear()
    KeyProviderSettings.from_env({**env, "FERRIS_KMS_SOCKET": "/var/run/kms-plugin/kms.sock"}, "ferris-operator")
    assert "kube-apiserver" not in caplog.text  # the chart's own sidecar path
