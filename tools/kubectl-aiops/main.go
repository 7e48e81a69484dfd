// Command kubectl-aiops is the operator's CLI for the KubeDevAIOps hub; installed on PATH it
// also works as the kubectl plugin "kubectl aiops". At this stage it only reports its version.
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
		Use:     "kubectl-aiops",
		Short:   "Operate a KubeDevAIOps fleet: clusters, policies, plans, approvals, audit",
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
