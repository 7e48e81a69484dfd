package execute

import (
	"context"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// scaleParams: ScaleWorkload {"replicas": "3"}; 1 <= replicas <= Options.MaxReplicas.
type scaleParams struct {
	verifyParams
	Replicas intParam `json:"replicas"`
}

type scaleExecutor struct{}

func (scaleExecutor) prepare(ctx context.Context, env *env, d *fleetv1.DirectivePayload) (*change, error) {
	var p scaleParams
	if err := decodeStrict(d.GetParametersJson(), &p); err != nil {
		return nil, failWrap(ReasonInvalidParameters, err)
	}
	timeout, stable, err := p.timeouts()
	if err != nil {
		return nil, failWrap(ReasonInvalidParameters, err)
	}
	if !p.Replicas.set {
		return nil, fail(ReasonInvalidParameters, "replicas is required")
	}
	if p.Replicas.v < 1 || p.Replicas.v > env.maxReplicas {
		return nil, fail(ReasonInvalidParameters, "replicas %d is outside [1, %d]", p.Replicas.v, env.maxReplicas)
	}
	ref := d.GetTarget()
	gvk, err := resolveKind(ref, []schema.GroupVersionKind{gvkDeployment, gvkStatefulSet})
	if err != nil {
		return nil, err
	}
	target, err := getTarget(ctx, env.c, gvk, ref)
	if err != nil {
		return nil, err
	}
	if hpa, err := hpaFor(ctx, env.c, target); err != nil {
		return nil, err
	} else if hpa != "" {
		return nil, fail(ReasonPrecondition, "%s %s/%s is scaled by HorizontalPodAutoscaler %s; change its bounds with PatchHPA instead", gvk.Kind, target.GetNamespace(), target.GetName(), hpa)
	}
	saved, err := saveObject(env.c, target)
	if err != nil {
		return nil, err
	}
	write := func(ctx context.Context, opts ...client.SubResourceUpdateOption) (any, error) {
		return conditionalWrite(ctx, env.c, target, func(base client.Object) (any, error) {
			scale := &autoscalingv1.Scale{}
			scale.Namespace, scale.Name = base.GetNamespace(), base.GetName()
			// The resourceVersion makes the write conditional on the object the checks saw.
			scale.ResourceVersion = base.GetResourceVersion()
			scale.Spec.Replicas = int32(p.Replicas.v)
			obj := base.DeepCopyObject().(client.Object)
			if err := env.c.SubResource("scale").Update(ctx, obj, append(opts, client.WithSubResourceBody(scale))...); err != nil {
				return nil, err
			}
			scale.SetGroupVersionKind(autoscalingv1.SchemeGroupVersion.WithKind("Scale"))
			return scale, nil
		})
	}
	return &change{
		timeout: timeout, stable: stable,
		before: target, saved: []savedObject{saved},
		dryRun: func(ctx context.Context) (any, error) { return write(ctx, client.DryRunAll) },
		apply: func(ctx context.Context) (any, error) {
			if _, err := write(ctx); err != nil {
				return nil, err
			}
			return reget(ctx, env.c, target)
		},
		check: rolloutCheck(env.c, target),
	}, nil
}

// hpaFor names the HorizontalPodAutoscaler that scales target, if any.
func hpaFor(ctx context.Context, c client.Client, target client.Object) (string, error) {
	var list autoscalingv2.HorizontalPodAutoscalerList
	if err := c.List(ctx, &list, client.InNamespace(target.GetNamespace())); err != nil {
		return "", fmt.Errorf("list HorizontalPodAutoscalers in %s: %w", target.GetNamespace(), err)
	}
	gvk := target.GetObjectKind().GroupVersionKind()
	for _, h := range list.Items {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind == gvk.Kind && ref.Name == target.GetName() && groupOf(ref.APIVersion) == gvk.Group {
			return h.Name, nil
		}
	}
	return "", nil
}

func groupOf(apiVersion string) string {
	for i := range apiVersion {
		if apiVersion[i] == '/' {
			return apiVersion[:i]
		}
	}
	return ""
}

// reget reads obj again and returns the fresh copy with its kind set.
func reget(ctx context.Context, c client.Client, obj client.Object) (client.Object, error) {
	gvk := obj.GetObjectKind().GroupVersionKind()
	fresh, err := newObject(c, gvk)
	if err != nil {
		return nil, err
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), fresh); err != nil {
		return nil, fmt.Errorf("get %s %s/%s: %w", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	fresh.GetObjectKind().SetGroupVersionKind(gvk)
	return fresh, nil
}
