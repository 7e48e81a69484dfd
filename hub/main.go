// Command kubedevaiops-hub is the fleet's Raft-replicated control plane. At this stage it
// only reports its version; the store, registration and streaming land in later steps.
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
		Use:     "kubedevaiops-hub",
		Short:   "KubeDevAIOps hub: the fleet's replicated control plane",
		Long:    "kubedevaiops-hub holds the fleet's registry, policies, plans, approvals, audit log and\nlearned knowledge, replicated with Raft across 1, 3 or 5 members.",
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
