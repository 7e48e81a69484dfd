package execute

import (
	"context"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

var gvkHPA = autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler")

// hpaParams: PatchHPA {"minReplicas": "2", "maxReplicas": "10"}; at least one; after the change
// 1 <= minReplicas <= maxReplicas <= Options.MaxReplicas. Verified when the HPA controller has
// observed the change and the scaled workload sits inside the new bounds with its rollout complete.
type hpaParams struct {
	verifyParams
	MinReplicas intParam `json:"minReplicas"`
	MaxReplicas intParam `json:"maxReplicas"`
}

type hpaExecutor struct{}

func (hpaExecutor) prepare(ctx context.Context, env *env, d *fleetv1.DirectivePayload) (*change, error) {
	var p hpaParams
	if err := decodeStrict(d.GetParametersJson(), &p); err != nil {
		return nil, failWrap(ReasonInvalidParameters, err)
	}
	timeout, stable, err := p.timeouts()
	if err != nil {
		return nil, failWrap(ReasonInvalidParameters, err)
	}
	if !p.MinReplicas.set && !p.MaxReplicas.set {
		return nil, fail(ReasonInvalidParameters, "set minReplicas, maxReplicas or both")
	}
	ref := d.GetTarget()
	// Any served version names the same object; the engine speaks autoscaling/v2.
	if ref.GetGroup() != gvkHPA.Group || ref.GetKind() != gvkHPA.Kind {
		_, err := resolveKind(ref, []schema.GroupVersionKind{gvkHPA})
		return nil, err
	}
	obj, err := getTarget(ctx, env.c, gvkHPA, &fleetv1.ObjectRef{Namespace: ref.GetNamespace(), Name: ref.GetName(), Uid: ref.GetUid(), ResourceVersion: ref.GetResourceVersion()})
	if err != nil {
		return nil, err
	}
	hpa := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	edit := func(obj client.Object) error {
		h := obj.(*autoscalingv2.HorizontalPodAutoscaler)
		if p.MinReplicas.set {
			h.Spec.MinReplicas = ptr.To(int32(p.MinReplicas.v))
		}
		if p.MaxReplicas.set {
			h.Spec.MaxReplicas = int32(p.MaxReplicas.v)
		}
		return nil
	}
	desired := hpa.DeepCopy()
	_ = edit(desired)
	lo := int64(1)
	if desired.Spec.MinReplicas != nil {
		lo = int64(*desired.Spec.MinReplicas)
	}
	hi := int64(desired.Spec.MaxReplicas)
	if lo < 1 || hi > env.maxReplicas || lo > hi {
		return nil, fail(ReasonInvalidParameters, "minReplicas %d and maxReplicas %d must satisfy 1 <= min <= max <= %d", lo, hi, env.maxReplicas)
	}
	saved, err := saveObject(env.c, hpa)
	if err != nil {
		return nil, err
	}
	dryRun, apply := updateChange(env.c, hpa, edit)
	return &change{
		timeout: timeout, stable: stable,
		before: hpa, saved: []savedObject{saved},
		dryRun: dryRun, apply: apply,
		check: func(ctx context.Context) (bool, string, error) {
			return hpaCheck(ctx, env.c, hpa, int32(lo), int32(hi))
		},
	}, nil
}

func hpaCheck(ctx context.Context, c client.Client, hpa *autoscalingv2.HorizontalPodAutoscaler, lo, hi int32) (bool, string, error) {
	var cur autoscalingv2.HorizontalPodAutoscaler
	if err := c.Get(ctx, client.ObjectKeyFromObject(hpa), &cur); err != nil {
		return false, "", fmt.Errorf("get HorizontalPodAutoscaler %s/%s: %w", hpa.Namespace, hpa.Name, err)
	}
	if cur.Status.ObservedGeneration == nil || *cur.Status.ObservedGeneration < cur.Generation {
		return false, fmt.Sprintf("the HPA controller has not observed generation %d yet", cur.Generation), nil
	}
	ref := cur.Spec.ScaleTargetRef
	gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
	switch gvk {
	case gvkDeployment, gvkStatefulSet:
	default:
		return true, "HPA observed the new bounds", nil
	}
	target, err := newObject(c, gvk)
	if err != nil {
		return false, "", err
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: cur.Namespace, Name: ref.Name}, target); err != nil {
		return false, "", fmt.Errorf("get HPA target %s %s/%s: %w", ref.Kind, cur.Namespace, ref.Name, err)
	}
	replicas := specReplicas(target)
	if replicas < lo || replicas > hi {
		return false, fmt.Sprintf("%s %s has %d replicas, outside the new bounds [%d, %d]", ref.Kind, ref.Name, replicas, lo, hi), nil
	}
	done, detail, err := rolloutDone(target)
	if err != nil || !done {
		return done, detail, err
	}
	return true, fmt.Sprintf("HPA observed bounds [%d, %d]; %s %s: %s", lo, hi, ref.Kind, ref.Name, detail), nil
}
