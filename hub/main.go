// Command kubedevaiops-hub is the fleet's Raft-replicated control plane. One process is one hub
// member; 1, 3 or 5 members form a hub. This package holds flags and wiring only.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubedevaiops/kubedevaiops/hub/ai/jules"
	"github.com/kubedevaiops/kubedevaiops/hub/capi"
	"github.com/kubedevaiops/kubedevaiops/hub/incident"
	"github.com/kubedevaiops/kubedevaiops/hub/registration"
	"github.com/kubedevaiops/kubedevaiops/hub/signing"
)

// commit and version are set at link time by the Makefile (-X main.commit=...).
var (
	commit  = "unknown"
	version = "v0.0.0-dev"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	var (
		opts       memberOptions
		configFile string
	)
	root := &cobra.Command{
		Use:   "kubedevaiops-hub",
		Short: "KubeDevAIOps hub: the fleet's replicated control plane",
		Long: `kubedevaiops-hub runs one member of the hub, which replicates the fleet's registry, policies,
plans, approvals, audit log and learned knowledge with Raft across 1, 3 or 5 members.

Start the first member with --bootstrap, the others with --join pointing at any member's
gRPC address. Every member needs a member certificate from the hub CA (see "ca"), or use --dev
for a single throw-away member with generated certificates.`,
		Version:      fmt.Sprintf("%s (commit %s)", version, commit),
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configFile != "" {
				if err := applyConfigFile(cmd.Flags(), configFile); err != nil {
					return err
				}
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runMember(ctx, opts, cmd.OutOrStdout())
		},
	}
	f := root.Flags()
	f.StringVar(&configFile, "config", "", "YAML file of settings keyed by flag name; flags on the command line win")
	host, _ := os.Hostname()
	f.StringVar(&opts.ID, "id", host, "this member's id; must match the id in its member certificate")
	f.StringVar(&opts.DataDir, "data-dir", "", "directory for the Raft log, snapshots and stable state (required unless --dev)")
	f.StringVar(&opts.RaftAddr, "raft-addr", "127.0.0.1:7400", "address the Raft transport listens on")
	f.StringVar(&opts.RaftAdvertise, "raft-advertise", "", "address other members reach the Raft transport at (default: --raft-addr)")
	f.StringVar(&opts.GRPCAddr, "grpc-addr", "127.0.0.1:7401", "address the gRPC API (admin, spokes, members) listens on")
	f.StringVar(&opts.GRPCAdvertise, "grpc-advertise", "", "address others reach the gRPC API at (default: --grpc-addr)")
	f.StringVar(&opts.Join, "join", "", "gRPC address of any member of an existing hub to join")
	f.BoolVar(&opts.Bootstrap, "bootstrap", false, "form a new hub with this member as its first voter (ignored once the data dir has state)")
	f.StringVar(&opts.TLSCert, "tls-cert", "", "this member's certificate (PEM), issued by the hub CA")
	f.StringVar(&opts.TLSKey, "tls-key", "", "this member's private key (PEM)")
	f.StringVar(&opts.CACert, "ca-cert", "", "the hub CA certificate (PEM)")
	f.StringVar(&opts.CAKey, "ca-key", "", "the hub CA private key (PEM); members sign cluster certificates with it")
	f.BoolVar(&opts.Dev, "dev", false, "start a single throw-away member in a temp dir with generated certificates")
	f.Uint64Var(&opts.SnapshotThreshold, "snapshot-threshold", 8192, "log entries between snapshots (log compaction)")
	f.DurationVar(&opts.SnapshotInterval, "snapshot-interval", 2*time.Minute, "how often Raft checks whether a snapshot is due")
	f.Uint64Var(&opts.TrailingLogs, "trailing-logs", 10240, "log entries kept after a snapshot for followers that lag")
	f.DurationVar(&opts.DeadMemberTimeout, "dead-member-timeout", 0, "remove a voter unreachable this long, never below 3 voters (0: never)")
	f.DurationVar(&opts.HoldTimeout, "hold-timeout", 5*time.Second, "how long a write or linearizable read waits for a leader")
	f.BoolVar(&opts.FastRaft, "fast-raft", false, "short Raft timers, for tests on one machine")
	_ = f.MarkHidden("fast-raft")
	f.StringVar(&opts.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.DurationVar(&opts.ClusterCertTTL, "cluster-cert-ttl", registration.DefaultCertTTL, "lifetime of the client certificates the hub signs for clusters; spokes renew at 2/3 of it")
	f.StringVar(&opts.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9090); off when empty")
	f.DurationVar(&opts.ClusterLease, "cluster-lease-duration", registration.DefaultLeaseDuration, "cluster lease (whole seconds): a cluster turns Unknown after 5 leases without a heartbeat")
	f.StringVar(&opts.CAPI.Kubeconfig, "capi-kubeconfig", "", "kubeconfig of a Cluster API management cluster: import its Provisioned Clusters and install the agent in them (off when empty)")
	f.StringVar(&opts.CAPI.AgentImage, "agent-image", capi.DefaultAgentImage(version), "agent container image the Cluster API import installs")
	f.StringSliceVar(&opts.CAPI.HubEndpoints, "capi-hub-endpoints", nil, "hub gRPC addresses (host:port, comma-separated) imported agents register with (default: the members' advertised addresses)")
	opts.Vault.RegisterFlags(f)
	f.StringVar(&opts.Directives.TransitMount, "vault-transit-mount", signing.DefaultTransitMount, "mount path of Vault's transit engine")
	f.StringVar(&opts.Directives.TransitKey, "vault-transit-key", signing.DefaultTransitKey, "transit key (ed25519) that signs directives; created when missing")
	f.StringVar(&opts.Directives.KEKFile, "state-encryption-key-file", "", "without Vault: file with the base64 of 32 random bytes, the same on every member, sealing the directive key kept in the replicated state")
	f.DurationVar(&opts.DirectiveTTL, "directive-ttl", incident.DefaultDirectiveTTL, "how long a signed directive stays valid; spokes refuse it afterwards")
	f.DurationVar(&opts.VerifyTimeout, "action-verify-timeout", 0, "how long spokes verify an action's effect before rolling it back (0: the spoke's default, 2m)")
	f.BoolVar(&opts.DryRunActions, "dry-run-actions", false, "fleet-wide dry-run: every directive only runs a server-side dry-run (give it to every member)")
	f.StringArrayVar(&opts.AI.Routes, "ai-route", nil, "which providers answer a task, in order, e.g. explain=openai,builtin (repeatable; tasks: diagnose, plan, manifests, explain, answer; the built-in engine is always the last resort)")
	f.StringSliceVar(&opts.AI.ForbidClusters, "ai-forbid-external-clusters", nil, "clusters whose data never goes to an external AI provider")
	f.StringSliceVar(&opts.AI.ForbidSets, "ai-forbid-external-sets", nil, "ManagedClusterSets whose clusters' data never goes to an external AI provider")
	f.StringVar(&opts.AI.OpenAI.BaseURL, "openai-base-url", "", "an OpenAI-compatible chat-completions server (OpenAI, vLLM, Ollama, LocalAI); its key is read from Vault under --openai-name")
	f.StringVar(&opts.AI.OpenAI.Model, "openai-model", "", "model to ask the OpenAI-compatible server for")
	f.StringVar(&opts.AI.OpenAI.Name, "openai-name", "openai", "name of the OpenAI-compatible provider, in routes, metrics and the Vault key path")
	f.StringVar(&opts.OTLP.Endpoint, "otlp-endpoint", "", "export traces over OTLP to this host:port (grpc) or URL (http/protobuf); traces are kept for trace show either way")
	f.StringVar(&opts.OTLP.Protocol, "otlp-protocol", "grpc", "OTLP protocol: grpc or http/protobuf")
	f.BoolVar(&opts.OTLP.Insecure, "otlp-insecure", false, "export traces without TLS")
	f.StringVar(&opts.OTLP.CAFile, "otlp-ca-file", "", "CA bundle (PEM) that verifies the OTLP collector")
	f.StringVar(&opts.Jules.BaseURL, "jules-base-url", jules.DefaultBaseURL, "base URL of the Google Jules REST API (v1alpha); its key is read from Vault at <vault-kv-mount>/data/<vault-kv-path>/jules")
	f.IntVar(&opts.Jules.DailyBudget, "jules-daily-budget", 10, "Jules sessions the hub may create per UTC day, across all members")
	f.DurationVar(&opts.Jules.PollInterval, "jules-poll-interval", 15*time.Second, "how often the leader polls the open Jules sessions")
	f.BoolVar(&opts.Jules.CodeFixes, "jules-code-fixes", true, "ask Jules for a code-level fix (a plan people approve, then a pull request) when the diagnosis places an incident's root cause in the code of a ManagedApplication with a Git repository")
	f.StringVar(&opts.PprofAddr, "pprof-addr", "", "serve Go's net/http/pprof profiles on this address (e.g. 127.0.0.1:6060; port 0 picks one, logged); off when empty")
	_ = f.MarkHidden("pprof-addr")

	root.AddCommand(newCACommand())
	return root
}
