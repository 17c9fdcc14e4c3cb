"""Installing as users do: helm lint/template, helm install/upgrade/uninstall, plain manifests,
RBAC, and the schema of the values. The operator runs as a pod on the process node under the
chart's ServiceAccount, against a real PostgreSQL."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from ferris_devcluster import manifests
from ferris_devcluster.cluster import LocalCluster
from ferris_devcluster.pki import serving_certificate
from ferris_devcluster.ports import free_port
from ferris_devcluster.postgres import LocalPostgres

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "ferris"
EXAMPLE = REPO / "examples" / "secrets-demo"
NS = "ferris-system"
pytestmark = pytest.mark.cluster


class Install:
    def __init__(self, cluster: LocalCluster, postgres: LocalPostgres) -> None:
        self.cluster = cluster
        self.postgres = postgres
        self.api_port = free_port()
        self.health_port = free_port()

    def run(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=180,
            env={
                "PATH": "/usr/bin:/bin",
                "KUBECONFIG": str(self.cluster.kubeconfig),
                "HOME": str(self.cluster.directory),
            },
        )

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(self.cluster.bins["kubectl"], *args, input=input, check=check)

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(self.cluster.bins["helm"], *args, check=check)

    def local_values(self) -> list[str]:
        """The process node shares the host network: the runner API is on loopback."""
        return [
            "--set",
            f"database.url={self.postgres.url}",
            "--set",
            f"runnerApi.port={self.api_port}",
            "--set",
            f"health.port={self.health_port}",
            "--set",
            f"runnerApi.url=https://127.0.0.1:{self.api_port}",
            "--set",
            "runnerApi.tls.ipAddresses={127.0.0.1}",
        ]

    def json(self, *args: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.kubectl(*args, "-o", "json").stdout)
        return result

    def wait_operator_ready(self, timeout: float = 120) -> None:
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
                logs = "\n".join(p.read_text()[-2000:] for p in (self.cluster.node_dir / "logs" / NS).rglob("*.log"))
                raise AssertionError(f"operator pod not ready: {json.dumps([p.get('status') for p in pods])}\n{logs}")
            time.sleep(0.5)

    def package(self, name: str, script_name: str, content: str) -> None:
        """A one-script package in ferris-demo, waited for until Ready."""
        manifest = {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisPackage",
            "metadata": {"name": name},
            "spec": {"scripts": [{"name": script_name, "content": content}]},
        }
        self.kubectl("apply", "-n", "ferris-demo", "-f", "-", input=json.dumps(manifest))
        self.kubectl("wait", "-n", "ferris-demo", f"ferrispackage/{name}", "--for=condition=Ready", "--timeout=60s")

    def create_run(self, package: str, name: str) -> None:
        run = {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisRun",
            "metadata": {"name": name},
            "spec": {"packageRef": {"name": package}},
        }
        self.kubectl("create", "-n", "ferris-demo", "-f", "-", input=json.dumps(run))

    def run_example(self, package: str) -> str:
        name = f"{package}-{int(time.time() * 1000) % 10**8}"
        self.create_run(package, name)
        self.kubectl("wait", "-n", "ferris-demo", f"ferrisrun/{name}", "--for=condition=Succeeded", "--timeout=120s")
        return name

    def output(self, run: str) -> str:
        return str(self.json("get", "ferrisrun", run, "-n", "ferris-demo")["status"]["steps"][0]["outputTail"])


@pytest.fixture(scope="module")
def install() -> Iterator[Install]:
    with LocalPostgres() as postgres, LocalCluster(audit=True) as cluster:
        yield Install(cluster, postgres)


def render(install: Install, *values: str) -> str:
    return install.helm(
        "template", "ferris", str(CHART), "-n", NS, "--set", "database.url=postgresql://u@h/db", *values
    ).stdout


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
    "no-aggregation": ["--set", "rbac.aggregateToDefaultRoles=false"],
}


def test_helm_lint_is_clean(install: Install) -> None:
    result = install.helm("lint", "--strict", str(CHART), "--set", "database.url=postgresql://u@h/db")
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_rendered_chart_is_accepted_by_the_api_server(install: Install, switch: str) -> None:
    install.kubectl("apply", "--server-side", "-f", str(CHART / "crds"))
    if switch == "service-monitor":  # the Prometheus Operator's CRD, reduced to what the dry run needs
        install.kubectl("apply", "-f", "-", input=json.dumps(SERVICE_MONITOR_CRD))
        install.kubectl("wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com")
    for namespace in (NS, "team-a", "team-b"):
        install.kubectl("create", "namespace", namespace, check=False)
    rendered = render(install, *SWITCHES[switch])
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
    ],
)
def test_invalid_values_are_rejected_by_the_schema(install: Install, values: list[str], message: str) -> None:
    result = install.helm(
        "template", "ferris", str(CHART), "--set", "database.url=postgresql://u@h/db", *values, check=False
    )
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_missing_database_settings_name_both_ways_to_fix_it(install: Install) -> None:
    result = install.helm("template", "ferris", str(CHART), check=False)
    assert "set database.existingSecret (a Secret with the PostgreSQL URL) or database.url" in result.stderr


def test_the_runner_api_is_served_over_tls_with_a_certificate_for_the_service(install: Install) -> None:
    documents = [d for d in yaml.safe_load_all(render(install)) if d]
    secret = next(d for d in documents if d["kind"] == "Secret" and d["metadata"]["name"] == "ferris-runner-api-tls")
    cert = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    ca = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["ca.crt"]))
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert f"ferris.{NS}.svc" in names and f"ferris.{NS}.svc.cluster.local" in names
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FERRIS_RUNNER_API_URL"] == f"https://ferris.{NS}.svc:8443"
    assert env["FERRIS_RUNNER_API_TLS_DIR"] == "/etc/ferris/runner-api-tls"


def test_the_network_policy_admits_runner_pods_of_the_watched_namespaces_only(install: Install) -> None:
    documents = [d for d in yaml.safe_load_all(render(install, "--set", "watchNamespaces={team-a}")) if d]
    policies = {d["metadata"]["name"]: d for d in documents if d["kind"] == "NetworkPolicy"}
    runner_api = policies["ferris"]["spec"]["ingress"][0]["from"][0]["namespaceSelector"]
    assert runner_api == {
        "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a"]}]
    }
    egress = policies["ferris-runners"]["spec"]["egress"]
    assert [rule["ports"][0]["port"] for rule in egress] == [8443, 53]


def test_plain_manifests_are_in_sync_with_the_chart(install: Install) -> None:
    assert (REPO / "deploy" / "ferris.yaml").read_text() == manifests.render(install.cluster.bins["helm"]), (
        "deploy/ferris.yaml is stale: run `make manifests`"
    )
    assert "randBytes" not in manifests.HEADER and "\n  k1:" not in (REPO / "deploy" / "ferris.yaml").read_text()


def test_helm_install_upgrade_uninstall_then_plain_manifests(install: Install) -> None:
    install.kubectl("create", "namespace", NS, check=False)
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
    deadline = time.monotonic() + 60
    while (
        install.json("get", "deployment", "ferris", "-n", NS)["spec"]["template"]["spec"]["containers"][0]["env"][-1][
            "value"
        ]
        != "DEBUG"
        and time.monotonic() < deadline
    ):
        time.sleep(0.5)
    install.kubectl("rollout", "status", "deployment/ferris", "-n", NS, "--timeout=120s", check=False)
    install.wait_operator_ready()
    assert install.json("get", "secret", "ferris-master-key", "-n", NS)["data"] == key_before
    assert install.json("get", "secret", "ferris-runner-api-tls", "-n", NS)["data"] == tls_before  # runners trust it
    assert "DB PASS: supersecretpas$" in install.output(install.run_example("secrets-demo-unmasked"))

    install.helm("uninstall", "ferris", "-n", NS)
    assert install.json("get", "secret", "ferris-master-key", "-n", NS)["data"] == key_before  # kept
    with __import__("psycopg").connect(install.postgres.url) as conn:
        assert conn.execute("SELECT count(*) FROM packages").fetchone()[0] >= 2  # database untouched

    # The same install from deploy/ferris.yaml, reusing the kept master key, reads the same secrets.
    install.kubectl("create", "secret", "generic", "ferris-master-key", "-n", NS, "--dry-run=client", "-o", "json")
    kept = install.json("get", "secret", "ferris-master-key", "-n", NS)
    plain_key = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "ferris-master-key", "namespace": NS},
        "data": kept["data"],
    }
    install.kubectl("apply", "-f", "-", input=json.dumps(plain_key))
    install.kubectl(
        "create", "secret", "generic", "ferris-database", "-n", NS, f"--from-literal=url={install.postgres.url}"
    )
    tls = serving_certificate(Path(install.cluster.directory) / "runner-api-tls", ("127.0.0.1",))
    install.kubectl(
        "create",
        "secret",
        "generic",
        "ferris-runner-api-tls",
        "-n",
        NS,
        *(f"--from-file={tls / name}" for name in ("ca.crt", "tls.crt", "tls.key")),
    )
    install.kubectl("apply", "--server-side", "-f", str(REPO / "deploy" / "ferris.yaml"))
    install.kubectl(
        "set",
        "env",
        "deployment/ferris",
        "-n",
        NS,
        f"FERRIS_RUNNER_API_PORT={install.api_port}",
        f"FERRIS_HEALTH_PORT={install.health_port}",
        f"FERRIS_RUNNER_API_URL=https://127.0.0.1:{install.api_port}",
    )
    install.wait_operator_ready()
    assert "DB PASS: supersecretpas$" in install.output(install.run_example("secrets-demo-unmasked"))


def test_a_user_who_may_only_create_runs_reads_no_secret(install: Install) -> None:
    ns = "ferris-demo"
    install.kubectl("create", "serviceaccount", "runs-only", "-n", ns, check=False)
    install.kubectl(
        "create", "role", "runs-only", "-n", ns, "--verb=create", "--resource=ferrisruns.ferris.io", check=False
    )
    install.kubectl(
        "create",
        "rolebinding",
        "runs-only",
        "-n",
        ns,
        "--role=runs-only",
        f"--serviceaccount={ns}:runs-only",
        check=False,
    )
    as_user = ["--as", f"system:serviceaccount:{ns}:runs-only"]
    for verb, resource in (
        ("get", "secrets"),
        ("list", "secrets"),
        ("get", "ferrispackages.ferris.io"),
        ("get", "ferrisruns.ferris.io"),
        ("get", "configmaps"),
        ("create", "pods"),
    ):
        assert install.kubectl("auth", "can-i", verb, resource, "-n", ns, *as_user, check=False).stdout.strip() == "no"
    created = install.kubectl(
        "create",
        "-n",
        ns,
        *as_user,
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "ferris.io/v1alpha1",
                "kind": "FerrisRun",
                "metadata": {"name": "by-runs-only"},
                "spec": {"packageRef": {"name": "secrets-demo"}},
            }
        ),
    )
    assert "created" in created.stdout
    install.kubectl("wait", "-n", ns, "ferrisrun/by-runs-only", "--for=condition=Succeeded", "--timeout=120s")
    assert "supersecretpas$" not in json.dumps(install.json("get", "ferrisrun", "by-runs-only", "-n", ns))


def test_the_runner_pod_can_do_nothing_against_the_api(install: Install) -> None:
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


def test_long_and_cancelled_runs_under_the_chart_rbac(install: Install) -> None:
    """A run that outlives the periodic resync, and one that is cancelled (its Job deleted)."""
    install.package("slow", "slow.py", "import time\ntime.sleep(12)\nprint('done')")
    for name in ("slow-finishes", "slow-cancelled"):
        install.create_run("slow", name)
    install.kubectl(
        "wait",
        "-n",
        "ferris-demo",
        "ferrisrun/slow-cancelled",
        "--for=jsonpath={.status.phase}=Running",
        "--timeout=60s",
    )
    install.kubectl(
        "patch", "-n", "ferris-demo", "ferrisrun/slow-cancelled", "--type=merge", "-p", '{"spec": {"cancel": true}}'
    )
    install.kubectl(
        "wait",
        "-n",
        "ferris-demo",
        "ferrisrun/slow-cancelled",
        "--for=jsonpath={.status.phase}=Cancelled",
        "--timeout=60s",
    )
    install.kubectl(
        "wait", "-n", "ferris-demo", "ferrisrun/slow-finishes", "--for=condition=Succeeded", "--timeout=120s"
    )


AUDIT_EXCEPTIONS = {
    ("ferris.io", "ferrisruns", "get"): "one rule covers both kinds; packages are read with get, runs by list/watch",
    ("batch", "jobs", "get"): "only after a restart, to see whether a run's Job already exists",
    # (group, resource, verb): why a rule is there although a test run need not exercise it
    ("ferris.io", "ferrispackages", "update"): "kopf may update instead of patch; never in these tests",
    ("ferris.io", "ferrisruns", "update"): "kopf may update instead of patch; never in these tests",
    ("ferris.io", "ferrispackages/status", "update"): "as above",
    ("ferris.io", "ferrisruns/status", "update"): "as above",
    ("ferris.io", "ferrispackages/status", "get"): "status reads go through the main resource",
    ("ferris.io", "ferrisruns/status", "get"): "as above",
    ("ferris.io", "ferrispackages", "delete"): "one rule covers both kinds; only runs are deleted",
    ("ferris.io", "ferrisruns", "delete"): "finished runs past their TTL or history limit",
    ("", "configmaps", "delete"): "replacing a bundle after a restart between key and bundle",
    ("", "secrets", "delete"): "a source Secret once ingested; run keys when runs end",
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
    ("", "secrets", "create"): "run keys (namespaced) and the sealing key (only on a first start)",
    ("", "configmaps", "create"): "bundles and scripts; the public key ConfigMap on a first start",
}


def test_every_rbac_rule_of_the_chart_is_used(install: Install) -> None:
    """Runs after the install test: the audit log holds every request of the operator's ServiceAccount."""
    user = f"system:serviceaccount:{NS}:ferris"
    used: set[tuple[str, str, str]] = set()
    for line in install.cluster.audit_log.read_text().splitlines():
        event = json.loads(line)
        ref = event.get("objectRef") or {}
        if event["user"]["username"] != user or not ref:
            continue
        resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        used.add((ref.get("apiGroup", ""), resource, event["verb"]))
    assert used, "no request of the operator's ServiceAccount was audited"
    granted: set[tuple[str, str, str]] = set()
    roles = [d for d in yaml.safe_load_all(render(install)) if d and d["kind"] in ("Role", "ClusterRole")]
    for role in roles:
        if role["metadata"]["name"].endswith(("-edit", "-view", "-public-key-reader")):
            continue  # roles for users, not for the operator
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
