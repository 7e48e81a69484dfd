package execute

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// Kinds the executors act on.
var (
	gvkDeployment  = appsv1.SchemeGroupVersion.WithKind("Deployment")
	gvkStatefulSet = appsv1.SchemeGroupVersion.WithKind("StatefulSet")
	gvkDaemonSet   = appsv1.SchemeGroupVersion.WithKind("DaemonSet")
	gvkReplicaSet  = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	gvkPod         = corev1.SchemeGroupVersion.WithKind("Pod")
	workloadKinds  = []schema.GroupVersionKind{gvkDeployment, gvkStatefulSet, gvkDaemonSet}
)

// resolveKind matches the directive's target against the kinds an action supports. An empty
// version means the one the engine speaks.
func resolveKind(ref *fleetv1.ObjectRef, allowed []schema.GroupVersionKind) (schema.GroupVersionKind, error) {
	for _, gvk := range allowed {
		if ref.GetKind() == gvk.Kind && ref.GetGroup() == gvk.Group && (ref.GetVersion() == "" || ref.GetVersion() == gvk.Version) {
			return gvk, nil
		}
	}
	names := make([]string, len(allowed))
	for i, gvk := range allowed {
		names[i] = gvk.Kind + "." + gvk.Version + "." + gvk.Group
	}
	return schema.GroupVersionKind{}, fail(ReasonUnsupportedTarget, "target kind %q (group %q, version %q) is not supported by this action; supported: %s",
		ref.GetKind(), ref.GetGroup(), ref.GetVersion(), strings.Join(names, ", "))
}

// getTarget loads the target and checks the directive's uid and resourceVersion preconditions.
func getTarget(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, ref *fleetv1.ObjectRef) (client.Object, error) {
	if ref.GetName() == "" {
		return nil, fail(ReasonInvalidDirective, "target has no name")
	}
	obj, err := newObject(c, gvk)
	if err != nil {
		return nil, err
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ref.GetNamespace(), Name: ref.GetName()}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fail(ReasonTargetNotFound, "%s %s/%s not found", gvk.Kind, ref.GetNamespace(), ref.GetName())
		}
		return nil, fmt.Errorf("get %s %s/%s: %w", gvk.Kind, ref.GetNamespace(), ref.GetName(), err)
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	if err := checkPreconditions(obj, ref); err != nil {
		return nil, err
	}
	return obj, nil
}

func checkPreconditions(obj client.Object, ref *fleetv1.ObjectRef) error {
	if uid := ref.GetUid(); uid != "" && string(obj.GetUID()) != uid {
		return fail(ReasonTargetChanged, "%s %s/%s has uid %s, the directive was issued for uid %s (the object was recreated)",
			obj.GetObjectKind().GroupVersionKind().Kind, obj.GetNamespace(), obj.GetName(), obj.GetUID(), uid)
	}
	if rv := ref.GetResourceVersion(); rv != "" && obj.GetResourceVersion() != rv {
		return fail(ReasonTargetChanged, "%s %s/%s is at resourceVersion %s, the directive requires %s (the object changed since the plan was made)",
			obj.GetObjectKind().GroupVersionKind().Kind, obj.GetNamespace(), obj.GetName(), obj.GetResourceVersion(), rv)
	}
	return nil
}

func newObject(c client.Client, gvk schema.GroupVersionKind) (client.Object, error) {
	o, err := c.Scheme().New(gvk)
	if err != nil {
		return nil, fmt.Errorf("scheme has no %s: %w", gvk, err)
	}
	obj, ok := o.(client.Object)
	if !ok {
		return nil, fmt.Errorf("%s is not a client.Object", gvk)
	}
	return obj, nil
}

// podTemplate is the pod template of a Deployment, StatefulSet or DaemonSet.
func podTemplate(obj client.Object) *corev1.PodTemplateSpec {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		return &w.Spec.Template
	case *appsv1.StatefulSet:
		return &w.Spec.Template
	case *appsv1.DaemonSet:
		return &w.Spec.Template
	}
	return nil
}

