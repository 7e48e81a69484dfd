package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// newPlansCommand is "kubectl aiops plans": review, approve and reject what the AI proposes.
func newPlansCommand(conn *connection, output *string) *cobra.Command {
	plans := &cobra.Command{Use: "plans", Aliases: []string{"plan"}, Short: "Plans the AI proposed: review, approve, reject"}
	var planType, phase, cluster string
	var stale bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List plans with their phase, confidence and the approvals they wait for",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				all, err := allPages(func(tok string) ([]*fleetv1.Resource, string, error) {
					out, err := c.ListPlans(ctx, &fleetv1.ListPlansRequest{PlanType: planType, Phase: phase, Cluster: cluster, Consistency: readConsistency(stale), PageToken: tok})
					return out.GetPlans(), out.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				return printObjects(cmd.OutOrStdout(), *output, all, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "NAME\tTYPE\tPHASE\tCLUSTER\tACTION\tCONFIDENCE\tAPPROVALS\tAGE")
					for _, r := range all {
						var p hubv1alpha1.Plan
						if err := decodeObject(r, &p); err != nil {
							fmt.Fprintf(tw, "%s\t<unreadable: %v>\n", r.GetName(), err)
							continue
						}
						action, target := "-", "-"
						if len(p.Spec.Actions) > 0 {
							action, target = string(p.Spec.Actions[0].Type), p.Spec.Actions[0].Cluster
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Spec.Type, p.Status.Phase, target, action, dash(p.Spec.Confidence),
							approvalSummary(&p), age(p.CreationTimestamp.Time))
					}
				})
			})
		},
	}
	list.Flags().StringVar(&planType, "type", "", "only plans of this type: cost, security, rollout, scaling, remediation")
	list.Flags().StringVar(&phase, "phase", "", "only plans in this phase, e.g. Proposed")
	list.Flags().StringVar(&cluster, "cluster", "", "only plans touching this cluster")

	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a plan: what it changes, why, how sure the engine is and what it waits for",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.GetPlan(ctx, &fleetv1.GetPlanRequest{Name: args[0], Consistency: readConsistency(stale)})
				if err != nil {
					return err
				}
				if *output != "table" && *output != "" {
					return printObject(cmd.OutOrStdout(), *output, out.GetPlan())
				}
				var p hubv1alpha1.Plan
				if err := decodeObject(out.GetPlan(), &p); err != nil {
					return err
				}
				describePlan(cmd.OutOrStdout(), &p, out.GetPlan().GetResourceVersion())
				return nil
			})
		},
	}
	for _, c := range []*cobra.Command{list, show} {
		c.Flags().BoolVar(&stale, "stale", false, "read this member's state without a linearizable read barrier")
	}

	var comment, version string
	decide := func(approve bool) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				var r *fleetv1.Resource
				if approve {
					out, err := c.ApprovePlan(ctx, &fleetv1.ApprovePlanRequest{Name: args[0], ResourceVersion: version, Comment: comment})
					if err != nil {
						return err
					}
					r = out.GetPlan()
				} else {
					out, err := c.RejectPlan(ctx, &fleetv1.RejectPlanRequest{Name: args[0], ResourceVersion: version, Comment: comment})
					if err != nil {
						return err
					}
					r = out.GetPlan()
				}
				var p hubv1alpha1.Plan
				if err := decodeObject(r, &p); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "plan/%s %s (%s)\n", p.Name, strings.ToLower(string(p.Status.Phase)), approvalSummary(&p))
				return nil
			})
		}
	}
	approve := &cobra.Command{Use: "approve NAME", Short: "Approve a plan as you (your admin certificate)", Args: cobra.ExactArgs(1), RunE: decide(true)}
	reject := &cobra.Command{Use: "reject NAME", Short: "Reject a plan; nothing in it runs", Args: cobra.ExactArgs(1), RunE: decide(false)}
	for _, c := range []*cobra.Command{approve, reject} {
		c.Flags().StringVar(&comment, "comment", "", "your note, recorded in the audit log (required to reject)")
		c.Flags().StringVar(&version, "resource-version", "", "the version you reviewed (from plans show); refused if the plan changed since")
	}
	explain := &cobra.Command{
		Use:   "explain NAME",
		Short: "Explain a plan in a few sentences (from the provider the hub routes explanations to)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.ExplainPlan(ctx, &fleetv1.ExplainPlanRequest{Name: args[0]})
				if err != nil {
					return err
				}
				return printResult(cmd.OutOrStdout(), *output, out, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, out.GetSummary())
					for _, p := range out.GetPoints() {
						fmt.Fprintf(tw, "- %s\n", p)
					}
					fmt.Fprintln(tw, sourceLine(out.GetSource()))
				})
			})
		},
	}
	plans.AddCommand(list, show, approve, reject, explain)
	return plans
}

