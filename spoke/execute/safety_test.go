package execute

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// A dry-run directive stops after the server-side dry-run: DRY_RUN with the server's result,
// and the cluster unchanged.
func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	c := kube(t)
	ns := namespace(t, c)
	d := newDeployment(t, c, ns, "web", 1, "web:1", false)
	cases := []struct {
		action string
		params map[string]string
		check  func(t *testing.T, after []byte)
	}{
		{"RestartWorkload", nil, func(t *testing.T, after []byte) {
			require.NotEmpty(t, decodeInto[appsv1.Deployment](t, after).Spec.Template.Annotations[RestartedAtAnnotation])
		}},
		{"ScaleWorkload", map[string]string{"replicas": "4"}, func(t *testing.T, after []byte) {
			require.Contains(t, string(after), `"replicas":4`)
		}},
		{"SetResources", map[string]string{"cpuLimit": "2"}, func(t *testing.T, after []byte) {
			lim := decodeInto[appsv1.Deployment](t, after).Spec.Template.Spec.Containers[0].Resources.Limits
			require.Equal(t, "2", lim.Cpu().String())
		}},
		{"ApplyManifests", map[string]string{"manifests": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 5}\n", "forceConflicts": "true"},
			func(t *testing.T, after []byte) {
				objs := decodeInto[[]appsv1.Deployment](t, after)
				require.Equal(t, int32(5), *objs[0].Spec.Replicas)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.action, func(t *testing.T) {
			before := get(t, c, d)
			dir := directive(tc.action, ref(t, c, before, true), tc.params)
			dir.DryRun = true
			rec := &recorder{}

			st := engine(t, c, ns, nil).Execute(testContext(t), dir, rec.report)

			requirePhase(t, st, phaseDryRun, ReasonDryRunSucceeded)
			require.Equal(t, []fleetv1.ActionPhase{phaseDryRun}, rec.got())
			tc.check(t, st.AfterJson)
			require.Equal(t, before.ResourceVersion, get(t, c, d).ResourceVersion, "nothing changed")
		})
	}
}

// Parameters are decoded strictly: anything unknown, mistyped or out of range is refused
// before the cluster is touched.
func TestInvalidParametersChangeNothing(t *testing.T) {
	t.Parallel()
	c := kube(t)
	ns := namespace(t, c)
	d := newDeployment(t, c, ns, "web", 1, "web:1", false)
	cases := []struct {
		action string
		raw    string
	}{
		{"RestartWorkload", `{"force": "true"}`},
		{"RestartWorkload", `{"verifyTimeout": "20h"}`},
		{"RestartWorkload", `{"verifyTimeout": "soon"}`},
		{"RestartWorkload", `["not", "an", "object"]`},
		{"ScaleWorkload", `{}`},
		{"ScaleWorkload", `{"replicas": "three"}`},
		{"ScaleWorkload", `{"replicas": "0"}`},
		{"ScaleWorkload", `{"replicas": 1000}`},
		{"ScaleWorkload", `{"replicas": "2.5"}`},
		{"ScaleWorkload", `{"replicas": "2", "replica": "3"}`},
		{"SetResources", `{}`},
		{"SetResources", `{"container": "nope", "cpuLimit": "1"}`},
		{"SetResources", `{"cpuRequest": "2", "cpuLimit": "1"}`},
		{"SetResources", `{"memoryLimit": "lots"}`},
		{"SetResources", `{"cpuLimit": "1000"}`},
		{"SetResources", `{"cpuLimit": "-1"}`},
		{"RollbackWorkload", `{"toRevision": "0"}`},
		{"RollbackWorkload", `{"toRevision": true}`},
		{"ApplyManifests", `{}`},
		{"ApplyManifests", `{"manifests": "apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n"}`},
		{"ApplyManifests", `{"manifests": "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: web}\n"}`},
		{"ApplyManifests", `{"manifests": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: kube-system}\n"}`},
		{"ApplyManifests", `{"manifests": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: not-the-target}\n"}`},
		{"ApplyManifests", `{"manifests": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n", "forceConflicts": "maybe"}`},
	}
	for _, tc := range cases {
		t.Run(tc.action+" "+tc.raw, func(t *testing.T) {
			before := get(t, c, d)
			dir := directive(tc.action, ref(t, c, before, false), nil)
			dir.ParametersJson = []byte(tc.raw)

			st := engine(t, c, ns, nil).Execute(testContext(t), dir, nil)

			requirePhase(t, st, phaseFailed, ReasonInvalidParameters)
			require.Equal(t, before.ResourceVersion, get(t, c, d).ResourceVersion, "nothing changed")
		})
	}
}

