"""`ferris events` and `ferris send-event`: a namespace's events, newest first, with the runs
each started; and a CloudEvent sent through the Ferris server, answered with what it started.
Both go as the kubeconfig's user (`list` and `create ferrisevents`)."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
import uuid
from typing import Any

from ferris_operator.cli.server import ServerError, columns, print_page, register_common, server_client
from ferris_operator.triggers.cloudevents import STRUCTURED


def register(commands: Any) -> None:
    events = commands.add_parser("events", help="a namespace's events, newest first, and the runs they started")
    register_common(events)
    events.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    events.set_defaults(handler=cmd_events)

    send = commands.add_parser("send-event", help="send a CloudEvent into a namespace; prints what it started")
    register_common(send)
    send.add_argument("--type", required=True, help="the event's type, such as com.example.order.created")
    send.add_argument("--source", default="/ferris-cli", help="the event's source (default /ferris-cli)")
    send.add_argument("--id", help="the event's id (default: a new one); the same source and id is one event")
    send.add_argument("--subject", help="the event's subject")
    send.add_argument("--data", default="{}", help="the event's data, a JSON object: the params of the runs it starts")
    send.add_argument("--wait", type=float, default=5.0, help="seconds to wait for its routing (default 5)")
    send.set_defaults(handler=cmd_send_event)


def _path(args: argparse.Namespace) -> str:
    return f"/api/v1/namespaces/{urllib.parse.quote(args.namespace)}/events"


def table(events: list[dict[str, Any]]) -> list[str]:
    """Lines to print. Pure."""
    rows = [("SEQ", "TYPE", "SOURCE", "ID", "DEPTH", "RECEIVED", "RUNS")]
    for event in events:
        runs = ",".join(event["runs"]) if event["routed"] else "(not routed yet)"
        refused = len(event["refused"])
        rows.append(
            (
                str(event["seq"]),
                event["type"],
                event["source"],
                event["id"],
                str(event["depth"]),
                event["receivedAt"] or "",
                (runs or "-") + (f" ({refused} refused)" if refused else ""),
            )
        )
    return columns(rows)


def cmd_events(args: argparse.Namespace) -> int:
    return print_page(args, "events", _path(args), f"no events in namespace {args.namespace}", table)


def cmd_send_event(args: argparse.Namespace) -> int:
    try:
        data = json.loads(args.data)
    except ValueError as exc:
        raise SystemExit(f"ferris send-event: --data is not JSON: {exc}") from None
    event = {"specversion": "1.0", "id": args.id or uuid.uuid4().hex, "source": args.source, "type": args.type}
    if args.subject:
        event["subject"] = args.subject
    event["data"] = data
    try:
        status, answer = server_client(args).post(_path(args), event, {"wait": str(args.wait)}, STRUCTURED)
    except ServerError as exc:
        print(f"ferris send-event: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2))
    if status == 202:
        print(f"not routed yet; ask again: ferris events -n {args.namespace}", file=sys.stderr)
    return 0
