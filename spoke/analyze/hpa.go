package analyze

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// HPA reports autoscalers pinned at their maximum, autoscalers that cannot scale or read
// their metrics, targets that do not exist, and resource metrics on containers without requests.
type HPA struct{}

// Name implements Analyzer.
func (HPA) Name() string { return "hpa" }

// Analyze implements Analyzer.
func (HPA) Analyze(ctx context.Context, in Input) ([]*fleetv1.Finding, error) {
	var list autoscalingv2.HorizontalPodAutoscalerList
	if err := in.Reader.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list horizontalpodautoscalers: %w", err)
	}
	var out []*fleetv1.Finding
	for i := range list.Items {
		h := &list.Items[i]
		counts := fmt.Sprintf("replicas current %d, desired %d, min %d, max %d", h.Status.CurrentReplicas, h.Status.DesiredReplicas, replicasOf(h.Spec.MinReplicas), h.Spec.MaxReplicas)
		var fs []*fleetv1.Finding
		add := func(sev fleetv1.Severity, summary string, ev []*fleetv1.Evidence, sig ...string) {
			f := finding(in, "hpa", sev, ref(gvkHPA, h), summary, sig...)
			f.Evidence = append(append(f.Evidence, ev...), statusEvidence(in, "replica counts", counts))
			fs = append(fs, f)
		}
		template, found, err := scaleTargetTemplate(ctx, in, h)
		if err == nil && !found {
			t := h.Spec.ScaleTargetRef
			add(fleetv1.Severity_SEVERITY_HIGH, fmt.Sprintf("scale target %s %s does not exist", t.Kind, t.Name),
				[]*fleetv1.Evidence{statusEvidence(in, "spec.scaleTargetRef", t.APIVersion+" "+t.Kind+" "+t.Name)}, "MissingScaleTarget")
		}
		for _, c := range h.Status.Conditions {
			cond := statusEvidence(in, fmt.Sprintf("%s=%s, reason %s", c.Type, c.Status, c.Reason), c.Message)
			switch {
			case c.Type == autoscalingv2.AbleToScale && c.Status == corev1.ConditionFalse && (found || err != nil):
				add(fleetv1.Severity_SEVERITY_HIGH, "cannot scale its target: "+c.Message, []*fleetv1.Evidence{cond}, "UnableToScale", signaturePart(c.Reason))
			case c.Type == autoscalingv2.ScalingActive && c.Status == corev1.ConditionFalse && c.Reason != "ScalingDisabled":
				add(fleetv1.Severity_SEVERITY_MEDIUM, "cannot compute a replica count: "+c.Message, []*fleetv1.Evidence{cond}, "ScalingInactive", signaturePart(c.Reason))
			}
		}
		if h.Spec.MaxReplicas > 0 && h.Status.CurrentReplicas >= h.Spec.MaxReplicas && h.Status.DesiredReplicas >= h.Spec.MaxReplicas {
			var ev []*fleetv1.Evidence
			for _, c := range h.Status.Conditions {
				if c.Type == autoscalingv2.ScalingLimited {
					ev = append(ev, statusEvidence(in, fmt.Sprintf("ScalingLimited=%s, reason %s", c.Status, c.Reason), c.Message))
				}
			}
			add(fleetv1.Severity_SEVERITY_MEDIUM, fmt.Sprintf("pinned at its maximum of %d replicas", h.Spec.MaxReplicas), ev, "PinnedAtMax")
		}
		if template != nil {
			for _, res := range missingRequests(h, template) {
				add(fleetv1.Severity_SEVERITY_MEDIUM, fmt.Sprintf("scales on %s utilization but containers of the target request no %s", res, res),
					[]*fleetv1.Evidence{statusEvidence(in, "containers without "+res+" requests", strings.Join(containersWithoutRequest(template, corev1.ResourceName(res)), ", "))},
					"MissingResourceRequests", signaturePart(res))
			}
		}
		if len(fs) == 0 {
			continue
		}
		events := eventEvidence(ctx, in, h.Namespace, string(h.UID), true)
		for _, f := range fs {
			f.Evidence = append(f.Evidence, events...)
		}
		out = append(out, fs...)
	}
	return out, nil
}

// scaleTargetTemplate finds the HPA's target among the kinds the agent reads; found is true
// (with a nil template) for kinds it cannot check.
func scaleTargetTemplate(ctx context.Context, in Input, h *autoscalingv2.HorizontalPodAutoscaler) (*corev1.PodTemplateSpec, bool, error) {
	t := h.Spec.ScaleTargetRef
	key := client.ObjectKey{Namespace: h.Namespace, Name: t.Name}
	if !strings.HasPrefix(t.APIVersion, "apps/") {
		return nil, true, nil
	}
	var obj client.Object
	var tmpl func() *corev1.PodTemplateSpec
	switch t.Kind {
	case "Deployment":
		d := &appsv1.Deployment{}
		obj, tmpl = d, func() *corev1.PodTemplateSpec { return &d.Spec.Template }
	case "StatefulSet":
		s := &appsv1.StatefulSet{}
		obj, tmpl = s, func() *corev1.PodTemplateSpec { return &s.Spec.Template }
	case "ReplicaSet":
		r := &appsv1.ReplicaSet{}
		obj, tmpl = r, func() *corev1.PodTemplateSpec { return &r.Spec.Template }
	default:
		return nil, true, nil
	}
	if err := in.Reader.Get(ctx, key, obj); err != nil {
		if isNotFound(err) {
			return nil, false, nil
		}
		return nil, true, err
	}
	return tmpl(), true, nil
}

// missingRequests lists the resources the HPA scales on by utilization that some container of
// the target does not request (utilization of an unrequested resource cannot be computed).
func missingRequests(h *autoscalingv2.HorizontalPodAutoscaler, t *corev1.PodTemplateSpec) []string {
	var out []string
	for _, m := range h.Spec.Metrics {
		var name corev1.ResourceName
		switch {
		case m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Target.Type == autoscalingv2.UtilizationMetricType:
			name = m.Resource.Name
		default:
			continue
		}
		if len(containersWithoutRequest(t, name)) > 0 && !contains(out, string(name)) {
			out = append(out, string(name))
		}
	}
	return out
}

func containersWithoutRequest(t *corev1.PodTemplateSpec, name corev1.ResourceName) []string {
	var out []string
	for _, c := range t.Spec.Containers {
		if _, ok := c.Resources.Requests[name]; !ok {
			out = append(out, c.Name)
		}
	}
	return out
}
