"""`make mutate`: faults put into the modules that decide trust, one at a time, each run against
the fast tests that should catch it (unit and PostgreSQL tiers). A mutant is killed when those
tests fail with it in place; one that survives fails the command unless it is listed with the
reason it cannot be told apart from the real code (``equivalent``).

Each fault is an exact piece of source and what replaces it; a piece that is not found exactly
once stops the command (the code moved: the fault must move with it). The file is restored on
every way out, Ctrl-C included. Prints each mutant, whether it was killed and by which test,
and how long it took."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OP = "operator/ferris_operator"
UNIT = "tests/unit/ferris_operator"


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    equivalent: str = ""  # why a survivor cannot be told apart from the real code


MUTANTS = (
    Mutant(
        "a run token's MAC is not checked",
        f"{OP}/crypto/run_tokens.py",
        "        return hmac.compare_digest(mac, self._mac(key_id, run_uid, nonce))",
        "        return True",
        (f"{UNIT}/crypto/test_run_tokens.py", f"{UNIT}/server/test_runner_auth.py"),
    ),
    Mutant(
        "an operator's stamp is not checked",
        f"{OP}/crypto/run_tokens.py",
        "hmac.compare_digest(pieces[2], self._stamp_mac(pieces[1], parts))",
        "True",
        (f"{UNIT}/crypto/test_run_tokens.py", f"{UNIT}/test_ownership.py"),
    ),
    Mutant(
        "a revoked run token is taken (its digest not compared)",
        f"{OP}/server/runner_auth.py",
        "        if record is None or not expected or not hmac.compare_digest(token_digest(token), expected):",
        "        if record is None:",
        (f"{UNIT}/server/test_runner_auth.py", f"{UNIT}/server/test_runner_api.py", "tests/db/test_runner_api.py"),
    ),
    Mutant(
        "anything stamped counts as made for any purpose",
        f"{OP}/ownership.py",
        "        return bool(stamp) and self._tokens.stamped(stamp, *parts)",
        "        return bool(stamp)",
        (f"{UNIT}/test_ownership.py", f"{UNIT}/runs"),
    ),
    Mutant(
        "a child needs no controller reference naming its run",
        f"{OP}/ownership.py",
        "        return owned_by_run(obj, run_uid, namespace) and self.made(",
        "        return self.made(",
        (f"{UNIT}/test_ownership.py", f"{UNIT}/runs"),
    ),
    Mutant(
        "a route's access is not reviewed",
        f"{OP}/server/api.py",
        "                for access in route.needs:",
        "                for access in ():",
        (f"{UNIT}/server/test_api.py",),
    ),
    Mutant(
        "a user's reviews are not bounded",
        f"{OP}/server/authz.py",
        "            if self.budget.blocked(who):",
        "            if False:",
        (f"{UNIT}/server/test_api.py",),
    ),
    Mutant(
        "a user holds any number of long requests",
        f"{OP}/work/ratelimit.py",
        "        if self._held.get(key, 0) >= self.per_key or sum(self._held.values()) >= self.total:",
        "        if False:",
        (f"{UNIT}/work/test_ratelimit.py", f"{UNIT}/server/test_api.py"),
    ),
    Mutant(
        "a foreign Origin may change things",
        f"{OP}/server/origins.py",
        "    if origin is not None and origin not in own_origins:",
        "    if False:",
        (f"{UNIT}/server/test_api.py",),
    ),
    Mutant(
        "a text/plain body may change things",
        f"{OP}/server/origins.py",
        '    if media not in JSON_TYPES and not headers.get("ce-specversion"):',
        "    if False:",
        (f"{UNIT}/server/test_api.py",),
    ),
    Mutant(
        "a webhook's signature is not checked",
        f"{OP}/triggers/signatures.py",
        "    return hmac.compare_digest(expected.encode(), given.strip().encode())",
        "    return True",
        (f"{UNIT}/triggers", f"{UNIT}/server/test_eventsource_api.py"),
    ),
    Mutant(
        "a webhook's signed time is not checked",
        f"{OP}/triggers/signatures.py",
        '        _check_time(json.loads(body).get("time"), now, spec.max_age)',
        "        pass",
        (f"{UNIT}/triggers",),
    ),
    Mutant(
        "a spent webhook address is read for every request",
        f"{OP}/server/eventsource_api.py",
        "            if self.limiter.blocked(sender):",
        "            if False:",
        (f"{UNIT}/server/test_eventsource_api.py",),
    ),
    Mutant(
        "anyone may send a run's end",
        f"{OP}/triggers/cloudevents.py",
        "    if event_type in RESERVED_TYPES:",
        "    if False:",
        (f"{UNIT}/triggers", f"{UNIT}/server"),
    ),
    Mutant(
        "a NUL in a report reaches the database",
        f"{OP}/runner_reports.py",
        '    if b"\\\\u0000" in raw:',
        "    if False:",
        (f"{UNIT}/test_runner_reports.py", f"{UNIT}/server/test_runner_api.py"),
    ),
    Mutant(
        "a scope row's uid is not compared with its object's",
        f"{OP}/secret_scopes/policies.py",
        '    if body is None or (body.get("metadata") or {}).get("uid") != row.uid:',
        "    if body is None:",
        ("tests/db/test_scopes.py", f"{UNIT}/secret_scopes"),
    ),
    Mutant(
        "every namespace reads every platform scope",
        f"{OP}/secret_scopes/resolve.py",
        '    if namespace in (scope.readers.get("namespaces") or []):',
        "    if True:",
        ("tests/db/test_scopes.py", f"{UNIT}/secret_scopes"),
    ),
    Mutant(
        "a writer's names are not checked",
        f"{OP}/secret_scopes/resolve.py",
        '        and (name is None or not w.get("names") or name in w["names"])',
        "        and True",
        ("tests/db/test_scopes.py", f"{UNIT}/secret_scopes"),
    ),
    Mutant(
        "a run writes secrets without bound",
        f"{OP}/secret_scopes/writes.py",
        "        if self.store.writes_of_run(run.uid) >= MAX_WRITES_PER_RUN:",
        "        if False:",
        ("tests/db/test_scopes.py",),
    ),
    Mutant(
        "a run sends reports without bound",
        f"{OP}/store/reports.py",
        "            if live is not None and live[1] > MAX_REPORTS_PER_RUN:",
        "            if False:",
        ("tests/db/test_reports.py",),
    ),
    Mutant(
        "retention removes runs whose end is not shown yet",
        f"{OP}/store/retention.py",
        "ENDED: LiteralString = \"phase IN ('Succeeded', 'Failed', 'Cancelled') AND published_phase = phase\"",
        "ENDED: LiteralString = \"phase IN ('Succeeded', 'Failed', 'Cancelled')\"",
        ("tests/db/test_retention.py",),
    ),
    Mutant(
        "a bundle's files are not checked against their digests",
        "ciphertext/ferris_ciphertext/bundle.py",
        "        if self.files.get(key) != digest(content):",
        "        if False:",
        ("tests/unit/ferris_ciphertext", "tests/unit/ferris_runner"),
    ),
    Mutant(
        "output is not masked",
        "runner-image/ferris_runner/masking.py",
        "            if form in text:\n                text = text.replace(form, MASK)",
        "            pass",
        ("tests/unit/ferris_runner",),
    ),
)


def _apply(mutant: Mutant) -> str:
    path = REPO / mutant.path
    original = path.read_text()
    found = original.count(mutant.old)
    if found != 1:
        raise SystemExit(f"mutate: {mutant.name!r}: its source is found {found} times in {mutant.path}; move the fault")
    path.write_text(original.replace(mutant.old, mutant.new))
    return original


def _run(mutant: Mutant, timeout: float) -> tuple[bool, str, float]:
    """(killed, by which test or why not, seconds)."""
    original = _apply(mutant)
    began = time.monotonic()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
             "-o", "addopts=", *mutant.tests],
            cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return True, f"timed out after {timeout:.0f} s (the tests hang with it)", time.monotonic() - began
    finally:
        (REPO / mutant.path).write_text(original)
    seconds = time.monotonic() - began
    failed = re.search(r"^(?:FAILED|ERROR) (\S+)", result.stdout, re.MULTILINE)
    if result.returncode == 0:
        return False, "every test passed", seconds
    if result.returncode in (1,) and failed:
        return True, failed.group(1).split("[")[0], seconds
    return True, f"pytest exited {result.returncode}: {result.stdout.strip().splitlines()[-1:]}", seconds


def main() -> None:
    parser = argparse.ArgumentParser(prog="make mutate")
    parser.add_argument("-k", default="", help="only the mutants whose name holds this text")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    chosen = [m for m in MUTANTS if args.k in m.name]
    for mutant in chosen:  # every fault still fits the code before anything is run
        text = (REPO / mutant.path).read_text()
        if text.count(mutant.old) != 1:
            raise SystemExit(f"mutate: {mutant.name!r}: its source is not found exactly once in {mutant.path}")
    started, survivors = time.monotonic(), []
    for mutant in chosen:
        killed, by, seconds = _run(mutant, args.timeout)
        verdict = "killed" if killed else ("equivalent" if mutant.equivalent else "SURVIVED")
        print(f"{verdict:10} {seconds:6.1f} s  {mutant.name}\n{'':20}{by if killed else mutant.equivalent or by}")
        if not killed and not mutant.equivalent:
            survivors.append(mutant.name)
    took = time.monotonic() - started
    print(f"\n{len(chosen) - len(survivors)} of {len(chosen)} mutants killed or explained in {took:.0f} s")
    if survivors:
        raise SystemExit(f"survived: {', '.join(survivors)}")


if __name__ == "__main__":
    main()