// newAskCommand is "kubectl aiops ask": a question about the fleet.
func newAskCommand(conn *connection, output *string) *cobra.Command {
	var clusters []string
	ask := &cobra.Command{
		Use:   "ask QUESTION",
		Short: "Ask a question about the fleet, e.g. \"what is wrong with cluster prod-eu-1\"",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				out, err := c.Ask(ctx, &fleetv1.AskRequest{Question: strings.Join(args, " "), Clusters: clusters})
				if err != nil {
					return err
				}
				return printResult(cmd.OutOrStdout(), *output, out, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, out.GetAnswer())
					for _, f := range out.GetFacts() {
						fmt.Fprintf(tw, "- %s\n", f)
					}
					fmt.Fprintln(tw, sourceLine(out.GetSource()))
				})
			})
		},
	}
	ask.Flags().StringSliceVar(&clusters, "cluster", nil, "the clusters the question is about (default: all)")
	return ask
}

func sourceLine(s *fleetv1.AIAnswerSource) string {
	line := fmt.Sprintf("(answered by %s, model %s", s.GetProvider(), dash(s.GetModel()))
	if s.GetFellBack() {
		line += "; fell back: " + s.GetFallbackReason()
	}
	return line + ")"
}

func approvalSummary(p *hubv1alpha1.Plan) string {
	n := 0
	for _, a := range p.Status.Approvals {
		if a.Approved {
			n++
		}
	}
	if c := meta.FindStatusCondition(p.Status.Conditions, "Approved"); c != nil && c.Reason == "NotAllowedByPolicy" {
		return "not allowed"
	}
	if c := meta.FindStatusCondition(p.Status.Conditions, "Approved"); c != nil && c.Reason == "AutoApproved" {
		return "auto"
	}
	return fmt.Sprintf("%d/%d", n, p.Spec.RequiredApprovals)
}

