package builtin

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai"
	"github.com/kubedevaiops/kubedevaiops/hub/diagnose"
)

// Explain summarises what the request names — plan, incident, diagnosis, in that order — from
// their fields alone: the same request gives the same text. Long texts are clipped and points
// beyond ai.MaxPoints dropped, so the answer always validates.
func Explain(req ai.ExplainRequest) (ai.ExplainAnswer, error) {
	if err := req.Validate(); err != nil {
		return ai.ExplainAnswer{}, fmt.Errorf("explain: %w", err)
	}
	var summaries, points []string
	if p := req.Plan; p != nil {
		s, ps := explainPlan(p)
		summaries, points = append(summaries, s), append(points, ps...)
	}
	if inc := req.Incident; inc != nil {
		s, ps := explainIncident(inc)
		summaries, points = append(summaries, s), append(points, ps...)
	}
	if d := req.Diagnosis; d != nil {
		s, ps := explainDiagnosis(d)
		summaries, points = append(summaries, s), append(points, ps...)
	}
	return ai.ExplainAnswer{Summary: clip(strings.Join(summaries, " "), ai.MaxSummaryRunes), Points: clipAll(points, ai.MaxPoints, ai.MaxPointRunes)}, nil
}

func explainPlan(p *hubv1alpha1.Plan) (string, []string) {
	b := &strings.Builder{}
	fmt.Fprintf(b, "Plan %s (%s) is %s", p.Name, p.Spec.Type, phaseOf(p.Status.Phase))
	if len(p.Spec.Actions) > 0 {
		b.WriteString(": it ")
		if p.Status.Phase == hubv1alpha1.PlanProposed {
			b.WriteString("proposes ")
		} else {
			b.WriteString("holds ")
		}
		var as []string
		for _, a := range p.Spec.Actions {
			as = append(as, fmt.Sprintf("%s on %s %s in cluster %s", a.Type, a.Target.Kind, nsName(a.Target.Namespace, a.Target.Name), a.Cluster))
		}
		b.WriteString(strings.Join(as, ", then "))
	}
	if p.Spec.Engine != "" {
		fmt.Fprintf(b, ", by %s", p.Spec.Engine)
	}
	if p.Spec.Confidence != "" {
		fmt.Fprintf(b, " with confidence %s", p.Spec.Confidence)
	}
	b.WriteString(".")
	if p.Status.Phase == hubv1alpha1.PlanProposed && p.Spec.RequiredApprovals > 0 {
		fmt.Fprintf(b, " It waits for %d approval(s) (%d recorded).", p.Spec.RequiredApprovals, approvals(p))
	}
	var pts []string
	if p.Spec.Rationale != "" {
		pts = append(pts, "Why: "+p.Spec.Rationale)
	}
	for _, a := range p.Spec.Actions {
		pts = append(pts, fmt.Sprintf("Action %s on %s %s in cluster %s, risk %s%s.", a.Type, a.Target.Kind, nsName(a.Target.Namespace, a.Target.Name), a.Cluster, a.Risk, params(a.Parameters)))
	}
	if p.Spec.IncidentRef != "" {
		pts = append(pts, "It answers incident "+p.Spec.IncidentRef+".")
	}
	if p.Spec.PolicyRef != "" {
		pts = append(pts, "Governed by policy "+p.Spec.PolicyRef+".")
	}
	if p.Spec.DryRun {
		pts = append(pts, "Dry-run only: the spoke checks what would change and changes nothing.")
	}
	for _, alt := range p.Spec.Alternatives {
		pts = append(pts, "Considered instead: "+alt+".")
	}
	for _, ap := range p.Status.Approvals {
		verb := "approved"
		if !ap.Approved {
			verb = "rejected"
		}
		s := fmt.Sprintf("%s %s it at %s", ap.By, verb, stamp(ap.Time))
		if ap.Comment != "" {
			s += ": " + ap.Comment
		}
		pts = append(pts, s+".")
	}
	conds := slices.Clone(p.Status.Conditions)
	slices.SortFunc(conds, func(a, b metav1.Condition) int { return strings.Compare(a.Type, b.Type) })
	for _, c := range conds {
		pts = append(pts, fmt.Sprintf("%s is %s (%s): %s", c.Type, c.Status, c.Reason, c.Message))
	}
	return b.String(), pts
}

func approvals(p *hubv1alpha1.Plan) int {
	n := 0
	for _, a := range p.Status.Approvals {
		if a.Approved {
			n++
		}
	}
	return n
}

