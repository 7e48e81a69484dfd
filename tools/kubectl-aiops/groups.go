package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	"sigs.k8s.io/yaml"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// readManifest reads one YAML or JSON object into a Resource.
func readManifest(file, kind string) (*fleetv1.Resource, error) {
	if file == "" {
		return nil, fmt.Errorf("-f FILE is required")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	obj, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var m struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name, Namespace, ResourceVersion string
		} `json:"metadata"`
	}
	if err := json.Unmarshal(obj, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if m.Kind != kind {
		return nil, fmt.Errorf("%s holds a %q, not a %s", file, m.Kind, kind)
	}
	return &fleetv1.Resource{Kind: m.Kind, Name: m.Metadata.Name, Namespace: m.Metadata.Namespace, ResourceVersion: m.Metadata.ResourceVersion, ObjectJson: obj}, nil
}

func readConsistency(stale bool) fleetv1.ReadConsistency {
	if stale {
		return fleetv1.ReadConsistency_READ_CONSISTENCY_STALE
	}
	return fleetv1.ReadConsistency_READ_CONSISTENCY_UNSPECIFIED
}

// newSetsCommand is "kubectl aiops sets": ManagedClusterSets.
func newSetsCommand(conn *connection, output *string) *cobra.Command {
	sets := &cobra.Command{Use: "sets", Aliases: []string{"set", "clustersets"}, Short: "ManagedClusterSets: groups of clusters"}
	var file string
	var stale bool
	apply := &cobra.Command{
		Use: "apply -f FILE", Short: "Create or update a ManagedClusterSet", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := readManifest(file, "ManagedClusterSet")
			if err != nil {
				return err
			}
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.ApplyClusterSet(ctx, &fleetv1.ApplyClusterSetRequest{ClusterSet: r})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "managedclusterset/%s applied\n", out.GetClusterSet().GetName())
				return nil
			})
		},
	}
	apply.Flags().StringVarP(&file, "filename", "f", "", "the ManagedClusterSet manifest")
	list := &cobra.Command{
		Use: "list", Short: "List ManagedClusterSets with their members", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				sets, err := allPages(func(tok string) ([]*fleetv1.Resource, string, error) {
					out, err := c.ListClusterSets(ctx, &fleetv1.ListClusterSetsRequest{Consistency: readConsistency(stale), PageToken: tok})
					return out.GetClusterSets(), out.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				out := &fleetv1.ListClusterSetsResponse{ClusterSets: sets}
				members := map[string][]string{}
				if *output == "" || *output == "table" {
					all, err := allPages(func(tok string) ([]*fleetv1.Resource, string, error) {
						out, err := c.ListClusters(ctx, &fleetv1.ListClustersRequest{Consistency: readConsistency(stale), PageToken: tok})
						return out.GetClusters(), out.GetNextPageToken(), err
					})
					if err != nil {
						return err
					}
					for _, r := range out.GetClusterSets() {
						var set clusterv1beta2.ManagedClusterSet
						if decodeObject(r, &set) != nil {
							continue
						}
						for _, mc := range all {
							if inSet(&set, mc) {
								members[set.Name] = append(members[set.Name], mc.GetName())
							}
						}
					}
				}
				return printObjects(cmd.OutOrStdout(), *output, out.GetClusterSets(), func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "NAME\tSELECTOR\tCLUSTERS")
					for _, r := range out.GetClusterSets() {
						var set clusterv1beta2.ManagedClusterSet
						_ = decodeObject(r, &set)
						sel := string(set.Spec.ClusterSelector.SelectorType)
						if sel == "" {
							sel = string(clusterv1beta2.ExclusiveClusterSetLabel)
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\n", set.Name, sel, dash(strings.Join(members[set.Name], ",")))
					}
				})
			})
		},
	}
	get := &cobra.Command{
		Use: "get NAME", Short: "Show one ManagedClusterSet", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.GetClusterSet(ctx, &fleetv1.GetClusterSetRequest{Name: args[0], Consistency: readConsistency(stale)})
				if err != nil {
					return err
				}
				return printObject(cmd.OutOrStdout(), *output, out.GetClusterSet())
			})
		},
	}
	for _, c := range []*cobra.Command{list, get} {
		c.Flags().BoolVar(&stale, "stale", false, "read this member's state without a linearizable read barrier")
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a ManagedClusterSet (its clusters stay)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				if _, err := c.DeleteClusterSet(ctx, &fleetv1.DeleteClusterSetRequest{Name: args[0]}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "managedclusterset/%s deleted\n", args[0])
				return nil
			})
		},
	}
	sets.AddCommand(apply, list, get, del)
	return sets
}

