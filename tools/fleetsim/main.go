// Command fleetsim runs many simulated spokes against a hub: each registers with a bootstrap
// token, holds its own mTLS stream and sends heartbeats and inventory deltas at set rates.
// make bench-fleet drives the same simulator from a benchmark; this command is for trying a
// real hub by hand.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubedevaiops/kubedevaiops/tools/fleetsim/sim"
)

func main() {
	var cfg sim.Config
	var tokenFile string
	var duration time.Duration
	root := &cobra.Command{
		Use:   "fleetsim --hub ADDR --ca-hash sha256:... --token T --spokes N",
		Short: "Simulate a fleet of spokes against a KubeDevAIOps hub",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return err
				}
				for _, l := range strings.Split(string(b), "\n") {
					if l = strings.TrimSpace(l); l != "" {
						cfg.Tokens = append(cfg.Tokens, l)
					}
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			f, err := sim.New(cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			start := time.Now()
			if err := f.Register(ctx); err != nil {
				return err
			}
			fmt.Fprintf(out, "registered %d spokes in %s\n", cfg.Spokes, time.Since(start).Round(time.Millisecond))
			runCtx, cancel := context.WithTimeout(ctx, duration)
			defer cancel()
			start = time.Now()
			if err := f.Connect(runCtx); err != nil {
				return err
			}
			fmt.Fprintf(out, "connected %d streams in %s\n", cfg.Spokes, time.Since(start).Round(time.Millisecond))
			f.StartLoad()
			tick := time.NewTicker(5 * time.Second)
			defer tick.Stop()
			for {
				select {
				case <-runCtx.Done():
					f.Wait()
					fmt.Fprintf(out, "done: heartbeats %d, deltas %d, acks %d, failures %d\n",
						f.Count.Heartbeats.Load(), f.Count.Deltas.Load(), f.Count.Acks.Load(), f.Count.Failed.Load())
					return f.Err()
				case <-tick.C:
					fmt.Fprintf(out, "connected %d, heartbeats %d, deltas %d, acks %d, failures %d\n", f.Count.Connected.Load(),
						f.Count.Heartbeats.Load(), f.Count.Deltas.Load(), f.Count.Acks.Load(), f.Count.Failed.Load())
				}
			}
		},
		SilenceUsage: true,
	}
	fl := root.Flags()
	fl.StringSliceVar(&cfg.Hub, "hub", nil, "hub member gRPC addresses")
	fl.StringVar(&cfg.CAHash, "ca-hash", "", "pin of the hub CA (kubectl aiops token create prints it)")
	fl.StringSliceVar(&cfg.Tokens, "token", nil, "auto-accepting bootstrap token(s), used round robin")
	fl.StringVar(&tokenFile, "token-file", "", "file with one token per line")
	fl.StringVar(&cfg.Prefix, "prefix", "sim", "cluster name prefix")
	fl.IntVar(&cfg.Spokes, "spokes", 100, "number of simulated clusters")
	fl.IntVar(&cfg.Parallel, "parallel", 64, "registrations and connects in flight")
	fl.IntVar(&cfg.Objects, "objects", 20, "objects in each spoke's inventory")
	fl.DurationVar(&cfg.HeartbeatEvery, "heartbeat-every", 0, "heartbeat interval (default: the hub's)")
	fl.DurationVar(&cfg.DeltaEvery, "delta-every", 0, "interval of inventory deltas per spoke (0: none)")
	fl.IntVar(&cfg.DeltaChanges, "delta-changes", 1, "changes per delta")
	fl.DurationVar(&duration, "duration", time.Minute, "how long the streams run")
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
