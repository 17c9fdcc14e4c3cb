"""The operator's requests to the API server give up when it stops answering."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import urllib3
from kubernetes import client

from ferris_operator.k8s.objects import Kube


@pytest.fixture
def silent_server() -> Iterator[str]:
    """An address that accepts connections and never answers (an API server gone quiet)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_request_the_api_server_never_answers_fails_after_the_read_timeout(silent_server: str) -> None:
    configuration = client.Configuration()
    configuration.host = silent_server
    configuration.retries = False
    kube = Kube(client.ApiClient(configuration), request_timeout=(1.0, 0.5))
    began = time.monotonic()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        kube.get_package("team", "nightly")
    assert time.monotonic() - began < 5
