"""Installing as users do: helm lint/template, helm install/upgrade/uninstall, plain manifests,
RBAC, and the schema of the values. The operator runs as a pod in a real container (its image
built from this checkout) under the chart's ServiceAccount, against a real PostgreSQL."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from ferris_devcluster import manifests
from ferris_devcluster.cluster import LocalCluster
from ferris_devcluster.helm_values import LocalPorts, write_local_values
from ferris_devcluster.pki import serving_certificate
from ferris_devcluster.postgres import LocalPostgres
from ferris_operator.builders.runner_egress import runner_egress_policy
from ferris_operator.queues.lanes import LANES
from ferris_operator.settings import Settings
from ferris_operator.triggers.signatures import sign

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "ferris"
EXAMPLE = REPO / "examples" / "secrets-demo"
NS = "ferris-system"
OPERATOR = "app.kubernetes.io/component=operator"
SERVER = "app.kubernetes.io/component=server"
# The chart's tests share one install, so one worker runs them all (the container-mode tests
# are a group of their own; image builds into the shared store take turns).
pytestmark = [pytest.mark.cluster, pytest.mark.xdist_group("chart")]


class Install:
    def __init__(self, cluster: LocalCluster, postgres: LocalPostgres) -> None:
        self.cluster = cluster
        self.postgres = postgres
        self.ports = LocalPorts()
        self.api_port = self.ports.runner_api
        self.health_port = self.ports.health
        self.server_port = self.ports.server
        self.server_health_port = self.ports.server_health
        self.values_file = write_local_values(cluster.directory / "values-local.yaml", self.ports)

    def run(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            list(args),
            input=input,
            capture_output=True,
            text=True,
            timeout=180,
            env={
                "PATH": "/usr/bin:/bin",
                "KUBECONFIG": str(self.cluster.kubeconfig),
                "HOME": str(self.cluster.directory),
            },
        )
        if check and result.returncode != 0:  # what the tool said, not only that it failed
            raise AssertionError(f"{Path(args[0]).name} {' '.join(args[1:4])} ... failed: {result.stderr[-2000:]}")
        return result

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(self.cluster.bins["kubectl"], *args, input=input, check=check)

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(self.cluster.bins["helm"], *args, check=check)

    def local_values(self) -> list[str]:
        """What `ferris-devcluster up` writes for the local cluster (pods share the host network:
        the runner API and the server on loopback), and this test's PostgreSQL."""
        return ["-f", str(self.values_file), "--set", f"database.url={self.postgres.url}"]

    def json(self, *args: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.kubectl(*args, "-o", "json").stdout)
        return result

    def wait_operator_ready(self, timeout: float = 180) -> None:
        """The operator pod ready, and the server pod (runners report to it)."""
        self._wait_operator(timeout)
        wait_for(
            lambda: (
                self.run("curl", "-sf", f"http://127.0.0.1:{self.server_health_port}/readyz", check=False).returncode
                == 0
            ),
            "the server pod ready",
            timeout,
        )

    def _wait_operator(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            pods = self.json("get", "pods", "-n", NS, "-l", "app.kubernetes.io/component=operator")["items"]
            running = [
                p
                for p in pods
                if (p.get("status") or {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
            ]
            if (
                running
                and self.run("curl", "-sf", f"http://127.0.0.1:{self.health_port}/readyz", check=False).returncode == 0
            ):
                return
            if time.monotonic() > deadline:
                why = self.run("curl", "-s", f"http://127.0.0.1:{self.health_port}/readyz", check=False).stdout
                logs = "\n".join(
                    f"{log.parent.name}: {log.read_text()[-3000:]}"
                    for pod in pods
                    for log in (self.cluster.node_dir / "logs" / NS / pod["metadata"]["name"]).glob("*.log")
                )
                states = [(p["metadata"]["name"], p["metadata"].get("deletionTimestamp"), p["status"]) for p in pods]
                raise AssertionError(f"operator pod not ready ({why!r}): {json.dumps(states)}\n{logs}")
            time.sleep(0.5)

    def package(self, name: str, script_name: str, content: str, namespace: str = "ferris-demo") -> None:
        """A one-script package, waited for until Ready."""
        manifest = {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisPackage",
            "metadata": {"name": name},
            "spec": {"scripts": [{"name": script_name, "content": content}]},
        }
        self.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
        self.kubectl("wait", "-n", namespace, f"ferrispackage/{name}", "--for=condition=Ready", "--timeout=60s")

    def create_run(self, package: str, name: str, namespace: str = "ferris-demo") -> None:
        run = {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisRun",
            "metadata": {"name": name},
            "spec": {"packageRef": {"name": package}},
        }
        self.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(run))

    def run_example(self, package: str, namespace: str = "ferris-demo") -> str:
        name = f"{package}-{int(time.time() * 1000) % 10**8}"
        self.create_run(package, name, namespace)
        waited = self.kubectl(
            "wait", "-n", namespace, f"ferrisrun/{name}", "--for=condition=Succeeded", "--timeout=120s", check=False
        )
        if waited.returncode != 0:  # say why: the run's status and the operator's last words
            status = self.json("get", "ferrisrun", name, "-n", namespace).get("status")
            log = self.kubectl("logs", "-n", NS, "deployment/ferris", "--tail=40", check=False)
            raise AssertionError(f"run {name} did not succeed: {json.dumps(status)}\n{log.stdout}{log.stderr}")
        return name

    def output(self, run: str, namespace: str = "ferris-demo") -> str:
        return str(self.json("get", "ferrisrun", run, "-n", namespace)["status"]["steps"][0]["outputTail"])


@pytest.fixture(scope="module")
def install() -> Iterator[Install]:
    # Real containers: the operator and the server from the image built from this checkout,
    # under the chart's security context, as a cluster runs them.
    with LocalPostgres() as postgres, LocalCluster(audit=True, runtime="containers") as cluster:
        yield Install(cluster, postgres)


def render(install: Install, *values: str, release: str = "ferris", namespace: str = NS) -> str:
    return install.helm(
        "template", release, str(CHART), "-n", namespace, "--set", "database.url=postgresql://u@h/db", *values
    ).stdout


def render_refused(install: Install, *values: str) -> subprocess.CompletedProcess[str]:
    """``render`` with values the chart should refuse: the result, refusal and all."""
    return install.helm(
        "template", "ferris", str(CHART), "-n", NS, "--set", "database.url=postgresql://u@h/db", *values, check=False
    )


SWITCHES = {
    "defaults": [],
    "namespaced": ["--set", "watchNamespaces={team-a,team-b}"],
    "network-policy": ["--set", "networkPolicy.enabled=true", "--set", "watchNamespaces={team-a}"],
    "service-monitor": ["--set", "serviceMonitor.enabled=true"],
    "two-replicas": ["--set", "replicaCount=2"],
    "existing-secrets": [
        "--set",
        "masterKey.existingSecret=mk",
        "--set",
        "database.existingSecret=db",
        "--set",
        "database.url=",
    ],
    "database-listen-and-read-urls": [
        "--set",
        "database.existingSecret=db",
        "--set",
        "database.url=",
        "--set",
        "database.listenUrlKey=listen",
        "--set",
        "database.readUrlKey=read",
    ],
    "no-aggregation": ["--set", "rbac.aggregateToDefaultRoles=false"],
    "server-ingress": ["--set", "server.ingress.enabled=true", "--set", "server.ingress.host=ferris.example.com"],
    "no-uploads": ["--set", "server.secretsUpload=false"],
    "kms-v2-sidecar": [
        "--set",
        "keyProvider.type=kms-v2",
        "--set",
        "keyProvider.kmsV2.sidecar.image=registry.example/kms-plugin:1",
        "--set",
        "keyProvider.keepMasterKeyRing=false",
    ],
    "kms-v2-on-the-node": ["--set", "keyProvider.type=kms-v2", "--set", "keyProvider.kmsV2.hostPath=/var/run/kms"],
    "transit": [
        "--set",
        "keyProvider.type=transit",
        "--set",
        "keyProvider.transit.address=https://bao.example:8200",
        "--set",
        "keyProvider.transit.role=ferris",
        "--set",
        "keyProvider.transit.caSecret=bao-ca",
    ],
}


def test_the_listen_and_read_urls_come_from_the_database_secret_only(install: Install) -> None:
    """The operator LISTENs, and the server reads history, through URLs of their own from keys of
    the database Secret; named without that Secret, the chart refuses and says what to set."""
    switches = SWITCHES["database-listen-and-read-urls"]
    docs = [d for d in yaml.safe_load_all(render(install, *switches)) if d and d["kind"] == "Deployment"]
    env = {
        d["metadata"]["name"]: {e["name"]: e for e in d["spec"]["template"]["spec"]["containers"][0]["env"]}
        for d in docs
    }
    assert env["ferris"]["FERRIS_DATABASE_LISTEN_URL"]["valueFrom"]["secretKeyRef"] == {"name": "db", "key": "listen"}
    assert env["ferris-server"]["FERRIS_DATABASE_READ_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "db",
        "key": "read",
    }
    assert "FERRIS_DATABASE_READ_URL" not in env["ferris"] and "FERRIS_DATABASE_LISTEN_URL" not in env["ferris-server"]
    refused = render_refused(install, "--set", "database.listenUrlKey=l")
    assert refused.returncode != 0 and "database.listenUrlKey names a key of database.existingSecret" in refused.stderr


def test_helm_lint_is_clean(install: Install) -> None:
    result = install.helm("lint", "--strict", str(CHART), "--set", "database.url=postgresql://u@h/db")
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_rendered_chart_is_accepted_by_the_api_server(install: Install, switch: str) -> None:
    install.kubectl("apply", "--server-side", "-f", str(CHART / "crds"))
    if switch == "service-monitor":  # the Prometheus Operator's CRD, reduced to what the dry run needs
        install.kubectl("apply", "-f", "-", input=json.dumps(SERVICE_MONITOR_CRD))
        install.kubectl("wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com")
    for namespace in ("render-check", "team-a", "team-b"):
        install.kubectl("create", "namespace", namespace, check=False)
    # Its own release name and namespace: a live install of an earlier test is not touched.
    rendered = render(install, *SWITCHES[switch], release="render-check", namespace="render-check")
    result = install.kubectl("apply", "--dry-run=server", "-f", "-", input=rendered, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["--set", "replicaCount=0"], "at '/replicaCount': minimum: got 0, want 1"),
        (["--set", "database.url=mysql://x"], "at '/database/url': 'mysql://x' does not match pattern"),
        (["--set", "logLevel=LOUD"], "at '/logLevel': value must be one of 'DEBUG', 'INFO', 'WARNING', 'ERROR'"),
        (["--set", "image.pullPolicy=Sometimes"], "at '/image/pullPolicy': value must be one of"),
        (["--set", "colour=blue"], "additional properties 'colour' not allowed"),
        (["--set", "watchNamespaces={Bad_NS}"], "at '/watchNamespaces/0': 'Bad_NS' does not match pattern"),
        (["--set", "keyProvider.type=hsm"], "at '/keyProvider/type': value must be one of 'secret-ring', 'kms-v2'"),
        (["--set", "keyProvider.type=kms-v2"], "kms-v2 needs keyProvider.kmsV2.hostPath (the plugin on the node)"),
        (
            ["--set", "keyProvider.type=transit", "--set", "keyProvider.transit.address=https://bao:8200"],
            "transit needs keyProvider.transit.role (Kubernetes auth) or keyProvider.transit.tokenSecret",
        ),
    ],
)
def test_invalid_values_are_rejected_by_the_schema(install: Install, values: list[str], message: str) -> None:
    result = install.helm(
        "template", "ferris", str(CHART), "--set", "database.url=postgresql://u@h/db", *values, check=False
    )
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_a_kms_keeps_the_master_key_out_of_both_pods_once_migrated(install: Install) -> None:
    docs = [d for d in yaml.safe_load_all(render(install, *SWITCHES["kms-v2-sidecar"])) if d]
    assert not [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"].endswith("master-key")]
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert len(deployments) == 2
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        main, sidecar = pod["containers"]
        env = {e["name"]: e.get("value") for e in main["env"]}
        assert env["FERRIS_KEY_PROVIDER"] == "kms-v2" and env["FERRIS_KMS_SOCKET"] == "/var/run/kms-plugin/kms.sock"
        assert "FERRIS_MASTER_KEY_DIR" not in env
        assert {v["name"] for v in pod["volumes"]} >= {"kms-plugin"} and "master-key" not in str(pod["volumes"])
        assert sidecar["image"] == "registry.example/kms-plugin:1"
        assert sidecar["volumeMounts"] == [{"name": "kms-plugin", "mountPath": "/var/run/kms-plugin"}]


def test_transit_logs_in_with_a_token_projected_for_the_engine_never_the_pods_api_token(install: Install) -> None:
    """The operator's API token can read every Secret (cluster-wide): it must not be what the
    engine receives. Both pods log in with a token projected for the engine's audience."""
    docs = [d for d in yaml.safe_load_all(render(install, *SWITCHES["transit"])) if d]
    for name in ("ferris", "ferris-server"):
        [deployment] = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name]
        pod = deployment["spec"]["template"]["spec"]
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        assert env["FERRIS_TRANSIT_JWT_FILE"] == "/var/run/secrets/ferris/transit/token", name
        [volume] = [v for v in pod["volumes"] if v["name"] == "transit-jwt"]
        [source] = volume["projected"]["sources"]
        assert source["serviceAccountToken"] == {"audience": "vault", "expirationSeconds": 3600, "path": "token"}
    assert "system:auth-delegator" not in render(install, *SWITCHES["transit"])  # the engine reviews as itself
    granted = render(install, *SWITCHES["transit"], "--set", "keyProvider.transit.grantTokenReview=true")
    [binding] = [
        d
        for d in yaml.safe_load_all(granted)
        if d and d["kind"] == "ClusterRoleBinding" and d["roleRef"]["name"] == "system:auth-delegator"
    ]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "ferris", "namespace": NS}]


