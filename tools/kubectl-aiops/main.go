// Command kubectl-aiops is the operator's CLI for the KubeDevAIOps hub; installed on PATH it
// also works as the kubectl plugin "kubectl aiops".
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"
)

// commit and version are set at link time by the Makefile (-X main.commit=...).
var (
	commit  = "unknown"
	version = "v0.0.0-dev"
)

func main() {
	root := newRootCommand()
	if err := root.Execute(); err != nil {
		msg := err.Error()
		// A gRPC error reads better without its transport prefix.
		if st, ok := status.FromError(err); ok {
			msg = st.Message()
		}
		fmt.Fprintf(os.Stderr, "Error: %s\n", msg)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	var (
		conn   connection
		output string
	)
	root := &cobra.Command{
		Use:           "kubectl-aiops",
		Short:         "Operate a KubeDevAIOps fleet: hub, clusters, policies, plans, approvals, audit",
		Version:       fmt.Sprintf("%s (commit %s)", version, commit),
		SilenceUsage:  true,
		SilenceErrors: true, // main prints them, once
	}
	conn.addFlags(root.PersistentFlags())
	root.PersistentFlags().StringVarP(&output, "output", "o", "table", "output format: "+strings.Join([]string{"table", "json", "yaml"}, ", "))
	root.AddCommand(newHubCommand(&conn, &output), newClustersCommand(&conn, &output), newTokenCommand(&conn, &output),
		newSetsCommand(&conn, &output), newPlacementsCommand(&conn, &output),
		newPoliciesCommand(&conn, &output), newAppsCommand(&conn, &output), newAuditCommand(&conn, &output),
		newPlansCommand(&conn, &output), newIncidentsCommand(&conn, &output), newKnowledgeCommand(&conn, &output), newTraceCommand(&conn, &output), newAskCommand(&conn, &output), newJulesCommand(&conn, &output))
	return root
}
