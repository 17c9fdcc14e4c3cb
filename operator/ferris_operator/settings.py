"""The operator's one typed settings object, read from the environment."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ferris_operator.queues.lanes import LEAST_URGENT, MOST_URGENT, QueueSettings
from ferris_operator.runner_policy import DEFAULT_FORBIDDEN_ENV, RunnerPolicy

log = logging.getLogger("ferris.settings")


def redact_url(url: str) -> str:
    """A database URL fit for a log line: the password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{netloc[1]}"))


@dataclass(frozen=True)
class Intervals:
    """Seconds between the passes of each periodic loop (each room declares its own: `loops()`)."""

    resync_active_runs: float = 10.0  # catch up with Job and pod changes missed
    report_catch_up: float = 5.0  # runs' reports no notification announced (store/announcer.py)
    recent_history: float = 10.0  # history limits of packages with newly finished runs
    history_sweep: float = 60.0  # TTLs and history limits of every package
    content_sweep: float = 600.0  # package content objects no run has used for an hour (runs/content_sweep.py)
    last_run: float = 1.0  # packages' status.lastRun
    schedules: float = 1.0  # packages whose scheduled time has come
    source_resync: float = 60.0  # re-read of packages' source Secrets (FERRIS_SOURCE_RESYNC_SECONDS)
    release_memory: float = 30.0  # freed memory back to the system
    key_provider_status: float = 10.0  # the key provider's Status (readiness, ferris_key_provider_up)
    peering: float = 5.0  # which replica is active (several replicas, process/peering.py)
    database_retry: float = 3.0  # a handler's retry while PostgreSQL is down
    run_waiting_retry: float = 2.0  # a run's retry while it waits (package not reconciled...)
    waiting_runs: float = 0.5  # how often the runs waiting to start are looked at (those due only)
    package_retry: float = 5.0  # a package's retry while its source is missing
    events: float = 5.0  # events not routed yet (a missed notification)
    events_expiry: float = 3600.0  # routed events past their retention


@dataclass(frozen=True)
class KopfTuning:
    """How kopf watches and calls the API server, and how many threads do the work."""

    watch_server_timeout: int = 270
    watch_client_timeout: int = 300
    request_timeout: int = 60
    max_workers: int = 32  # kopf's threads for sync handlers
    api_threads: int = 32  # threads for blocking calls off the event loop (the runner API's, the reports')
    report_workers: int = 8  # runs whose reports the operator takes up at once
    run_workers: int = 16  # new (or cancelled) runs the operator takes up at once
    peering_lifetime: int = 30  # seconds a killed replica blocks the others (the time to takeover)
    list_chunk: int = 500  # objects per page of kopf's first listing (10,000 packages: not one 40 MB reply)


KEY_PROVIDERS = ("secret-ring", "kms-v2", "transit")


# Where kube-apiserver's KMS plugin usually listens (the cloud providers' and kubeadm's guides).
API_SERVER_KMS_PATHS = ("/var/run/kmsplugin", "/etc/kubernetes", "/var/lib/kubernetes", "/opt/kms")