def test_cluster_wide_the_operator_makes_the_runner_egress_policy_the_chart_renders_for_a_watched_namespace(
    install: Install,
) -> None:
    """One policy, two authors: the chart for each of its watchNamespaces, the operator for each
    namespace's first run cluster-wide (told by FERRIS_RUNNER_EGRESS_POLICY); they must agree."""
    watched = [d for d in yaml.safe_load_all(render(install, "--set", "watchNamespaces={team-x}")) if d]
    [charted] = [d for d in watched if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "ferris-runners"]
    cluster_wide = [d for d in yaml.safe_load_all(render(install)) if d]
    [operator] = [d for d in cluster_wide if d["kind"] == "Deployment" and d["metadata"]["name"] == "ferris"]
    env = {e["name"]: e["value"] for e in operator["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e}
    settings = Settings.from_env({**env, "FERRIS_DATABASE_URL": "postgresql://u@h/db", "FERRIS_NAMESPACE": NS})
    assert settings.runner_egress is not None
    made = runner_egress_policy("team-x", NS, settings.runner_egress.server_labels, settings.runner_egress.port)
    assert made["spec"] == charted["spec"]
    rules = [r for d in cluster_wide if d["kind"] == "ClusterRole" for r in d["rules"]]
    assert {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["create"]} in rules
    assert "FERRIS_RUNNER_EGRESS_POLICY" not in json.dumps(watched)  # the chart made them: nothing to make
    off = render(install, "--set", "networkPolicy.enabled=false")
    assert "FERRIS_RUNNER_EGRESS_POLICY" not in off and "networkpolicies" not in off


def test_the_key_providers_cache_and_timeout_reach_both_pods_as_their_settings(install: Install) -> None:
    values = ("--set", "keyProvider.dataKeyCacheSeconds=42", "--set", "keyProvider.timeoutSeconds=7")
    docs = [d for d in yaml.safe_load_all(render(install, *SWITCHES["transit"], *values)) if d]
    for name in ("ferris", "ferris-server"):
        [deployment] = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name]
        env = {
            e["name"]: e["value"]
            for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            if "value" in e
        }
        keys = Settings.from_env({**env, "FERRIS_DATABASE_URL": "postgresql://u@h/db"}).keys
        assert (keys.cache_seconds, keys.timeout) == (42.0, 7.0), name


def test_kueue_turned_on_ships_the_lanes_and_reaches_the_operator_as_its_settings(install: Install) -> None:
    assert "WorkloadPriorityClass" not in render(install)
    values = (
        "--set",
        "kueue.enabled=true",
        "--set",
        "queue.defaultQueue=batch",
        "--set",
        "queue.maxOverridePriority=3",
    )
    docs = [d for d in yaml.safe_load_all(render(install, *values)) if d]
    lanes = {d["metadata"]["name"]: d["value"] for d in docs if d["kind"] == "WorkloadPriorityClass"}
    assert lanes == {lane.name: lane.value for lane in LANES}
    [deployment] = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "ferris"]
    env = {
        e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e
    }
    queues = Settings.from_env({**env, "FERRIS_DATABASE_URL": "postgresql://u@h/db"}).queues
    assert (queues.enabled, queues.default_queue, queues.max_override_priority) == (True, "batch", 3)
    refused = render_refused(install, "--set", "queue.maxOverridePriority=0")
    assert refused.returncode != 0 and "maxOverridePriority" in refused.stderr


