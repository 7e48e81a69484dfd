package placement

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
)

// Input is everything one scheduling decision depends on.
type Input struct {
	Placement *clusterv1beta1.Placement
	Clusters  []*clusterv1.ManagedCluster         // every ManagedCluster of the hub
	Sets      []*clusterv1beta2.ManagedClusterSet // every ManagedClusterSet of the hub
	Existing  []*clusterv1beta1.PlacementDecision // the placement's current decisions (for stability and NoSelectIfNew)
	Now       time.Time
}

// Output is the desired state.
type Output struct {
	Decisions    []*clusterv1beta1.PlacementDecision // desired PlacementDecisions of the placement, complete objects
	Status       clusterv1beta1.PlacementStatus      // desired placement status
	RequeueAfter time.Duration                       // >0: re-run by then (a toleration with tolerationSeconds expires); 0: no deadline
}

// MaxClustersPerDecision is how many clusters one PlacementDecision holds at most (the limit
// documented on PlacementDecisionStatus.Decisions).
const MaxClustersPerDecision = 100

// Reasons of the PlacementMisconfigured and PlacementSatisfied conditions, spelled as OCM spells
// them so that consumers written for OCM read them unchanged.
const (
	ReasonSucceedconfigured          = "Succeedconfigured"
	ReasonMisconfigured              = "Misconfigured"
	ReasonAllDecisionsScheduled      = "AllDecisionsScheduled"
	ReasonNotAllDecisionsScheduled   = "NotAllDecisionsScheduled"
	ReasonNoManagedClusterMatched    = "NoManagedClusterMatched"
	ReasonAllManagedClusterSetsEmpty = "AllManagedClusterSetsEmpty"
)

// Schedule computes the desired decisions and status of in.Placement. It does not modify its
// input and its output depends on nothing but the input. A nil placement yields a zero Output.
func Schedule(in Input) Output {
	p := in.Placement
	if p == nil {
		return Output{}
	}

	spec, problems := compileSpec(&p.Spec)
	var sel selection
	if len(problems) == 0 {
		sel = selectClusters(in, spec)
	}
	groups := splitGroups(sel.selected, spec)
	decisions, groupStatus := buildDecisions(p, groups)

	status := clusterv1beta1.PlacementStatus{
		NumberOfSelectedClusters: int32(len(sel.selected)),
		DecisionGroups:           groupStatus,
		Conditions: mergeConditions(p.Status.Conditions, in.Now, p.Generation,
			misconfiguredCondition(problems),
			satisfiedCondition(problems, p.Spec.NumberOfClusters, sel)),
		// Scores are not implemented; keep whatever another writer recorded.
		LastScoreUpdateTime: p.Status.LastScoreUpdateTime.DeepCopy(),
	}

	var requeue time.Duration
	if !sel.expiry.IsZero() {
		requeue = sel.expiry.Sub(in.Now)
	}
	return Output{Decisions: decisions, Status: status, RequeueAfter: requeue}
}

// candidate is a cluster that passed the cluster sets, the predicates and the taints.
type candidate struct {
	view     *clusterView
	existing bool      // already in the placement's decisions
	demoted  bool      // carries a PreferNoSelect taint the placement does not tolerate
	expiry   time.Time // when a toleration it depends on runs out; zero: never
}

// selection is the outcome of filtering and picking, before grouping.
type selection struct {
	selected []*clusterView // sorted by name

	namedSets   []string // spec.clusterSets, sorted and deduplicated
	missingSets []string // named sets that do not exist
	setsEmpty   bool     // clusterSets named, and none of them has a member
	expiry      time.Time
}

