package placement

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// --- builders ---------------------------------------------------------------------------------

type clusterOpt func(*clusterv1.ManagedCluster)

func newCluster(name string, opts ...clusterOpt) *clusterv1.ManagedCluster {
	c := &clusterv1.ManagedCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       clusterv1.ManagedClusterSpec{HubAcceptsClient: true, LeaseDurationSeconds: 60},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func labeled(kv ...string) clusterOpt {
	return func(c *clusterv1.ManagedCluster) {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for i := 0; i < len(kv); i += 2 {
			c.Labels[kv[i]] = kv[i+1]
		}
	}
}

func inSet(set string) clusterOpt { return labeled(clusterv1beta2.ClusterSetLabel, set) }

func claimed(kv ...string) clusterOpt {
	return func(c *clusterv1.ManagedCluster) {
		for i := 0; i < len(kv); i += 2 {
			c.Status.ClusterClaims = append(c.Status.ClusterClaims, clusterv1.ManagedClusterClaim{Name: kv[i], Value: kv[i+1]})
		}
	}
}

func tainted(key, value string, effect clusterv1.TaintEffect, added time.Time) clusterOpt {
	return func(c *clusterv1.ManagedCluster) {
		c.Spec.Taints = append(c.Spec.Taints, clusterv1.Taint{Key: key, Value: value, Effect: effect, TimeAdded: metav1.NewTime(added)})
	}
}

func notAccepted(c *clusterv1.ManagedCluster) { c.Spec.HubAcceptsClient = false }

func deleting(c *clusterv1.ManagedCluster) {
	t := metav1.NewTime(now)
	c.DeletionTimestamp = &t
}

func exclusiveSet(name string) *clusterv1beta2.ManagedClusterSet {
	return &clusterv1beta2.ManagedClusterSet{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func selectorSet(name string, sel *metav1.LabelSelector) *clusterv1beta2.ManagedClusterSet {
	s := exclusiveSet(name)
	s.Spec.ClusterSelector = clusterv1beta2.ManagedClusterSelector{SelectorType: clusterv1beta2.LabelSelector, LabelSelector: sel}
	return s
}

type placementOpt func(*clusterv1beta1.Placement)

func newPlacement(opts ...placementOpt) *clusterv1beta1.Placement {
	p := &clusterv1beta1.Placement{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps", UID: "uid-web", Generation: 3},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func sets(names ...string) placementOpt {
	return func(p *clusterv1beta1.Placement) { p.Spec.ClusterSets = names }
}

func number(n int32) placementOpt {
	return func(p *clusterv1beta1.Placement) { p.Spec.NumberOfClusters = &n }
}

func predicates(ps ...clusterv1beta1.ClusterSelector) placementOpt {
	return func(p *clusterv1beta1.Placement) {
		for _, s := range ps {
			p.Spec.Predicates = append(p.Spec.Predicates, clusterv1beta1.ClusterPredicate{RequiredClusterSelector: s})
		}
	}
}

func tolerations(ts ...clusterv1beta1.Toleration) placementOpt {
	return func(p *clusterv1beta1.Placement) { p.Spec.Tolerations = ts }
}

func groups(perGroup intstr.IntOrString, gs ...clusterv1beta1.DecisionGroup) placementOpt {
	return func(p *clusterv1beta1.Placement) {
		p.Spec.DecisionStrategy.GroupStrategy = clusterv1beta1.GroupStrategy{DecisionGroups: gs, ClustersPerDecisionGroup: perGroup}
	}
}

func labelSel(kv ...string) metav1.LabelSelector {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return metav1.LabelSelector{MatchLabels: m}
}

func claimSel(key string, op metav1.LabelSelectorOperator, values ...string) clusterv1beta1.ClusterClaimSelector {
	return clusterv1beta1.ClusterClaimSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

func celSel(exprs ...string) clusterv1beta1.ClusterCelSelector {
	return clusterv1beta1.ClusterCelSelector{CelExpressions: exprs}
}

func group(name string, sel clusterv1beta1.GroupClusterSelector) clusterv1beta1.DecisionGroup {
	return clusterv1beta1.DecisionGroup{GroupName: name, ClusterSelector: sel}
}

func existingDecision(clusters ...string) *clusterv1beta1.PlacementDecision {
	d := &clusterv1beta1.PlacementDecision{ObjectMeta: metav1.ObjectMeta{Name: "web-decision-1", Namespace: "apps"}}
	for _, c := range clusters {
		d.Status.Decisions = append(d.Status.Decisions, clusterv1beta1.ClusterDecision{ClusterName: c})
	}
	return d
}

func seconds(s int64) *int64 { return &s }

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

func clustersNamed(ns []string, opts ...clusterOpt) []*clusterv1.ManagedCluster {
	out := make([]*clusterv1.ManagedCluster, 0, len(ns))
	for _, n := range ns {
		out = append(out, newCluster(n, opts...))
	}
	return out
}

// --- reading the output -----------------------------------------------------------------------

// selected is every decided cluster, in decision order.
func selected(out Output) []string {
	var s []string
	for _, d := range out.Decisions {
		for _, cd := range d.Status.Decisions {
			s = append(s, cd.ClusterName)
		}
	}
	return s
}

func cond(t *testing.T, out Output, condType string) metav1.Condition {
	t.Helper()
	for _, c := range out.Status.Conditions {
		if c.Type == condType {
			return c
		}
	}
	require.Failf(t, "condition missing", "no %s condition in %v", condType, out.Status.Conditions)
	return metav1.Condition{}
}

// groupSummary renders the decision groups as "index/name:count[decisions]" for compact checks.
func groupSummary(out Output) []string {
	var s []string
	for _, g := range out.Status.DecisionGroups {
		s = append(s, fmt.Sprintf("%d/%s:%d%v", g.DecisionGroupIndex, g.DecisionGroupName, g.ClustersCount, g.Decisions))
	}
	return s
}

// --- tests ------------------------------------------------------------------------------------

// TestScheduleSelection covers which clusters are selected and the PlacementSatisfied condition
// that results.
func TestScheduleSelection(t *testing.T) {
	hourAgo := now.Add(-time.Hour)
	tests := []struct {
		name      string
		placement *clusterv1beta1.Placement
		clusters  []*clusterv1.ManagedCluster
		sets      []*clusterv1beta2.ManagedClusterSet
		existing  []*clusterv1beta1.PlacementDecision

		want        []string
		wantReason  string
		wantStatus  metav1.ConditionStatus
		wantMessage string // substring
		wantRequeue time.Duration
	}{
		{
			name:       "no cluster sets: every accepted cluster, sorted by name",
			placement:  newPlacement(),
			clusters:   []*clusterv1.ManagedCluster{newCluster("c"), newCluster("a"), newCluster("b", notAccepted), newCluster("d", deleting)},
			want:       []string{"a", "c"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue, wantMessage: "All matching clusters selected (2)",
		},
		{
			name:       "empty hub",
			placement:  newPlacement(),
			wantReason: ReasonNoManagedClusterMatched, wantStatus: metav1.ConditionFalse,
		},
		{
			name:      "exclusive set, default and explicit selector type",
			placement: newPlacement(sets("blue", "green")),
			clusters: []*clusterv1.ManagedCluster{
				newCluster("b1", inSet("blue")), newCluster("g1", inSet("green")), newCluster("r1", inSet("red")), newCluster("none"),
			},
			sets: []*clusterv1beta2.ManagedClusterSet{
				exclusiveSet("blue"), exclusiveSet("red"),
				{ObjectMeta: metav1.ObjectMeta{Name: "green"}, Spec: clusterv1beta2.ManagedClusterSetSpec{
					ClusterSelector: clusterv1beta2.ManagedClusterSelector{SelectorType: clusterv1beta2.ExclusiveClusterSetLabel}}},
			},
			want:       []string{"b1", "g1"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name:      "label selector set, union with an exclusive set that overlaps",
			placement: newPlacement(sets("prod", "blue")),
			clusters: []*clusterv1.ManagedCluster{
				newCluster("p1", labeled("env", "prod")), newCluster("p2", labeled("env", "prod"), inSet("blue")),
				newCluster("b1", inSet("blue")), newCluster("dev", labeled("env", "dev")),
			},
			sets:       []*clusterv1beta2.ManagedClusterSet{selectorSet("prod", &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}), exclusiveSet("blue")},
			want:       []string{"b1", "p1", "p2"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name:       "empty label selector set selects every cluster",
			placement:  newPlacement(sets("global")),
			clusters:   []*clusterv1.ManagedCluster{newCluster("a"), newCluster("b", inSet("blue"))},
			sets:       []*clusterv1beta2.ManagedClusterSet{selectorSet("global", &metav1.LabelSelector{})},
			want:       []string{"a", "b"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name:       "a missing set contributes nothing",
			placement:  newPlacement(sets("blue", "ghost")),
			clusters:   []*clusterv1.ManagedCluster{newCluster("b1", inSet("blue")), newCluster("x", inSet("ghost"))},
			sets:       []*clusterv1beta2.ManagedClusterSet{exclusiveSet("blue")},
			want:       []string{"b1"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name:       "only missing sets: all sets empty",
			placement:  newPlacement(sets("ghost")),
			clusters:   []*clusterv1.ManagedCluster{newCluster("x", inSet("ghost"))},
			wantReason: ReasonAllManagedClusterSetsEmpty, wantStatus: metav1.ConditionFalse,
			wantMessage: "ManagedClusterSets [ghost] have no member clusters (not found: ghost)",
		},
		{
			name:       "named sets without members",
			placement:  newPlacement(sets("blue", "sel")),
			clusters:   []*clusterv1.ManagedCluster{newCluster("a", inSet("green"))},
			sets:       []*clusterv1beta2.ManagedClusterSet{exclusiveSet("blue"), selectorSet("sel", nil)},
			wantReason: ReasonAllManagedClusterSetsEmpty, wantStatus: metav1.ConditionFalse,
			wantMessage: "ManagedClusterSets [blue, sel] have no member clusters",
		},
		{
			name:       "set whose only member is not accepted: nothing matched",
			placement:  newPlacement(sets("blue")),
			clusters:   []*clusterv1.ManagedCluster{newCluster("b1", inSet("blue"), notAccepted)},
			sets:       []*clusterv1beta2.ManagedClusterSet{exclusiveSet("blue")},
			wantReason: ReasonNoManagedClusterMatched, wantStatus: metav1.ConditionFalse,
		},
		{
			name:      "predicate by label",
			placement: newPlacement(predicates(clusterv1beta1.ClusterSelector{LabelSelector: labelSel("env", "prod")})),
			clusters: []*clusterv1.ManagedCluster{
				newCluster("a", labeled("env", "prod")), newCluster("b", labeled("env", "dev")), newCluster("c"),
			},
			want:       []string{"a"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name: "predicate by claim with In and Exists",
			placement: newPlacement(predicates(clusterv1beta1.ClusterSelector{ClaimSelector: clusterv1beta1.ClusterClaimSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "region.open-cluster-management.io", Operator: metav1.LabelSelectorOpIn, Values: []string{"eu-west", "eu-north"}},
					{Key: "platform.open-cluster-management.io", Operator: metav1.LabelSelectorOpExists},
				}}})),
			clusters: []*clusterv1.ManagedCluster{
				newCluster("a", claimed("region.open-cluster-management.io", "eu-west", "platform.open-cluster-management.io", "AWS")),
				newCluster("b", claimed("region.open-cluster-management.io", "eu-west")),
				newCluster("c", claimed("region.open-cluster-management.io", "us-east", "platform.open-cluster-management.io", "GCP")),
				newCluster("d", labeled("region.open-cluster-management.io", "eu-west", "platform.open-cluster-management.io", "AWS")),
			},
			want:       []string{"a"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name: "predicate by CEL over labels, claims and integer fields",
			placement: newPlacement(predicates(clusterv1beta1.ClusterSelector{CelSelector: celSel(
				`managedCluster.metadata.labels["env"] == "prod"`,
				`managedCluster.status.clusterClaims.exists(c, c.name == "tier" && c.value.startsWith("gold"))`,
				`managedCluster.spec.leaseDurationSeconds >= 60`,
			)})),
			clusters: []*clusterv1.ManagedCluster{
				newCluster("a", labeled("env", "prod"), claimed("tier", "gold-1")),
				newCluster("b", labeled("env", "prod"), claimed("tier", "silver")),
				newCluster("c", labeled("env", "dev"), claimed("tier", "gold-1")),
				newCluster("d", labeled("env", "prod"), claimed("tier", "gold-2"), func(c *clusterv1.ManagedCluster) { c.Spec.LeaseDurationSeconds = 30 }),
			},
			want:       []string{"a"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name:      "CEL run-time error (missing key) is no match, not a misconfiguration",
			placement: newPlacement(predicates(clusterv1beta1.ClusterSelector{CelSelector: celSel(`managedCluster.metadata.labels["env"] == "prod"`)})),
			clusters:  []*clusterv1.ManagedCluster{newCluster("a", labeled("env", "prod")), newCluster("nolabels")},
			want:      []string{"a"}, wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name:       "CEL dyn result that is not a bool is no match",
			placement:  newPlacement(predicates(clusterv1beta1.ClusterSelector{CelSelector: celSel(`managedCluster.metadata.name`)})),
			clusters:   []*clusterv1.ManagedCluster{newCluster("a")},
			wantReason: ReasonNoManagedClusterMatched, wantStatus: metav1.ConditionFalse,
		},
		{
			name: "predicates are ORed, selector parts ANDed",
			placement: newPlacement(predicates(
				clusterv1beta1.ClusterSelector{LabelSelector: labelSel("env", "prod"), ClaimSelector: claimSel("region", metav1.LabelSelectorOpIn, "eu")},
				clusterv1beta1.ClusterSelector{LabelSelector: labelSel("canary", "true"), CelSelector: celSel(`managedCluster.metadata.name.endsWith("-x")`)},
			)),
			clusters: []*clusterv1.ManagedCluster{
				newCluster("prod-eu", labeled("env", "prod"), claimed("region", "eu")),
				newCluster("prod-us", labeled("env", "prod"), claimed("region", "us")),
				newCluster("canary-x", labeled("canary", "true")),
				newCluster("canary-y", labeled("canary", "true")),
				newCluster("eu-only", claimed("region", "eu")),
			},
			want:       []string{"canary-x", "prod-eu"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name:       "predicates and sets are ANDed",
			placement:  newPlacement(sets("blue"), predicates(clusterv1beta1.ClusterSelector{LabelSelector: labelSel("env", "prod")})),
			clusters:   []*clusterv1.ManagedCluster{newCluster("a", inSet("blue"), labeled("env", "prod")), newCluster("b", inSet("blue")), newCluster("c", labeled("env", "prod"))},
			sets:       []*clusterv1beta2.ManagedClusterSet{exclusiveSet("blue")},
			want:       []string{"a"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name:       "no predicate matches",
			placement:  newPlacement(predicates(clusterv1beta1.ClusterSelector{LabelSelector: labelSel("env", "prod")})),
			clusters:   []*clusterv1.ManagedCluster{newCluster("a")},
			wantReason: ReasonNoManagedClusterMatched, wantStatus: metav1.ConditionFalse, wantMessage: "No ManagedCluster matches the placement",
		},
		{
			name:      "NoSelect taint excludes unless tolerated",
			placement: newPlacement(),
			clusters: []*clusterv1.ManagedCluster{
				newCluster("ok"),
				newCluster("unreachable", tainted(clusterv1.ManagedClusterTaintUnreachable, "", clusterv1.TaintEffectNoSelect, hourAgo)),
			},
			existing:   []*clusterv1beta1.PlacementDecision{existingDecision("unreachable")},
			want:       []string{"ok"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name: "tolerations: Equal, Exists, empty key Exists, effect and value must match",
			placement: newPlacement(tolerations(
				clusterv1beta1.Toleration{Key: "gpu", Value: "a100", Effect: clusterv1.TaintEffectNoSelect}, // default operator Equal
				clusterv1beta1.Toleration{Key: "maint", Operator: clusterv1beta1.TolerationOpExists},
				clusterv1beta1.Toleration{Key: "zone", Operator: clusterv1beta1.TolerationOpEqual, Value: "z1", Effect: clusterv1.TaintEffectNoSelectIfNew},
			)),
			clusters: []*clusterv1.ManagedCluster{
				newCluster("gpu-a100", tainted("gpu", "a100", clusterv1.TaintEffectNoSelect, hourAgo)),
				newCluster("gpu-h100", tainted("gpu", "h100", clusterv1.TaintEffectNoSelect, hourAgo)),
				newCluster("maint-any", tainted("maint", "weekly", clusterv1.TaintEffectNoSelect, hourAgo), tainted("maint", "", clusterv1.TaintEffectNoSelectIfNew, hourAgo)),
				newCluster("zone-effect-mismatch", tainted("zone", "z1", clusterv1.TaintEffectNoSelect, hourAgo)),
				newCluster("two-taints-one-untolerated", tainted("gpu", "a100", clusterv1.TaintEffectNoSelect, hourAgo), tainted("other", "", clusterv1.TaintEffectNoSelect, hourAgo)),
			},
			want:       []string{"gpu-a100", "maint-any"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name:      "empty key with Exists tolerates every taint",
			placement: newPlacement(tolerations(clusterv1beta1.Toleration{Operator: clusterv1beta1.TolerationOpExists})),
			clusters: []*clusterv1.ManagedCluster{
				newCluster("a", tainted("x", "1", clusterv1.TaintEffectNoSelect, hourAgo), tainted("y", "", clusterv1.TaintEffectNoSelectIfNew, hourAgo)),
			},
			want: []string{"a"}, wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name:      "NoSelectIfNew keeps clusters already decided, blocks new ones",
			placement: newPlacement(),
			clusters: []*clusterv1.ManagedCluster{
				newCluster("old", tainted("draining", "", clusterv1.TaintEffectNoSelectIfNew, hourAgo)),
				newCluster("new", tainted("draining", "", clusterv1.TaintEffectNoSelectIfNew, hourAgo)),
			},
			existing:   []*clusterv1beta1.PlacementDecision{existingDecision("old")},
			want:       []string{"old"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name:      "PreferNoSelect never excludes",
			placement: newPlacement(),
			clusters:  []*clusterv1.ManagedCluster{newCluster("a", tainted("busy", "", clusterv1.TaintEffectPreferNoSelect, hourAgo)), newCluster("b")},
			want:      []string{"a", "b"}, wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name: "tolerationSeconds: tolerated until timeAdded+seconds, requeue at the earliest expiry",
			placement: newPlacement(tolerations(clusterv1beta1.Toleration{
				Key: clusterv1.ManagedClusterTaintUnreachable, Operator: clusterv1beta1.TolerationOpExists, TolerationSeconds: seconds(600),
			})),
			clusters: []*clusterv1.ManagedCluster{
				newCluster("since-2m", tainted(clusterv1.ManagedClusterTaintUnreachable, "", clusterv1.TaintEffectNoSelect, now.Add(-2*time.Minute))),
				newCluster("since-5m", tainted(clusterv1.ManagedClusterTaintUnreachable, "", clusterv1.TaintEffectNoSelect, now.Add(-5*time.Minute))),
				newCluster("since-10m", tainted(clusterv1.ManagedClusterTaintUnreachable, "", clusterv1.TaintEffectNoSelect, now.Add(-10*time.Minute))),
				newCluster("since-1h", tainted(clusterv1.ManagedClusterTaintUnreachable, "", clusterv1.TaintEffectNoSelect, hourAgo)),
			},
			want:       []string{"since-2m", "since-5m"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
			wantRequeue: 5 * time.Minute,
		},
		{
			name: "the longest-lasting matching toleration counts; a permanent one means no requeue",
			placement: newPlacement(tolerations(
				clusterv1beta1.Toleration{Key: "k", Operator: clusterv1beta1.TolerationOpExists, TolerationSeconds: seconds(60)},
				clusterv1beta1.Toleration{Key: "k", Operator: clusterv1beta1.TolerationOpExists, TolerationSeconds: seconds(3600)},
				clusterv1beta1.Toleration{Key: "forever", Operator: clusterv1beta1.TolerationOpExists, TolerationSeconds: seconds(60)},
				clusterv1beta1.Toleration{Key: "forever", Operator: clusterv1beta1.TolerationOpExists},
			)),
			clusters: []*clusterv1.ManagedCluster{
				newCluster("a", tainted("k", "", clusterv1.TaintEffectNoSelect, now.Add(-30*time.Minute))),
				newCluster("b", tainted("forever", "", clusterv1.TaintEffectNoSelect, hourAgo)),
			},
			want:       []string{"a", "b"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
			wantRequeue: 30 * time.Minute,
		},
		{
			name: "tolerationSeconds is ignored for NoSelectIfNew taints",
			placement: newPlacement(tolerations(clusterv1beta1.Toleration{
				Key: "k", Operator: clusterv1beta1.TolerationOpExists, TolerationSeconds: seconds(1),
			})),
			clusters:   []*clusterv1.ManagedCluster{newCluster("a", tainted("k", "", clusterv1.TaintEffectNoSelectIfNew, hourAgo))},
			want:       []string{"a"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name:      "sets with an invalid selector or an unknown selector type have no members",
			placement: newPlacement(sets("bad", "odd")),
			clusters:  []*clusterv1.ManagedCluster{newCluster("a", inSet("odd"), labeled("env", "prod"))},
			sets: []*clusterv1beta2.ManagedClusterSet{
				selectorSet("bad", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Near"}}}),
				{ObjectMeta: metav1.ObjectMeta{Name: "odd"}, Spec: clusterv1beta2.ManagedClusterSetSpec{
					ClusterSelector: clusterv1beta2.ManagedClusterSelector{SelectorType: "Whatever"}}},
			},
			wantReason: ReasonAllManagedClusterSetsEmpty, wantStatus: metav1.ConditionFalse,
		},
		{
			name: "a timed toleration of PreferNoSelect keeps the cluster first until it runs out",
			placement: newPlacement(number(1), tolerations(clusterv1beta1.Toleration{
				Key: "busy", Operator: clusterv1beta1.TolerationOpExists, Effect: clusterv1.TaintEffectPreferNoSelect, TolerationSeconds: seconds(600),
			})),
			clusters: []*clusterv1.ManagedCluster{
				newCluster("a", tainted("busy", "", clusterv1.TaintEffectPreferNoSelect, now.Add(-5*time.Minute))),
				newCluster("b"),
			},
			want:       []string{"a"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
			wantRequeue: 5 * time.Minute,
		},
		{
			name: "an expired PreferNoSelect toleration ranks the cluster last",
			placement: newPlacement(number(1), tolerations(clusterv1beta1.Toleration{
				Key: "busy", Operator: clusterv1beta1.TolerationOpExists, TolerationSeconds: seconds(60),
			})),
			clusters: []*clusterv1.ManagedCluster{
				newCluster("a", tainted("busy", "", clusterv1.TaintEffectPreferNoSelect, now.Add(-5*time.Minute))),
				newCluster("b"),
			},
			want:       []string{"b"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name:       "numberOfClusters picks by name",
			placement:  newPlacement(number(2)),
			clusters:   clustersNamed([]string{"d", "b", "c", "a"}),
			want:       []string{"a", "b"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue, wantMessage: "2 of 2 clusters selected",
		},
		{
			name:       "numberOfClusters keeps existing decisions first",
			placement:  newPlacement(number(2)),
			clusters:   clustersNamed([]string{"a", "b", "c", "d"}),
			existing:   []*clusterv1beta1.PlacementDecision{existingDecision("d"), existingDecision("gone")},
			want:       []string{"a", "d"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name:      "numberOfClusters replaces an existing cluster that is no longer feasible",
			placement: newPlacement(number(2), predicates(clusterv1beta1.ClusterSelector{LabelSelector: labelSel("ok", "yes")})),
			clusters: []*clusterv1.ManagedCluster{
				newCluster("a", labeled("ok", "yes")), newCluster("b", labeled("ok", "no")), newCluster("c", labeled("ok", "yes")), newCluster("d", labeled("ok", "yes")),
			},
			existing:   []*clusterv1beta1.PlacementDecision{existingDecision("b", "d")},
			want:       []string{"a", "d"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name:      "numberOfClusters puts untolerated PreferNoSelect clusters last",
			placement: newPlacement(number(2), tolerations(clusterv1beta1.Toleration{Key: "ok", Operator: clusterv1beta1.TolerationOpExists})),
			clusters: []*clusterv1.ManagedCluster{
				newCluster("a", tainted("busy", "", clusterv1.TaintEffectPreferNoSelect, hourAgo)),
				newCluster("b", tainted("ok", "", clusterv1.TaintEffectPreferNoSelect, hourAgo)),
				newCluster("c"),
			},
			want:       []string{"b", "c"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name:      "numberOfClusters: stability outranks PreferNoSelect",
			placement: newPlacement(number(1)),
			clusters: []*clusterv1.ManagedCluster{
				newCluster("a"), newCluster("b", tainted("busy", "", clusterv1.TaintEffectPreferNoSelect, hourAgo)),
			},
			existing:   []*clusterv1beta1.PlacementDecision{existingDecision("b")},
			want:       []string{"b"},
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue,
		},
		{
			name:       "fewer clusters than numberOfClusters",
			placement:  newPlacement(number(3)),
			clusters:   clustersNamed([]string{"a", "b"}),
			want:       []string{"a", "b"},
			wantReason: ReasonNotAllDecisionsScheduled, wantStatus: metav1.ConditionFalse, wantMessage: "2 of 3 clusters selected",
		},
		{
			name:       "numberOfClusters with nothing matched",
			placement:  newPlacement(number(3)),
			clusters:   []*clusterv1.ManagedCluster{newCluster("a", notAccepted)},
			wantReason: ReasonNoManagedClusterMatched, wantStatus: metav1.ConditionFalse,
		},
		{
			name:       "numberOfClusters zero asks for nothing and gets it",
			placement:  newPlacement(number(0)),
			clusters:   clustersNamed([]string{"a"}),
			wantReason: ReasonAllDecisionsScheduled, wantStatus: metav1.ConditionTrue, wantMessage: "0 of 0 clusters selected",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := Schedule(Input{Placement: tt.placement, Clusters: tt.clusters, Sets: tt.sets, Existing: tt.existing, Now: now})

			assert.Equal(t, tt.want, selected(out))
			assert.Equal(t, int32(len(tt.want)), out.Status.NumberOfSelectedClusters)
			assert.Equal(t, tt.wantRequeue, out.RequeueAfter)

			mis := cond(t, out, clusterv1beta1.PlacementConditionMisconfigured)
			assert.Equal(t, metav1.ConditionFalse, mis.Status)
			assert.Equal(t, ReasonSucceedconfigured, mis.Reason)

			sat := cond(t, out, clusterv1beta1.PlacementConditionSatisfied)
			assert.Equal(t, tt.wantStatus, sat.Status)
			assert.Equal(t, tt.wantReason, sat.Reason)
			assert.Contains(t, sat.Message, tt.wantMessage)

			if len(tt.want) == 0 {
				assert.Empty(t, out.Decisions)
				assert.Empty(t, out.Status.DecisionGroups)
			}
		})
	}
}

// TestScheduleMisconfigured: a spec error selects nothing and says what is wrong.
func TestScheduleMisconfigured(t *testing.T) {
	tests := []struct {
		name      string
		placement *clusterv1beta1.Placement
		want      string // substring of the message
	}{
		{
			name: "invalid label selector operator",
			placement: newPlacement(predicates(clusterv1beta1.ClusterSelector{LabelSelector: metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Near", Values: []string{"x"}}}}})),
			want: "spec.predicates[0].requiredClusterSelector.labelSelector",
		},
		{
			name: "invalid label value",
			placement: newPlacement(predicates(clusterv1beta1.ClusterSelector{}, clusterv1beta1.ClusterSelector{
				LabelSelector: labelSel("env", "not a label value!")})),
			want: "spec.predicates[1].requiredClusterSelector.labelSelector",
		},
		{
			name:      "claim selector In without values",
			placement: newPlacement(predicates(clusterv1beta1.ClusterSelector{ClaimSelector: claimSel("region", metav1.LabelSelectorOpIn)})),
			want:      "spec.predicates[0].requiredClusterSelector.claimSelector",
		},
		{
			name:      "CEL syntax error",
			placement: newPlacement(predicates(clusterv1beta1.ClusterSelector{CelSelector: celSel(`true`, `managedCluster.metadata.name ==`)})),
			want:      "spec.predicates[0].requiredClusterSelector.celSelector.celExpressions[1]",
		},
		{
			name:      "CEL undeclared variable",
			placement: newPlacement(predicates(clusterv1beta1.ClusterSelector{CelSelector: celSel(`cluster.name == "a"`)})),
			want:      "undeclared reference",
		},
		{
			name:      "CEL expression that is never a bool",
			placement: newPlacement(predicates(clusterv1beta1.ClusterSelector{CelSelector: celSel(`"prod"`)})),
			want:      "must evaluate to a bool",
		},
		{
			name:      "toleration with empty key and Equal",
			placement: newPlacement(tolerations(clusterv1beta1.Toleration{Value: "x"})),
			want:      "spec.tolerations[0]: an empty key requires operator Exists",
		},
		{
			name:      "toleration Exists with a value",
			placement: newPlacement(tolerations(clusterv1beta1.Toleration{Key: "k", Operator: clusterv1beta1.TolerationOpExists, Value: "v"})),
			want:      "operator Exists takes no value",
		},
		{
			name:      "toleration with unknown operator and effect",
			placement: newPlacement(tolerations(clusterv1beta1.Toleration{Key: "k", Operator: "Like", Effect: "NoExecute"})),
			want:      `spec.tolerations[0].operator: must be Equal or Exists, got "Like"; spec.tolerations[0].effect`,
		},
		{
			name:      "negative numberOfClusters",
			placement: newPlacement(number(-1)),
			want:      "spec.numberOfClusters: must not be negative",
		},
		{
			name:      "clustersPerDecisionGroup not a percentage",
			placement: newPlacement(groups(intstr.FromString("half"))),
			want:      "spec.decisionStrategy.groupStrategy.clustersPerDecisionGroup",
		},
		{
			name:      "clustersPerDecisionGroup over 100%",
			placement: newPlacement(groups(intstr.FromString("150%"))),
			want:      "percentage must be between 1% and 100%",
		},
		{
			name:      "clustersPerDecisionGroup negative",
			placement: newPlacement(groups(intstr.FromInt32(-2))),
			want:      "must be a positive number",
		},
		{
			name: "group selector invalid",
			placement: newPlacement(groups(intstr.IntOrString{}, group("canary", clusterv1beta1.GroupClusterSelector{
				ClaimSelector: claimSel("tier", metav1.LabelSelectorOpExists, "gold")}))),
			want: "spec.decisionStrategy.groupStrategy.decisionGroups[0].groupClusterSelector.claimSelector",
		},
		{
			name:      "group without a name",
			placement: newPlacement(groups(intstr.IntOrString{}, group("", clusterv1beta1.GroupClusterSelector{}))),
			want:      "decisionGroups[0].groupName: must not be empty",
		},
		{
			name:      "group name that is not a label value",
			placement: newPlacement(groups(intstr.IntOrString{}, group("canary wave", clusterv1beta1.GroupClusterSelector{}))),
			want:      "decisionGroups[0].groupName",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clusters := []*clusterv1.ManagedCluster{newCluster("a", labeled("env", "prod")), newCluster("b")}
			out := Schedule(Input{Placement: tt.placement, Clusters: clusters, Now: now})

			mis := cond(t, out, clusterv1beta1.PlacementConditionMisconfigured)
			assert.Equal(t, metav1.ConditionTrue, mis.Status)
			assert.Equal(t, ReasonMisconfigured, mis.Reason)
			assert.Contains(t, mis.Message, tt.want)

			sat := cond(t, out, clusterv1beta1.PlacementConditionSatisfied)
			assert.Equal(t, metav1.ConditionFalse, sat.Status)
			assert.Equal(t, ReasonNoManagedClusterMatched, sat.Reason)
			assert.Contains(t, sat.Message, "misconfigured")

			assert.Empty(t, out.Decisions)
			assert.Empty(t, out.Status.DecisionGroups)
			assert.Zero(t, out.Status.NumberOfSelectedClusters)
			assert.Zero(t, out.RequeueAfter)
		})
	}
}

// TestScheduleDecisionGroups covers group assignment, the clustersPerDecisionGroup split and the
// group index and name on each PlacementDecision.
func TestScheduleDecisionGroups(t *testing.T) {
	prodCanary := []*clusterv1.ManagedCluster{
		newCluster("p1", labeled("env", "prod")), newCluster("p2", labeled("env", "prod"), labeled("canary", "true")),
		newCluster("p3", labeled("env", "prod")), newCluster("d1", labeled("env", "dev"), claimed("tier", "gold")),
		newCluster("d2", labeled("env", "dev")), newCluster("x1"), newCluster("x2"),
	}
	tests := []struct {
		name      string
		placement *clusterv1beta1.Placement
		clusters  []*clusterv1.ManagedCluster
		want      []string // groupSummary
		wantSets  [][]string
	}{
		{
			name:      "default: one unnamed group",
			placement: newPlacement(),
			clusters:  prodCanary,
			want:      []string{"0/:7[web-decision-1]"},
			wantSets:  [][]string{{"d1", "d2", "p1", "p2", "p3", "x1", "x2"}},
		},
		{
			name: "named groups first, first match wins, rest unnamed",
			placement: newPlacement(groups(intstr.IntOrString{},
				group("canary", clusterv1beta1.GroupClusterSelector{LabelSelector: labelSel("canary", "true")}),
				group("prod", clusterv1beta1.GroupClusterSelector{LabelSelector: labelSel("env", "prod")}),
				group("gold", clusterv1beta1.GroupClusterSelector{ClaimSelector: claimSel("tier", metav1.LabelSelectorOpIn, "gold")}),
			)),
			clusters: prodCanary,
			want:     []string{"0/canary:1[web-decision-1]", "1/prod:2[web-decision-2]", "2/gold:1[web-decision-3]", "3/:3[web-decision-4]"},
			wantSets: [][]string{{"p2"}, {"p1", "p3"}, {"d1"}, {"d2", "x1", "x2"}},
		},
		{
			name: "a named group that matches nothing yields no group",
			placement: newPlacement(groups(intstr.IntOrString{},
				group("empty", clusterv1beta1.GroupClusterSelector{LabelSelector: labelSel("env", "staging")}),
				group("prod", clusterv1beta1.GroupClusterSelector{LabelSelector: labelSel("env", "prod")}),
			)),
			clusters: prodCanary,
			want:     []string{"0/prod:3[web-decision-1]", "1/:4[web-decision-2]"},
			wantSets: [][]string{{"p1", "p2", "p3"}, {"d1", "d2", "x1", "x2"}},
		},
		{
			name:      "all clusters in named groups: no unnamed group",
			placement: newPlacement(groups(intstr.IntOrString{}, group("all", clusterv1beta1.GroupClusterSelector{}))),
			clusters:  prodCanary[:2],
			want:      []string{"0/all:2[web-decision-1]"},
			wantSets:  [][]string{{"p1", "p2"}},
		},
		{
			name:      "percentage rounds up: 30% of 7 is 3",
			placement: newPlacement(groups(intstr.FromString("30%"))),
			clusters:  prodCanary,
			want:      []string{"0/:3[web-decision-1]", "1/:3[web-decision-2]", "2/:1[web-decision-3]"},
			wantSets:  [][]string{{"d1", "d2", "p1"}, {"p2", "p3", "x1"}, {"x2"}},
		},
		{
			name:      "percentage is at least one cluster",
			placement: newPlacement(groups(intstr.FromString("1%"))),
			clusters:  prodCanary[:2],
			want:      []string{"0/:1[web-decision-1]", "1/:1[web-decision-2]"},
			wantSets:  [][]string{{"p1"}, {"p2"}},
		},
		{
			name:      "explicit 100%",
			placement: newPlacement(groups(intstr.FromString("100%"))),
			clusters:  prodCanary[:3],
			want:      []string{"0/:3[web-decision-1]"},
			wantSets:  [][]string{{"p1", "p2", "p3"}},
		},
		{
			name: "integer split applies to named groups too, same name, consecutive indexes",
			placement: newPlacement(groups(intstr.FromInt32(2),
				group("prod", clusterv1beta1.GroupClusterSelector{LabelSelector: labelSel("env", "prod")}),
			)),
			clusters: prodCanary,
			want: []string{
				"0/prod:2[web-decision-1]", "1/prod:1[web-decision-2]",
				"2/:2[web-decision-3]", "3/:2[web-decision-4]",
			},
			wantSets: [][]string{{"p1", "p2"}, {"p3"}, {"d1", "d2"}, {"x1", "x2"}},
		},
		{
			name:      "integer given as a string",
			placement: newPlacement(groups(intstr.FromString("4"))),
			clusters:  prodCanary,
			want:      []string{"0/:4[web-decision-1]", "1/:3[web-decision-2]"},
			wantSets:  [][]string{{"d1", "d2", "p1", "p2"}, {"p3", "x1", "x2"}},
		},
		{
			name:      "group size larger than the selection",
			placement: newPlacement(groups(intstr.FromInt32(50))),
			clusters:  prodCanary[:2],
			want:      []string{"0/:2[web-decision-1]"},
			wantSets:  [][]string{{"p1", "p2"}},
		},
		{
			name:      "groups only see selected clusters",
			placement: newPlacement(number(1), groups(intstr.IntOrString{}, group("prod", clusterv1beta1.GroupClusterSelector{LabelSelector: labelSel("env", "prod")}))),
			clusters:  prodCanary,
			want:      []string{"0/:1[web-decision-1]"},
			wantSets:  [][]string{{"d1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := Schedule(Input{Placement: tt.placement, Clusters: tt.clusters, Now: now})
			require.Equal(t, metav1.ConditionFalse, cond(t, out, clusterv1beta1.PlacementConditionMisconfigured).Status)
			assert.Equal(t, tt.want, groupSummary(out))

			require.Len(t, out.Decisions, len(tt.wantSets))
			for i, d := range out.Decisions {
				var got []string
				for _, cd := range d.Status.Decisions {
					got = append(got, cd.ClusterName)
				}
				assert.Equal(t, tt.wantSets[i], got, "decision %s", d.Name)
				g := out.Status.DecisionGroups[i] // one decision per group in these cases
				assert.Equal(t, fmt.Sprint(g.DecisionGroupIndex), d.Labels[clusterv1beta1.DecisionGroupIndexLabel])
				assert.Equal(t, g.DecisionGroupName, d.Labels[clusterv1beta1.DecisionGroupNameLabel])
			}
		})
	}
}

// TestScheduleLargeGroupsSplitDecisions: a PlacementDecision holds at most 100 clusters; bigger
// groups get several, numbered across all groups.
func TestScheduleLargeGroupsSplitDecisions(t *testing.T) {
	clusters := append(clustersNamed(names("a", 150), labeled("wave", "first")), clustersNamed(names("b", 120))...)
	p := newPlacement(groups(intstr.IntOrString{}, group("first", clusterv1beta1.GroupClusterSelector{LabelSelector: labelSel("wave", "first")})))
	out := Schedule(Input{Placement: p, Clusters: clusters, Now: now})

	assert.Equal(t, int32(270), out.Status.NumberOfSelectedClusters)
	assert.Equal(t, []string{
		"0/first:150[web-decision-1 web-decision-2]",
		"1/:120[web-decision-3 web-decision-4]",
	}, groupSummary(out))

	var sizes []int
	for _, d := range out.Decisions {
		sizes = append(sizes, len(d.Status.Decisions))
	}
	assert.Equal(t, []int{100, 50, 100, 20}, sizes)
	assert.Equal(t, "first", out.Decisions[1].Labels[clusterv1beta1.DecisionGroupNameLabel])
	assert.Equal(t, "0", out.Decisions[1].Labels[clusterv1beta1.DecisionGroupIndexLabel])
	assert.Equal(t, "1", out.Decisions[2].Labels[clusterv1beta1.DecisionGroupIndexLabel])
	assert.Equal(t, "a100", out.Decisions[1].Status.Decisions[0].ClusterName)
	assert.Equal(t, append(names("a", 150), names("b", 120)...), selected(out))

	// Without groups: 250 clusters are 3 decisions of one group.
	out = Schedule(Input{Placement: newPlacement(), Clusters: clustersNamed(names("c", 250)), Now: now})
	assert.Equal(t, []string{"0/:250[web-decision-1 web-decision-2 web-decision-3]"}, groupSummary(out))
}

// TestScheduleDecisionObjects checks that each PlacementDecision is complete.
func TestScheduleDecisionObjects(t *testing.T) {
	out := Schedule(Input{
		Placement: newPlacement(),
		Clusters:  []*clusterv1.ManagedCluster{newCluster("zeta"), newCluster("alpha"), newCluster("mid")},
		Now:       now,
	})
	require.Len(t, out.Decisions, 1)
	yes := true
	assert.Equal(t, &clusterv1beta1.PlacementDecision{
		TypeMeta: metav1.TypeMeta{APIVersion: "cluster.open-cluster-management.io/v1beta1", Kind: "PlacementDecision"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      "web-decision-1",
			Namespace: "apps",
			Labels: map[string]string{
				"cluster.open-cluster-management.io/placement":            "web",
				"cluster.open-cluster-management.io/decision-group-index": "0",
				"cluster.open-cluster-management.io/decision-group-name":  "",
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "cluster.open-cluster-management.io/v1beta1", Kind: "Placement",
				Name: "web", UID: "uid-web", Controller: &yes, BlockOwnerDeletion: &yes,
			}},
		},
		Status: clusterv1beta1.PlacementDecisionStatus{Decisions: []clusterv1beta1.ClusterDecision{
			{ClusterName: "alpha", Reason: ""}, {ClusterName: "mid", Reason: ""}, {ClusterName: "zeta", Reason: ""},
		}},
	}, out.Decisions[0])
	assert.Equal(t, []clusterv1beta1.DecisionGroupStatus{{
		DecisionGroupIndex: 0, DecisionGroupName: "", Decisions: []string{"web-decision-1"}, ClustersCount: 3,
	}}, out.Status.DecisionGroups)
}

// TestScheduleConditionTransitions: LastTransitionTime moves only when a condition's status
// changes; other conditions are kept; observedGeneration follows the placement.
func TestScheduleConditionTransitions(t *testing.T) {
	earlier := metav1.NewTime(now.Add(-24 * time.Hour))
	foreign := metav1.Condition{Type: "Example", Status: metav1.ConditionTrue, Reason: "Other", LastTransitionTime: earlier}
	p := newPlacement(number(2))
	p.Generation = 7
	p.Status.Conditions = []metav1.Condition{
		foreign,
		{Type: clusterv1beta1.PlacementConditionMisconfigured, Status: metav1.ConditionFalse, Reason: ReasonSucceedconfigured, LastTransitionTime: earlier, ObservedGeneration: 6},
		{Type: clusterv1beta1.PlacementConditionSatisfied, Status: metav1.ConditionFalse, Reason: ReasonNotAllDecisionsScheduled, LastTransitionTime: earlier, ObservedGeneration: 6},
	}

	// Status of Satisfied changes (False -> True), Misconfigured stays False.
	out := Schedule(Input{Placement: p, Clusters: clustersNamed([]string{"a", "b"}), Now: now})
	require.Len(t, out.Status.Conditions, 3)
	assert.Equal(t, foreign, out.Status.Conditions[0])
	mis, sat := out.Status.Conditions[1], out.Status.Conditions[2]
	assert.Equal(t, clusterv1beta1.PlacementConditionMisconfigured, mis.Type)
	assert.Equal(t, earlier, mis.LastTransitionTime)
	assert.Equal(t, int64(7), mis.ObservedGeneration)
	assert.Equal(t, metav1.ConditionTrue, sat.Status)
	assert.Equal(t, metav1.NewTime(now), sat.LastTransitionTime)
	assert.Equal(t, int64(7), sat.ObservedGeneration)

	// Same status, different reason: the transition time stays.
	p.Status.Conditions = out.Status.Conditions
	later := now.Add(time.Hour)
	out = Schedule(Input{Placement: p, Clusters: clustersNamed([]string{"a"}), Now: later})
	sat = cond(t, out, clusterv1beta1.PlacementConditionSatisfied)
	assert.Equal(t, ReasonNotAllDecisionsScheduled, sat.Reason)
	assert.Equal(t, metav1.NewTime(later), sat.LastTransitionTime, "True -> False is a transition")

	p.Status.Conditions = out.Status.Conditions
	out = Schedule(Input{Placement: p, Now: later.Add(time.Hour)})
	sat = cond(t, out, clusterv1beta1.PlacementConditionSatisfied)
	assert.Equal(t, ReasonNoManagedClusterMatched, sat.Reason)
	assert.Equal(t, metav1.NewTime(later), sat.LastTransitionTime, "False -> False keeps the time")

	// Misconfiguration flips Misconfigured to True now.
	p.Spec.Predicates = []clusterv1beta1.ClusterPredicate{{RequiredClusterSelector: clusterv1beta1.ClusterSelector{CelSelector: celSel("(")}}}
	p.Status.Conditions = out.Status.Conditions
	out = Schedule(Input{Placement: p, Clusters: clustersNamed([]string{"a"}), Now: later.Add(2 * time.Hour)})
	mis = cond(t, out, clusterv1beta1.PlacementConditionMisconfigured)
	assert.Equal(t, metav1.ConditionTrue, mis.Status)
	assert.Equal(t, metav1.NewTime(later.Add(2*time.Hour)), mis.LastTransitionTime)

	// A placement with no conditions yet gets both, stamped now, in a fixed order.
	out = Schedule(Input{Placement: newPlacement(), Now: now})
	require.Len(t, out.Status.Conditions, 2)
	assert.Equal(t, clusterv1beta1.PlacementConditionMisconfigured, out.Status.Conditions[0].Type)
	assert.Equal(t, clusterv1beta1.PlacementConditionSatisfied, out.Status.Conditions[1].Type)
	assert.Equal(t, metav1.NewTime(now), out.Status.Conditions[1].LastTransitionTime)
	assert.Equal(t, int64(3), out.Status.Conditions[1].ObservedGeneration)
}

// TestScheduleDeterministicAndPure: shuffled inputs give the same output and the inputs are not
// modified.
func TestScheduleDeterministicAndPure(t *testing.T) {
	hourAgo := now.Add(-time.Hour)
	build := func() Input {
		var clusters []*clusterv1.ManagedCluster
		for i, n := range names("m", 40) {
			opts := []clusterOpt{labeled("env", []string{"prod", "dev"}[i%2]), claimed("region", []string{"eu", "us", "ap"}[i%3])}
			if i%5 == 0 {
				opts = append(opts, tainted("busy", "", clusterv1.TaintEffectPreferNoSelect, hourAgo))
			}
			if i%7 == 0 {
				opts = append(opts, tainted("unreachable", "", clusterv1.TaintEffectNoSelect, now.Add(-time.Duration(i)*time.Minute)))
			}
			if i%4 == 0 {
				opts = append(opts, inSet("blue"))
			} else {
				opts = append(opts, inSet("green"))
			}
			clusters = append(clusters, newCluster(n, opts...))
		}
		p := newPlacement(
			sets("green", "blue", "ghost"),
			number(17),
			predicates(
				clusterv1beta1.ClusterSelector{LabelSelector: labelSel("env", "prod")},
				clusterv1beta1.ClusterSelector{ClaimSelector: claimSel("region", metav1.LabelSelectorOpIn, "eu"), CelSelector: celSel(`managedCluster.metadata.name != "m003"`)},
			),
			tolerations(clusterv1beta1.Toleration{Key: "unreachable", Operator: clusterv1beta1.TolerationOpExists, TolerationSeconds: seconds(1800)}),
			groups(intstr.FromString("25%"),
				group("eu", clusterv1beta1.GroupClusterSelector{ClaimSelector: claimSel("region", metav1.LabelSelectorOpIn, "eu")}),
				group("dev", clusterv1beta1.GroupClusterSelector{LabelSelector: labelSel("env", "dev")}),
			),
		)
		p.Status.Conditions = []metav1.Condition{{Type: "Example", Status: metav1.ConditionTrue, Reason: "X"}}
		return Input{
			Placement: p,
			Clusters:  clusters,
			Sets:      []*clusterv1beta2.ManagedClusterSet{exclusiveSet("blue"), exclusiveSet("green")},
			Existing:  []*clusterv1beta1.PlacementDecision{existingDecision("m039", "m020", "m001"), existingDecision("m014", "m002")},
			Now:       now,
		}
	}

	in := build()
	out := Schedule(in)
	assert.Equal(t, build(), in, "Schedule modified its input")
	require.NotEmpty(t, out.Decisions)
	assert.Equal(t, int32(17), out.Status.NumberOfSelectedClusters)
	// m028 was tainted 28 minutes ago and is tolerated for 30.
	assert.Equal(t, 2*time.Minute, out.RequeueAfter)

	// Existing and still feasible clusters survive, even a PreferNoSelect one (m020); m001
	// no longer matches a predicate.
	for _, c := range []string{"m002", "m014", "m020", "m039"} {
		assert.Contains(t, selected(out), c)
	}
	assert.NotContains(t, selected(out), "m001")

	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := build()
		rng.Shuffle(len(shuffled.Clusters), func(i, j int) {
			shuffled.Clusters[i], shuffled.Clusters[j] = shuffled.Clusters[j], shuffled.Clusters[i]
		})
		rng.Shuffle(len(shuffled.Sets), func(i, j int) { shuffled.Sets[i], shuffled.Sets[j] = shuffled.Sets[j], shuffled.Sets[i] })
		rng.Shuffle(len(shuffled.Placement.Spec.ClusterSets), func(i, j int) {
			cs := shuffled.Placement.Spec.ClusterSets
			cs[i], cs[j] = cs[j], cs[i]
		})
		slices.Reverse(shuffled.Existing)
		assert.Equal(t, out, Schedule(shuffled))
	}
}

func TestScheduleEdgeInputs(t *testing.T) {
	t.Run("nil placement", func(t *testing.T) {
		assert.Equal(t, Output{}, Schedule(Input{Clusters: clustersNamed([]string{"a"}), Now: now}))
	})
	t.Run("nil entries and duplicate names are tolerated", func(t *testing.T) {
		out := Schedule(Input{
			Placement: newPlacement(sets("blue")),
			Clusters:  []*clusterv1.ManagedCluster{nil, newCluster("a", inSet("blue")), newCluster("a", inSet("blue")), nil},
			Sets:      []*clusterv1beta2.ManagedClusterSet{nil, exclusiveSet("blue"), exclusiveSet("blue")},
			Existing:  []*clusterv1beta1.PlacementDecision{nil, existingDecision("", "a")},
			Now:       now,
		})
		assert.Equal(t, []string{"a"}, selected(out))
	})
	t.Run("huge tolerationSeconds lasts forever", func(t *testing.T) {
		out := Schedule(Input{
			Placement: newPlacement(tolerations(clusterv1beta1.Toleration{Key: "k", Operator: clusterv1beta1.TolerationOpExists, TolerationSeconds: seconds(1 << 62)})),
			Clusters:  []*clusterv1.ManagedCluster{newCluster("a", tainted("k", "", clusterv1.TaintEffectNoSelect, now))},
			Now:       now,
		})
		assert.Equal(t, []string{"a"}, selected(out))
		assert.Zero(t, out.RequeueAfter)
	})
	t.Run("tolerationSeconds expiring exactly now no longer tolerates", func(t *testing.T) {
		out := Schedule(Input{
			Placement: newPlacement(tolerations(clusterv1beta1.Toleration{Key: "k", Operator: clusterv1beta1.TolerationOpExists, TolerationSeconds: seconds(60)})),
			Clusters:  []*clusterv1.ManagedCluster{newCluster("a", tainted("k", "", clusterv1.TaintEffectNoSelect, now.Add(-time.Minute)))},
			Now:       now,
		})
		assert.Empty(t, selected(out))
	})
	t.Run("long misconfiguration messages are cut to the API limit", func(t *testing.T) {
		var tols []clusterv1beta1.Toleration
		for range 2000 {
			tols = append(tols, clusterv1beta1.Toleration{Operator: "Bad"})
		}
		out := Schedule(Input{Placement: newPlacement(tolerations(tols...)), Now: now})
		msg := cond(t, out, clusterv1beta1.PlacementConditionMisconfigured).Message
		assert.LessOrEqual(t, len(msg), maxMessageLength)
		assert.True(t, strings.HasSuffix(msg, "..."))
	})
}