def test_two_replicas_get_a_peering_object_in_each_watched_namespace_or_one_for_the_cluster(install: Install) -> None:
    def peerings(*values: str) -> tuple[set[tuple[str, str, str]], dict[str, str]]:
        docs = [d for d in yaml.safe_load_all(render(install, "--set", "replicaCount=2", *values)) if d]
        found = {
            (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"])
            for d in docs
            if d["kind"] in ("KopfPeering", "ClusterKopfPeering")
        }
        [operator] = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "ferris"]
        env = {e["name"]: e.get("value", "") for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]}
        return found, env

    found, env = peerings("--set", "watchNamespaces={team-a,team-b}")
    assert found == {("KopfPeering", "team-a", "ferris"), ("KopfPeering", "team-b", "ferris")}
    assert env["FERRIS_PEERING_NAME"] == "ferris"
    found, env = peerings()
    assert found == {("ClusterKopfPeering", "", "ferris")} and env["FERRIS_PEERING_NAME"] == "ferris"


def test_missing_database_settings_name_every_way_to_fix_it(install: Install) -> None:
    result = install.helm("template", "ferris", str(CHART), check=False)
    assert (
        "set database.existingSecret (a Secret with the PostgreSQL URL), database.url, "
        "or postgresql.enabled=true (an evaluation database, not for production)"
    ) in result.stderr