func describePlan(w io.Writer, p *hubv1alpha1.Plan, rv string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\n", p.Name)
	fmt.Fprintf(tw, "Version:\t%s\n", rv)
	fmt.Fprintf(tw, "Type:\t%s\n", p.Spec.Type)
	fmt.Fprintf(tw, "Phase:\t%s\n", p.Status.Phase)
	fmt.Fprintf(tw, "Summary:\t%s\n", p.Spec.Summary)
	fmt.Fprintf(tw, "Policy:\t%s\n", dash(p.Spec.PolicyRef))
	fmt.Fprintf(tw, "Incident:\t%s\n", dash(p.Spec.IncidentRef))
	fmt.Fprintf(tw, "Proposed by:\t%s (engine %s)\n", dash(p.Spec.ProposedBy), dash(p.Spec.Engine))
	fmt.Fprintf(tw, "Confidence:\t%s\n", dash(p.Spec.Confidence))
	fmt.Fprintf(tw, "Input digest:\t%s\n", dash(p.Spec.InputDigest))
	fmt.Fprintf(tw, "Approvals:\t%s\n", approvalSummary(p))
	fmt.Fprintf(tw, "Dry-run:\t%t\n", p.Spec.DryRun)
	tw.Flush()
	fmt.Fprintln(w, "Actions:")
	for _, a := range p.Spec.Actions {
		params := make([]string, 0, len(a.Parameters))
		for k, v := range a.Parameters {
			params = append(params, k+"="+v)
		}
		sort.Strings(params)
		fmt.Fprintf(w, "  %s %s %s/%s on %s (risk %s) %s\n", a.Type, a.Target.Kind, a.Target.Namespace, a.Target.Name, a.Cluster, a.Risk, strings.Join(params, ","))
	}
	fmt.Fprintf(w, "Rationale:\n  %s\n", p.Spec.Rationale)
	if len(p.Spec.Alternatives) > 0 {
		fmt.Fprintln(w, "Alternatives:")
		for _, a := range p.Spec.Alternatives {
			fmt.Fprintf(w, "  %s\n", a)
		}
	}
	for _, a := range p.Status.Approvals {
		verb := "approved"
		if !a.Approved {
			verb = "rejected"
		}
		fmt.Fprintf(w, "%s by %s at %s: %s\n", verb, a.By, a.Time.UTC().Format(time.RFC3339), a.Comment)
	}
	for _, c := range p.Status.Conditions {
		fmt.Fprintf(w, "Condition %s=%s (%s): %s\n", c.Type, c.Status, c.Reason, c.Message)
	}
}

// newIncidentsCommand is "kubectl aiops incidents": the problems the spokes reported.
func newIncidentsCommand(conn *connection, output *string) *cobra.Command {
	incidents := &cobra.Command{Use: "incidents", Aliases: []string{"incident"}, Short: "Problems the spokes' analyzers found, and what the hub made of them"}
	var cluster, phase string
	list := &cobra.Command{
		Use:   "list",
		Short: "List incidents with their root cause and plan",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				all, err := allPages(func(tok string) ([]*fleetv1.Resource, string, error) {
					out, err := c.ListIncidents(ctx, &fleetv1.ListIncidentsRequest{Cluster: cluster, Phase: phase, PageToken: tok})
					return out.GetIncidents(), out.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				return printObjects(cmd.OutOrStdout(), *output, all, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "NAME\tCLUSTER\tPHASE\tSIGNATURE\tOBJECT\tROOT CAUSE\tPLAN\tAGE")
					for _, r := range all {
						var i hubv1alpha1.Incident
						if err := decodeObject(r, &i); err != nil {
							fmt.Fprintf(tw, "%s\t<unreadable: %v>\n", r.GetName(), err)
							continue
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s/%s/%s\t%s\t%s\t%s\n", i.Name, i.Spec.Cluster, i.Status.Phase, i.Spec.Signature, i.Spec.Object.Kind,
							i.Spec.Object.Namespace, i.Spec.Object.Name, dash(i.Status.RootCause), dash(i.Status.PlanRef), age(i.CreationTimestamp.Time))
					}
				})
			})
		},
	}
	list.Flags().StringVar(&cluster, "cluster", "", "only this cluster's incidents")
	list.Flags().StringVar(&phase, "phase", "", "only incidents in this phase: Open, Planned or Resolved")
	incidents.AddCommand(list)
	return incidents
}

