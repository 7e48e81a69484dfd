package execute

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// One test-bed cluster serves the package: starting it costs more than any test, and each test
// keeps to a namespace of its own (the ledger included).
var cluster *testbed.Cluster

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kubedevaiops-execute-")
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
	cluster, err = testbed.NewCluster(context.Background(), dir, testbed.ClusterOptions{
		Name: "execute", Nodes: 2, Stages: []string{testbed.StageCrashLoop},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "execute test bed:", err)
		keep = true
		return 1
	}
	defer cluster.Stop()
	code := m.Run()
	if code != 0 {
		keep = true
		fmt.Fprintln(os.Stderr, "execute: component logs kept in", dir)
	}
	return code
}