def test_the_server_serves_the_runner_api_over_tls_and_the_operator_holds_only_its_ca(install: Install) -> None:
    documents = [d for d in yaml.safe_load_all(render(install)) if d]
    by = {(d["kind"], d["metadata"]["name"]): d for d in documents}
    secret = by[("Secret", "ferris-runner-api-tls")]
    cert = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    ca = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["ca.crt"]))
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert f"ferris-runner-api.{NS}.svc" in names and f"ferris-runner-api.{NS}.svc.cluster.local" in names
    service = by[("Service", "ferris-runner-api")]["spec"]
    assert service["selector"]["app.kubernetes.io/component"] == "server"
    assert service["ports"] == [{"name": "runner-api", "port": 8443, "targetPort": "runner-api"}]
    assert [p["name"] for p in by[("Service", "ferris")]["spec"]["ports"]] == ["http-metrics"]

    def pod(name: str) -> dict[str, Any]:
        spec: dict[str, Any] = by[("Deployment", name)]["spec"]["template"]["spec"]
        return spec

    operator = pod("ferris")
    env = {e["name"]: e.get("value") for e in operator["containers"][0]["env"]}
    assert env["FERRIS_RUNNER_API_URL"] == f"https://ferris-runner-api.{NS}.svc:8443"
    assert env["FERRIS_RUNNER_API_CA_FILE"] == "/etc/ferris/runner-api-ca/ca.crt"
    assert "FERRIS_RUNNER_API_TLS_DIR" not in env and "runner-api" not in str(operator["containers"][0]["ports"])
    [ca_volume] = [v for v in operator["volumes"] if v["name"] == "runner-api-ca"]
    assert ca_volume["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}], "the operator gets the CA only"
    server = pod("ferris-server")
    env = {e["name"]: e.get("value") for e in server["containers"][0]["env"]}
    assert env["FERRIS_RUNNER_API_TLS_DIR"] == "/etc/ferris/runner-api-tls" and env["FERRIS_RUNNER_API_PORT"] == "8443"
    assert {"name": "runner-api", "containerPort": 8443} in server["containers"][0]["ports"]


def test_the_server_runs_apart_from_the_operator_with_its_own_certificate_and_disruption_budget(
    install: Install,
) -> None:
    documents = [d for d in yaml.safe_load_all(render(install)) if d]
    by = {(d["kind"], d["metadata"]["name"]): d for d in documents}
    server = by[("Deployment", "ferris-server")]
    assert (
        server["spec"]["replicas"] == 2 and by[("PodDisruptionBudget", "ferris-server")]["spec"]["maxUnavailable"] == 1
    )
    assert server["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "server"
    assert by[("Deployment", "ferris")]["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "operator"
    pod = server["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "ferris-server" and pod["containers"][0]["command"] == ["ferris-server"]
    assert [v for v in pod["volumes"] if "master-key" in json.dumps(v)], "run tokens need the master key"
    no_uploads = [d for d in yaml.safe_load_all(render(install, "--set", "server.secretsUpload=false")) if d]
    server_pod = next(d for d in no_uploads if d["kind"] == "Deployment" and d["metadata"]["name"] == "ferris-server")
    env = {e["name"]: e.get("value") for e in server_pod["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FERRIS_SECRETS_UPLOAD"] == "false"
    role = next(d for d in no_uploads if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "ferris-server")
    assert "ferrispackages/status" not in json.dumps(role)
    secret = by[("Secret", "ferris-server-tls")]
    cert = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert f"ferris-server.{NS}.svc" in names
    one = [d for d in yaml.safe_load_all(render(install, "--set", "server.replicaCount=1")) if d]
    assert not [d for d in one if d["kind"] == "PodDisruptionBudget"]
    failed = render_refused(install, "--set", "server.ingress.enabled=true")
    assert "server.ingress.host is required with server.ingress.enabled" in failed.stderr


def test_the_network_policy_admits_runner_pods_of_the_watched_namespaces_only(install: Install) -> None:
    documents = [d for d in yaml.safe_load_all(render(install, "--set", "watchNamespaces={team-a}")) if d]
    policies = {d["metadata"]["name"]: d for d in documents if d["kind"] == "NetworkPolicy"}
    ingress = policies["ferris-server"]["spec"]["ingress"]
    [runners] = [rule for rule in ingress if rule["ports"] == [{"port": "runner-api"}]]
    assert runners["from"][0]["namespaceSelector"] == {
        "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a"]}]
    }
    assert runners["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "runner"
    assert policies["ferris"]["spec"]["ingress"] == []  # /metrics: no namespace unless one is named
    server_ports = [rule["ports"] for rule in policies["ferris-server"]["spec"]["ingress"]]
    assert [{"port": "http-health"}] not in server_ports
    monitored = render(install, "--set", "networkPolicy.metricsNamespaceSelector.matchLabels.team=monitoring")
    named = {d["metadata"]["name"]: d for d in yaml.safe_load_all(monitored) if d and d["kind"] == "NetworkPolicy"}
    [metrics] = named["ferris"]["spec"]["ingress"]
    assert metrics == {
        "from": [{"namespaceSelector": {"matchLabels": {"team": "monitoring"}}}],
        "ports": [{"port": "http-health"}],
    }
    egress = policies["ferris-runners"]["spec"]["egress"]
    assert [rule["ports"][0]["port"] for rule in egress] == [8443, 53]
    assert egress[0]["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "server"


def test_plain_manifests_are_in_sync_with_the_chart(install: Install) -> None:
    assert (REPO / "deploy" / "ferris.yaml").read_text() == manifests.render(install.cluster.bins["helm"]), (
        "deploy/ferris.yaml is stale: run `make manifests`"
    )
    documents = [d for d in yaml.safe_load_all((REPO / "deploy" / "ferris.yaml").read_text()) if d]
    assert not [d["metadata"]["name"] for d in documents if d["kind"] == "Secret"], "plain manifests ship a Secret"


def remove_operator(install: Install) -> None:
    """No operator of an earlier test left: the helm release, or the plain-manifest install
    (everything but the CRDs and the namespace, so that packages and runs stay)."""
    if install.helm("status", "ferris", "-n", NS, check=False).returncode == 0:
        install.helm("uninstall", "ferris", "-n", NS, "--wait")
    plain = [
        d
        for d in yaml.safe_load_all((REPO / "deploy" / "ferris.yaml").read_text())
        if d and d["kind"] not in ("CustomResourceDefinition", "Namespace")
    ]
    install.kubectl("delete", "--ignore-not-found", "--wait=true", "-f", "-", input=yaml.safe_dump_all(plain))
    # The Secrets the plain path asks its user to create; the master key stays (the database's
    # secrets are wrapped by it).
    secrets = ("ferris-database", "ferris-runner-api-tls", "ferris-server-tls")
    install.kubectl("delete", "secret", "-n", NS, "--ignore-not-found", *secrets)
    for component in (OPERATOR, SERVER):  # a next install binds the same host ports
        wait_for(
            lambda c=component: not install.json("get", "pods", "-n", NS, "-l", c)["items"], f"{component} gone", 120
        )


def wait_for(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.fixture
def operator(install: Install) -> Install:
    """The chart's operator running, with examples/secrets-demo applied and Ready, whatever ran
    before: every test that needs an operator sets it up here, loudly."""
    if install.helm("status", "ferris", "-n", NS, check=False).returncode != 0:
        remove_operator(install)
        kept = install.kubectl("get", "secret", "ferris-master-key", "-n", NS, check=False).returncode == 0
        key = ["--set", "masterKey.existingSecret=ferris-master-key"] if kept else []  # the key the data needs
        install.helm("install", "ferris", str(CHART), "-n", NS, "--create-namespace", *install.local_values(), *key)
    install.wait_operator_ready()
    install.kubectl("apply", "-k", str(EXAMPLE))
    for name in ("secrets-demo", "secrets-demo-unmasked"):
        install.kubectl("wait", "-n", "ferris-demo", f"ferrispackage/{name}", "--for=condition=Ready", "--timeout=60s")
    return install


def test_helm_install_upgrade_uninstall_then_plain_manifests(install: Install) -> None:
    remove_operator(install)
    install.kubectl("create", "namespace", NS, check=False)  # may exist from an earlier test
    install.helm("install", "ferris", str(CHART), "-n", NS, *install.local_values(), "--wait=false")
    install.wait_operator_ready()
    pod = install.json("get", "pods", "-n", NS, "-l", "app.kubernetes.io/component=operator")["items"][0]
    assert pod["spec"]["serviceAccountName"] == "ferris"
    assert pod["spec"]["containers"][0]["image"] == "ghcr.io/ferris-run/ferris-operator:0.1.0"

    install.kubectl("apply", "-k", str(EXAMPLE))
    install.kubectl(
        "wait",
        "-n",
        "ferris-demo",
        "ferrispackage/secrets-demo",
        "ferrispackage/secrets-demo-unmasked",
        "--for=condition=Ready",
        "--timeout=60s",
    )
    assert "DB PASS: ****" in install.output(install.run_example("secrets-demo"))
    key_before = install.json("get", "secret", "ferris-master-key", "-n", NS)["data"]
    tls_before = install.json("get", "secret", "ferris-runner-api-tls", "-n", NS)["data"]

    install.helm("upgrade", "ferris", str(CHART), "-n", NS, *install.local_values(), "--set", "logLevel=DEBUG")

    def log_level() -> str | None:
        container = install.json("get", "deployment", "ferris", "-n", NS)["spec"]["template"]["spec"]["containers"][0]
        return next((e.get("value") for e in container["env"] if e["name"] == "FERRIS_LOG_LEVEL"), None)

    wait_for(lambda: log_level() == "DEBUG", "the upgraded Deployment")
    install.kubectl("rollout", "status", "deployment/ferris", "-n", NS, "--timeout=120s")
    install.wait_operator_ready()
    assert install.json("get", "secret", "ferris-master-key", "-n", NS)["data"] == key_before
    assert install.json("get", "secret", "ferris-runner-api-tls", "-n", NS)["data"] == tls_before  # runners trust it
    assert "DB PASS: supersecretpas$" in install.output(install.run_example("secrets-demo-unmasked"))

    install.helm("uninstall", "ferris", "-n", NS)
    assert install.json("get", "secret", "ferris-master-key", "-n", NS)["data"] == key_before  # kept
    with __import__("psycopg").connect(install.postgres.url) as conn:
        assert conn.execute("SELECT count(*) FROM packages").fetchone()[0] >= 2  # database untouched

    # The same install from deploy/ferris.yaml, with the master key brought back from a saved
    # copy (as on a new cluster, where helm's kept Secret is not there), reads the same secrets.
    install.kubectl("delete", "secret", "ferris-master-key", "-n", NS)
    plain_key = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "ferris-master-key", "namespace": NS},
        "data": key_before,
    }
    install.kubectl("create", "-f", "-", input=json.dumps(plain_key))
    install.kubectl(
        "create", "secret", "generic", "ferris-database", "-n", NS, f"--from-literal=url={install.postgres.url}"
    )
    for secret in ("ferris-runner-api-tls", "ferris-server-tls"):
        tls = serving_certificate(Path(install.cluster.directory) / secret, ("127.0.0.1",))
        install.kubectl(
            "create",
            "secret",
            "generic",
            secret,
            "-n",
            NS,
            *(f"--from-file={tls / name}" for name in ("ca.crt", "tls.crt", "tls.key")),
        )
    install.kubectl("apply", "--server-side", "-f", str(REPO / "deploy" / "ferris.yaml"))
    # Pods share the host network here: one server, and ports of this test's own.
    install.kubectl("scale", "deployment/ferris-server", "-n", NS, "--replicas=1")
    install.kubectl(
        "set",
        "env",
        "deployment/ferris-server",
        "-n",
        NS,
        f"FERRIS_RUNNER_API_PORT={install.api_port}",
        f"FERRIS_SERVER_PORT={install.server_port}",
        f"FERRIS_HEALTH_PORT={install.server_health_port}",
    )
    install.kubectl(
        "set",
        "env",
        "deployment/ferris",
        "-n",
        NS,
        f"FERRIS_HEALTH_PORT={install.health_port}",
        f"FERRIS_RUNNER_API_URL=https://127.0.0.1:{install.api_port}",
    )
    install.wait_operator_ready()
    assert "DB PASS: supersecretpas$" in install.output(install.run_example("secrets-demo-unmasked"))
    remove_operator(install)  # later tests install their own


def test_a_user_who_may_only_create_runs_reads_no_secret(operator: Install) -> None:
    install, ns = operator, "ferris-demo"
    user = "runs-only-" + str(int(time.time() * 1000) % 10**6)
    install.kubectl("create", "serviceaccount", user, "-n", ns)
    install.kubectl("create", "role", user, "-n", ns, "--verb=create", "--resource=ferrisruns.ferris.io")
    install.kubectl("create", "rolebinding", user, "-n", ns, f"--role={user}", f"--serviceaccount={ns}:{user}")
    as_user = ["--as", f"system:serviceaccount:{ns}:{user}"]
    for verb, resource in (
        ("get", "secrets"),
        ("list", "secrets"),
        ("get", "ferrispackages.ferris.io"),
        ("get", "ferrisruns.ferris.io"),
        ("get", "configmaps"),
        ("create", "pods"),
        ("get", "pods/log"),
    ):
        assert install.kubectl("auth", "can-i", verb, resource, "-n", ns, *as_user, check=False).stdout.strip() == "no"
    # What the user would actually try, against a live run of the unmasked package.
    unmasked = f"unmasked-{int(time.time() * 1000) % 10**8}"
    install.create_run("secrets-demo-unmasked", unmasked)
    install.kubectl("wait", "-n", ns, f"ferrisrun/{unmasked}", "--for=condition=Succeeded", "--timeout=120s")
    pod = install.json("get", "pods", "-n", ns, "-l", f"ferris.io/run={unmasked}")["items"][0]["metadata"]["name"]
    for attempt in (
        ["get", "secret", f"{unmasked}-key"],
        ["get", "configmap", f"{unmasked}-bundle"],
        ["get", "ferrisrun", unmasked, "-o", "json"],
        ["logs", pod],
        ["get", "secrets"],
    ):
        result = install.kubectl(*attempt, "-n", ns, *as_user, check=False)
        assert result.returncode != 0 and "Forbidden" in result.stderr, (attempt, result.stdout, result.stderr)
        assert "supersecretpas$" not in result.stdout + result.stderr
    run = {
        "apiVersion": "ferris.io/v1alpha1",
        "kind": "FerrisRun",
        "metadata": {"name": f"by-{user}"},
        "spec": {"packageRef": {"name": "secrets-demo"}},
    }
    created = install.kubectl("create", "-n", ns, *as_user, "-f", "-", input=json.dumps(run))
    assert "created" in created.stdout
    install.kubectl("wait", "-n", ns, f"ferrisrun/by-{user}", "--for=condition=Succeeded", "--timeout=120s")
    assert "supersecretpas$" not in json.dumps(install.json("get", "ferrisrun", f"by-{user}", "-n", ns))


def test_the_runner_pod_can_do_nothing_against_the_api(operator: Install) -> None:
    install = operator
    script = (
        "import os, ssl, urllib.request, urllib.error\n"
        "print('token file', os.path.exists('/var/run/secrets/kubernetes.io/serviceaccount/token'))\n"
        "url = 'https://%s:%s/api/v1/namespaces/ferris-demo/secrets' % (os.environ['KUBERNETES_SERVICE_HOST'],"
        " os.environ['KUBERNETES_SERVICE_PORT'])\n"
        "try:\n"
        "    urllib.request.urlopen(url, context=ssl._create_unverified_context())\n"
        "    print('API ALLOWED')\n"
        "except urllib.error.HTTPError as e:\n"
        "    print('API status', e.code)\n"
    )
    install.package("probe", "probe.py", script)
    output = install.output(install.run_example("probe"))
    assert "token file False" in output and "API status 403" in output and "API ALLOWED" not in output


def test_long_and_cancelled_runs_under_the_chart_rbac(operator: Install) -> None:
    """A run that outlives the periodic resync, and one that is cancelled (its Job deleted)."""
    long_and_cancelled_runs(operator)


def long_and_cancelled_runs(install: Install) -> None:
    suffix = str(int(time.time() * 1000) % 10**6)
    install.package("slow", "slow.py", "import time\ntime.sleep(12)\nprint('done')")
    finishes, cancelled = f"slow-finishes-{suffix}", f"slow-cancelled-{suffix}"
    for name in (finishes, cancelled):
        install.create_run("slow", name)
    install.kubectl(
        "wait",
        "-n",
        "ferris-demo",
        f"ferrisrun/{cancelled}",
        "--for=jsonpath={.status.phase}=Running",
        "--timeout=60s",
    )
    install.kubectl(
        "patch", "-n", "ferris-demo", f"ferrisrun/{cancelled}", "--type=merge", "-p", '{"spec": {"cancel": true}}'
    )
    install.kubectl(
        "wait",
        "-n",
        "ferris-demo",
        f"ferrisrun/{cancelled}",
        "--for=jsonpath={.status.phase}=Cancelled",
        "--timeout=60s",
    )
    install.kubectl("wait", "-n", "ferris-demo", f"ferrisrun/{finishes}", "--for=condition=Succeeded", "--timeout=120s")


def history_limit_deletes_a_run(install: Install) -> None:
    """A package that keeps one finished run: the older of two is deleted by the operator."""
    manifest = {
        "apiVersion": "ferris.io/v1alpha1",
        "kind": "FerrisPackage",
        "metadata": {"name": "keeps-one"},
        "spec": {"scripts": [{"name": "a.py", "content": "print(1)"}], "successfulRunsHistoryLimit": 1},
    }
    install.kubectl("apply", "-n", "ferris-demo", "-f", "-", input=json.dumps(manifest))
    install.kubectl("wait", "-n", "ferris-demo", "ferrispackage/keeps-one", "--for=condition=Ready", "--timeout=60s")
    older = install.run_example("keeps-one")
    install.run_example("keeps-one")
    wait_for(
        lambda: install.kubectl("get", "ferrisrun", older, "-n", "ferris-demo", check=False).returncode != 0,
        "the history limit to delete the older run",
    )


def a_schedule_makes_a_run(install: Install) -> None:
    """A package scheduled every minute: the operator makes its run (create ferrisruns)."""
    manifest = {
        "apiVersion": "ferris.io/v1alpha1",
        "kind": "FerrisPackage",
        "metadata": {"name": "every-minute"},
        "spec": {"scripts": [{"name": "a.py", "content": "print(1)"}], "schedule": {"crons": ["* * * * *"]}},
    }
    install.kubectl("apply", "-n", "ferris-demo", "-f", "-", input=json.dumps(manifest))
    selector = "ferris.io/package=every-minute,ferris.io/trigger=Schedule"
    wait_for(
        lambda: bool(install.json("get", "ferrisruns", "-n", "ferris-demo", "-l", selector)["items"]),
        "a scheduled run",
        90,
    )
    install.kubectl("delete", "ferrispackage", "every-minute", "-n", "ferris-demo")


def an_event_starts_a_run(install: Install) -> str:
    """A webhook signed with an event source's key, matched by a trigger: the operator reads the
    key's Secret, keeps the trigger's status, makes the run; the server reads the event source.
    Then the event source is deleted (its finalizer removed). Answers the run's name."""
    ns, suffix = "ferris-demo", uuid.uuid4().hex[:6]
    key = uuid.uuid4().hex
    install.kubectl(
        "create", "secret", "generic", f"hook-{suffix}", "-n", ns,
        "--type=ferris.io/event-source-key", f"--from-literal=key={key}",
    )  # fmt: skip
    documents = [
        {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisEventSource",
            "metadata": {"name": f"hook-{suffix}"},
            "spec": {"secretRef": {"name": f"hook-{suffix}"}, "eventType": f"com.example.hook-{suffix}"},
        },
        {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisTrigger",
            "metadata": {"name": f"on-hook-{suffix}"},
            "spec": {
                "filter": {"type": f"com.example.hook-{suffix}"},
                "targets": [{"packageRef": {"name": "secrets-demo"}}],
            },
        },
    ]
    install.kubectl("apply", "-n", ns, "-f", "-", input="\n---\n".join(json.dumps(d) for d in documents))

    def ready(kind: str, name: str) -> bool:
        conditions = (install.json("get", kind, name, "-n", ns).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    wait_for(lambda: ready("ferriseventsource", f"hook-{suffix}"), "the event source's key stored", 60)
    wait_for(lambda: ready("ferristrigger", f"on-hook-{suffix}"), "the trigger listening", 60)
    ca = install.json("get", "configmap", "ferris-server", "-n", NS)["data"]
    body = json.dumps({"order": suffix}).encode()
    request = urllib.request.Request(
        f"{ca['url']}/api/v1/namespaces/{ns}/eventsources/hook-{suffix}/events?wait=20",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(key.encode(), body)},
    )
    with urllib.request.urlopen(request, context=ssl.create_default_context(cadata=ca["ca.crt"]), timeout=60) as r:
        answer = json.loads(r.read())
    assert answer["routed"] and len(answer["runs"]) == 1, answer
    install.kubectl("wait", "-n", ns, f"ferrisrun/{answer['runs'][0]}", "--for=condition=Succeeded", "--timeout=120s")
    install.kubectl("delete", "ferriseventsource", f"hook-{suffix}", "-n", ns, "--timeout=60s")
    install.kubectl("delete", "ferristrigger", f"on-hook-{suffix}", "-n", ns)
    return str(answer["runs"][0])


def project_secrets_are_stored(install: Install) -> None:
    """A namespace's project secrets: the operator reads their Secret (then deletes it), writes
    their status, and adds and removes their finalizer."""
    ns = "ferris-demo"
    install.kubectl(
        "create", "secret", "generic", "project-source", "-n", ns,
        "--type=ferris.io/secrets-json", '--from-literal=secrets.json={"SHARED": "shared-value"}',
    )  # fmt: skip
    manifest = {
        "apiVersion": "ferris.io/v1alpha1",
        "kind": "FerrisProjectSecrets",
        "metadata": {"name": "project"},
        "spec": {"secretsFrom": {"secretName": "project-source"}},
    }
    install.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))
    wait_for(
        lambda: (
            (install.json("get", "ferrisprojectsecrets", "project", "-n", ns).get("status") or {})
            .get("secrets", {})
            .get("names")
            == ["SHARED"]
        ),
        "the project's secrets stored",
        60,
    )
    install.kubectl("delete", "ferrisprojectsecrets", "project", "-n", ns, "--timeout=60s")


def scripts_read_and_write_scoped_secrets(install: Install) -> None:
    """Project and platform secrets read by a run (a platform's readers by label: the
    namespace's labels read) and written by its script (the scopes read by name and their
    status patched when the write is announced), then removed with their finalizers."""
    ns = "ferris-demo"
    project = {
        "apiVersion": "ferris.io/v1alpha1",
        "kind": "FerrisProjectSecrets",
        "metadata": {"name": "project"},
        "spec": {"writers": [{"package": "refresher"}]},
    }
    platform = {
        "apiVersion": "ferris.io/v1alpha1",
        "kind": "FerrisPlatformSecrets",
        "metadata": {"name": "chart-shared"},
        "spec": {
            "readers": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}},
            "writers": [{"namespace": ns, "package": "refresher"}],
        },
    }
    install.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(project))
    install.kubectl("apply", "-f", "-", input=json.dumps(platform))
    for args in (("ferrisprojectsecrets", "project", "-n", ns), ("ferrisplatformsecrets", "chart-shared")):
        install.kubectl("wait", *args, "--for=condition=Ready", "--timeout=60s")
    install.package(
        "refresher",
        "main.py",
        "from ferris_ef import context\n"
        "print('project', context.secrets.set('A', 'value-a-1', 'project')[0])\n"
        "print('platform', context.secrets.set('B', 'value-b-1', 'platform')[0])\n",
    )
    output = install.output(install.run_example("refresher"))
    assert "project 200" in output and "platform 200" in output, output
    for args in (("ferrisprojectsecrets", "project", "-n", ns), ("ferrisplatformsecrets", "chart-shared")):
        wait_for(
            lambda args=args: (install.json("get", *args).get("status") or {}).get("secrets", {}).get("version") == 1,
            f"{args[0]} at the version the script wrote",
            60,
        )
    second = install.output(install.run_example("refresher"))  # reads both scopes now
    assert "project 200" in second, second
    install.kubectl("delete", "ferrisprojectsecrets", "project", "-n", ns, "--timeout=60s")
    install.kubectl("delete", "ferrisplatformsecrets", "chart-shared", "--timeout=60s")
    install.kubectl("delete", "ferrispackage", "refresher", "-n", ns, "--timeout=60s")


