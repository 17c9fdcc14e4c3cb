"""Masking of secret values in output, with their escaped forms."""

from __future__ import annotations

from ferris_runner.main import StateServer
from ferris_runner.masking import Masker, mask_data


def test_masks_values_and_their_escaped_forms() -> None:
    mask = Masker({"PASS": 'pa"ss$word', "CONN": {"user": "admin-user", "port": 5432}, "SHORT": "abc", "FLAG": True})
    text = 'pa"ss$word pa\\"ss$word admin-user 5432 abc True'
    assert mask(text) == "**** **** **** **** abc True"
    assert mask(str({"user": "admin-user", "port": 5432})) == "****"


def test_what_a_script_sends_to_be_stored_is_masked_in_keys_and_values_and_keeps_its_shape() -> None:
    mask = Masker({"token": "s3cr3t-value", "pin": 987654})
    sent = {"note": "key s3cr3t-value here", "s3cr3t-value": [1, 987654, True, None], "n": 2}
    assert mask_data(sent, mask) == {"note": "key **** here", "****": [1, "****", True, None], "n": 2}


def test_the_state_channel_masks_events_and_retry_params_whatever_the_output_masking(tmp_path: object) -> None:
    import io
    import json as json_module

    class Api:
        def __init__(self) -> None:
            self.sent: list[object] = []

        def send_event(self, event: object) -> object:
            self.sent.append(event)
            return {"id": "e"}

        def retry(self, ask: object) -> object:
            self.sent.append(ask)
            return {"id": "r"}

    api = Api()
    requests = io.StringIO(
        json_module.dumps({"op": "event", "event": {"type": "t", "data": {"leak": "s3cr3t-value"}}})
        + "\n"
        + json_module.dumps({"op": "retry", "ask": {"params": {"again": "s3cr3t-value"}}})
        + "\n"
    )
    responses = io.StringIO()
    StateServer(api, requests, responses, Masker({"token": "s3cr3t-value"})).run()  # type: ignore[arg-type]
    assert "s3cr3t-value" not in json_module.dumps(api.sent)
    assert api.sent == [{"type": "t", "data": {"leak": "****"}}, {"params": {"again": "****"}}]
    assert [json_module.loads(line)["ok"] for line in responses.getvalue().splitlines()] == [True, True]


def test_a_value_added_during_the_run_is_masked_from_then_on() -> None:
    mask = Masker({"A": "first-secret"})
    assert mask("new-token-123 first-secret") == "new-token-123 ****"
    mask.add({"access": "new-token-123"})
    assert mask("new-token-123 first-secret") == "**** ****"


def test_a_secret_of_several_lines_is_masked_on_every_line_it_spans() -> None:
    pem = "-----BEGIN KEY-----\r\nMIIEabcdefgh\nQWERTYuiop12\n-----END KEY-----"
    mask = Masker({"KEY": pem})
    printed = "".join(mask(line) for line in (pem + "\n").splitlines(keepends=True))
    assert all(piece not in printed for piece in ("MIIEabcdefgh", "QWERTYuiop12", "BEGIN KEY"))
    assert printed.count("****") == 4
