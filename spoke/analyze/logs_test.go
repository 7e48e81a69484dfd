package analyze_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubedevaiops/kubedevaiops/spoke/analyze"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// logsNode is a kwok node whose kubelet endpoint is kwok's own server on loopback, so the
// apiserver's pod log requests reach kwok, which serves the files of ClusterLogs. (The test
// bed's nodes have no address, so log requests for their pods fail in the apiserver.) Its
// Hostname address is the IP too: the apiserver prefers that one and would resolve a name
// through DNS, and kwok clears the addresses of a node that lacks either.
func logsNode(t *testing.T) string {
	t.Helper()
	port, err := kwokPort()
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	const name = "analyze-logs-node"
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name, "type": "kwok"},
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}},
		Status: corev1.NodeStatus{
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: "127.0.0.1"}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(p)}},
		},
	}
	// Unschedulable keeps the scheduler from placing other tests' pods here.
	node.Spec.Unschedulable = true
	if err := kube.Create(context.Background(), node); err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	return name
}

func TestClientsetLogs(t *testing.T) {
	ctx := context.Background()
	node := logsNode(t)
	_ = namespace(t, logsNamespace)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "logger", Namespace: logsNamespace, Labels: map[string]string{testbed.InjectLabel: "crashloop"}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "app:v2"}},
			Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
	}
	require.NoError(t, kube.Create(ctx, pod))
	logs := analyze.NewLogSource(clientset)

	var prev []string
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var err error
		prev, err = logs.TailLogs(ctx, logsNamespace, "logger", "app", true, 2)
		assert.NoError(c, err)
	}, time.Minute, 200*time.Millisecond)
	assert.Equal(t, previousLog[1:], prev, "previous container's log, last 2 lines")
	cur, err := logs.TailLogs(ctx, logsNamespace, "logger", "app", false, 10)
	require.NoError(t, err)
	assert.Equal(t, currentLog, cur)

	_, err = logs.TailLogs(ctx, logsNamespace, "logger", "nosuch", false, 10)
	assert.Error(t, err, "an unknown container has no log")
}