AUDIT_EXCEPTIONS = {
    ("ferris.io", "ferrisruns", "get"): "a run is read by name only when the watch does not show it, or it waited",
    # (group, resource, verb): why a rule is there although a test run need not exercise it
    ("ferris.io", "ferrispackages", "update"): "kopf may update instead of patch; never in these tests",
    ("ferris.io", "ferrispackages/status", "update"): "as above",
    ("ferris.io", "ferrisruns/status", "update"): "as above",
    ("ferris.io", "ferrispackages/status", "get"): "status reads go through the main resource",
    ("ferris.io", "ferrisruns/status", "get"): "as above",
    ("", "configmaps", "delete"): "replacing a bundle after a restart between key and bundle",
    ("", "events", "patch"): "kopf aggregates repeated events",
    ("events.k8s.io", "events", "create"): "newer clients post events.k8s.io events",
    ("events.k8s.io", "events", "patch"): "as above",
    ("kopf.dev", "clusterkopfpeerings", "get"): "peering, with more than one replica",
    ("kopf.dev", "clusterkopfpeerings", "list"): "as above",
    ("kopf.dev", "clusterkopfpeerings", "watch"): "as above",
    ("kopf.dev", "clusterkopfpeerings", "patch"): "as above",
    ("kopf.dev", "kopfpeerings", "get"): "as above",
    ("kopf.dev", "kopfpeerings", "list"): "as above",
    ("kopf.dev", "kopfpeerings", "watch"): "as above",
    ("kopf.dev", "kopfpeerings", "patch"): "as above",
    ("", "pods", "get"): "pods are read through list and watch",
    ("apiextensions.k8s.io", "customresourcedefinitions", "get"): "kopf lists and watches instead",
    ("", "configmaps", "list"): "bundles, metadata only, when a run waits past its grace period with a Job",
    ("", "configmaps", "patch"): "a run marks a package content object used when its mark is half an hour old",
}