func phaseOf(p hubv1alpha1.PlanPhase) string {
	if p == "" {
		return "not yet decided"
	}
	return string(p)
}

func explainIncident(inc *hubv1alpha1.Incident) (string, []string) {
	s, st := &inc.Spec, &inc.Status
	b := &strings.Builder{}
	phase := string(st.Phase)
	if phase == "" {
		phase = string(hubv1alpha1.IncidentOpen)
	}
	fmt.Fprintf(b, "Incident %s on cluster %s: %s on %s %s, %s since %s", inc.Name, s.Cluster, s.Signature, s.Object.Kind,
		nsName(s.Object.Namespace, s.Object.Name), phase, stamp(s.FirstObservedTime))
	if st.RootCause != "" {
		fmt.Fprintf(b, ", root cause %s", st.RootCause)
	}
	if st.PlanRef != "" {
		fmt.Fprintf(b, ", remediated by plan %s", st.PlanRef)
	}
	b.WriteString(".")
	var pts []string
	if s.Summary != "" {
		pts = append(pts, "Spoke's summary: "+s.Summary)
	}
	if st.Message != "" {
		pts = append(pts, st.Message)
	}
	if st.IncidentSignature != "" && st.IncidentSignature != s.Signature {
		pts = append(pts, "Incident signature (the key of fleet learning): "+st.IncidentSignature+".")
	}
	if st.FleetIncident != "" {
		pts = append(pts, "Part of fleet incident "+st.FleetIncident+".")
	}
	for _, e := range s.Evidence {
		if e.Summary != "" {
			pts = append(pts, fmt.Sprintf("Evidence (%s): %s", e.Type, e.Summary))
		}
	}
	pts = append(pts, "Last observed "+stamp(s.LastObservedTime)+".")
	if st.ResolvedTime != nil {
		pts = append(pts, "Resolved "+stamp(*st.ResolvedTime)+".")
	}
	return b.String(), pts
}

func explainDiagnosis(d *diagnose.Diagnosis) (string, []string) {
	b := &strings.Builder{}
	fmt.Fprintf(b, "Diagnosis of %s on %s in cluster %s: root cause %s with confidence %.2f", d.FindingSignature, d.Object.String(), d.Cluster, d.Category, d.Confidence)
	if d.Symptom != "" && d.Symptom != d.Category {
		fmt.Fprintf(b, " (symptom %s)", d.Symptom)
	}
	b.WriteString(". ")
	b.WriteString(d.Hypothesis)
	var pts []string
	if s := d.SuspectChange; s != nil {
		pts = append(pts, fmt.Sprintf("Suspect change: %s from revision %d to %d, %s before the failure started.", s.Owner.String(), s.FromRevision, s.ToRevision, s.Lead.Round(time.Second)))
	}
	if t := d.LogTemplate; t != nil {
		pts = append(pts, fmt.Sprintf("Dominant log template %s: %q", t.ID, t.Text))
	}
	for i, r := range d.Remediations {
		s := fmt.Sprintf("Remediation %d: %s on %s%s, confidence %.2f (%d success(es), %d failure(s) in the fleet)", i+1, r.Action, r.Target.String(), params(r.Parameters), r.Confidence, r.Successes, r.Failures)
		if r.Unsafe {
			s += ", never proposed: it failed too often"
		}
		pts = append(pts, s+".")
	}
	if len(d.Remediations) == 0 {
		pts = append(pts, "No remediation applies.")
	}
	for _, w := range d.Warnings {
		pts = append(pts, "Warning: "+w)
	}
	return b.String(), pts
}

func params(p map[string]string) string {
	if len(p) == 0 {
		return ""
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var kv []string
	for _, k := range keys {
		if k == "manifests" {
			kv = append(kv, fmt.Sprintf("manifests (%d bytes)", len(p[k])))
			continue
		}
		kv = append(kv, k+"="+p[k])
	}
	return " with " + strings.Join(kv, ", ")
}

func nsName(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

func stamp(t metav1.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	return t.UTC().Format(time.RFC3339)
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// clipAll drops empty texts and control characters, clips each text to n runes and keeps the
// first max, so built-in answers always pass the validators.
func clipAll(ss []string, max, n int) []string {
	out := []string{}
	for _, s := range ss {
		s = strings.Map(func(r rune) rune {
			if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				return ' '
			}
			return r
		}, s)
		if strings.TrimSpace(s) == "" {
			continue
		}
		if out = append(out, clip(s, n)); len(out) == max {
			break
		}
	}
	return out
}
