package placement

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1beta1 "open-cluster-management.io/api/cluster/v1beta1"
)

func misconfiguredCondition(problems []string) metav1.Condition {
	if len(problems) > 0 {
		return metav1.Condition{
			Type:    clusterv1beta1.PlacementConditionMisconfigured,
			Status:  metav1.ConditionTrue,
			Reason:  ReasonMisconfigured,
			Message: truncate(strings.Join(problems, "; "), maxMessageLength),
		}
	}
	return metav1.Condition{
		Type:    clusterv1beta1.PlacementConditionMisconfigured,
		Status:  metav1.ConditionFalse,
		Reason:  ReasonSucceedconfigured,
		Message: "Placement configuration is valid",
	}
}

// satisfiedCondition says whether the placement got the clusters it asked for, and if not, the
// first cause in this order: misconfiguration, empty cluster sets, no match, too few matches.
func satisfiedCondition(problems []string, number *int32, sel selection) metav1.Condition {
	c := metav1.Condition{Type: clusterv1beta1.PlacementConditionSatisfied, Status: metav1.ConditionFalse}
	selected := len(sel.selected)
	switch {
	case len(problems) > 0:
		// OCM's vocabulary has no reason of its own here: nothing was matched.
		c.Reason = ReasonNoManagedClusterMatched
		c.Message = "Placement is misconfigured, no cluster selected"
	case sel.setsEmpty:
		c.Reason = ReasonAllManagedClusterSetsEmpty
		c.Message = fmt.Sprintf("ManagedClusterSets %s have no member clusters", describeSets(sel.namedSets))
		if len(sel.missingSets) > 0 {
			c.Message += fmt.Sprintf(" (not found: %s)", strings.Join(sel.missingSets, ", "))
		}
	case number != nil && selected == int(*number):
		c.Status = metav1.ConditionTrue
		c.Reason = ReasonAllDecisionsScheduled
		c.Message = fmt.Sprintf("%d of %d clusters selected", selected, *number)
	case selected == 0:
		c.Reason = ReasonNoManagedClusterMatched
		c.Message = "No ManagedCluster matches the placement"
	case number == nil:
		c.Status = metav1.ConditionTrue
		c.Reason = ReasonAllDecisionsScheduled
		c.Message = fmt.Sprintf("All matching clusters selected (%d)", selected)
	default:
		c.Reason = ReasonNotAllDecisionsScheduled
		c.Message = fmt.Sprintf("%d of %d clusters selected", selected, *number)
	}
	return c
}

// mergeConditions returns prev with the desired conditions set in place (or appended), stamped
// with now and generation. A condition whose status did not change keeps its transition time,
// which is what makes LastTransitionTime mean "since when". Other writers' conditions are kept.
func mergeConditions(prev []metav1.Condition, now time.Time, generation int64, desired ...metav1.Condition) []metav1.Condition {
	out := make([]metav1.Condition, 0, len(prev)+len(desired))
	out = append(out, prev...) // Condition holds no pointers: a copy is a deep copy
	for _, d := range desired {
		d.ObservedGeneration = generation
		d.LastTransitionTime = metav1.NewTime(now)
		i := conditionIndex(out, d.Type)
		if i < 0 {
			out = append(out, d)
			continue
		}
		if out[i].Status == d.Status && !out[i].LastTransitionTime.IsZero() {
			d.LastTransitionTime = out[i].LastTransitionTime
		}
		out[i] = d
	}
	return out
}

func conditionIndex(conds []metav1.Condition, condType string) int {
	for i := range conds {
		if conds[i].Type == condType {
			return i
		}
	}
	return -1
}

// maxMessageLength is the API server's limit on a condition message.
const maxMessageLength = 32768

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-len("...")] + "..."
}
