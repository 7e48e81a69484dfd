package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// newPoliciesCommand is "kubectl aiops policies": AIOpsPolicies stored at the hub.
func newPoliciesCommand(conn *connection, output *string) *cobra.Command {
	policies := &cobra.Command{Use: "policies", Aliases: []string{"policy", "aiop"}, Short: "AIOpsPolicies stored at the hub"}

	var file string
	apply := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create or update an AIOpsPolicy from a YAML or JSON file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return fmt.Errorf("apply: -f FILE is required")
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			obj, err := yaml.YAMLToJSON(data)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			var meta struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name            string `json:"name"`
					ResourceVersion string `json:"resourceVersion"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal(obj, &meta); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.ApplyPolicy(ctx, &fleetv1.ApplyPolicyRequest{Policy: &fleetv1.Resource{
					Kind: meta.Kind, Name: meta.Metadata.Name, ResourceVersion: meta.Metadata.ResourceVersion, ObjectJson: obj,
				}})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "aiopspolicy/%s applied (resourceVersion %s)\n", out.GetPolicy().GetName(), out.GetPolicy().GetResourceVersion())
				return nil
			})
		},
	}
	apply.Flags().StringVarP(&file, "filename", "f", "", "the AIOpsPolicy manifest")

	var stale bool
	consistency := func() fleetv1.ReadConsistency { return readConsistency(stale) }
	list := &cobra.Command{
		Use:   "list",
		Short: "List AIOpsPolicies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				items, err := allPages(func(tok string) ([]*fleetv1.Resource, string, error) {
					out, err := c.ListPolicies(ctx, &fleetv1.ListPoliciesRequest{Consistency: consistency(), PageToken: tok})
					return out.GetPolicies(), out.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				out := &fleetv1.ListPoliciesResponse{Policies: items}
				return printResult(cmd.OutOrStdout(), *output, out, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "NAME\tAUTONOMY\tRESOURCE VERSION")
					for _, p := range out.GetPolicies() {
						var obj struct {
							Spec struct {
								Autonomy string `json:"autonomy"`
							} `json:"spec"`
						}
						_ = json.Unmarshal(p.GetObjectJson(), &obj)
						fmt.Fprintf(tw, "%s\t%s\t%s\n", p.GetName(), obj.Spec.Autonomy, p.GetResourceVersion())
					}
				})
			})
		},
	}
	get := &cobra.Command{
		Use:   "get NAME",
		Short: "Show one AIOpsPolicy as YAML (or -o json)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.GetPolicy(ctx, &fleetv1.GetPolicyRequest{Name: args[0], Consistency: consistency()})
				if err != nil {
					return err
				}
				data := out.GetPolicy().GetObjectJson()
				if *output != "json" {
					if data, err = yaml.JSONToYAML(data); err != nil {
						return err
					}
				}
				_, err = cmd.OutOrStdout().Write(data)
				return err
			})
		},
	}
	for _, c := range []*cobra.Command{list, get} {
		c.Flags().BoolVar(&stale, "stale", false, "read this member's state without a linearizable read barrier")
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an AIOpsPolicy",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				if _, err := c.DeletePolicy(ctx, &fleetv1.DeletePolicyRequest{Name: args[0]}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "aiopspolicy/%s deleted\n", args[0])
				return nil
			})
		},
	}
	policies.AddCommand(apply, list, get, del)
	return policies
}
