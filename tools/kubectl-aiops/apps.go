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

// newAppsCommand is "kubectl aiops apps": ManagedApplications stored at the hub, which onboards
// those with a Git source and a cluster through Google Jules.
func newAppsCommand(conn *connection, output *string) *cobra.Command {
	apps := &cobra.Command{Use: "apps", Aliases: []string{"app", "applications", "mapp"}, Short: "ManagedApplications stored at the hub (onboarded through Jules)"}

	var file string
	apply := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create or update a ManagedApplication from a YAML or JSON file (its status stays the hub's)",
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
					Namespace       string `json:"namespace"`
					ResourceVersion string `json:"resourceVersion"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal(obj, &meta); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if meta.Metadata.Namespace == "" {
				return fmt.Errorf("%s: a ManagedApplication needs metadata.namespace", file)
			}
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.ApplyApplication(ctx, &fleetv1.ApplyApplicationRequest{Application: &fleetv1.Resource{
					Kind: meta.Kind, Name: meta.Metadata.Name, Namespace: meta.Metadata.Namespace, ResourceVersion: meta.Metadata.ResourceVersion, ObjectJson: obj,
				}})
				if err != nil {
					return err
				}
				a := out.GetApplication()
				fmt.Fprintf(cmd.OutOrStdout(), "managedapplication/%s/%s applied (resourceVersion %s)\n", a.GetNamespace(), a.GetName(), a.GetResourceVersion())
				return nil
			})
		},
	}
	apply.Flags().StringVarP(&file, "filename", "f", "", "the ManagedApplication manifest")

	var (
		stale     bool
		namespace string
	)
	consistency := func() fleetv1.ReadConsistency { return readConsistency(stale) }
	list := &cobra.Command{
		Use:   "list [-n NAMESPACE]",
		Short: "List ManagedApplications with their onboarding state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				items, err := allPages(func(tok string) ([]*fleetv1.Resource, string, error) {
					out, err := c.ListApplications(ctx, &fleetv1.ListApplicationsRequest{Namespace: namespace, Consistency: consistency(), PageToken: tok})
					return out.GetApplications(), out.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				out := &fleetv1.ListApplicationsResponse{Applications: items}
				return printResult(cmd.OutOrStdout(), *output, out, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "NAMESPACE\tNAME\tCLUSTER\tSOURCE\tONBOARDED\tRESOURCE VERSION")
					for _, r := range out.GetApplications() {
						var obj struct {
							Spec struct {
								Cluster string `json:"cluster"`
								Source  struct {
									Git *struct {
										URL string `json:"url"`
									} `json:"git"`
									Image *struct {
										Repository string `json:"repository"`
									} `json:"image"`
								} `json:"source"`
							} `json:"spec"`
							Status struct {
								Conditions []struct {
									Type, Status, Reason string
								} `json:"conditions"`
							} `json:"status"`
						}
						_ = json.Unmarshal(r.GetObjectJson(), &obj)
						source := ""
						switch {
						case obj.Spec.Source.Git != nil:
							source = obj.Spec.Source.Git.URL
						case obj.Spec.Source.Image != nil:
							source = obj.Spec.Source.Image.Repository
						}
						onboarded := "-"
						for _, c := range obj.Status.Conditions {
							if c.Type == "Onboarded" {
								onboarded = c.Status + " (" + c.Reason + ")"
							}
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.GetNamespace(), r.GetName(), obj.Spec.Cluster, source, onboarded, r.GetResourceVersion())
					}
				})
			})
		},
	}
	list.Flags().StringVarP(&namespace, "namespace", "n", "", "only this namespace (default: all)")
	var getNamespace string
	get := &cobra.Command{
		Use:   "get NAME -n NAMESPACE",
		Short: "Show one ManagedApplication as YAML (or -o json), status included",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.GetApplication(ctx, &fleetv1.GetApplicationRequest{Namespace: getNamespace, Name: args[0], Consistency: consistency()})
				if err != nil {
					return err
				}
				data := out.GetApplication().GetObjectJson()
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
	get.Flags().StringVarP(&getNamespace, "namespace", "n", "default", "the application's namespace")
	for _, c := range []*cobra.Command{list, get} {
		c.Flags().BoolVar(&stale, "stale", false, "read this member's state without a linearizable read barrier")
	}
	var delNamespace string
	del := &cobra.Command{
		Use:   "delete NAME -n NAMESPACE",
		Short: "Delete a ManagedApplication",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				if _, err := c.DeleteApplication(ctx, &fleetv1.DeleteApplicationRequest{Namespace: delNamespace, Name: args[0]}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "managedapplication/%s/%s deleted\n", delNamespace, args[0])
				return nil
			})
		},
	}
	del.Flags().StringVarP(&delNamespace, "namespace", "n", "default", "the application's namespace")
	apps.AddCommand(apply, list, get, del)
	return apps
}