def test_every_rbac_rule_of_the_chart_is_used(operator: Install) -> None:
    """The operator from the chart does what users make it do; the audit log then holds every
    request of its ServiceAccount (with those of earlier tests, if any ran)."""
    install = operator
    assert "DB PASS: ****" in install.output(install.run_example("secrets-demo"))  # keys, bundles, Jobs, Events
    long_and_cancelled_runs(install)  # a run past the resync; a cancelled one (its Job read, then deleted)
    history_limit_deletes_a_run(install)  # FerrisRun deletion
    a_schedule_makes_a_run(install)  # FerrisRun creation
    an_event_starts_a_run(install)  # triggers, event sources, their status and finalizer
    project_secrets_are_stored(install)  # project secrets, their status and finalizer
    scripts_read_and_write_scoped_secrets(install)  # platform secrets; namespaces' labels; scopes read by name
    user = f"system:serviceaccount:{NS}:ferris"
    used: set[tuple[str, str, str]] = set()
    for line in install.cluster.audit_log.read_text().splitlines():
        event = json.loads(line)
        ref = event.get("objectRef") or {}
        if (event.get("user") or {}).get("username") != user or not ref:
            continue
        resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        used.add((ref.get("apiGroup", ""), resource, event["verb"]))
    assert used, "no request of the operator's ServiceAccount was audited"
    granted: set[tuple[str, str, str]] = set()
    roles = [d for d in yaml.safe_load_all(render(install)) if d and d["kind"] in ("Role", "ClusterRole")]
    for role in roles:
        if role["metadata"]["name"].endswith(("-edit", "-view", "-public-reader", "-server")):
            continue  # roles for users and for the server, not for the operator
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        granted.add((group, resource, verb))
    unused = {g for g in granted - used if g not in AUDIT_EXCEPTIONS}
    assert not unused, f"rules never used by the operator: {sorted(unused)}"
    assert not {u for u in used if u not in granted and u[1] not in ("selfsubjectaccessreviews",)}, (
        "the audit shows requests outside the chart's rules"
    )


