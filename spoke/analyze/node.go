package analyze

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Node reports nodes that are not Ready and nodes under memory, disk or PID pressure or
// without network.
type Node struct{}

// Name implements Analyzer.
func (Node) Name() string { return "node" }

// Analyze implements Analyzer.
func (Node) Analyze(ctx context.Context, in Input) ([]*fleetv1.Finding, error) {
	var list corev1.NodeList
	if err := in.Reader.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var out []*fleetv1.Finding
	for i := range list.Items {
		n := &list.Items[i]
		var fs []*fleetv1.Finding
		for _, c := range n.Status.Conditions {
			cond := statusEvidence(in, fmt.Sprintf("%s=%s, reason %s, since %s", c.Type, c.Status, c.Reason, c.LastTransitionTime.UTC().Format("2006-01-02T15:04:05Z")), c.Message)
			switch {
			case c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue:
				f := finding(in, "node", fleetv1.Severity_SEVERITY_CRITICAL, ref(gvkNode, n),
					fmt.Sprintf("node is not ready (%s, %s): %s", c.Status, c.Reason, c.Message), "NotReady", signaturePart(or(c.Reason, string(c.Status))))
				f.Evidence = append(f.Evidence, cond)
				fs = append(fs, f)
			case (c.Type == corev1.NodeMemoryPressure || c.Type == corev1.NodeDiskPressure || c.Type == corev1.NodePIDPressure ||
				c.Type == corev1.NodeNetworkUnavailable) && c.Status == corev1.ConditionTrue:
				f := finding(in, "node", fleetv1.Severity_SEVERITY_HIGH, ref(gvkNode, n),
					fmt.Sprintf("node reports %s: %s", c.Type, c.Message), string(c.Type))
				f.Evidence = append(f.Evidence, cond)
				fs = append(fs, f)
			}
		}
		if len(fs) == 0 {
			continue
		}
		alloc := statusEvidence(in, "allocatable", fmt.Sprintf("cpu %s, memory %s, pods %s, unschedulable %t",
			n.Status.Allocatable.Cpu(), n.Status.Allocatable.Memory(), n.Status.Allocatable.Pods(), n.Spec.Unschedulable))
		events := eventEvidence(ctx, in, "", string(n.UID), false)
		if len(events) == 0 {
			// the kubelet records node events with the node's name as the object's uid
			events = eventEvidence(ctx, in, "", n.Name, false)
		}
		for _, f := range fs {
			f.Evidence = append(f.Evidence, alloc)
			f.Evidence = append(f.Evidence, events...)
		}
		out = append(out, fs...)
	}
	return out, nil
}
