package testbed

import (
	"context"
	"testing"
)

// BenchmarkClusterStart measures what one test cluster costs to bring up (etcd, apiserver,
// controller manager, scheduler, kwok and 3 Ready nodes) and tear down.
func BenchmarkClusterStart(b *testing.B) {
	for b.Loop() {
		c, err := NewCluster(context.Background(), b.TempDir(), ClusterOptions{Name: "bench", Nodes: 3})
		if err != nil {
			b.Fatal(err)
		}
		c.Stop()
	}
}

// BenchmarkVaultStart measures a Vault dev server start (unsealed, transit mounted) and stop.
func BenchmarkVaultStart(b *testing.B) {
	for b.Loop() {
		v, err := NewVault(context.Background(), b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		v.Stop()
	}
}