// newKnowledgeCommand is "kubectl aiops knowledge": what the fleet learned.
func newKnowledgeCommand(conn *connection, output *string) *cobra.Command {
	knowledge := &cobra.Command{Use: "knowledge", Short: "What the fleet learned: outcomes of each fix per problem signature"}
	var signature string
	list := &cobra.Command{
		Use:   "list",
		Short: "List (signature, action) outcomes and their success rate",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				all, err := allPages(func(tok string) ([]*fleetv1.Resource, string, error) {
					out, err := c.ListKnowledge(ctx, &fleetv1.ListKnowledgeRequest{Signature: signature, PageToken: tok})
					return out.GetEntries(), out.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				return printObjects(cmd.OutOrStdout(), *output, all, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "SIGNATURE\tACTION\tSUCCESSES\tFAILURES\tPOSTERIOR MEAN\tLAST OUTCOME")
					for _, r := range all {
						var k hubv1alpha1.KnowledgeEntry
						if err := decodeObject(r, &k); err != nil {
							fmt.Fprintf(tw, "%s\t<unreadable: %v>\n", r.GetName(), err)
							continue
						}
						last := "-"
						if k.Spec.LastOutcomeTime != nil {
							last = age(k.Spec.LastOutcomeTime.Time) + " ago"
						}
						fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.2f\t%s\n", k.Spec.Signature, k.Spec.ActionType, k.Spec.Successes, k.Spec.Failures, k.SuccessRate(), last)
					}
				})
			})
		},
	}
	list.Flags().StringVar(&signature, "signature", "", "only this incident signature")
	knowledge.AddCommand(list)
	return knowledge
}

// newTraceCommand is "kubectl aiops trace": the recent traces of AI actions.
func newTraceCommand(conn *connection, output *string) *cobra.Command {
	tr := &cobra.Command{Use: "trace", Short: "Traces of AI actions, gathered from every hub member"}
	var byID bool
	show := &cobra.Command{
		Use:   "show PLAN",
		Short: "Show a plan's trace as a tree: finding, diagnosis, plan, approval, directive, execution, result",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFleet(conn, func(ctx context.Context, c fleetv1.FleetClient) error {
				req := &fleetv1.GetTraceRequest{Plan: args[0]}
				if byID {
					req = &fleetv1.GetTraceRequest{TraceId: args[0]}
				}
				out, err := c.GetTrace(ctx, req)
				if err != nil {
					return err
				}
				return printResult(cmd.OutOrStdout(), *output, out, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "trace %s: %d span(s)\n", out.GetTraceId(), len(out.GetSpans()))
					if len(out.GetUnreachableMembers()) > 0 {
						fmt.Fprintf(tw, "members not asked (their spans are missing): %s\n", strings.Join(out.GetUnreachableMembers(), ", "))
					}
					writeSpanTree(tw, out.GetSpans())
				})
			})
		},
	}
	show.Flags().BoolVar(&byID, "trace-id", false, "the argument is a trace id (32 hex digits), not a plan")
	tr.AddCommand(show)
	return tr
}

// writeSpanTree prints spans as a tree under their parents; spans whose parent is not in the
// trace are printed as roots.
func writeSpanTree(w io.Writer, spans []*fleetv1.TraceSpan) {
	byID := map[string]bool{}
	children := map[string][]*fleetv1.TraceSpan{}
	for _, s := range spans {
		byID[s.GetSpanId()] = true
	}
	var roots []*fleetv1.TraceSpan
	for _, s := range spans {
		if p := s.GetParentSpanId(); p != "" && byID[p] {
			children[p] = append(children[p], s)
		} else {
			roots = append(roots, s)
		}
	}
	var walk func(s *fleetv1.TraceSpan, depth int)
	walk = func(s *fleetv1.TraceSpan, depth int) {
		where := s.GetService()
		if s.GetCluster() != "" {
			where += "@" + s.GetCluster()
		} else if s.GetMember() != "" {
			where += "@" + s.GetMember()
		}
		d := s.GetEndTime().AsTime().Sub(s.GetStartTime().AsTime())
		status := s.GetStatusCode()
		if s.GetStatusMessage() != "" {
			status += ": " + s.GetStatusMessage()
		}
		fmt.Fprintf(w, "%s%s\t%s\t%s\t%s\t%s\n", strings.Repeat("  ", depth), s.GetName(), where,
			s.GetStartTime().AsTime().UTC().Format("15:04:05.000"), strconv.FormatFloat(d.Seconds()*1000, 'f', 1, 64)+"ms", status)
		for _, c := range children[s.GetSpanId()] {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
}
