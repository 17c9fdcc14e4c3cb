"""The vault's key providers: the current one wraps, any configured one unwraps what it wrapped
(so a migration from one to another reads everything while it runs), and unwrapped data keys
are kept in memory for a bounded time, so a blip of a remote KMS does not stop runs."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from ferris_operator.kek.base import KeyProvider, KeyRejected, ProviderStatus, WrappedKey

DEFAULT_CACHE_SECONDS = 300.0
DEFAULT_CACHE_ENTRIES = 4096

_CacheKey = tuple[str, str, str, bytes]


class KeyProviders:
    def __init__(
        self,
        current: KeyProvider,
        readers: Sequence[KeyProvider] = (),
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        cache_entries: int = DEFAULT_CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.current = current
        self._by_name = {p.name: p for p in (*readers, current)}
        self._seconds = cache_seconds
        self._entries = cache_entries
        self._clock = clock
        self._cache: OrderedDict[_CacheKey, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        readers = [repr(p) for name, p in sorted(self._by_name.items()) if name != self.current.name]
        return f"KeyProviders(current={self.current!r}, also reads={readers})"

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)

    def wrap(self, holder: str, plaintext: bytes) -> WrappedKey:
        return self.current.wrap(holder, plaintext)

    def unwrap(self, holder: str, wrapped: WrappedKey) -> bytes:
        key = (holder, wrapped.provider, wrapped.key_id, wrapped.ciphertext)
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                self._cache.move_to_end(key)
                return hit[1]
        provider = self._by_name.get(wrapped.provider)
        if provider is None:
            raise KeyRejected(
                f"it is wrapped by key provider {wrapped.provider!r}, and the operator is configured with "
                f"{', '.join(self.names)} only: configure that provider (at least to read) and restart"
            )
        plaintext = provider.unwrap(holder, wrapped)
        if self._seconds > 0:
            with self._lock:
                self._cache[key] = (now + self._seconds, plaintext)
                self._cache.move_to_end(key)
                while len(self._cache) > self._entries:
                    self._cache.popitem(last=False)
        return plaintext

    def status(self) -> ProviderStatus:
        return self.current.status()
