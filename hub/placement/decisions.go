package placement

import (
	"fmt"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
)

// decisionGroup is one decision group: a name (possibly empty) and its clusters, sorted.
type decisionGroup struct {
	name     string
	clusters []string
}

// splitGroups puts each selected cluster (sorted by name) into the first named group whose
// selector matches it, the rest into unnamed groups, and splits every group that is larger than
// clustersPerDecisionGroup. A named group that matches nothing yields no group, as in OCM.
func splitGroups(selected []*clusterView, spec *compiledSpec) []decisionGroup {
	if len(selected) == 0 {
		return nil
	}
	size := spec.groupSize.of(len(selected))

	taken := make([]bool, len(selected))
	var groups []decisionGroup
	for _, g := range spec.groups {
		var names []string
		for i, c := range selected {
			if !taken[i] && g.selector.matches(c) {
				taken[i] = true
				names = append(names, c.cluster.Name)
			}
		}
		groups = append(groups, chunkGroup(g.name, names, size)...)
	}

	var rest []string
	for i, c := range selected {
		if !taken[i] {
			rest = append(rest, c.cluster.Name)
		}
	}
	return append(groups, chunkGroup("", rest, size)...)
}

func chunkGroup(name string, clusters []string, size int) []decisionGroup {
	var out []decisionGroup
	for _, part := range chunks(clusters, size) {
		out = append(out, decisionGroup{name: name, clusters: part})
	}
	return out
}

// chunks splits s into consecutive pieces of at most size elements.
func chunks(s []string, size int) [][]string {
	var out [][]string
	for len(s) > 0 {
		n := min(size, len(s))
		out = append(out, s[:n:n])
		s = s[n:]
	}
	return out
}

// buildDecisions turns the groups into PlacementDecisions named <placement>-decision-<n>, n
// counting from 1 across all groups, and the matching decision group status.
func buildDecisions(p *clusterv1beta1.Placement, groups []decisionGroup) ([]*clusterv1beta1.PlacementDecision, []clusterv1beta1.DecisionGroupStatus) {
	decisions := []*clusterv1beta1.PlacementDecision{}
	status := []clusterv1beta1.DecisionGroupStatus{}
	for index, g := range groups {
		var names []string
		for _, part := range chunks(g.clusters, MaxClustersPerDecision) {
			name := fmt.Sprintf("%s-decision-%d", p.Name, len(decisions)+1)
			decisions = append(decisions, newDecision(p, name, index, g.name, part))
			names = append(names, name)
		}
		status = append(status, clusterv1beta1.DecisionGroupStatus{
			DecisionGroupIndex: int32(index),
			DecisionGroupName:  g.name,
			Decisions:          names,
			ClustersCount:      int32(len(g.clusters)),
		})
	}
	return decisions, status
}

func newDecision(p *clusterv1beta1.Placement, name string, groupIndex int, groupName string, clusters []string) *clusterv1beta1.PlacementDecision {
	apiVersion := clusterv1beta1.GroupVersion.String()
	controller := true
	cds := make([]clusterv1beta1.ClusterDecision, 0, len(clusters))
	for _, c := range clusters {
		cds = append(cds, clusterv1beta1.ClusterDecision{ClusterName: c, Reason: ""})
	}
	return &clusterv1beta1.PlacementDecision{
		TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: "PlacementDecision"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: p.Namespace,
			Labels: map[string]string{
				clusterv1beta1.PlacementLabel:          p.Name,
				clusterv1beta1.DecisionGroupIndexLabel: strconv.Itoa(groupIndex),
				clusterv1beta1.DecisionGroupNameLabel:  groupName,
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion:         apiVersion,
				Kind:               "Placement",
				Name:               p.Name,
				UID:                p.UID,
				Controller:         &controller,
				BlockOwnerDeletion: &controller,
			}},
		},
		Status: clusterv1beta1.PlacementDecisionStatus{Decisions: cds},
	}
}
