package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// newClustersCommand is "kubectl aiops clusters": the ManagedClusters of the fleet.
func newClustersCommand(conn *connection, output *string) *cobra.Command {
	clusters := &cobra.Command{Use: "clusters", Aliases: []string{"cluster", "mc"}, Short: "ManagedClusters registered with the hub"}

	var selector, set string
	var pending, stale bool
	consistency := func() fleetv1.ReadConsistency { return readConsistency(stale) }
	list := &cobra.Command{
		Use:   "list",
		Short: "List clusters with their acceptance, availability and set",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				all, err := allPages(func(tok string) ([]*fleetv1.Resource, string, error) {
					out, err := c.ListClusters(ctx, &fleetv1.ListClustersRequest{LabelSelector: selector, ClusterSet: set, PendingOnly: pending,
						Consistency: consistency(), PageToken: tok})
					return out.GetClusters(), out.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				return printObjects(cmd.OutOrStdout(), *output, all, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "NAME\tACCEPTED\tJOINED\tAVAILABLE\tSET\tKUBERNETES\tAGE")
					for _, r := range all {
						var mc clusterv1.ManagedCluster
						if err := decodeObject(r, &mc); err != nil {
							fmt.Fprintf(tw, "%s\t<unreadable: %v>\n", r.GetName(), err)
							continue
						}
						fmt.Fprintf(tw, "%s\t%t\t%s\t%s\t%s\t%s\t%s\n", mc.Name, mc.Spec.HubAcceptsClient,
							condition(&mc, clusterv1.ManagedClusterConditionJoined), condition(&mc, clusterv1.ManagedClusterConditionAvailable),
							dash(mc.Labels[clusterv1beta2.ClusterSetLabel]), dash(mc.Status.Version.Kubernetes), age(mc.CreationTimestamp.Time))
					}
				})
			})
		},
	}
	list.Flags().StringVarP(&selector, "selector", "l", "", "label selector, e.g. env=prod,region in (eu,us)")
	list.Flags().StringVar(&set, "set", "", "only clusters in this ManagedClusterSet")
	list.Flags().BoolVar(&pending, "pending", false, "only clusters not yet accepted")

	get := &cobra.Command{
		Use:   "get NAME",
		Short: "Show one ManagedCluster as YAML (or -o json)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.GetCluster(ctx, &fleetv1.GetClusterRequest{Name: args[0], Consistency: consistency()})
				if err != nil {
					return err
				}
				return printObject(cmd.OutOrStdout(), *output, out.GetCluster())
			})
		},
	}
	for _, c := range []*cobra.Command{list, get} {
		c.Flags().BoolVar(&stale, "stale", false, "read this member's state without a linearizable read barrier")
	}

	var comment string
	accept := &cobra.Command{
		Use:   "accept NAME",
		Short: "Accept a cluster: the hub signs its pending certificate request",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				if _, err := c.AcceptCluster(ctx, &fleetv1.AcceptClusterRequest{Name: args[0], Comment: comment}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "managedcluster/%s accepted\n", args[0])
				return nil
			})
		},
	}
	accept.Flags().StringVar(&comment, "comment", "", "why, recorded in the audit log")

	var reason string
	deny := &cobra.Command{
		Use:   "deny NAME",
		Short: "Deny a pending cluster, or revoke an accepted one and close its stream",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				if _, err := c.DenyCluster(ctx, &fleetv1.DenyClusterRequest{Name: args[0], Reason: reason}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "managedcluster/%s denied\n", args[0])
				return nil
			})
		},
	}
	deny.Flags().StringVar(&reason, "reason", "", "reason, shown to the spoke and recorded in the audit log")

	label := &cobra.Command{
		Use:   "label NAME KEY=VALUE... KEY-...",
		Short: "Set (KEY=VALUE) or remove (KEY-) labels of a cluster",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &fleetv1.LabelClusterRequest{Name: args[0], Set: map[string]string{}}
			for _, a := range args[1:] {
				switch {
				case strings.HasSuffix(a, "-") && !strings.Contains(a, "="):
					req.Remove = append(req.Remove, strings.TrimSuffix(a, "-"))
				case strings.Contains(a, "="):
					k, v, _ := strings.Cut(a, "=")
					req.Set[k] = v
				default:
					return fmt.Errorf("label %q: write KEY=VALUE to set or KEY- to remove", a)
				}
			}
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				if _, err := c.LabelCluster(ctx, req); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "managedcluster/%s labeled\n", args[0])
				return nil
			})
		},
	}

	var kinds []string
	var namespace string
	inv := &cobra.Command{
		Use:   "inventory NAME",
		Short: "Show the live inventory the cluster streams to the hub",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.GetClusterInventory(ctx, &fleetv1.GetClusterInventoryRequest{Name: args[0], Kinds: kinds, Namespace: namespace})
				if err != nil {
					return err
				}
				return printResult(cmd.OutOrStdout(), *output, out, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "# cluster %s, sequence %d, from hub member %s\n", out.GetClusterName(), out.GetSequence(), out.GetMemberId())
					fmt.Fprintln(tw, "KIND\tNAMESPACE\tNAME\tPHASE\tREADY\tREASON")
					for _, o := range out.GetObjects() {
						r := o.GetRef()
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\n", r.GetKind(), dash(r.GetNamespace()), r.GetName(),
							dash(o.GetStatus().GetPhase()), o.GetStatus().GetReady(), dash(o.GetStatus().GetReason()))
					}
				})
			})
		},
	}
	inv.Flags().StringSliceVar(&kinds, "kind", nil, "only these kinds, e.g. Pod,Deployment")
	inv.Flags().StringVarP(&namespace, "namespace", "n", "", "only this namespace")

	clusters.AddCommand(list, get, accept, deny, label, inv)
	return clusters
}

func condition(mc *clusterv1.ManagedCluster, typ string) string {
	c := meta.FindStatusCondition(mc.Status.Conditions, typ)
	if c == nil {
		return "-"
	}
	return string(c.Status)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
