package builtin

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/ai"
	"github.com/kubedevaiops/kubedevaiops/hub/knowledge"
)

// Answer answers a question of one of the forms ai.ParseQuestion knows from view. A subject
// that does not exist (no such plan or cluster, an image nobody runs) gets an answer saying so;
// a question of no known form is an error wrapping ai.ErrUnknownQuestion that lists the forms.
func Answer(question string, view ai.FleetView) (ai.QuestionAnswer, error) {
	if view == nil {
		return ai.QuestionAnswer{}, fmt.Errorf("answer: no fleet view")
	}
	q, err := ai.ParseQuestion(question)
	if err != nil {
		return ai.QuestionAnswer{}, err
	}
	var text string
	var facts []string
	switch q.Form {
	case ai.FormWhyPlan:
		text, facts = whyPlan(q.Subject, view)
	case ai.FormClusterProblems:
		text, facts = clusterProblems(q.Subject, view)
	case ai.FormImageClusters:
		text, facts = imageClusters(q.Subject, view)
	case ai.FormSignatureLearned:
		text, facts = signatureLearned(q.Subject, view)
	}
	return ai.QuestionAnswer{Form: q.Form, Answer: clip(text, ai.MaxAnswerRunes), Facts: clipAll(facts, ai.MaxFacts, ai.MaxFactRunes)}, nil
}

func whyPlan(name string, view ai.FleetView) (string, []string) {
	p, ok := view.Plan(name)
	if !ok {
		return fmt.Sprintf("I know no plan named %s.", name), nil
	}
	text, facts := explainPlan(p)
	if p.Spec.Rationale != "" {
		text += " " + p.Spec.Rationale
	}
	if inc, ok := view.Incident(p.Spec.IncidentRef); ok && p.Spec.IncidentRef != "" {
		s, _ := explainIncident(inc)
		facts = append(facts, s)
	}
	actions := slices.Clone(view.Actions(name))
	slices.SortFunc(actions, func(a, b hubv1alpha1.Action) int { return strings.Compare(a.Name, b.Name) })
	for _, a := range actions {
		s := fmt.Sprintf("Action %s (%s on %s %s in cluster %s) is %s", a.Name, a.Spec.Type, a.Spec.Target.Kind, nsName(a.Spec.Target.Namespace, a.Spec.Target.Name), a.Spec.Cluster, orUnknown(string(a.Status.Phase)))
		if r := a.Status.Result; r != nil {
			switch {
			case r.Succeeded:
				s += ", succeeded"
			case r.RolledBack:
				s += ", rolled back"
			default:
				s += ", failed"
			}
			if r.Reason != "" {
				s += " (" + r.Reason + ")"
			}
			if r.Message != "" {
				s += ": " + r.Message
			}
		}
		facts = append(facts, s+".")
	}
	return text, facts
}

func clusterProblems(cluster string, view ai.FleetView) (string, []string) {
	if !view.ClusterKnown(cluster) {
		return fmt.Sprintf("No cluster named %s is registered.", cluster), nil
	}
	var open []hubv1alpha1.Incident
	for _, inc := range view.Incidents(cluster) {
		if inc.Spec.Cluster == cluster && inc.Status.Phase != hubv1alpha1.IncidentResolved {
			open = append(open, inc)
		}
	}
	if len(open) == 0 {
		return fmt.Sprintf("Nothing I know of: cluster %s has no open incidents.", cluster), nil
	}
	slices.SortFunc(open, func(a, b hubv1alpha1.Incident) int {
		return cmp.Or(b.Spec.LastObservedTime.Compare(a.Spec.LastObservedTime.Time), strings.Compare(a.Name, b.Name))
	})
	causes := map[string]int{}
	var facts []string
	for _, inc := range open {
		c := orUnknown(inc.Status.RootCause)
		causes[c]++
		s := fmt.Sprintf("%s on %s %s: %s, root cause %s", inc.Spec.Signature, inc.Spec.Object.Kind, nsName(inc.Spec.Object.Namespace, inc.Spec.Object.Name),
			orUnknown(string(inc.Status.Phase)), c)
		if inc.Status.PlanRef != "" {
			s += ", plan " + inc.Status.PlanRef
		}
		facts = append(facts, s+", last seen "+stamp(inc.Spec.LastObservedTime)+" (incident "+inc.Name+").")
	}
	names := make([]string, 0, len(causes))
	for c := range causes {
		names = append(names, c)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(causes[b], causes[a]), strings.Compare(a, b)) })
	var parts []string
	for _, c := range names {
		parts = append(parts, fmt.Sprintf("%d %s", causes[c], c))
	}
	return fmt.Sprintf("Cluster %s has %d open incident(s): %s. The latest is %s on %s %s.", cluster, len(open), strings.Join(parts, ", "),
		open[0].Spec.Signature, open[0].Spec.Object.Kind, nsName(open[0].Spec.Object.Namespace, open[0].Spec.Object.Name)), facts
}

