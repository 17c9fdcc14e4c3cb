"""The local cluster: real controllers acting on pods that the process node runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from ferris_devcluster.cli import default_dir
from ferris_devcluster.cluster import LocalCluster
from ferris_devcluster.imagebuild import runner_image
from ferris_devcluster.ports import is_listening

from .conftest import ClusterHandle, wait_for

pytestmark = pytest.mark.cluster


def apply(cluster: ClusterHandle, namespace: str, manifest: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))


def job(name: str, script: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            **spec,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": runner_image(), "command": ["sh", "-c", script]}],
                }
            },
        },
    }


def get(cluster: ClusterHandle, namespace: str, *what: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(cluster.kubectl("get", "-n", namespace, *what, "-o", "json").stdout)
    return result


def job_condition(cluster: ClusterHandle, namespace: str, name: str) -> str | None:
    conditions = get(cluster, namespace, "job", name).get("status", {}).get("conditions") or []
    for condition in conditions:
        if condition["type"] in ("Complete", "Failed") and condition["status"] == "True":
            return str(condition["type"])
    return None


def test_apiserver_reports_its_real_version(cluster: ClusterHandle) -> None:
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)["serverVersion"]
    assert version["gitVersion"] == "v1.35.4"


def test_job_exiting_0_completes_and_exiting_3_fails(cluster: ClusterHandle, namespace: str) -> None:
    apply(cluster, namespace, job("ok", "echo hello"))
    apply(cluster, namespace, job("bad", "exit 3"))
    assert wait_for(lambda: job_condition(cluster, namespace, "ok"), 60, "job ok") == "Complete"
    assert wait_for(lambda: job_condition(cluster, namespace, "bad"), 60, "job bad") == "Failed"
    pods = get(cluster, namespace, "pods", "-l", "job-name=bad")["items"]
    terminated = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 3 and terminated["reason"] == "Error"
    assert pods[0]["status"]["phase"] == "Failed"
    ok_pod = get(cluster, namespace, "pods", "-l", "job-name=ok")["items"][0]
    assert cluster.pod_log(namespace, ok_pod["metadata"]["name"], "main") == "hello\n"


def test_pod_reads_secret_and_configmap_through_volumes_and_env(cluster: ClusterHandle, namespace: str) -> None:
    cluster.kubectl("create", "secret", "generic", "creds", "-n", namespace, "--from-literal=password=s3cr3t")
    cluster.kubectl(
        "create", "configmap", "settings", "-n", namespace, "--from-literal=mode=fast", "--from-literal=other=x"
    )
    script = (
        "cat /etc/creds/password; echo; cat /etc/settings/renamed; echo; echo $PASS $MODE $POD $NS; "
        "ls /etc/settings; stat -c %a /etc/creds/password; touch /etc/creds/x 2>/dev/null || echo read-only; "
        "pwd; echo done > /dev/termination-log"
    )
    manifest = job("reader", script)
    pod_spec = manifest["spec"]["template"]["spec"]
    pod_spec["volumes"] = [
        {"name": "creds", "secret": {"secretName": "creds", "defaultMode": 0o400}},
        {"name": "settings", "configMap": {"name": "settings", "items": [{"key": "mode", "path": "renamed"}]}},
        {"name": "scratch", "emptyDir": {}},
    ]
    container = pod_spec["containers"][0]
    container["workingDir"] = "/work/scratch"
    container["volumeMounts"] = [
        {"name": "creds", "mountPath": "/etc/creds", "readOnly": True},
        {"name": "settings", "mountPath": "/etc/settings"},
        {"name": "scratch", "mountPath": "/work/scratch"},
    ]
    container["env"] = [
        {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    apply(cluster, namespace, manifest)
    assert wait_for(lambda: job_condition(cluster, namespace, "reader"), 60, "job reader") == "Complete"
    pod = get(cluster, namespace, "pods", "-l", "job-name=reader")["items"][0]
    name = pod["metadata"]["name"]
    assert cluster.pod_log(namespace, name, "main").splitlines() == [
        "s3cr3t",
        "fast",
        f"s3cr3t fast {name} {namespace}",
        "renamed",
        "400",
        "read-only",
        "/work/scratch",
    ]
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"] == "done\n"


def test_projected_token_authenticates_as_the_service_account_and_rbac_applies(
    cluster: ClusterHandle, namespace: str
) -> None:
    cluster.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    cluster.kubectl("create", "role", "read-cm", "-n", namespace, "--verb=get,list", "--resource=configmaps")
    cluster.kubectl(
        "create", "rolebinding", "read-cm", "-n", namespace, "--role=read-cm", f"--serviceaccount={namespace}:reader"
    )
    script = (
        "kubectl get configmaps -o name && echo CM-OK; kubectl get secrets 2>&1 | grep -q Forbidden "
        "&& echo SECRETS-FORBIDDEN"
    )
    manifest = job("sa", script)
    spec = manifest["spec"]["template"]["spec"]
    spec["serviceAccountName"] = "reader"
    spec["containers"][0]["env"] = [
        {"name": "PATH", "value": f"{cluster.cluster.bins.paths['kubectl'].parent}:/usr/bin:/bin"}
    ]
    apply(cluster, namespace, manifest)
    assert wait_for(lambda: job_condition(cluster, namespace, "sa"), 60, "job sa") == "Complete"
    pod = get(cluster, namespace, "pods", "-l", "job-name=sa")["items"][0]
    log = cluster.pod_log(namespace, pod["metadata"]["name"], "main")
    assert "configmap/kube-root-ca.crt" in log and "CM-OK" in log and "SECRETS-FORBIDDEN" in log


def test_garbage_collector_deletes_children_and_namespaces_finish(cluster: ClusterHandle) -> None:
    ns = "gc-" + str(int(time.time() * 1000))[-6:]
    cluster.kubectl("create", "namespace", ns)
    wait_for(lambda: cluster.kubectl("get", "sa", "default", "-n", ns, check=False).returncode == 0, 30, "sa")
    owner = json.loads(cluster.kubectl("create", "configmap", "owner", "-n", ns, "-o", "json").stdout)
    child = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "child",
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
            ],
        },
    }
    apply(cluster, ns, child)
    apply(cluster, ns, job("sleeper", "sleep 300"))
    wait_for(lambda: get(cluster, ns, "pods", "-l", "job-name=sleeper")["items"], 30, "sleeper pod")
    cluster.kubectl("delete", "configmap", "owner", "-n", ns)
    wait_for(
        lambda: cluster.kubectl("get", "configmap", "child", "-n", ns, check=False).returncode != 0,
        60,
        "garbage collection of the child",
    )
    cluster.kubectl("delete", "namespace", ns, "--wait=false")
    wait_for(
        lambda: cluster.kubectl("get", "namespace", ns, check=False).returncode != 0, 90, "namespace deletion to finish"
    )


def test_finished_job_with_ttl_disappears(cluster: ClusterHandle, namespace: str) -> None:
    apply(cluster, namespace, job("short-lived", "true", ttlSecondsAfterFinished=1))
    wait_for(
        lambda: cluster.kubectl("get", "job", "short-lived", "-n", namespace, check=False).returncode != 0,
        90,
        "the TTL controller to delete the job",
    )


def test_unknown_image_ends_in_image_pull_backoff(cluster: ClusterHandle, namespace: str) -> None:
    manifest = job("nopull", "true")
    manifest["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.invalid/nothing:1"
    apply(cluster, namespace, manifest)

    def reason() -> str | None:
        pods = get(cluster, namespace, "pods", "-l", "job-name=nopull")["items"]
        statuses = pods[0].get("status", {}).get("containerStatuses") if pods else None
        return statuses[0]["state"].get("waiting", {}).get("reason") if statuses else None

    assert wait_for(lambda: reason() == "ImagePullBackOff", 60, "ImagePullBackOff")
    apply(cluster, namespace, job("after", "true"))  # the node keeps working
    assert wait_for(lambda: job_condition(cluster, namespace, "after"), 60, "job after") == "Complete"


def test_active_deadline_terminates_the_pod(cluster: ClusterHandle, namespace: str) -> None:
    apply(cluster, namespace, job("slow", "sleep 300", activeDeadlineSeconds=3))
    assert wait_for(lambda: job_condition(cluster, namespace, "slow"), 90, "deadline") == "Failed"


def test_deleting_a_pod_stops_its_process(cluster: ClusterHandle, namespace: str) -> None:
    apply(cluster, namespace, job("victim", "echo started; exec sleep 301"))
    pod = wait_for(
        lambda: (
            next(iter(get(cluster, namespace, "pods", "-l", "job-name=victim")["items"]), None)
            if "started" in _victim_log(cluster, namespace)
            else None
        ),
        60,
        "victim running",
    )
    assert any("sleep 301" in " ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"]))
    cluster.kubectl("delete", "pod", pod["metadata"]["name"], "-n", namespace, "--wait=true", "--timeout=60s")
    wait_for(
        lambda: not any("sleep 301" in " ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])),
        30,
        "the process to stop",
    )


def _victim_log(cluster: ClusterHandle, namespace: str) -> str:
    pods = get(cluster, namespace, "pods", "-l", "job-name=victim")["items"]
    return cluster.pod_log(namespace, pods[0]["metadata"]["name"], "main") if pods else ""


def _listening_ports(pids: list[int]) -> set[int]:
    """The TCP ports these processes listen on (not the whole machine's: another test session
    may run clusters beside this one)."""
    return {
        c.laddr.port
        for pid in pids
        for c in psutil.Process(pid).net_connections("tcp")
        if c.status == psutil.CONN_LISTEN
    }


def test_two_clusters_side_by_side_and_clean_teardown() -> None:
    first, second = LocalCluster(), LocalCluster()
    try:
        first.start()
        second.start()
        assert first.api_port != second.api_port
        pids = [p.pid for p in first.processes + second.processes]
        ports = _listening_ports(pids)
        assert {first.api_port, second.api_port} <= ports
        assert all(is_listening(port) for port in ports)
    finally:
        first.destroy()
        second.destroy()
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)
    left = sorted(port for port in ports if is_listening(port))
    assert not left, f"ports left listening: {left}"


def test_devcluster_cli_up_env_down() -> None:
    cli = str(Path(sys.executable).parent / "ferris-devcluster")
    name = f"cli-{int(time.time())}"
    try:
        up = subprocess.run([cli, "up", "--name", name], capture_output=True, text=True, timeout=180)
        assert up.returncode == 0, up.stderr
        assert up.stdout.startswith("export KUBECONFIG=")
        env = subprocess.run([cli, "env", "--name", name], capture_output=True, text=True)
        assert env.stdout == up.stdout
        down = subprocess.run([cli, "down", "--name", name], capture_output=True, text=True)
        assert down.returncode == 0
        assert subprocess.run([cli, "env", "--name", name], capture_output=True).returncode == 1
    finally:  # a failed assertion leaves no cluster running and no folder behind
        subprocess.run([cli, "down", "--name", name], capture_output=True)
        shutil.rmtree(default_dir(name), ignore_errors=True)
