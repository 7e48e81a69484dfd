package analyze_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubedevaiops/kubedevaiops/spoke/analyze"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

func TestClientsetLogs(t *testing.T) {
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "logger", Namespace: logsNamespace, Labels: map[string]string{testbed.InjectLabel: "crashloop"}},
		Spec: corev1.PodSpec{NodeName: logsNodeName, Containers: []corev1.Container{{Name: "app", Image: "app:v2"}},
			Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
	}
	create(t, pod)
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
