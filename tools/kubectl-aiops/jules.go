package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// newJulesCommand is "kubectl aiops jules": the Google Jules sessions the hub follows.
func newJulesCommand(conn *connection, output *string) *cobra.Command {
	j := &cobra.Command{Use: "jules", Short: "The Google Jules sessions the hub follows: onboarding applications and code fixes"}
	var purpose string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the sessions: what each is for, where it stands, its plan and pull request",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				all, err := allPages(func(tok string) ([]*fleetv1.Resource, string, error) {
					out, err := c.ListJulesSessions(ctx, &fleetv1.ListJulesSessionsRequest{Purpose: purpose, PageToken: tok})
					return out.GetSessions(), out.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				return printObjects(cmd.OutOrStdout(), *output, all, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "NAME\tPURPOSE\tFOR\tPHASE\tSTATE\tPLAN\tPULL REQUEST\tAGE")
					for _, r := range all {
						var js hubv1alpha1.JulesSession
						if err := decodeObject(r, &js); err != nil {
							fmt.Fprintf(tw, "%s\t<unreadable: %v>\n", r.GetName(), err)
							continue
						}
						pr := "-"
						if js.Status.PullRequest != nil {
							pr = js.Status.PullRequest.URL
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", js.Name, js.Spec.Purpose, subjectOf(&js), js.Status.Phase, dash(js.Status.State),
							dash(js.Status.PlanRef), pr, age(js.CreationTimestamp.Time))
					}
				})
			})
		},
	}
	list.Flags().StringVar(&purpose, "purpose", "", "only sessions of this purpose: Onboarding or CodeFix")

	var patch bool
	get := &cobra.Command{
		Use:   "get NAME",
		Short: "Show one session as yaml or json; --patch prints only the patch Jules made, for git apply",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.GetJulesSession(ctx, &fleetv1.GetJulesSessionRequest{Name: args[0]})
				if err != nil {
					return err
				}
				if !patch {
					return printObject(cmd.OutOrStdout(), *output, out.GetSession())
				}
				var js hubv1alpha1.JulesSession
				if err := decodeObject(out.GetSession(), &js); err != nil {
					return err
				}
				return writePatch(cmd.OutOrStdout(), &js)
			})
		},
	}
	get.Flags().BoolVar(&patch, "patch", false, "print only the unified diff Jules made")

	var message string
	reply := &cobra.Command{
		Use:   "reply NAME --message TEXT",
		Short: "Answer a session's question (or tell it more); the names its prompt kept in the hub stay there",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if message == "" {
				return errors.New("--message is required")
			}
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.ReplyJulesSession(ctx, &fleetv1.ReplyJulesSessionRequest{Name: args[0], Message: message})
				if err != nil {
					return err
				}
				var js hubv1alpha1.JulesSession
				if err := decodeObject(out.GetSession(), &js); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "julessession/%s: message sent (session %s)\n", js.Name, dash(js.Status.State))
				return nil
			})
		},
	}
	reply.Flags().StringVarP(&message, "message", "m", "", "the message")
	j.AddCommand(list, get, reply)
	return j
}

// subjectOf names what a session is for: the application, and the incident of a code fix.
func subjectOf(js *hubv1alpha1.JulesSession) string {
	switch {
	case js.Spec.IncidentRef != "" && js.Spec.ApplicationRef != "":
		return js.Spec.ApplicationRef + " (incident " + js.Spec.IncidentRef + ")"
	case js.Spec.IncidentRef != "":
		return "incident " + js.Spec.IncidentRef
	}
	return dash(js.Spec.ApplicationRef)
}

func writePatch(w io.Writer, js *hubv1alpha1.JulesSession) error {
	p := js.Status.Patch
	switch {
	case p == nil:
		return fmt.Errorf("jules session %s has no patch (phase %s, state %s)", js.Name, js.Status.Phase, dash(js.Status.State))
	case p.Truncated:
		return fmt.Errorf("the patch of jules session %s is %d bytes, more than the hub keeps: only its digest %s is stored", js.Name, p.Size, p.SHA256)
	case p.UnidiffPatch == "":
		return errors.New("the stored patch is empty")
	}
	_, err := io.WriteString(w, p.UnidiffPatch)
	return err
}