func selectClusters(in Input, spec *compiledSpec) selection {
	clusters := uniqueClusters(in.Clusters)
	existing := existingClusters(in.Existing)

	var sel selection
	var members map[string]bool // nil: every cluster
	if len(in.Placement.Spec.ClusterSets) > 0 {
		sel.namedSets = sortedUnique(in.Placement.Spec.ClusterSets)
		members, sel.missingSets = setMembers(sel.namedSets, in.Sets, clusters)
		sel.setsEmpty = len(members) == 0
	}

	var feasible []candidate
	for _, c := range clusters {
		if !c.Spec.HubAcceptsClient || c.DeletionTimestamp != nil {
			continue
		}
		if members != nil && !members[c.Name] {
			continue
		}
		view := newClusterView(c)
		if !spec.matchesPredicates(view) {
			continue
		}
		cand := candidate{view: view, existing: existing[c.Name]}
		if !admitTaints(&cand, c.Spec.Taints, spec.tolerations, in.Now) {
			continue
		}
		feasible = append(feasible, cand)
		if !cand.expiry.IsZero() && (sel.expiry.IsZero() || cand.expiry.Before(sel.expiry)) {
			sel.expiry = cand.expiry
		}
	}

	// Keep what is already selected, prefer untainted clusters, break ties by name.
	slices.SortFunc(feasible, func(a, b candidate) int {
		if a.existing != b.existing {
			return boolFirst(a.existing)
		}
		if a.demoted != b.demoted {
			return boolFirst(!a.demoted)
		}
		return cmp.Compare(a.view.cluster.Name, b.view.cluster.Name)
	})
	if n := in.Placement.Spec.NumberOfClusters; n != nil && int(*n) < len(feasible) {
		feasible = feasible[:*n]
	}

	sel.selected = make([]*clusterView, 0, len(feasible))
	for _, c := range feasible {
		sel.selected = append(sel.selected, c.view)
	}
	slices.SortFunc(sel.selected, func(a, b *clusterView) int {
		return cmp.Compare(a.cluster.Name, b.cluster.Name)
	})
	return sel
}

// boolFirst orders true before false.
func boolFirst(first bool) int {
	if first {
		return -1
	}
	return 1
}

// uniqueClusters returns the non-nil clusters sorted by name, the first of each name kept.
func uniqueClusters(in []*clusterv1.ManagedCluster) []*clusterv1.ManagedCluster {
	out := make([]*clusterv1.ManagedCluster, 0, len(in))
	for _, c := range in {
		if c != nil {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b *clusterv1.ManagedCluster) int { return cmp.Compare(a.Name, b.Name) })
	return slices.CompactFunc(out, func(a, b *clusterv1.ManagedCluster) bool { return a.Name == b.Name })
}

func existingClusters(decisions []*clusterv1beta1.PlacementDecision) map[string]bool {
	names := map[string]bool{}
	for _, d := range decisions {
		if d == nil {
			continue
		}
		for _, cd := range d.Status.Decisions {
			if cd.ClusterName != "" {
				names[cd.ClusterName] = true
			}
		}
	}
	return names
}

// setMembers returns the union of the members of the named sets and the names of the sets that
// do not exist. Membership does not depend on acceptance: an unaccepted cluster with the set's
// label is a member, it just cannot be selected.
func setMembers(names []string, sets []*clusterv1beta2.ManagedClusterSet, clusters []*clusterv1.ManagedCluster) (map[string]bool, []string) {
	byName := map[string]*clusterv1beta2.ManagedClusterSet{}
	for _, s := range sets {
		if s != nil && byName[s.Name] == nil {
			byName[s.Name] = s
		}
	}

	members := map[string]bool{}
	var missing []string
	for _, name := range names {
		set := byName[name]
		if set == nil {
			missing = append(missing, name)
			continue
		}
		selector := setSelector(set)
		for _, c := range clusters {
			if selector.Matches(labels.Set(c.Labels)) {
				members[c.Name] = true
			}
		}
	}
	return members, missing
}

// setSelector is the label selector that defines a set's members. A set whose selector is
// invalid or of an unknown type has no members: that is the set owner's mistake, not the
// placement's, so it does not make the placement misconfigured.
func setSelector(set *clusterv1beta2.ManagedClusterSet) labels.Selector {
	switch set.Spec.ClusterSelector.SelectorType {
	case "", clusterv1beta2.ExclusiveClusterSetLabel:
		return labels.SelectorFromSet(labels.Set{clusterv1beta2.ClusterSetLabel: set.Name})
	case clusterv1beta2.LabelSelector:
		// A nil selector selects nothing, an empty one everything.
		s, err := metav1.LabelSelectorAsSelector(set.Spec.ClusterSelector.LabelSelector)
		if err != nil {
			return labels.Nothing()
		}
		return s
	default:
		return labels.Nothing()
	}
}

func sortedUnique(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

// describeSets renders set names for condition messages.
func describeSets(names []string) string {
	return "[" + strings.Join(names, ", ") + "]"
}

// problem is one thing wrong with the placement spec.
func problem(field string, format string, args ...any) string {
	return field + ": " + fmt.Sprintf(format, args...)
}