@dataclass(frozen=True)
class KeyProviderSettings:
    """Who wraps the vault's data keys (FERRIS_KEY_PROVIDER) and how to reach it. The ring in
    ``Settings.master_key_dir``, when set, stays readable beside another provider (a migration)."""

    kind: str = "secret-ring"  # secret-ring | kms-v2 | transit
    kms_socket: Path | None = None  # FERRIS_KMS_SOCKET: the plugin's Unix socket
    timeout: float = 5.0  # FERRIS_KEY_PROVIDER_TIMEOUT: seconds per call to a remote provider
    transit_address: str = ""  # FERRIS_TRANSIT_ADDRESS: https://vault.example:8200
    transit_mount: str = "transit"  # FERRIS_TRANSIT_MOUNT
    transit_key: str = "ferris"  # FERRIS_TRANSIT_KEY
    transit_token_file: Path | None = None  # FERRIS_TRANSIT_TOKEN_FILE: a token mounted from a Secret
    transit_role: str = ""  # FERRIS_TRANSIT_ROLE: Kubernetes auth with the ServiceAccount token instead
    transit_auth_mount: str = "kubernetes"  # FERRIS_TRANSIT_AUTH_MOUNT
    # FERRIS_TRANSIT_JWT_FILE: the token the role logs in with. The chart mounts one projected for
    # the engine's audience alone: the pod's own API token (which can read every Secret of the
    # cluster-wide operator) never leaves for the engine. Unset: the pod's API token, warned.
    transit_jwt_file: Path | None = None
    transit_ca_file: Path | None = None  # FERRIS_TRANSIT_CA_FILE
    cache_seconds: float = 300.0  # FERRIS_DATA_KEY_CACHE_SECONDS: unwrapped data keys kept in memory

    @classmethod
    def from_env(cls, env: dict[str, str], program: str) -> KeyProviderSettings:
        d = cls()
        kind = env.get("FERRIS_KEY_PROVIDER", d.kind)
        if kind not in KEY_PROVIDERS:
            raise SystemExit(f"{program}: FERRIS_KEY_PROVIDER is {kind!r}; set one of {', '.join(KEY_PROVIDERS)}")
        found = cls(
            kind=kind,
            kms_socket=_path(env.get("FERRIS_KMS_SOCKET", "")),
            timeout=float(env.get("FERRIS_KEY_PROVIDER_TIMEOUT", d.timeout)),
            transit_address=env.get("FERRIS_TRANSIT_ADDRESS", d.transit_address),
            transit_mount=env.get("FERRIS_TRANSIT_MOUNT", d.transit_mount),
            transit_key=env.get("FERRIS_TRANSIT_KEY", d.transit_key),
            transit_token_file=_path(env.get("FERRIS_TRANSIT_TOKEN_FILE", "")),
            transit_role=env.get("FERRIS_TRANSIT_ROLE", d.transit_role),
            transit_auth_mount=env.get("FERRIS_TRANSIT_AUTH_MOUNT", d.transit_auth_mount),
            transit_jwt_file=_path(env.get("FERRIS_TRANSIT_JWT_FILE", "")),
            transit_ca_file=_path(env.get("FERRIS_TRANSIT_CA_FILE", "")),
            cache_seconds=float(env.get("FERRIS_DATA_KEY_CACHE_SECONDS", d.cache_seconds)),
        )
        needs = {
            "secret-ring": [("FERRIS_MASTER_KEY_DIR", bool(env.get("FERRIS_MASTER_KEY_DIR")))],
            "kms-v2": [("FERRIS_KMS_SOCKET", found.kms_socket is not None)],
            "transit": [
                ("FERRIS_TRANSIT_ADDRESS", bool(found.transit_address)),
                (
                    "FERRIS_TRANSIT_TOKEN_FILE or FERRIS_TRANSIT_ROLE",
                    bool(found.transit_token_file or found.transit_role),
                ),
            ],
        }[kind]
        missing = [name for name, present in needs if not present]
        if missing:
            raise SystemExit(f"{program}: FERRIS_KEY_PROVIDER={kind} needs {', '.join(missing)}")
        if found.transit_address.startswith("http://"):
            if env.get("FERRIS_TRANSIT_ALLOW_HTTP") != "true":
                raise SystemExit(
                    f"{program}: FERRIS_TRANSIT_ADDRESS is {found.transit_address}: plain HTTP would carry the"
                    " login and every data key in clear; use https:// (and FERRIS_TRANSIT_CA_FILE), or set"
                    " FERRIS_TRANSIT_ALLOW_HTTP=true for a test engine on this host"
                )
            log.warning("the transit engine is reached over plain HTTP (%s): for tests only", found.transit_address)
        if found.transit_address and found.transit_role and found.transit_jwt_file is None:
            log.warning(
                "the transit login sends this pod's own API token to %s: mount a token projected for the"
                " engine's audience and set FERRIS_TRANSIT_JWT_FILE (the chart does)",
                found.transit_address,
            )
        if found.kms_socket is not None and any(str(found.kms_socket).startswith(p) for p in API_SERVER_KMS_PATHS):
            log.warning(
                "FERRIS_KMS_SOCKET %s looks like kube-apiserver's own KMS plugin: then Ferris's pods (the server"
                " faces the internet) could decrypt etcd's data keys. Give Ferris a plugin and key of its own"
                " (the chart's kmsV2.sidecar)",
                found.kms_socket,
            )
        return found


@dataclass(frozen=True)
class RunnerEgress:
    """Cluster-wide mode with the chart's NetworkPolicies: where runner pods may connect, for the
    egress policy the operator makes in each namespace (builders/runner_egress.py)."""

    server_labels: dict[str, str]  # the server pods' labels
    port: int  # the runner API's port in those pods