def audited(install: Install, user: str) -> set[tuple[str, str, str]]:
    used: set[tuple[str, str, str]] = set()
    for line in install.cluster.audit_log.read_text().splitlines():
        event = json.loads(line)
        ref = event.get("objectRef") or {}
        if (event.get("user") or {}).get("username") == user and ref:  # a request that failed authentication has none
            resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            used.add((ref.get("apiGroup", ""), resource, event["verb"]))
    return used


def server_call(install: Install, method: str, path: str, token: str, body: Any = None) -> tuple[int, str]:
    ca = install.json("get", "configmap", "ferris-server", "-n", NS)["data"]
    context = ssl.create_default_context(cadata=ca["ca.crt"])
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(ca["url"] + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")  # as the CLI and the console send it
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def a_script_writes_project_and_platform_secrets(install: Install) -> None:
    """A script's writes into its project and a platform scope, allowed by the writers the
    scopes' objects name (the server reads them: secret_scopes/policies.py). In a namespace of
    its own: ferris-demo's project is another test's."""
    writer, ns = "server-writer", "chart-scopes"
    install.kubectl("create", "namespace", ns, check=False)
    scopes = [
        {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisProjectSecrets",
            "metadata": {"name": "project", "namespace": ns},
            "spec": {"writers": [{"package": writer}]},
        },
        {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisPlatformSecrets",
            "metadata": {"name": "chart-test-platform"},
            "spec": {"writers": [{"namespace": ns, "package": writer}]},
        },
    ]
    for scope in scopes:
        install.kubectl("apply", "-f", "-", input=json.dumps(scope))
    install.kubectl("wait", "-n", ns, "ferrisprojectsecrets/project", "--for=condition=Ready")
    install.kubectl("wait", "ferrisplatformsecrets/chart-test-platform", "--for=condition=Ready")
    script = (
        "from ferris_ef import context\n"
        "print('project', context.secrets.set('T', 'abcdef1', context='project')[0])\n"
        "print('platform', context.secrets.set('T', 'abcdef2', context='platform')[0])\n"
    )
    install.package(writer, "write.py", script, ns)
    run = install.run_example(writer, ns)
    output = install.output(run, ns)
    assert "project 200" in output and "platform 200" in output, output
    install.kubectl("delete", "ferrisplatformsecrets/chart-test-platform", "--wait=false")


def test_the_server_from_the_chart_serves_users_under_its_own_narrow_rbac(operator: Install) -> None:
    """The chart's server pod publishes where it is, takes a user's token, and asks the cluster
    before it reads or creates anything; every rule of its roles is used, none exceeded."""
    install = operator
    wait_for(
        lambda: (
            install.run("curl", "-sf", f"http://127.0.0.1:{install.server_health_port}/readyz", check=False).returncode
            == 0
        ),
        "the server pod ready",
        120,
    )
    wait_for(
        lambda: install.kubectl("get", "configmap", "ferris-server", "-n", NS, check=False).returncode == 0, "publish"
    )
    ns = "ferris-demo"
    for account, role in (("server-viewer", "view"), ("server-editor", "edit")):
        install.kubectl("create", "serviceaccount", account, "-n", ns, check=False)
        install.kubectl(
            "create",
            "rolebinding",
            account,
            f"--clusterrole={role}",
            f"--serviceaccount={ns}:{account}",
            "-n",
            ns,
            check=False,
        )
    viewer = install.kubectl("create", "token", "server-viewer", "-n", ns).stdout.strip()
    editor = install.kubectl("create", "token", "server-editor", "-n", ns).stdout.strip()
    run = install.run_example("secrets-demo")
    assert server_call(install, "GET", f"/api/v1/namespaces/{ns}/runs", viewer)[0] == 200
    status, text = server_call(install, "GET", f"/api/v1/namespaces/{ns}/runs/{run}/steps/0/log", viewer)
    assert status == 200 and "DB PASS: ****" in text
    assert server_call(install, "GET", f"/api/v1/namespaces/{ns}/packages/secrets-demo", viewer)[0] == 200
    assert server_call(install, "POST", f"/api/v1/namespaces/{ns}/runs", viewer, {"package": "secrets-demo"})[0] == 403
    assert server_call(install, "POST", f"/api/v1/namespaces/{ns}/runs", editor, {"package": "secrets-demo"})[0] == 201
    assert server_call(install, "POST", f"/api/v1/namespaces/{ns}/runs/{run}/rerun", editor)[0] == 201
    install.package("server-sleeper", "main.py", "import time\ntime.sleep(120)\n")
    status, text = server_call(install, "POST", f"/api/v1/namespaces/{ns}/runs", editor, {"package": "server-sleeper"})
    assert status == 201, text
    sleeping = json.loads(text)["name"]
    cancel = f"/api/v1/namespaces/{ns}/runs/{sleeping}/cancel"
    assert server_call(install, "POST", cancel, viewer, {})[0] == 403
    assert server_call(install, "POST", cancel, editor, {})[0] == 202  # the server patches spec.cancel
    assert server_call(install, "GET", f"/api/v1/namespaces/{ns}/packages", viewer)[0] == 200
    status, text = server_call(install, "GET", f"/api/v1/namespaces/{ns}/chains", viewer)  # the server lists triggers
    assert status == 200 and "server-sleeper" in {p["name"] for p in json.loads(text)["packages"]}, text
    status, text = server_call(install, "GET", "/api/v1/overview", viewer)  # and packages everywhere
    assert status == 200 and [n["name"] for n in json.loads(text)["namespaces"]] == [ns], text
    install.package("server-upload", "main.py", "print(1)\n")  # no secrets source of its own
    upload = f"/api/v1/namespaces/{ns}/packages/server-upload/secrets"
    assert server_call(install, "PUT", upload, viewer, {"A": "abcdef"})[0] == 403
    status, text = server_call(install, "PUT", upload, editor, {"A": "abcdef"})
    assert status == 200 and json.loads(text)["names"] == ["A"], text
    an_event_starts_a_run(install)  # a signed event: the server reads its event source
    a_script_writes_project_and_platform_secrets(install)  # the server reads both scopes' objects

    used = audited(install, f"system:serviceaccount:{NS}:ferris-server")
    granted = {
        (group, resource, verb)
        for role in yaml.safe_load_all(render(install))
        if role and role["kind"] in ("Role", "ClusterRole") and role["metadata"]["name"] == "ferris-server"
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    granted.add(("", "configmaps", "get"))  # extension-apiserver-authentication, through the cluster's own Role
    assert granted - used <= {("", "configmaps", "update")}, "rules never used by the server (update: a restart)"
    assert used <= granted, f"the server asked for more than its rules: {sorted(used - granted)}"


SERVICE_MONITOR_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "scope": "Namespaced",
        "names": {"kind": "ServiceMonitor", "plural": "servicemonitors", "singular": "servicemonitor"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}


def test_watched_namespaces_get_roles_and_the_cluster_role_keeps_only_cluster_needs(install: Install) -> None:
    documents = [d for d in yaml.safe_load_all(render(install, "--set", "watchNamespaces={team-a,team-b}")) if d]
    roles = {(d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in documents if d["kind"] == "Role"}
    for namespace in ("team-a", "team-b"):
        resources = {r for rule in roles[(namespace, "ferris")]["rules"] for r in rule["resources"]}
        assert {"ferrisruns", "secrets", "configmaps", "jobs", "pods"} <= resources
    cluster = next(d for d in documents if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "ferris-cluster")
    resources = {r for rule in cluster["rules"] for r in rule["resources"]}
    assert resources == {
        "customresourcedefinitions",
        "clusterkopfpeerings",
        "ferrisplatformsecrets",
        "ferrisplatformsecrets/status",
        "namespaces",
    }, resources


@pytest.mark.long
def test_helm_install_with_the_evaluation_postgresql_runs_the_example(install: Install) -> None:
    """The README's path for someone without a database: the chart's evaluation PostgreSQL
    (postgresql.enabled), then examples/secrets-demo, with the values `ferris-devcluster up`
    writes. Its password is generated, kept across an upgrade, and never in a pod spec."""
    remove_operator(install)
    # A master key an earlier install left (kept on uninstall) is used as it is.
    kept = install.kubectl("get", "secret", "ferris-master-key", "-n", NS, check=False).returncode == 0
    key = ["--set", "masterKey.existingSecret=ferris-master-key"] if kept else []
    install.helm(
        "install", "ferris", str(CHART), "-n", NS, "--create-namespace",
        "--set", "postgresql.enabled=true", "-f", str(install.values_file), *key,
    )  # fmt: skip
    secret = install.json("get", "secret", "ferris-postgresql", "-n", NS)
    password = base64.b64decode(secret["data"]["password"]).decode()
    url = base64.b64decode(secret["data"]["url"]).decode()
    assert len(password) == 32
    assert url == f"postgresql://ferris:{password}@127.0.0.1:{install.ports.postgresql}/ferris"

    def database_pods() -> list[dict[str, Any]]:  # made by the StatefulSet's controller after helm returns
        return list(install.json("get", "pods", "-n", NS, "-l", "app.kubernetes.io/component=postgresql")["items"])

    wait_for(lambda: database_pods(), "the evaluation PostgreSQL's pod")
    [database] = database_pods()
    assert database["spec"]["containers"][0]["image"] == "docker.io/library/postgres:18"
    assert password not in json.dumps(database["spec"])  # from the Secret, by reference
    install.wait_operator_ready()
    install.kubectl("apply", "-k", str(EXAMPLE))
    for name in ("secrets-demo", "secrets-demo-unmasked"):
        install.kubectl("wait", "-n", "ferris-demo", f"ferrispackage/{name}", "--for=condition=Ready", "--timeout=90s")
    assert "DB PASS: ****" in install.output(install.run_example("secrets-demo"))
    with __import__("psycopg").connect(url, connect_timeout=10) as conn:  # the evaluation database holds them
        stored = {row[0] for row in conn.execute("SELECT name FROM packages").fetchall()}
    assert {"secrets-demo", "secrets-demo-unmasked"} <= stored

    install.helm(
        "upgrade", "ferris", str(CHART), "-n", NS,
        "--set", "postgresql.enabled=true", "-f", str(install.values_file), "--set", "logLevel=DEBUG", *key,
    )  # fmt: skip
    assert install.json("get", "secret", "ferris-postgresql", "-n", NS)["data"] == secret["data"]  # kept

    install.helm("uninstall", "ferris", "-n", NS, "--wait")
    assert install.json("get", "secret", "ferris-postgresql", "-n", NS)["data"] == secret["data"]  # kept, as the key
    install.kubectl("delete", "secret", "ferris-postgresql", "-n", NS)
    wait_for(lambda: not install.json("get", "pods", "-n", NS)["items"], "the release's pods gone", 120)
