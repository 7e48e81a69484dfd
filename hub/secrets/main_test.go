package secrets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// One test-bed cluster (for Vault's TokenReviews) and one Vault dev server serve the package;
// each test uses auth mounts and secret paths of its own. Tests that stop Vault start their own.
var (
	cluster   *testbed.Cluster
	sharedVlt *testbed.Vault
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kubedevaiops-secrets-")
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
	cluster, err = testbed.NewCluster(context.Background(), filepath.Join(dir, "cluster"), testbed.ClusterOptions{Name: "secrets"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "secrets test bed:", err)
		keep = true
		return 1
	}
	defer cluster.Stop()
	sharedVlt, err = testbed.NewVault(context.Background(), filepath.Join(dir, "vault"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "secrets test bed:", err)
		keep = true
		return 1
	}
	defer sharedVlt.Stop()
	code := m.Run()
	if code != 0 {
		keep = true
		fmt.Fprintln(os.Stderr, "secrets: component logs kept in", dir)
	}
	return code
}
