// Command kubedevaiops-agent is the spoke agent that runs in each managed cluster: it registers
// the cluster with the hub and streams the cluster's state over one outbound gRPC stream.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubedevaiops/kubedevaiops/spoke/agent"
)

// commit and version are set at link time by the Makefile (-X main.commit=...).
var (
	commit  = "unknown"
	version = "v0.0.0-dev"
)

// exitRefused is the exit status when the hub refuses the cluster: restarting will not help.
const exitRefused = 3

func main() {
	var (
		opts               agent.Options
		kubeconfig, logLvl string
		tokenFile          string
	)
	root := &cobra.Command{
		Use:   "kubedevaiops-agent --cluster-name NAME [--hub ADDR --bootstrap-token T --hub-ca-hash sha256:...]",
		Short: "KubeDevAIOps spoke agent: the fleet's eyes and hands in one cluster",
		Long: `kubedevaiops-agent watches its cluster and streams its state to the hub over one outbound,
mutually authenticated gRPC stream.

The first start registers the cluster: give the hub's address, a bootstrap token and the hub CA's
hash (kubectl aiops token create prints all three). The agent keeps its key and the certificate
the hub signs in a Secret in --namespace and never needs the token again.`,
		Version: fmt.Sprintf("%s (commit %s)", version, commit),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var l slog.Level
			if err := l.UnmarshalText([]byte(logLvl)); err != nil {
				return fmt.Errorf("--log-level %q: use debug, info, warn or error", logLvl)
			}
			opts.Logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
			opts.Version = version
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--bootstrap-token-file: %w", err)
				}
				opts.BootstrapToken = strings.TrimSpace(string(b))
			}
			if opts.BootstrapToken == "" {
				opts.BootstrapToken = os.Getenv("KUBEDEVAIOPS_BOOTSTRAP_TOKEN")
			}
			cfg, err := restConfig(kubeconfig)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return agent.Run(ctx, cfg, opts)
		},
		SilenceUsage: true,
	}
	f := root.Flags()
	f.StringSliceVar(&opts.Hub, "hub", nil, "hub member address(es) host:port for registration (comma-separated)")
	f.StringVar(&opts.BootstrapToken, "bootstrap-token", "", "bootstrap token <id>.<secret> (or --bootstrap-token-file, or $KUBEDEVAIOPS_BOOTSTRAP_TOKEN)")
	f.StringVar(&tokenFile, "bootstrap-token-file", "", "file holding the bootstrap token")
	f.StringVar(&opts.HubCAHash, "hub-ca-hash", "", "pin of the hub CA: sha256:<hex of its SubjectPublicKeyInfo>")
	f.StringVar(&opts.ClusterName, "cluster-name", "", "name to register the cluster as (a DNS-1123 label)")
	f.StringVar(&opts.ClusterID, "cluster-id", "", "the cluster's stable id (id.k8s.io); default: the uid of namespace kube-system")
	f.StringVar(&opts.Platform, "platform", "", "platform claim, e.g. EKS, GKE, AKS; default: guessed from the nodes")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the managed cluster; default: in-cluster configuration")
	f.StringVar(&opts.Namespace, "namespace", "kubedevaiops-system", "namespace of the agent's Secret")
	f.StringVar(&opts.SecretName, "secret-name", "kubedevaiops-agent-hub", "name of the Secret holding the cluster's hub credentials")
	f.BoolVar(&opts.InstallCRDs, "install-crds", true, "apply the ManagedApplication and AIOpsPolicy CRDs at start")
	f.StringVar(&logLvl, "log-level", "info", "log level: debug, info, warn or error")
	f.DurationVar(&opts.AnalyzeInterval, "analyze-interval", 30*time.Second, "how often the analyzers look for problems")
	f.StringSliceVar(&opts.PinnedDirectiveKeys, "pin-directive-keys", nil, "trust only these directive-key ids (32 hex digits, comma-separated), whatever keys the hub announces")
	_ = root.MarkFlagRequired("cluster-name")

	if err := root.Execute(); err != nil {
		if errors.Is(err, agent.ErrRefused) {
			os.Exit(exitRefused)
		}
		os.Exit(1)
	}
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("no --kubeconfig and not running in a cluster: %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
	}
	return cfg, nil
}
