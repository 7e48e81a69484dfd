package incident

import (
	"fmt"
	"slices"
	"sort"

	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"

	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
)

// governingPolicy returns the AIOpsPolicy that governs cluster: among the policies that target
// it (through their Placement's decisions; a policy without targets covers the whole fleet) the
// most cautious one, lowest autonomy first and then by name, so adding a policy never makes the
// AI bolder on a cluster another policy restrains. Nil when none targets the cluster.
func (h *Hub) governingPolicy(cluster string) (*aiopsv1alpha1.AIOpsPolicy, error) {
	items, _, err := h.store.List(store.KindAIOpsPolicy, "", "")
	if err != nil {
		return nil, fmt.Errorf("list AIOpsPolicies: %w", err)
	}
	var candidates []*aiopsv1alpha1.AIOpsPolicy
	for _, it := range items {
		var p aiopsv1alpha1.AIOpsPolicy
		if err := it.Decode(&p); err != nil {
			return nil, fmt.Errorf("stored AIOpsPolicy %s: %w", it.Name, err)
		}
		ok, err := h.targets(&p, cluster)
		if err != nil {
			return nil, err
		}
		if ok {
			candidates = append(candidates, &p)
		}
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	sort.Slice(candidates, func(i, j int) bool {
		ai, aj := autonomyRank(candidates[i].Spec.Autonomy), autonomyRank(candidates[j].Spec.Autonomy)
		if ai != aj {
			return ai < aj
		}
		return candidates[i].Name < candidates[j].Name
	})
	return candidates[0], nil
}

func autonomyRank(a aiopsv1alpha1.AutonomyLevel) int {
	switch a {
	case aiopsv1alpha1.AutonomyObserve:
		return 0
	case aiopsv1alpha1.AutonomyRecommend:
		return 1
	}
	return 2
}

// targets reports whether p's Placement currently decides cluster.
func (h *Hub) targets(p *aiopsv1alpha1.AIOpsPolicy, cluster string) (bool, error) {
	if p.Spec.Targets == nil {
		return true, nil
	}
	ref := p.Spec.Targets.PlacementRef
	items, _, err := h.store.List(store.KindPlacementDecision, ref.Namespace, clusterv1beta1.PlacementLabel+"="+ref.Name)
	if err != nil {
		return false, fmt.Errorf("list decisions of placement %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	for _, it := range items {
		var d clusterv1beta1.PlacementDecision
		if err := it.Decode(&d); err != nil {
			return false, fmt.Errorf("stored PlacementDecision %s/%s: %w", it.Namespace, it.Name, err)
		}
		for _, c := range d.Status.Decisions {
			if c.ClusterName == cluster {
				return true, nil
			}
		}
	}
	return false, nil
}

// approvalRule is what a policy asks of one action before it may run.
type approvalRule struct {
	// allowed is false when the action may never run under the policy; reason says why.
	allowed bool
	reason  string
	// risk is the risk the policy grades the action at.
	risk aiopsv1alpha1.RiskLevel
	// approvals is how many distinct people must approve; 0 lets it through on its own.
	approvals int
}

// ruleFor applies a policy's autonomy, allowed actions and approval settings to one action.
// Autonomous policies let Low-risk actions through on their own; everything else waits for a
// person, and for two different people when the four-eyes rule covers its risk.
func ruleFor(p *aiopsv1alpha1.AIOpsPolicy, cluster string, action aiopsv1alpha1.ActionType) approvalRule {
	if p == nil {
		return approvalRule{reason: fmt.Sprintf("no AIOpsPolicy governs cluster %s: the plan is a recommendation only", cluster)}
	}
	if p.Spec.Autonomy == aiopsv1alpha1.AutonomyObserve {
		return approvalRule{reason: fmt.Sprintf("AIOpsPolicy %s only observes: nothing runs under it", p.Name)}
	}
	i := slices.IndexFunc(p.Spec.AllowedActions, func(a aiopsv1alpha1.AllowedAction) bool { return a.Type == action })
	if i < 0 {
		return approvalRule{reason: fmt.Sprintf("AIOpsPolicy %s does not allow %s", p.Name, action)}
	}
	r := approvalRule{allowed: true, risk: p.Spec.AllowedActions[i].Risk}
	human := p.Spec.Approval != nil && slices.Contains(p.Spec.Approval.RequireHumanFor, r.risk)
	switch {
	case human && p.Spec.Approval.FourEyes:
		r.approvals = 2
	case human:
		r.approvals = 1
	case p.Spec.Autonomy == aiopsv1alpha1.AutonomyAutonomous && r.risk == aiopsv1alpha1.RiskLow:
		r.approvals = 0
	default:
		r.approvals = 1
	}
	return r
}

// setsOf returns the ManagedClusterSet a cluster belongs to (by its exclusive set label), for
// the AI registry's rule on external providers.
func (h *Hub) setsOf(cluster string) []string {
	res, err := h.store.Get(store.KindManagedCluster, "", cluster)
	if err != nil {
		return nil
	}
	var mc clusterv1.ManagedCluster
	if res.Decode(&mc) != nil {
		return nil
	}
	if s := mc.Labels[clusterv1beta2.ClusterSetLabel]; s != "" {
		return []string{s}
	}
	return nil
}

// ExternalAIForbidden names the AIOpsPolicy that forbids external AI providers for one of the
// clusters (any policy targeting a cluster can forbid them), or returns "" when none does.
func (h *Hub) ExternalAIForbidden(clusters []string) string {
	items, _, err := h.store.List(store.KindAIOpsPolicy, "", "")
	if err != nil {
		return "the AIOpsPolicies, which could not be read"
	}
	for _, it := range items {
		var p aiopsv1alpha1.AIOpsPolicy
		if it.Decode(&p) != nil || p.Spec.ExternalAI != aiopsv1alpha1.ExternalAIForbidden {
			continue
		}
		for _, c := range clusters {
			if ok, err := h.targets(&p, c); err != nil || ok {
				return fmt.Sprintf("AIOpsPolicy %s (externalAI: Forbidden) for cluster %s", p.Name, c)
			}
		}
	}
	return ""
}