// The directive's resourceVersion and uid are preconditions; so are its expiry, its action type
// and the target's kind.
func TestPreconditions(t *testing.T) {
	t.Parallel()
	c := kube(t)
	ns := namespace(t, c)
	ctx := testContext(t)
	d := newDeployment(t, c, ns, "web", 1, "web:1", false)
	planned := ref(t, c, d, true)
	update(t, c, d, func(d *appsv1.Deployment) { d.Labels = map[string]string{"touched": "yes"} })
	d = get(t, c, d)

	expired := directive("ScaleWorkload", ref(t, c, d, false), map[string]string{"replicas": "2"})
	expired.ExpiresAt = timestamppb.New(time.Now().Add(-time.Second))
	recreated := ref(t, c, d, false)
	recreated.Uid = "00000000-0000-0000-0000-000000000000"
	cases := []struct {
		name   string
		dir    *fleetv1.DirectivePayload
		reason string
	}{
		{"stale resourceVersion", directive("ScaleWorkload", planned, map[string]string{"replicas": "2"}), ReasonTargetChanged},
		{"other uid", directive("ScaleWorkload", recreated, map[string]string{"replicas": "2"}), ReasonTargetChanged},
		{"expired", expired, ReasonExpired},
		{"unknown action", directive("DrainNode", ref(t, c, d, false), nil), ReasonUnsupportedAction},
		{"kind not supported", directive("ScaleWorkload", &fleetv1.ObjectRef{Group: "apps", Kind: "DaemonSet", Namespace: ns, Name: "web"}, map[string]string{"replicas": "2"}), ReasonUnsupportedTarget},
		{"missing target", directive("RestartWorkload", &fleetv1.ObjectRef{Group: "apps", Kind: "Deployment", Namespace: ns, Name: "nope"}, nil), ReasonTargetNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := get(t, c, d)
			st := engine(t, c, ns, nil).Execute(ctx, tc.dir, nil)
			requirePhase(t, st, phaseFailed, tc.reason)
			require.Equal(t, before.ResourceVersion, get(t, c, d).ResourceVersion, "nothing changed")
		})
	}
}

// A server-side dry-run the apiserver refuses ends the action FAILED, nothing changed.
func TestDryRunFailure(t *testing.T) {
	t.Parallel()
	c := kube(t)
	ns := namespace(t, c)
	d := newDeployment(t, c, ns, "web", 1, "web:1", false)
	// The apiserver's validation refuses a container without an image.
	manifest := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: other}\nspec:\n  selector: {matchLabels: {app: other}}\n  template:\n    metadata: {labels: {app: x}}\n    spec: {containers: [{name: app, image: x}]}\n"
	target := &fleetv1.ObjectRef{Group: "apps", Kind: "Deployment", Namespace: ns, Name: "other"}

	st := engine(t, c, ns, nil).Execute(testContext(t), directive("ApplyManifests", target, map[string]string{"manifests": manifest}), nil)

	requirePhase(t, st, phaseFailed, ReasonDryRunFailed)
	require.Contains(t, st.Message, "selector")
	err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "other"}, &appsv1.Deployment{})
	require.True(t, apierrors.IsNotFound(err), "nothing created: %v", err)
	get(t, c, d)
}

