// Command kubedevaiops-agent is the spoke agent that runs in each managed cluster. At this
// stage it only reports its version; registration, streaming and execution land later.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// commit and version are set at link time by the Makefile (-X main.commit=...).
var (
	commit  = "unknown"
	version = "v0.0.0-dev"
)

func main() {
	root := &cobra.Command{
		Use:     "kubedevaiops-agent",
		Short:   "KubeDevAIOps spoke agent: the fleet's eyes and hands in one cluster",
		Long:    "kubedevaiops-agent watches its cluster, streams state and findings to the hub over one\noutbound gRPC stream, and runs only the actions the hub signed and the cluster's policy allows.",
		Version: fmt.Sprintf("%s (commit %s)", version, commit),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
		SilenceUsage: true,
	}
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}
