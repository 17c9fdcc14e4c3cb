"""The operator's rooms put together: one handlers object per kind (``runs/``, ``packages/``,
``schedules/``, ``triggers/``, ``secret_scopes/``), each registering its own kopf handlers and
declaring its own periodic loops; here they are built from the components, registered into the
kopf registry the application hands over, and their loops joined with the process's own (which
replica is active, the key provider's status, freed memory). No module globals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import kopf

from ferris_operator.holders import Holders
from ferris_operator.packages.handlers import PackageHandlers
from ferris_operator.packages.service import PackageService
from ferris_operator.ports import KeyHealthPort, KubePort, ScopeStorePort, VaultPort
from ferris_operator.process.memory import release_free_memory
from ferris_operator.process.peering import Peering
from ferris_operator.runs.handlers import RunHandlers
from ferris_operator.runs.retention import HistoryRetention
from ferris_operator.runs.service import RunService
from ferris_operator.schedules.handlers import ScheduleHandlers
from ferris_operator.schedules.service import Scheduler
from ferris_operator.secret_scopes.handlers import ScopeHandlers
from ferris_operator.secret_scopes.service import ScopeSecretsService
from ferris_operator.settings import Settings
from ferris_operator.triggers.handlers import TriggerHandlers
from ferris_operator.triggers.router import EventRouter
from ferris_operator.triggers.sources import EventSourceService
from ferris_operator.work.loops import Loop


@dataclass(frozen=True)
class Components:
    settings: Settings
    kube: KubePort
    vault: VaultPort
    runs: RunService
    packages: PackageService
    schedules: Scheduler
    events: EventRouter
    sources: EventSourceService
    scopes: ScopeSecretsService
    scope_store: ScopeStorePort
    key_health: KeyHealthPort
    retention: HistoryRetention


class Room(Protocol):
    def register(self, registry: kopf.OperatorRegistry) -> None: ...

    def loops(self) -> tuple[Loop, ...]: ...


class Rooms:
    def __init__(self, components: Components) -> None:
        settings, kube, every = components.settings, components.kube, components.settings.intervals
        holders = Holders(kube, settings)
        self.runs = RunHandlers(components.runs, kube, holders, every, components.retention)
        self.schedules = ScheduleHandlers(components.schedules, every)
        self.packages = PackageHandlers(
            components.packages, kube, components.vault, holders, every, observers=(components.schedules,)
        )
        self.triggers = TriggerHandlers(
            components.events, components.sources, kube, holders, every, settings.events_retention_days
        )
        self.scopes = ScopeHandlers(
            holders, components.scopes, components.scope_store, kube, every, settings.audit_retention_days
        )
        self.every = every

    @property
    def all(self) -> tuple[Room, ...]:
        return (self.packages, self.runs, self.schedules, self.triggers, self.scopes)

    def register(self, registry: kopf.OperatorRegistry) -> None:
        """Every room's kopf handlers, under the ids kopf has always stored them with."""
        for room in self.all:
            room.register(registry)

    def loops(self, keys: KeyHealthPort, peering: Peering) -> tuple[Loop, ...]:
        """Every periodic loop: the process's own, then each room's."""
        every = self.every
        own = (
            Loop("which replica is active", every.peering, peering.refresh, always=True),
            Loop("key provider status", every.key_provider_status, keys.check, always=True),
            Loop("freed memory back to the system", every.release_memory, release_free_memory, always=True),
        )
        return own + tuple(loop for room in self.all for loop in room.loops())
