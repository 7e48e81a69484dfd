package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

// A Deployment of 3 becomes a ReplicaSet and 3 Running pods on kwok nodes, in every cluster: the
// controller manager, the scheduler and kwok all do their part.
func TestDeploymentReachesRunningPods(t *testing.T) {
	for _, c := range clusters {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cs, err := c.Clientset()
			require.NoError(t, err)

			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "deploy-"}}
			ns, err = cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
			require.NoError(t, err)
			t.Cleanup(func() {
				_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
			})

			labels := map[string]string{"app": "web"}
			deploy := &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns.Name},
				Spec: appsv1.DeploymentSpec{
					Replicas: ptr.To[int32](3),
					Selector: &metav1.LabelSelector{MatchLabels: labels},
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: labels},
						Spec: corev1.PodSpec{Containers: []corev1.Container{{
							Name: "web", Image: "registry.example/web:1.0",
						}}},
					},
				},
			}
			_, err = cs.AppsV1().Deployments(ns.Name).Create(ctx, deploy, metav1.CreateOptions{})
			require.NoError(t, err)

			var last string
			err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
				pods, err := cs.CoreV1().Pods(ns.Name).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
				if err != nil {
					return false, err
				}
				var states []string
				running := 0
				for _, p := range pods.Items {
					states = append(states, fmt.Sprintf("%s=%s@%s", p.Name, p.Status.Phase, p.Spec.NodeName))
					if p.Status.Phase == corev1.PodRunning && strings.HasPrefix(p.Spec.NodeName, "kwok-node-") {
						running++
					}
				}
				last = strings.Join(states, " ")
				return running == 3 && len(pods.Items) == 3, nil
			})
			require.NoError(t, err, "pods: %s", last)

			rs, err := cs.AppsV1().ReplicaSets(ns.Name).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			require.NoError(t, err)
			require.Len(t, rs.Items, 1, "one ReplicaSet owns the pods")
			require.Equal(t, "web", rs.Items[0].OwnerReferences[0].Name)

			err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
				d, err := cs.AppsV1().Deployments(ns.Name).Get(ctx, "web", metav1.GetOptions{})
				return err == nil && d.Status.AvailableReplicas == 3, err
			})
			require.NoError(t, err, "the Deployment reports 3 available replicas")
		})
	}
}