@dataclass(frozen=True)
class Settings:
    database_url: str = field(repr=False)
    master_key_dir: Path | None  # the Secret-mounted key ring; unset with another provider and no migration
    # Where the operator LISTENs (direct or a session-mode pooler; a transaction-mode pooler does
    # not carry LISTEN) and where the server reads history (a read replica); unset: database_url.
    database_listen_url: str = field(default="", repr=False)
    database_read_url: str = field(default="", repr=False)
    namespace: str = "ferris-system"
    sealing_secret: str = "ferris-sealing-key"  # noqa: S105 - a Secret name, not a secret
    sealing_configmap: str = "ferris-sealing-public-key"
    runner_image: str = "ghcr.io/ferris-run/ferris-runner:0.1.0"
    # The runner API is served by the server (bind, port, certificate) and named to runners by
    # the operator (URL, and the CA they trust; unset: the system's CAs, or none over http://).
    runner_api_bind: str = "0.0.0.0"  # noqa: S104 - runner pods reach it through a Service
    runner_api_port: int = 8443
    runner_api_url: str = "https://ferris-runner-api.ferris-system.svc:8443"
    runner_api_tls_dir: Path | None = None  # the server's tls.crt, tls.key, ca.crt; unset: plain HTTP
    runner_api_ca_file: Path | None = None  # the operator's copy of that ca.crt
    health_bind: str = "0.0.0.0"  # noqa: S104 - the kubelet's probes and Prometheus reach it
    health_port: int = 8080
    server_bind: str = "0.0.0.0"  # noqa: S104 - users reach it through a Service or an Ingress
    server_port: int = 8444
    server_tls_dir: Path | None = None  # tls.crt, tls.key, ca.crt; unset: plain HTTP
    server_public_url: str = ""  # published in ConfigMap ferris-server for the CLI
    runner_egress: RunnerEgress | None = None  # FERRIS_RUNNER_EGRESS_POLICY; None: the operator makes none
    server_trusted_proxies: tuple[str, ...] = ()  # CIDRs whose X-Forwarded-For is believed (addresses.py)
    secrets_upload: bool = True  # the server takes secrets.json uploads from users with the right
    watch_namespaces: tuple[str, ...] = ()
    db_pool_max: int = 8
    standalone: bool = True
    peering_name: str = "ferris"
    runner_policy: RunnerPolicy = field(default_factory=RunnerPolicy)
    queues: QueueSettings = field(default_factory=QueueSettings)
    keys: KeyProviderSettings = field(default_factory=KeyProviderSettings)
    max_chain_depth: int = 10  # how many event-started runs a chain may hold (FERRIS_MAX_CHAIN_DEPTH)
    events_retention_days: float = 7.0  # routed events are kept this long (FERRIS_EVENTS_RETENTION_DAYS)
    audit_retention_days: float = 90.0  # the audit of secret writes is kept this long (FERRIS_AUDIT_RETENTION_DAYS)
    # Finished runs are kept this long; 0: for ever (FERRIS_HISTORY_RETENTION_DAYS).
    history_retention_days: float = 90.0
    # Step output a namespace's finished runs keep; 0: no quota (FERRIS_HISTORY_OUTPUT_BYTES_PER_NAMESPACE).
    history_output_bytes: int = 1 << 30
    max_events_per_run: int = 100  # events one run may send (FERRIS_MAX_EVENTS_PER_RUN)
    run_budget_per_minute: int = 300  # runs events and retries make, per namespace (FERRIS_RUN_BUDGET_PER_MINUTE)
    intervals: Intervals = field(default_factory=Intervals)
    kopf: KopfTuning = field(default_factory=KopfTuning)
    log_level: str = "INFO"

    @property
    def listen_url(self) -> str:
        return self.database_listen_url or self.database_url

    @property
    def read_url(self) -> str:
        return self.database_read_url or self.database_url

    @property
    def database_url_redacted(self) -> str:
        return redact_url(self.database_url)

    @classmethod
    def from_env(
        cls,
        env: dict[str, str] | None = None,
        program: str = "ferris-operator",
        required: tuple[str, ...] = ("FERRIS_DATABASE_URL",),
    ) -> Settings:
        env = dict(os.environ if env is None else env)
        missing = [name for name in required if not env.get(name)]
        if missing:
            raise SystemExit(f"{program}: set {', '.join(missing)} (see docs/architecture.md#settings)")
        defaults = cls(database_url="", master_key_dir=Path("."))
        watch = env.get("FERRIS_WATCH_NAMESPACES", "")
        return cls(
            database_url=env["FERRIS_DATABASE_URL"],
            master_key_dir=_path(env.get("FERRIS_MASTER_KEY_DIR", "")),
            database_listen_url=env.get("FERRIS_DATABASE_LISTEN_URL", ""),
            database_read_url=env.get("FERRIS_DATABASE_READ_URL", ""),
            namespace=env.get("FERRIS_NAMESPACE", defaults.namespace),
            sealing_secret=env.get("FERRIS_SEALING_SECRET", defaults.sealing_secret),
            sealing_configmap=env.get("FERRIS_SEALING_CONFIGMAP", defaults.sealing_configmap),
            runner_image=env.get("FERRIS_RUNNER_IMAGE", defaults.runner_image),
            runner_api_bind=env.get("FERRIS_RUNNER_API_BIND", defaults.runner_api_bind),
            runner_api_port=int(env.get("FERRIS_RUNNER_API_PORT", defaults.runner_api_port)),
            runner_api_url=env.get("FERRIS_RUNNER_API_URL", defaults.runner_api_url),
            runner_api_tls_dir=_path(env.get("FERRIS_RUNNER_API_TLS_DIR", "")),
            runner_api_ca_file=_path(env.get("FERRIS_RUNNER_API_CA_FILE", "")),
            health_bind=env.get("FERRIS_HEALTH_BIND", defaults.health_bind),
            health_port=int(env.get("FERRIS_HEALTH_PORT", defaults.health_port)),
            server_bind=env.get("FERRIS_SERVER_BIND", defaults.server_bind),
            server_port=int(env.get("FERRIS_SERVER_PORT", defaults.server_port)),
            server_tls_dir=_path(env.get("FERRIS_SERVER_TLS_DIR", "")),
            server_public_url=env.get("FERRIS_SERVER_PUBLIC_URL", defaults.server_public_url),
            server_trusted_proxies=_list(env.get("FERRIS_SERVER_TRUSTED_PROXIES", "")),
            runner_egress=_runner_egress(env.get("FERRIS_RUNNER_EGRESS_POLICY", "")),
            secrets_upload=env.get("FERRIS_SECRETS_UPLOAD", "true") != "false",
            watch_namespaces=_list(watch),
            db_pool_max=int(env.get("FERRIS_DB_POOL_MAX", defaults.db_pool_max)),
            standalone=env.get("FERRIS_PEERING", "") != "true",
            peering_name=env.get("FERRIS_PEERING_NAME", defaults.peering_name),
            runner_policy=RunnerPolicy(
                allowed_images=_list(env.get("FERRIS_RUNNER_ALLOWED_IMAGES", "")),
                allow_scheduling=env.get("FERRIS_RUNNER_ALLOW_SCHEDULING", "") == "true",
                allow_service_account=env.get("FERRIS_RUNNER_ALLOW_SERVICE_ACCOUNT", "") == "true",
                forbidden_env=_list(env["FERRIS_RUNNER_FORBIDDEN_ENV"])
                if "FERRIS_RUNNER_FORBIDDEN_ENV" in env
                else DEFAULT_FORBIDDEN_ENV,
            ),
            queues=QueueSettings(
                enabled=env.get("FERRIS_KUEUE_ENABLED", "") == "true",
                default_queue=env.get("FERRIS_QUEUE_DEFAULT", defaults.queues.default_queue),
                max_override_priority=_priority(
                    env.get("FERRIS_QUEUE_MAX_OVERRIDE_PRIORITY", str(defaults.queues.max_override_priority))
                ),
            ),
            keys=KeyProviderSettings.from_env(env, program),
            max_chain_depth=int(env.get("FERRIS_MAX_CHAIN_DEPTH", defaults.max_chain_depth)),
            events_retention_days=float(env.get("FERRIS_EVENTS_RETENTION_DAYS", defaults.events_retention_days)),
            audit_retention_days=float(env.get("FERRIS_AUDIT_RETENTION_DAYS", defaults.audit_retention_days)),
            history_retention_days=float(env.get("FERRIS_HISTORY_RETENTION_DAYS", defaults.history_retention_days)),
            history_output_bytes=int(
                env.get("FERRIS_HISTORY_OUTPUT_BYTES_PER_NAMESPACE", defaults.history_output_bytes)
            ),
            max_events_per_run=int(env.get("FERRIS_MAX_EVENTS_PER_RUN", defaults.max_events_per_run)),
            run_budget_per_minute=int(env.get("FERRIS_RUN_BUDGET_PER_MINUTE", defaults.run_budget_per_minute)),
            intervals=Intervals(
                source_resync=float(env.get("FERRIS_SOURCE_RESYNC_SECONDS", defaults.intervals.source_resync))
            ),
            log_level=env.get("FERRIS_LOG_LEVEL", defaults.log_level).upper(),
        )


def _priority(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not MOST_URGENT <= value <= LEAST_URGENT:
        raise SystemExit(
            f"FERRIS_QUEUE_MAX_OVERRIDE_PRIORITY must be a priority from {MOST_URGENT} (the most urgent a run may"
            f" ask for) to {LEAST_URGENT}, not {text!r} (chart: queue.maxOverridePriority)"
        )
    return value


def _path(text: str) -> Path | None:
    return Path(text) if text else None


def _runner_egress(text: str) -> RunnerEgress | None:
    """The runner egress policy's parameters, checked; None when not asked for."""
    if not text.strip():
        return None
    try:
        found = json.loads(text)
        labels, port = found["serverLabels"], found["port"]
        if not isinstance(labels, dict) or not labels or not isinstance(port, int):
            raise ValueError
        return RunnerEgress({str(k): str(v) for k, v in labels.items()}, port)
    except (ValueError, KeyError, TypeError):
        raise SystemExit(
            'FERRIS_RUNNER_EGRESS_POLICY must be {"serverLabels": {...}, "port": N} (the chart writes it)'
        ) from None


def _list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())