// saveObject records obj as it is now, for restore.
func saveObject(c client.Client, obj client.Object) (savedObject, error) {
	gvk, err := apiutil.GVKForObject(obj, c.Scheme())
	if err != nil {
		return savedObject{}, err
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	raw, err := json.Marshal(obj)
	if err != nil {
		return savedObject{}, fmt.Errorf("encode %s %s/%s: %w", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return savedObject{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName(),
		UID: string(obj.GetUID()), Existed: true, Restorable: true, Object: raw}, nil
}

// updateChange fills in dry-run and apply for a change that is one edit of the target, written
// with Update.
func updateChange(c client.Client, target client.Object, edit func(client.Object) error) (dryRun, apply func(context.Context) (any, error)) {
	write := func(ctx context.Context, opts ...client.UpdateOption) (any, error) {
		return conditionalWrite(ctx, c, target, func(base client.Object) (any, error) {
			obj := base.DeepCopyObject().(client.Object)
			if err := edit(obj); err != nil {
				return nil, err
			}
			if err := c.Update(ctx, obj, opts...); err != nil {
				return nil, err
			}
			obj.GetObjectKind().SetGroupVersionKind(target.GetObjectKind().GroupVersionKind())
			return obj, nil
		})
	}
	return func(ctx context.Context) (any, error) { return write(ctx, client.DryRunAll) },
		func(ctx context.Context) (any, error) { return write(ctx) }
}

// conditionalWrite runs write on the target as the checks saw it; write must make its request
// conditional on base's resourceVersion. When only the status moved since (same uid and
// generation: controllers update status all the time), it runs write again on the fresh object;
// a changed spec is a Conflict.
func conditionalWrite(ctx context.Context, c client.Client, target client.Object, write func(base client.Object) (any, error)) (any, error) {
	base := target
	for attempt := 0; ; attempt++ {
		out, err := write(base)
		if err == nil {
			return out, nil
		}
		if !apierrors.IsConflict(err) {
			return nil, fmt.Errorf("write %s %s/%s: %w", kindOf(target), target.GetNamespace(), target.GetName(), err)
		}
		fresh, gerr := reget(ctx, c, target)
		if gerr != nil {
			return nil, gerr
		}
		if fresh.GetGeneration() != target.GetGeneration() || fresh.GetUID() != target.GetUID() || attempt == 4 {
			return nil, fail(ReasonConflict, "%s %s/%s changed while the action ran: %v", kindOf(target), target.GetNamespace(), target.GetName(), err)
		}
		base = fresh
	}
}

func kindOf(obj client.Object) string { return obj.GetObjectKind().GroupVersionKind().Kind }

// rolloutCheck probes whether a workload's rollout is complete: the controller has seen the
// latest spec and every desired replica is updated, ready and available, with no old ones left.
func rolloutCheck(c client.Client, target client.Object) func(context.Context) (bool, string, error) {
	return func(ctx context.Context) (bool, string, error) {
		obj, err := newObject(c, target.GetObjectKind().GroupVersionKind())
		if err != nil {
			return false, "", err
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(target), obj); err != nil {
			return false, "", fmt.Errorf("get %s %s/%s: %w", kindOf(target), target.GetNamespace(), target.GetName(), err)
		}
		return rolloutDone(obj)
	}
}

func rolloutDone(obj client.Object) (bool, string, error) {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		st := w.Status
		if w.Generation > st.ObservedGeneration {
			return false, fmt.Sprintf("deployment controller has not observed generation %d yet", w.Generation), nil
		}
		for _, cond := range st.Conditions {
			if cond.Type == appsv1.DeploymentProgressing && cond.Reason == "ProgressDeadlineExceeded" {
				return false, "", fail(ReasonVerificationFailed, "deployment %s/%s exceeded its progress deadline: %s", w.Namespace, w.Name, cond.Message)
			}
		}
		want := int32(1)
		if w.Spec.Replicas != nil {
			want = *w.Spec.Replicas
		}
		if st.UpdatedReplicas != want || st.ReadyReplicas != want || st.AvailableReplicas != want || st.Replicas != want {
			return false, fmt.Sprintf("%d desired, %d updated, %d ready, %d available, %d total replicas", want, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas, st.Replicas), nil
		}
		return true, fmt.Sprintf("%d of %d replicas updated and available", st.AvailableReplicas, want), nil
	case *appsv1.StatefulSet:
		st := w.Status
		if w.Generation > st.ObservedGeneration {
			return false, fmt.Sprintf("statefulset controller has not observed generation %d yet", w.Generation), nil
		}
		want := int32(1)
		if w.Spec.Replicas != nil {
			want = *w.Spec.Replicas
		}
		rolling := w.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType
		if st.ReadyReplicas != want || st.AvailableReplicas != want || st.Replicas != want ||
			(rolling && (st.UpdatedReplicas != want || st.CurrentRevision != st.UpdateRevision)) {
			return false, fmt.Sprintf("%d desired, %d updated, %d ready, %d available replicas; revision %s, updating to %s", want, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas, st.CurrentRevision, st.UpdateRevision), nil
		}
		return true, fmt.Sprintf("%d of %d replicas ready at revision %s", st.ReadyReplicas, want, st.UpdateRevision), nil
	case *appsv1.DaemonSet:
		st := w.Status
		if w.Generation > st.ObservedGeneration {
			return false, fmt.Sprintf("daemonset controller has not observed generation %d yet", w.Generation), nil
		}
		want := st.DesiredNumberScheduled
		if st.UpdatedNumberScheduled != want || st.NumberReady != want || st.NumberAvailable != want || st.CurrentNumberScheduled != want {
			return false, fmt.Sprintf("%d desired, %d updated, %d ready, %d available pods", want, st.UpdatedNumberScheduled, st.NumberReady, st.NumberAvailable), nil
		}
		return true, fmt.Sprintf("%d of %d pods updated and available", st.NumberAvailable, want), nil
	}
	return true, "", nil
}

// getWorkload is getTarget for the workload kinds.
func getWorkload(ctx context.Context, env *env, ref *fleetv1.ObjectRef) (client.Object, error) {
	gvk, err := resolveKind(ref, workloadKinds)
	if err != nil {
		return nil, err
	}
	return getTarget(ctx, env.c, gvk, ref)
}

// templateChange is a change that edits a workload's pod template and is verified by the
// rollout completing.
func templateChange(env *env, target client.Object, timeout, stable time.Duration, edit func(*corev1.PodTemplateSpec) error) (*change, error) {
	saved, err := saveObject(env.c, target)
	if err != nil {
		return nil, err
	}
	// Edit once up front so a bad edit (no such container) fails before anything is sent.
	if err := edit(podTemplate(target.DeepCopyObject().(client.Object))); err != nil {
		return nil, err
	}
	dryRun, apply := updateChange(env.c, target, func(obj client.Object) error { return edit(podTemplate(obj)) })
	return &change{
		timeout: timeout, stable: stable,
		before: target, saved: []savedObject{saved},
		dryRun: dryRun, apply: apply,
		check: rolloutCheck(env.c, target),
	}, nil
}

// specReplicas is a Deployment's or StatefulSet's desired replica count (default 1).
func specReplicas(obj client.Object) int32 {
	var r *int32
	switch w := obj.(type) {
	case *appsv1.Deployment:
		r = w.Spec.Replicas
	case *appsv1.StatefulSet:
		r = w.Spec.Replicas
	}
	if r == nil {
		return 1
	}
	return *r
}
