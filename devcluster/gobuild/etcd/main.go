// Command etcd starts the etcd server embedded in the control plane's own
// dependency graph, so that etcd and kube-apiserver share one pinned version.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
