"""The key provider's health, polled off the event loop: readiness reflects it, a gauge
exports it, and a change is logged once (not on every poll)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ferris_operator.kek.base import KeyProvider, ProviderStatus
from ferris_operator.kek.providers import KeyProviders
from ferris_operator.problems import KeyProviderUnavailable
from ferris_operator.process import metrics

log = logging.getLogger("ferris.keys")


class KeyHealth:
    def __init__(self, providers: KeyProviders, clock: Callable[[], float] = time.monotonic) -> None:
        self._providers = providers
        self._clock = clock
        self.last = ProviderStatus(True, "", "not checked yet")

    @property
    def current(self) -> KeyProvider:
        return self._providers.current

    @property
    def healthy(self) -> bool:
        return self.last.healthy

    def check(self) -> ProviderStatus:
        status = self._providers.status()
        metrics.KEY_PROVIDER_UP.labels(self.current.name).set(1 if status.healthy else 0)
        if status.healthy != self.last.healthy or status.key_id != self.last.key_id:
            if status.healthy:
                log.info("key provider %s: %s", self.current.name, status.message)
            else:
                log.error("key provider %s unavailable: %s", self.current.name, status.message)
        self.last = status
        return status

    def wait(self, timeout: float, pause: float = 2.0, sleep: Callable[[float], None] = time.sleep) -> None:
        """Until the provider is healthy; KeyProviderUnavailable past ``timeout`` seconds."""
        deadline = self._clock() + timeout
        while not self.check().healthy:
            if self._clock() > deadline:
                raise KeyProviderUnavailable(self.last.message)
            sleep(pause)
