package analyze_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/spoke/analyze"
)

// handsOffNodeWith creates a node kwok leaves alone, with the conditions a kubelet would
// report (kwok would mark any node it manages Ready and pressure-free).
func handsOffNodeWith(t *testing.T, name string, conds ...corev1.NodeCondition) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{handsOffLabel: "true"}},
		Spec: corev1.NodeSpec{Unschedulable: true}, Status: corev1.NodeStatus{Conditions: conds}}
	create(t, n)
	awaitCached(t, n)
	return n
}

func cond(typ corev1.NodeConditionType, status corev1.ConditionStatus, reason string) corev1.NodeCondition {
	return corev1.NodeCondition{Type: typ, Status: status, Reason: reason, Message: reason + " reported by the kubelet",
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}
}

func TestNodeAnalyzer(t *testing.T) {
	a := analyze.Node{}
	ready := cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady")
	tests := []struct {
		name  string
		node  string
		conds []corev1.NodeCondition
		want  []string
		check func(t *testing.T, fs map[string]*fleetv1.Finding)
	}{
		{
			name: "not ready", node: "analyze-node-notready",
			conds: []corev1.NodeCondition{cond(corev1.NodeReady, corev1.ConditionFalse, "KubeletNotReady")},
			want:  []string{"node/NotReady/KubeletNotReady"},
			check: func(t *testing.T, fs map[string]*fleetv1.Finding) {
				assert.Equal(t, fleetv1.Severity_SEVERITY_CRITICAL, fs["node/NotReady/KubeletNotReady"].Severity)
			},
		},
		{
			name: "memory pressure", node: "analyze-node-memory",
			conds: []corev1.NodeCondition{ready, cond(corev1.NodeMemoryPressure, corev1.ConditionTrue, "KubeletHasInsufficientMemory")},
			want:  []string{"node/MemoryPressure"},
		},
		{
			name: "disk and PID pressure", node: "analyze-node-disk-pid",
			conds: []corev1.NodeCondition{ready, cond(corev1.NodeDiskPressure, corev1.ConditionTrue, "KubeletHasDiskPressure"),
				cond(corev1.NodePIDPressure, corev1.ConditionTrue, "KubeletHasInsufficientPID")},
			want: []string{"node/DiskPressure", "node/PIDPressure"},
		},
		{
			name: "healthy", node: "analyze-node-fine",
			conds: []corev1.NodeCondition{ready, cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handsOffNodeWith(t, tt.node, tt.conds...)
			fs := awaitFindings(t, a, input(), "Node", "", tt.node, tt.want)
			if tt.check != nil {
				tt.check(t, fs)
			}
		})
	}
	t.Run("kwok's node is healthy", func(t *testing.T) {
		awaitFindings(t, a, input(), "Node", "", defaultNode, nil)
	})
}