// When verification fails, the saved previous state is restored and reported ROLLED_BACK.
func TestFailedVerificationRollsBack(t *testing.T) {
	t.Parallel()
	c := kube(t)
	verify := map[string]string{"verifyTimeout": "20s", "verifyStableFor": "3s"}

	t.Run("rollback onto a revision whose pods crash", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c)
		ctx := testContext(t)
		d := newDeployment(t, c, ns, "web", 2, "web:1", true)
		update(t, c, d, func(d *appsv1.Deployment) { d.Spec.Template = podTemplateFor("web", "web:2", false) })
		awaitRollout(t, c, d)
		healthy := get(t, c, d)

		// No resourceVersion precondition: the controller may still write the status after the
		// rollout, and the precondition has its own test.
		st := engine(t, c, ns, nil).Execute(ctx, directive("RollbackWorkload", ref(t, c, healthy, false), verify), nil)

		requirePhase(t, st, phaseRolledBack, ReasonVerificationFailed)
		restored := get(t, c, d)
		require.Equal(t, "web:2", restored.Spec.Template.Spec.Containers[0].Image)
		require.Equal(t, healthy.Spec.Template.Labels, restored.Spec.Template.Labels)
		require.Equal(t, "web:2", decodeInto[appsv1.Deployment](t, st.AfterJson).Spec.Template.Spec.Containers[0].Image)
		require.Equal(t, "web:2", decodeInto[appsv1.Deployment](t, st.BeforeJson).Spec.Template.Spec.Containers[0].Image)
		awaitRollout(t, c, d)
	})

	t.Run("scale of a workload whose pods crash", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c)
		d := newDeployment(t, c, ns, "web", 1, "web:1", true)

		st := engine(t, c, ns, nil).Execute(testContext(t), directive("ScaleWorkload", ref(t, c, d, false), map[string]string{"replicas": "2", "verifyTimeout": "15s", "verifyStableFor": "3s"}), nil)

		requirePhase(t, st, phaseRolledBack, ReasonVerificationFailed)
		require.Equal(t, int32(1), *get(t, c, d).Spec.Replicas)
	})

	t.Run("apply of an existing workload onto crashing pods", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c)
		ctx := testContext(t)
		d := newDeployment(t, c, ns, "web", 2, "web:1", false)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-config", Namespace: ns}, Data: map[string]string{"mode": "old"}}
		require.NoError(t, c.Create(ctx, cm))
		manifests := fmt.Sprintf(`
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {mode: new}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-extra}
data: {a: b}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web, %s: crashloop}
    spec:
      containers: [{name: app, image: web:2}]
`, "testbed.kubedevaiops.io/inject")
		params := map[string]string{"manifests": manifests, "forceConflicts": "true"}
		for k, v := range verify {
			params[k] = v
		}

		st := engine(t, c, ns, nil).Execute(ctx, directive("ApplyManifests", ref(t, c, d, true), params), nil)

		requirePhase(t, st, phaseRolledBack, ReasonVerificationFailed)
		restored := get(t, c, d)
		require.Equal(t, "web:1", restored.Spec.Template.Spec.Containers[0].Image)
		require.Equal(t, map[string]string{"app": "web"}, restored.Spec.Template.Labels)
		require.Equal(t, "old", get(t, c, cm).Data["mode"])
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-extra"}, &corev1.ConfigMap{})
		require.True(t, apierrors.IsNotFound(err), "the object the action created is gone: %v", err)
		awaitRollout(t, c, d)
	})

	t.Run("verifier reports the finding persists", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c)
		d := newDeployment(t, c, ns, "web", 1, "web:1", false)
		var asked *fleetv1.DirectivePayload
		e := engine(t, c, ns, func(o *Options) {
			o.Verifier = VerifierFunc(func(_ context.Context, d *fleetv1.DirectivePayload) (bool, string, error) {
				asked = d
				return false, "finding CrashLoopBackOff still firing", nil
			})
		})
		dir := directive("RestartWorkload", ref(t, c, d, true), map[string]string{"verifyTimeout": "5s", "verifyStableFor": "1s"})
		rec := &recorder{}

		st := e.Execute(testContext(t), dir, rec.report)

		requirePhase(t, st, phaseRolledBack, ReasonVerificationFailed)
		require.Contains(t, st.Message, "finding CrashLoopBackOff still firing")
		require.Equal(t, []fleetv1.ActionPhase{phaseApplying, phaseVerifying, phaseRolledBack}, rec.got())
		require.Equal(t, dir.ActionId, asked.ActionId)
		restored := get(t, c, d)
		require.Empty(t, restored.Spec.Template.Annotations[RestartedAtAnnotation])
		require.Equal(t, d.Generation+2, restored.Generation, "applied, then restored")
	})
}

// A deleted pod cannot come back: a failed verification of DeletePod is FAILED, not ROLLED_BACK.
func TestDeletePodVerificationFailure(t *testing.T) {
	t.Parallel()
	c := kube(t)
	ns := namespace(t, c)
	ctx := testContext(t)
	newDeployment(t, c, ns, "web", 1, "web:1", true)
	var pods corev1.PodList
	require.NoError(t, c.List(ctx, &pods, client.InNamespace(ns)))
	require.NotEmpty(t, pods.Items)

	st := engine(t, c, ns, nil).Execute(ctx, directive("DeletePod", ref(t, c, &pods.Items[0], false), map[string]string{"gracePeriodSeconds": "0", "verifyTimeout": "8s", "verifyStableFor": "3s"}), nil)

	requirePhase(t, st, phaseFailed, ReasonVerificationFailed)
	require.Contains(t, st.Message, "cannot be undone")
}

func TestParamsDecoding(t *testing.T) {
	var p scaleParams
	require.NoError(t, decodeStrict([]byte(`{"replicas": "3", "verifyTimeout": "30s"}`), &p))
	require.Equal(t, int64(3), p.Replicas.v)
	timeout, stable, err := p.timeouts()
	require.NoError(t, err)
	require.Equal(t, 30*time.Second, timeout)
	require.Equal(t, DefaultVerifyStableFor, stable)

	p = scaleParams{}
	require.NoError(t, decodeStrict([]byte(`{"replicas": 3}`), &p))
	require.Equal(t, int64(3), p.Replicas.v)

	var b applyParams
	require.NoError(t, decodeStrict([]byte(`{"manifests": "x", "forceConflicts": true}`), &b))
	require.True(t, b.ForceConflicts.v)

	for _, raw := range []string{`{"replicas": "3"} {}`, `{"replicas": null}`, `"x"`, `{"replicas": "3",}`} {
		require.Error(t, decodeStrict([]byte(raw), &scaleParams{}), raw)
	}
	// A short timeout shortens the default stability window instead of failing.
	p = scaleParams{}
	require.NoError(t, decodeStrict([]byte(`{"verifyTimeout": "4s"}`), &p))
	_, stable, err = p.timeouts()
	require.NoError(t, err)
	require.Equal(t, 2*time.Second, stable)
	p = scaleParams{}
	require.NoError(t, decodeStrict([]byte(`{"verifyTimeout": "4s", "verifyStableFor": "5s"}`), &p))
	_, _, err = p.timeouts()
	require.Error(t, err)
}
