package execute

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

func kube(t *testing.T) client.Client {
	t.Helper()
	c, err := client.New(cluster.Config, client.Options{Scheme: clientgoscheme.Scheme})
	require.NoError(t, err)
	return c
}

// namespace makes a namespace for one test and deletes it afterwards.
func namespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "exec-" + rand.String(6)}}
	require.NoError(t, c.Create(context.Background(), ns))
	t.Cleanup(func() { _ = c.Delete(context.Background(), ns) })
	return ns.Name
}

func engine(t *testing.T, c client.Client, ns string, mod func(*Options)) *Engine {
	t.Helper()
	opts := Options{Namespace: ns, PollInterval: 200 * time.Millisecond}
	if mod != nil {
		mod(&opts)
	}
	e, err := New(c, opts)
	require.NoError(t, err)
	return e
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newDeployment creates a Deployment with one container "app" and waits for its rollout.
// crash puts the test bed's crash-loop label on its pods.
func newDeployment(t *testing.T, c client.Client, ns, name string, replicas int32, image string, crash bool) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplateFor(name, image, crash),
		},
	}
	require.NoError(t, c.Create(testContext(t), d))
	if crash {
		awaitPods(t, c, ns, name, int(replicas))
	} else {
		awaitRollout(t, c, d)
	}
	return get(t, c, d)
}

// awaitPods waits until n pods labelled app=name are Running.
func awaitPods(t *testing.T, c client.Client, ns, name string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		var pods corev1.PodList
		if err := c.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{"app": name}); err != nil {
			return false
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				running++
			}
		}
		return running == n
	}, 2*time.Minute, 200*time.Millisecond, "%d running pods of %s", n, name)
}

// update changes obj on the server, retrying on conflicts with the controllers.
func update[T client.Object](t *testing.T, c client.Client, obj T, mutate func(T)) {
	t.Helper()
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		fresh := get(t, c, obj)
		mutate(fresh)
		return c.Update(context.Background(), fresh)
	}))
}

func podTemplateFor(name, image string, crash bool) corev1.PodTemplateSpec {
	labels := map[string]string{"app": name}
	if crash {
		labels[testbed.InjectLabel] = "crashloop"
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

// get re-reads obj, with its kind set.
func get[T client.Object](t *testing.T, c client.Client, obj T) T {
	t.Helper()
	fresh := obj.DeepCopyObject().(T)
	require.NoError(t, c.Get(context.Background(), client.ObjectKeyFromObject(obj), fresh))
	gvk, err := apiutil.GVKForObject(fresh, c.Scheme())
	require.NoError(t, err)
	fresh.GetObjectKind().SetGroupVersionKind(gvk)
	return fresh
}

// awaitRollout waits until the workload's rollout is complete by the engine's own definition.
func awaitRollout(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	var detail string
	require.Eventually(t, func() bool {
		var done bool
		var err error
		done, detail, err = rolloutDone(get(t, c, obj))
		return err == nil && done
	}, 2*time.Minute, 200*time.Millisecond, "rollout of %s: %s", obj.GetName(), detail)
}

// ref makes a directive target for obj; withRV adds its resourceVersion as a precondition.
func ref(t *testing.T, c client.Client, obj client.Object, withRV bool) *fleetv1.ObjectRef {
	t.Helper()
	gvk, err := apiutil.GVKForObject(obj, c.Scheme())
	require.NoError(t, err)
	r := &fleetv1.ObjectRef{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
	if withRV {
		r.ResourceVersion, r.Uid = obj.GetResourceVersion(), string(obj.GetUID())
	}
	return r
}

// directive makes a directive with string parameters, as the hub's plans hold them.
func directive(actionType string, target *fleetv1.ObjectRef, params map[string]string) *fleetv1.DirectivePayload {
	raw, err := json.Marshal(params)
	if err != nil {
		panic(err)
	}
	return &fleetv1.DirectivePayload{
		ActionId: "act-" + rand.String(10), ActionType: actionType, Target: target, ParametersJson: raw,
		ExpiresAt: timestamppb.New(time.Now().Add(10 * time.Minute)), PlanId: "plan-test",
	}
}

// recorder collects the reported statuses.
type recorder struct {
	mu     sync.Mutex
	phases []fleetv1.ActionPhase
}

func (r *recorder) report(st *fleetv1.ActionStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phases = append(r.phases, st.GetPhase())
}

func (r *recorder) got() []fleetv1.ActionPhase {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]fleetv1.ActionPhase(nil), r.phases...)
}

// decodeInto decodes a status's before/after JSON.
func decodeInto[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(raw, &v), "decode %s", string(raw))
	return v
}

func requirePhase(t *testing.T, st *fleetv1.ActionStatus, phase fleetv1.ActionPhase, reason string) {
	t.Helper()
	require.Equal(t, phase.String(), st.GetPhase().String(), "reason %s: %s", st.GetReason(), st.GetMessage())
	if reason != "" {
		require.Equal(t, reason, st.GetReason(), st.GetMessage())
	}
}

var (
	phaseApplying   = fleetv1.ActionPhase_ACTION_PHASE_APPLYING
	phaseVerifying  = fleetv1.ActionPhase_ACTION_PHASE_VERIFYING
	phaseSucceeded  = fleetv1.ActionPhase_ACTION_PHASE_SUCCEEDED
	phaseFailed     = fleetv1.ActionPhase_ACTION_PHASE_FAILED
	phaseRolledBack = fleetv1.ActionPhase_ACTION_PHASE_ROLLED_BACK
	phaseDryRun     = fleetv1.ActionPhase_ACTION_PHASE_DRY_RUN
	success         = []fleetv1.ActionPhase{phaseApplying, phaseVerifying, phaseSucceeded}
)
