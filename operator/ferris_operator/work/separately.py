"""Periodic loops go over every tenant's objects: one object that fails must not cost the
others their turn. ``each`` runs the work per object, counts and logs a failure against that
object, and goes on; only the database being down stops a pass (it fails every object alike,
and the next pass catches up)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from ferris_operator.process import metrics
from ferris_operator.store.db import DATABASE_ERRORS

log = logging.getLogger("ferris.loops")
T = TypeVar("T")


def each(loop: str, items: Iterable[T], action: Callable[[T], None], describe: Callable[[T], str]) -> None:
    for item in items:
        try:
            action(item)
        except DATABASE_ERRORS:
            raise
        except Exception as exc:
            metrics.LOOP_ERRORS.labels(loop).inc()
            # The type only: an exception's text may quote input, and input may hold a secret.
            log.warning("%s: %s failed with %s; going on with the others", loop, describe(item), type(exc).__name__)
            log.debug("%s: %s", loop, describe(item), exc_info=True)
