package testbed

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// One cluster with the project's failure stages: a plain pod runs, a pod labelled for a crash
// loop or an OOM kill ends up the way a kubelet would report it, and Stop leaves no process.
func TestClusterInjectsContainerFailures(t *testing.T) {
	c := StartCluster(t, ClusterOptions{Name: "stages", Nodes: 2, Stages: []string{StageCrashLoop, StageOOMKilled}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, err := c.Clientset()
	require.NoError(t, err)

	// The kubeconfig file carries the same admin credentials as the rest.Config.
	fromFile, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	require.NoError(t, err)
	csFromFile, err := kubernetes.NewForConfig(fromFile)
	require.NoError(t, err)
	nodes, err := csFromFile.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, nodes.Items, 2)

	pod := func(name, inject string) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
		}
		if inject != "" {
			p.Labels[InjectLabel] = inject
		}
		return p
	}
	for _, p := range []*corev1.Pod{pod("healthy", ""), pod("crashing", "crashloop"), pod("oom", "oomkilled")} {
		_, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
	}

	awaitPod := func(name string, done func(*corev1.Pod) bool) *corev1.Pod {
		var got *corev1.Pod
		err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			p, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			got = p
			return done(p), nil
		})
		require.NoError(t, err, "pod %s: %+v", name, got.Status)
		return got
	}
	crashLooping := func(p *corev1.Pod) bool {
		s := p.Status.ContainerStatuses
		return len(s) == 1 && s[0].State.Waiting != nil && s[0].State.Waiting.Reason == "CrashLoopBackOff"
	}

	healthy := awaitPod("healthy", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready
	})
	require.NotEmpty(t, healthy.Spec.NodeName, "the scheduler bound the pod")

	crashing := awaitPod("crashing", crashLooping)
	last := crashing.Status.ContainerStatuses[0].LastTerminationState.Terminated
	require.NotNil(t, last)
	require.Equal(t, "Error", last.Reason)
	require.EqualValues(t, 1, last.ExitCode)
	require.EqualValues(t, 5, crashing.Status.ContainerStatuses[0].RestartCount)

	oom := awaitPod("oom", crashLooping)
	last = oom.Status.ContainerStatuses[0].LastTerminationState.Terminated
	require.NotNil(t, last)
	require.Equal(t, "OOMKilled", last.Reason)
	require.EqualValues(t, 137, last.ExitCode)

	c.Stop()
	for _, p := range c.procs {
		select {
		case <-p.exited:
		default:
			t.Errorf("%s still running after Stop", p.name)
		}
	}
}
