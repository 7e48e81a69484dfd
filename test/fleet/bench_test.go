package fleet

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"k8s.io/apimachinery/pkg/api/meta"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
	"github.com/kubedevaiops/kubedevaiops/tools/fleetsim/sim"
)

// BenchmarkFleet registers N simulated spokes with a 3-member hub — each with its own key,
// one-use auto-accepting token, certificate and mTLS stream — and measures:
//   - registrations/s and the seconds until all N are Available (token -> certificate -> Available);
//   - hub RSS per connected spoke (the three members' RSS growth over N, and their total over N);
//   - heartbeat, delta and change ingest per second, from the members' own counters, once every
//     spoke sends a heartbeat each second and a delta of 5 changes every 2 seconds (until then
//     they heartbeat at the hub's interval, as a fleet that just connected does).
//
// make bench-fleet runs it for N = 1000 and 10000 (FLEET_SIZES overrides).
func BenchmarkFleet(b *testing.B) {
	sizes := []int{1000, 10000}
	if v := os.Getenv("FLEET_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("FLEET_SIZES %q: want comma-separated positive numbers", v)
			}
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("spokes=%d", n), func(b *testing.B) {
			for range b.N {
				benchFleet(b, n)
			}
		})
	}
}

func benchFleet(b *testing.B, n int) {
	b.StopTimer()
	profiles := os.Getenv("FLEET_PROFILE_DIR") // heap profiles of the members, after the storm
	hub := testbed.StartHub(b, testbed.HubOptions{Members: 3, Metrics: true, Pprof: profiles != "", ProductionRaft: true, Args: []string{"--log-level=warn"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	admin := hub.Client(0)

	// One-use tokens, one per spoke, as Cluster API imports hand out; FLEET_SHARED_TOKEN=1 has
	// every spoke register under one token instead.
	shared := os.Getenv("FLEET_SHARED_TOKEN") == "1"
	tokens := make([]string, n)
	if shared {
		out, err := admin.CreateToken(ctx, &fleetv1.CreateTokenRequest{UsageLimit: uint32(n), AutoAccept: true, Ttl: durationHour()})
		if err != nil {
			b.Fatal(err)
		}
		tokens = []string{out.GetSecret()}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	var tokErr error
	var mu sync.Mutex
	for i := range n {
		if shared {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out, err := hub.Client(i%3).CreateToken(ctx, &fleetv1.CreateTokenRequest{UsageLimit: 1, AutoAccept: true, Ttl: durationHour()})
			if err != nil {
				mu.Lock()
				tokErr = err
				mu.Unlock()
				return
			}
			tokens[i] = out.GetSecret()
		})
	}
	wg.Wait()
	if tokErr != nil {
		b.Fatal(tokErr)
	}
	rssBefore := hubRSS(b, hub)
	logMemory(b, hub, "idle")
	if profiles != "" {
		for _, m := range hub.Members {
			saveProfile(b, "http://"+m.PprofAddr+"/debug/pprof/heap", fmt.Sprintf("%s/heap-idle-%d-%s.pb.gz", profiles, n, m.ID))
		}
	}

	f, err := sim.New(sim.Config{Hub: hub.GRPCAddrs(), CAHash: hub.CAHash(), Tokens: tokens, Prefix: "sim", Spokes: n, Parallel: 128,
		Objects: 20, HeartbeatEvery: time.Second, DeltaEvery: 2 * time.Second, DeltaChanges: 5})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer func() { stop(); f.Wait() }()
	b.StartTimer()
	start := time.Now()
	if err := f.Register(runCtx); err != nil {
		b.Fatal(err)
	}
	registered := time.Since(start)
	var profiling sync.WaitGroup
	if profiles != "" {
		profiling.Go(func() {
			saveProfile(b, "http://"+hub.Members[1].PprofAddr+"/debug/pprof/profile?seconds=5", fmt.Sprintf("%s/cpu-connect-%d-m1.pb.gz", profiles, n))
		})
	}
	if err := f.Connect(runCtx); err != nil {
		b.Fatal(err)
	}
	connected := time.Since(start)
	profiling.Wait()
	b.Logf("N=%d: %s", n, f.Phases.Summary())
	for {
		avail, err := availableClusters(ctx, admin)
		if err != nil {
			b.Fatal(err)
		}
		if avail >= n {
			break
		}
		if time.Since(start) > 20*time.Minute {
			b.Fatalf("%d of %d clusters Available after 20 minutes", avail, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	allAvailable := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(n)/allAvailable.Seconds(), "registrations/s")
	b.ReportMetric(allAvailable.Seconds(), "s-to-all-available")
	b.ReportMetric(registered.Seconds(), "s-to-all-certificates")
	b.ReportMetric(connected.Seconds(), "s-to-all-streams")

	time.Sleep(10 * time.Second) // let the members settle after the storm
	rssAfter := hubRSS(b, hub)
	logMemory(b, hub, "connected")
	if profiles != "" {
		for _, m := range hub.Members {
			saveProfile(b, "http://"+m.PprofAddr+"/debug/pprof/heap", fmt.Sprintf("%s/heap-%d-%s.pb.gz", profiles, n, m.ID))
			saveProfile(b, "http://"+m.PprofAddr+"/debug/pprof/goroutine", fmt.Sprintf("%s/goroutine-%d-%s.pb.gz", profiles, n, m.ID))
		}
	}
	b.ReportMetric(float64(rssAfter-rssBefore)/1024/float64(n), "KiB-growth/spoke")
	b.ReportMetric(float64(rssAfter)/1024/float64(n), "KiB-total/spoke")

	f.StartLoad()
	time.Sleep(5 * time.Second) // every spoke on the new rates
	const window = 20 * time.Second
	c0 := hubCounters(b, hub)
	time.Sleep(window)
	c1 := hubCounters(b, hub)
	for _, m := range []struct{ metric, unit string }{
		{"kubedevaiops_spoke_heartbeats_total", "heartbeats/s"},
		{"kubedevaiops_spoke_inventory_deltas_total", "deltas/s"},
		{"kubedevaiops_spoke_inventory_changes_total", "changes/s"},
	} {
		b.ReportMetric((c1[m.metric]-c0[m.metric])/window.Seconds(), m.unit)
	}
	if c := f.Count.Connected.Load(); c != int64(n) {
		b.Fatalf("%d of %d streams still connected at the end; failures: %v", c, n, f.Err())
	}
}

func durationHour() *durationpb.Duration { return durationpb.New(time.Hour) }

// availableClusters counts the ManagedClusters whose Available condition is True, paging.
func availableClusters(ctx context.Context, admin fleetv1.FleetClient) (int, error) {
	n := 0
	req := &fleetv1.ListClustersRequest{PageSize: 500, Consistency: fleetv1.ReadConsistency_READ_CONSISTENCY_STALE}
	for {
		out, err := admin.ListClusters(ctx, req)
		if err != nil {
			return 0, err
		}
		for _, r := range out.GetClusters() {
			var mc clusterv1.ManagedCluster
			if json.Unmarshal(r.GetObjectJson(), &mc) == nil && meta.IsStatusConditionTrue(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable) {
				n++
			}
		}
		if out.GetNextPageToken() == "" {
			return n, nil
		}
		req.PageToken = out.GetNextPageToken()
	}
}

// hubRSS sums the resident memory of the members, in bytes.
func hubRSS(b *testing.B, hub *testbed.Hub) int64 {
	var total int64
	for _, m := range hub.Members {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.PID()))
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err != nil {
					b.Fatal(err)
				}
				total += kb * 1024
			}
		}
	}
	return total
}

// logMemory logs where each member's memory is, from its Go metrics: what RSS is made of.
func logMemory(b *testing.B, hub *testbed.Hub, when string) {
	for _, m := range hub.Members {
		v := scrape(b, m.MetricsAddr, "process_resident_memory_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_heap_idle_bytes",
			"go_memstats_heap_released_bytes", "go_memstats_stack_inuse_bytes", "go_memstats_other_sys_bytes", "go_goroutines")
		b.Logf("%s %s: RSS %.1f MiB, heap in use %.1f MiB, heap idle not released %.1f MiB, stacks %.1f MiB, other %.1f MiB, %d goroutines",
			when, m.ID, v[0]/(1<<20), v[1]/(1<<20), (v[2]-v[3])/(1<<20), v[4]/(1<<20), v[5]/(1<<20), int(v[6]))
	}
}

// scrape returns the values of the named unlabelled metrics of one member.
func scrape(b *testing.B, addr string, names ...string) []float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out := make([]float64, len(names))
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		for i, n := range names {
			if name == n {
				out[i], _ = strconv.ParseFloat(val, 64)
			}
		}
	}
	return out
}

// hubCounters sums the members' kubedevaiops_ counters.
func hubCounters(b *testing.B, hub *testbed.Hub) map[string]float64 {
	out := map[string]float64{}
	for _, m := range hub.Members {
		resp, err := http.Get("http://" + m.MetricsAddr + "/metrics")
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "kubedevaiops_") {
				continue
			}
			name, val, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			if v, err := strconv.ParseFloat(val, 64); err == nil {
				out[name] += v
			}
		}
		_ = resp.Body.Close()
	}
	return out
}

func saveProfile(b *testing.B, url, path string) {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, resp.Body); err != nil {
		b.Fatal(err)
	}
}
