#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager, kubectl, helm and the test KMS v2 plugin
# (kmsplugin/) into $1.
# Called by `ferris devcluster build`; safe to run by hand.
set -euo pipefail
out=${1:?usage: build.sh OUTPUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
k8s_version=v1.35.4
helm_version=v3.19.5
build_stamp="${FERRIS_BUILD_STAMP:?set by ferris devcluster build}"
mkdir -p "$out"
cd "$here"
v=k8s.io/component-base/version
cv=k8s.io/client-go/pkg/version
flags="-s -w"
for pkg in $v $cv; do
  flags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=35"
  flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
go build -trimpath -ldflags "$flags" -o "$out/" \
  ./etcd \
  ./kmsplugin \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kubectl
# helm's default Kubernetes version (for `helm template` and `helm lint` without a cluster)
# comes from link flags, as in helm's own Makefile: its client-go minor, 1.34.
hflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  hflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=34"
done
GOBIN="$out" GOFLAGS=-trimpath go install -ldflags "$hflags" "helm.sh/helm/v3/cmd/helm@$helm_version"
echo "$build_stamp" > "$out/VERSION"
