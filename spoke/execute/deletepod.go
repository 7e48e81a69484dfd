package execute

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// deletePodParams: DeletePod {"gracePeriodSeconds": "0"} (optional, 0..3600; default the pod's
// own). Only a pod a ReplicaSet, StatefulSet or DaemonSet controls may be deleted: its controller
// replaces it, and verification waits for the controller to have every replica Ready again
// without the deleted pod. A deleted pod cannot be brought back, so a failed verification is
// FAILED, not ROLLED_BACK.
type deletePodParams struct {
	verifyParams
	GracePeriodSeconds intParam `json:"gracePeriodSeconds"`
}

type deletePodExecutor struct{}

func (deletePodExecutor) prepare(ctx context.Context, env *env, d *fleetv1.DirectivePayload) (*change, error) {
	var p deletePodParams
	if err := decodeStrict(d.GetParametersJson(), &p); err != nil {
		return nil, failWrap(ReasonInvalidParameters, err)
	}
	timeout, stable, err := p.timeouts()
	if err != nil {
		return nil, failWrap(ReasonInvalidParameters, err)
	}
	if p.GracePeriodSeconds.set && (p.GracePeriodSeconds.v < 0 || p.GracePeriodSeconds.v > 3600) {
		return nil, fail(ReasonInvalidParameters, "gracePeriodSeconds %d is outside [0, 3600]", p.GracePeriodSeconds.v)
	}
	ref := d.GetTarget()
	if _, err := resolveKind(ref, []schema.GroupVersionKind{gvkPod}); err != nil {
		return nil, err
	}
	obj, err := getTarget(ctx, env.c, gvkPod, ref)
	if err != nil {
		return nil, err
	}
	pod := obj.(*corev1.Pod)
	owner := metav1.GetControllerOf(pod)
	var ownerGVK schema.GroupVersionKind
	if owner != nil {
		ownerGVK = schema.FromAPIVersionAndKind(owner.APIVersion, owner.Kind)
	}
	switch ownerGVK {
	case gvkReplicaSet, gvkStatefulSet, gvkDaemonSet:
	default:
		return nil, fail(ReasonUnsupportedTarget, "pod %s/%s is not controlled by a ReplicaSet, StatefulSet or DaemonSet; nothing would replace it", pod.Namespace, pod.Name)
	}
	saved, err := saveObject(env.c, pod)
	if err != nil {
		return nil, err
	}
	saved.Restorable = false
	del := func(ctx context.Context, opts ...client.DeleteOption) (any, error) {
		return conditionalWrite(ctx, env.c, pod, func(base client.Object) (any, error) {
			uid, rv := base.GetUID(), base.GetResourceVersion()
			o := append([]client.DeleteOption{client.Preconditions{UID: &uid, ResourceVersion: &rv}}, opts...)
			if p.GracePeriodSeconds.set {
				o = append(o, client.GracePeriodSeconds(p.GracePeriodSeconds.v))
			}
			return nil, env.c.Delete(ctx, base.DeepCopyObject().(client.Object), o...)
		})
	}
	return &change{
		timeout: timeout, stable: stable,
		before: pod, saved: []savedObject{saved},
		dryRun: func(ctx context.Context) (any, error) { return del(ctx, client.DryRunAll) },
		apply: func(ctx context.Context) (any, error) {
			if _, err := del(ctx); err != nil {
				return nil, err
			}
			// The pod may linger while it terminates; after_json shows it as the server has it.
			fresh, err := reget(ctx, env.c, pod)
			if apierrors.IsNotFound(err) {
				return nil, nil
			}
			return fresh, err
		},
		check: func(ctx context.Context) (bool, string, error) {
			return replacedCheck(ctx, env.c, pod, ownerGVK, owner.Name)
		},
	}, nil
}

// replacedCheck: the deleted pod is gone and the owner has as many Ready pods as it wants.
func replacedCheck(ctx context.Context, c client.Client, deleted *corev1.Pod, ownerGVK schema.GroupVersionKind, ownerName string) (bool, string, error) {
	var cur corev1.Pod
	err := c.Get(ctx, client.ObjectKeyFromObject(deleted), &cur)
	switch {
	case err == nil && cur.UID == deleted.UID:
		return false, fmt.Sprintf("pod %s/%s is still terminating", deleted.Namespace, deleted.Name), nil
	case err != nil && !apierrors.IsNotFound(err):
		return false, "", fmt.Errorf("get pod %s/%s: %w", deleted.Namespace, deleted.Name, err)
	}
	owner, err := newObject(c, ownerGVK)
	if err != nil {
		return false, "", err
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: deleted.Namespace, Name: ownerName}, owner); err != nil {
		return false, "", fmt.Errorf("get %s %s/%s: %w", ownerGVK.Kind, deleted.Namespace, ownerName, err)
	}
	var want int32
	var sel *metav1.LabelSelector
	switch o := owner.(type) {
	case *appsv1.ReplicaSet:
		want, sel = 1, o.Spec.Selector
		if o.Spec.Replicas != nil {
			want = *o.Spec.Replicas
		}
	case *appsv1.StatefulSet:
		want, sel = 1, o.Spec.Selector
		if o.Spec.Replicas != nil {
			want = *o.Spec.Replicas
		}
	case *appsv1.DaemonSet:
		want, sel = o.Status.DesiredNumberScheduled, o.Spec.Selector
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, "", fmt.Errorf("%s %s/%s selector: %w", ownerGVK.Kind, deleted.Namespace, ownerName, err)
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(deleted.Namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return false, "", fmt.Errorf("list pods of %s %s/%s: %w", ownerGVK.Kind, deleted.Namespace, ownerName, err)
	}
	var ready int32
	for i := range pods.Items {
		p := &pods.Items[i]
		if ctl := metav1.GetControllerOf(p); ctl == nil || ctl.UID != owner.GetUID() || p.DeletionTimestamp != nil || p.UID == deleted.UID {
			continue
		}
		if podReady(p) {
			ready++
		}
	}
	if ready < want {
		return false, fmt.Sprintf("%d of %d pods of %s %s Ready", ready, want, ownerGVK.Kind, ownerName), nil
	}
	return true, fmt.Sprintf("replacement running: %d of %d pods of %s %s Ready", ready, want, ownerGVK.Kind, ownerName), nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
