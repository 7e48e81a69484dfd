package hub

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// valueSize is the size of the value each write carries.
const valueSize = 256

// writer is one way of committing a write of value under key.
type writer func(ctx context.Context, client int, key, value string) error

// runWrites runs b.N writes from `clients` concurrent clients with the same loop for every
// system, and reports committed writes/s and the p50 / p99 latency.
func runWrites(b *testing.B, clients int, write writer) {
	value := strings.Repeat("v", valueSize)
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var failed atomic.Int64
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				t0 := time.Now()
				if err := write(ctx, c, fmt.Sprintf("bench-%d", i%1024), value); err != nil {
					failed.Add(1)
					continue
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d writes failed", f, b.N)
	}
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "writes/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op") // time per op is meaningless across concurrency levels; writes/s says it
}

var concurrency = []int{1, 16, 256}

// BenchmarkWrites compares committed writes of 256-byte values against a 3-member hub and a
// 3-member etcd, both over mutual TLS with fsync on, with clients spread over all members.
// Run with `make bench-store`. The hub keeps Raft's production timers, as etcd keeps its own: the
// short test timers make a loaded 2-core machine's stalls into elections.
func BenchmarkWrites(b *testing.B) {
	b.Run("hub", func(b *testing.B) {
		h := testbed.StartHub(b, testbed.HubOptions{Members: 3, ProductionRaft: true})
		clients := []fleetv1.FleetClient{h.Client(0), h.Client(1), h.Client(2)}
		write := func(ctx context.Context, c int, key, value string) error {
			_, err := putPolicy(ctx, clients[c%3], key, value)
			return err
		}
		for _, n := range concurrency {
			b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) { runWrites(b, n, write) })
		}
	})
	b.Run("etcd", func(b *testing.B) {
		e := testbed.StartEtcdCluster(b, 3)
		// One client per member, as the hub's clients above.
		var clients []*clientv3.Client
		for _, ep := range e.Endpoints {
			c, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, TLS: e.ClientTLS, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = c.Close() })
			clients = append(clients, c)
		}
		write := func(ctx context.Context, c int, key, value string) error {
			_, err := clients[c%3].Put(ctx, key, value)
			return err
		}
		for _, n := range concurrency {
			b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) { runWrites(b, n, write) })
		}
	})
}
