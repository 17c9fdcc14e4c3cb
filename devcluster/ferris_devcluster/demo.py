"""`ferris-devcluster demo`: the whole path a user takes, on a local cluster with an embedded PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ferris_devcluster import interrupts
from ferris_devcluster.stack import REPO, FerrisStack


def _step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def run_demo(keep: bool = False, runtime: str | None = None) -> int:
    """The demo on a stack of its own; ``runtime``: how the node runs pods (processes or containers)."""
    interrupts.install()

    example = REPO / "examples" / "secrets-demo"
    _step("starting PostgreSQL, the local Kubernetes cluster, the Ferris operator and the Ferris server")
    started = time.monotonic()
    stack = FerrisStack(runtime=runtime)
    code = 1
    try:  # every exit path below (an error, Ctrl-C, SIGTERM as SystemExit) reaches `finally`
        stack.start()
        print(f"ready in {time.monotonic() - started:.1f}s; KUBECONFIG={stack.kubeconfig}")
        code = walk_through(stack, example)
        print("\ndemo " + ("succeeded" if code == 0 else "FAILED"))
        if keep:
            print(
                f"\nleft running. export KUBECONFIG={stack.kubeconfig} FERRIS_NAMESPACE=ferris-system"
                f"\nthe Ferris server: {stack.server_url} (ferris runs, results and logs find it);"
                f"\nthe console, as the kubeconfig's user: .venv/bin/ferris console"
                f"\nstop it with: kill {os.getpid()}  (or Ctrl-C)",
                flush=True,
            )
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stack.destroy()
    return code


def walk_through(stack: FerrisStack, example: Path) -> int:
    """The demo's story on a running stack, as a user with only a kubeconfig: 0 when both runs succeeded."""
    # What a user has: a kubeconfig. No database password, no master key.
    env = {k: v for k, v in stack.env().items() if k not in ("FERRIS_DATABASE_URL", "FERRIS_MASTER_KEY_DIR")}
    ferris = str(Path(sys.executable).parent / "ferris")
    kubectl = stack.cluster.bins["kubectl"]
    _step(f"kubectl apply -k {example.relative_to(REPO)}")
    subprocess.run([kubectl, "apply", "-k", str(example)], env=env, check=True)
    for name in ("secrets-demo", "secrets-demo-unmasked"):
        subprocess.run(
            [kubectl, "wait", "-n", "ferris-demo", f"ferrispackage/{name}", "--for=condition=Ready", "--timeout=60s"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    subprocess.run([kubectl, "get", "ferrispackages", "-n", "ferris-demo"], env=env, check=True)
    _step("the source Secrets were ingested and deleted:")
    subprocess.run([kubectl, "get", "secrets", "-n", "ferris-demo"], env=env)
    codes = []
    for name in ("secrets-demo", "secrets-demo-unmasked"):
        _step(f"ferris run {name} -n ferris-demo --wait")
        output = subprocess.run(
            [ferris, "run", name, "-n", "ferris-demo", "--wait"], env=env, capture_output=True, text=True
        )
        print(output.stdout, end="")
        codes.append(output.returncode)
        run_name = output.stdout.split("/", 1)[1].split()[0] if "/" in output.stdout else ""
        _step(f"ferris results {run_name} -n ferris-demo")
        subprocess.run([ferris, "results", run_name, "-n", "ferris-demo"], env=env)
    _step("ferris runs -n ferris-demo  (history through the Ferris server, as the kubeconfig's user)")
    subprocess.run([ferris, "runs", "-n", "ferris-demo"], env=env)
    _step("kubectl get ferrisruns -n ferris-demo")
    subprocess.run([kubectl, "get", "ferrisruns", "-n", "ferris-demo"], env=env)
    return 0 if all(c == 0 for c in codes) else 1
