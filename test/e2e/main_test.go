package e2e

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// The package shares two clusters and one Vault across its tests: starting them costs more than
// any single test, and the tests keep to their own namespaces and names.
var (
	clusters []*testbed.Cluster
	vaultSrv *testbed.Vault
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "kubedevaiops-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	keep := false
	defer func() {
		if !keep {
			_ = os.RemoveAll(dir)
		}
	}()

	// Two clusters and a Vault start in parallel.
	clusters = make([]*testbed.Cluster, 2)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range clusters {
		wg.Go(func() {
			clusters[i], errs[i] = testbed.NewCluster(ctx, fmt.Sprintf("%s/cluster-%d", dir, i),
				testbed.ClusterOptions{Name: fmt.Sprintf("e2e-%d", i), Nodes: 3})
		})
	}
	wg.Go(func() { vaultSrv, errs[2] = testbed.NewVault(ctx, dir+"/vault") })
	wg.Wait()
	defer func() {
		for _, c := range clusters {
			if c != nil {
				c.Stop()
			}
		}
		if vaultSrv != nil {
			vaultSrv.Stop()
		}
	}()
	for _, err := range errs {
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e test bed:", err)
			keep = true
			return 1
		}
	}
	code := m.Run()
	if code != 0 {
		keep = true
		fmt.Fprintln(os.Stderr, "e2e: component logs kept in", dir)
	}
	return code
}