// inSet says whether a cluster is a member of set, as the hub's scheduler decides it.
func inSet(set *clusterv1beta2.ManagedClusterSet, mc *fleetv1.Resource) bool {
	var obj struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if json.Unmarshal(mc.GetObjectJson(), &obj) != nil {
		return false
	}
	if set.Spec.ClusterSelector.SelectorType == clusterv1beta2.LabelSelector {
		sel, err := metav1LabelSelector(set.Spec.ClusterSelector.LabelSelector)
		return err == nil && sel.Matches(labelSet(obj.Metadata.Labels))
	}
	return obj.Metadata.Labels[clusterv1beta2.ClusterSetLabel] == set.Name
}

// newPlacementsCommand is "kubectl aiops placements": Placements and their decisions.
func newPlacementsCommand(conn *connection, output *string) *cobra.Command {
	placements := &cobra.Command{Use: "placements", Aliases: []string{"placement"}, Short: "Placements: which clusters a rollout or policy targets"}
	var file, namespace string
	var stale bool
	apply := &cobra.Command{
		Use: "apply -f FILE", Short: "Create or update a Placement", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := readManifest(file, "Placement")
			if err != nil {
				return err
			}
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.ApplyPlacement(ctx, &fleetv1.ApplyPlacementRequest{Placement: r})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "placement/%s applied in %s\n", out.GetPlacement().GetName(), out.GetPlacement().GetNamespace())
				return nil
			})
		},
	}
	apply.Flags().StringVarP(&file, "filename", "f", "", "the Placement manifest")
	list := &cobra.Command{
		Use: "list", Short: "List Placements with what they selected", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				items, err := allPages(func(tok string) ([]*fleetv1.Resource, string, error) {
					out, err := c.ListPlacements(ctx, &fleetv1.ListPlacementsRequest{Namespace: namespace, Consistency: readConsistency(stale), PageToken: tok})
					return out.GetPlacements(), out.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				out := &fleetv1.ListPlacementsResponse{Placements: items}
				return printObjects(cmd.OutOrStdout(), *output, out.GetPlacements(), func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "NAMESPACE\tNAME\tSELECTED\tSATISFIED\tGROUPS")
					for _, r := range out.GetPlacements() {
						var p clusterv1beta1.Placement
						_ = decodeObject(r, &p)
						sat := "-"
						if c := meta.FindStatusCondition(p.Status.Conditions, clusterv1beta1.PlacementConditionSatisfied); c != nil {
							sat = string(c.Status) + " (" + c.Reason + ")"
						}
						fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\n", p.Namespace, p.Name, p.Status.NumberOfSelectedClusters, sat, len(p.Status.DecisionGroups))
					}
				})
			})
		},
	}
	get := &cobra.Command{
		Use: "get NAME", Short: "Show one Placement", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.GetPlacement(ctx, &fleetv1.GetPlacementRequest{Namespace: namespace, Name: args[0], Consistency: readConsistency(stale)})
				if err != nil {
					return err
				}
				return printObject(cmd.OutOrStdout(), *output, out.GetPlacement())
			})
		},
	}
	decisions := &cobra.Command{
		Use: "decisions NAME", Short: "Show which clusters a Placement selected, by decision group", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				items, err := allPages(func(tok string) ([]*fleetv1.Resource, string, error) {
					out, err := c.ListPlacementDecisions(ctx, &fleetv1.ListPlacementDecisionsRequest{Namespace: namespace, Placement: args[0],
						Consistency: readConsistency(stale), PageToken: tok})
					return out.GetDecisions(), out.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				out := &fleetv1.ListPlacementDecisionsResponse{Decisions: items}
				return printObjects(cmd.OutOrStdout(), *output, out.GetDecisions(), func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "DECISION\tGROUP\tGROUP NAME\tCLUSTER")
					for _, r := range out.GetDecisions() {
						var d clusterv1beta1.PlacementDecision
						_ = decodeObject(r, &d)
						for _, cd := range d.Status.Decisions {
							fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Name, d.Labels[clusterv1beta1.DecisionGroupIndexLabel], dash(d.Labels[clusterv1beta1.DecisionGroupNameLabel]), cd.ClusterName)
						}
					}
				})
			})
		},
	}
	for _, c := range []*cobra.Command{list, get, decisions} {
		c.Flags().BoolVar(&stale, "stale", false, "read this member's state without a linearizable read barrier")
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a Placement and its decisions", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				if _, err := c.DeletePlacement(ctx, &fleetv1.DeletePlacementRequest{Namespace: namespace, Name: args[0]}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "placement/%s deleted from %s\n", args[0], namespace)
				return nil
			})
		},
	}
	placements.PersistentFlags().StringVarP(&namespace, "namespace", "n", "default", "namespace of the Placement")
	placements.AddCommand(apply, list, get, decisions, del)
	return placements
}