func imageClusters(image string, view ai.FleetView) (string, []string) {
	var uses []ai.ImageUse
	for _, u := range view.ImageUses(image) {
		if ai.ImageMatches(u.Image, image) {
			uses = append(uses, u)
		}
	}
	if len(uses) == 0 {
		return fmt.Sprintf("No cluster I know of runs image %s.", image), nil
	}
	slices.SortFunc(uses, func(a, b ai.ImageUse) int {
		return cmp.Or(strings.Compare(a.Cluster, b.Cluster), strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Workload, b.Workload),
			strings.Compare(a.Container, b.Container), strings.Compare(a.Image, b.Image))
	})
	var clusters, facts []string
	for _, u := range slices.CompactFunc(uses, func(a, b ai.ImageUse) bool { return a == b }) {
		if !slices.Contains(clusters, u.Cluster) {
			clusters = append(clusters, u.Cluster)
		}
		facts = append(facts, fmt.Sprintf("Cluster %s: %s in namespace %s, container %s, image %s.", u.Cluster, u.Workload, u.Namespace, u.Container, u.Image))
	}
	return fmt.Sprintf("Image %s runs in %d cluster(s): %s.", image, len(clusters), strings.Join(clusters, ", ")), facts
}

func signatureLearned(signature string, view ai.FleetView) (string, []string) {
	var entries []hubv1alpha1.KnowledgeEntry
	for _, e := range view.Knowledge(signature) {
		if e.Spec.Signature == signature || strings.HasPrefix(e.Spec.Signature, signature+":") {
			entries = append(entries, e)
		}
	}
	type record struct {
		signature string
		ranked    knowledge.Ranked
	}
	seen := map[string]bool{}
	var recs []record
	for _, e := range entries {
		key := e.Spec.Signature + "\x00" + string(e.Spec.ActionType)
		if seen[key] {
			continue
		}
		seen[key] = true
		recs = append(recs, record{e.Spec.Signature, knowledge.Posterior(e.Spec.Signature, knowledge.Candidate{ActionType: e.Spec.ActionType}, entries, knowledge.Options{})})
	}
	if len(recs) == 0 {
		return fmt.Sprintf("The fleet has recorded no remediation outcome for %s yet.", signature), nil
	}
	slices.SortFunc(recs, func(a, b record) int {
		if a.ranked.Unsafe != b.ranked.Unsafe {
			if a.ranked.Unsafe {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(b.ranked.Confidence, a.ranked.Confidence), strings.Compare(a.signature, b.signature), cmp.Compare(a.ranked.ActionType, b.ranked.ActionType))
	})
	var total int64
	var facts []string
	for _, r := range recs {
		total += r.ranked.Observations()
		s := fmt.Sprintf("%s against %s: %d success(es), %d failure(s), success rate %.2f", r.ranked.ActionType, r.signature, r.ranked.Successes, r.ranked.Failures, r.ranked.Confidence)
		if r.ranked.Unsafe {
			s += "; never proposed again: it fails too often"
		}
		facts = append(facts, s+".")
	}
	best := recs[0]
	text := fmt.Sprintf("For %s the fleet recorded %d outcome(s) of %d remediation(s).", signature, total, len(recs))
	if !best.ranked.Unsafe {
		text += fmt.Sprintf(" What works best: %s (%d of %d succeeded).", best.ranked.ActionType, best.ranked.Successes, best.ranked.Observations())
	} else {
		text += " Every remediation tried fails too often to be proposed again."
	}
	return text, facts
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
