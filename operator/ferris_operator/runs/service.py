"""The run lifecycle as one object, for the kopf handlers and the runners' reports: its stages are
built here, each given exactly what it needs."""

from __future__ import annotations

from ferris_operator.crypto.run_tokens import RunTokens
from ferris_operator.ownership import Provenance
from ferris_operator.ports import KubePort, RunStorePort, ScopeReaderPort, VaultPort
from ferris_operator.runs.content_sweep import ContentSweep
from ferris_operator.runs.follow import Follower
from ferris_operator.runs.history import History
from ferris_operator.runs.outcomes import Outcomes
from ferris_operator.runs.reports import Reports
from ferris_operator.runs.resync import Resync
from ferris_operator.runs.retries import Retries
from ferris_operator.runs.sightings import Sightings
from ferris_operator.runs.start import Starter
from ferris_operator.settings import Settings


class RunService:
    def __init__(
        self,
        kube: KubePort,
        vault: VaultPort,
        runs: RunStorePort,
        settings: Settings,
        tokens: RunTokens,
        api_ca: str | None = None,
        scopes: ScopeReaderPort | None = None,
    ) -> None:
        self.kube, self.vault, self.runs, self.settings, self.tokens = kube, vault, runs, settings, tokens
        self.proof = proof = Provenance(tokens)  # the one check of what the operator made, for every stage
        self.sightings = Sightings()  # what the FerrisRun and Job watches showed, for the periodic passes
        self.history = History(kube, runs, settings, self.sightings)
        retries = Retries(kube, runs, tokens)
        self.outcomes = Outcomes(kube, runs, self.history, retries, proof)
        self.reports = Reports(runs, self.outcomes, retries)
        self.follower = Follower(kube, runs, self.outcomes, self.reports, proof)
        self.starter = Starter(
            kube, vault, runs, settings, tokens, self.outcomes, self.follower.cancel, api_ca, scopes, proof
        )
        self.content_sweep = ContentSweep(kube, runs, proof, settings.watch_namespaces)
        self.resync = Resync(
            kube, runs, self.outcomes, self.starter, self.follower, self.reports, self.sightings, proof=proof
        )
