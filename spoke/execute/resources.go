package execute

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// resourcesParams: SetResources {"container": "app", "cpuRequest": "250m", "cpuLimit": "1",
// "memoryRequest": "256Mi", "memoryLimit": "512Mi"}. container may be left out when the pod
// template has exactly one container; at least one quantity is required; each must be positive
// and at most MaxCPU / MaxMemory, and a request may not exceed its limit.
type resourcesParams struct {
	verifyParams
	Container     string        `json:"container"`
	CPURequest    quantityParam `json:"cpuRequest"`
	CPULimit      quantityParam `json:"cpuLimit"`
	MemoryRequest quantityParam `json:"memoryRequest"`
	MemoryLimit   quantityParam `json:"memoryLimit"`
}

// Ceilings for SetResources: a remediation has no business asking for more than one large node.
const (
	MaxCPU    = "64"
	MaxMemory = "256Gi"
)

type resourcesExecutor struct{}

func (resourcesExecutor) prepare(ctx context.Context, env *env, d *fleetv1.DirectivePayload) (*change, error) {
	maxCPU, maxMemory := resource.MustParse(MaxCPU), resource.MustParse(MaxMemory)
	var p resourcesParams
	if err := decodeStrict(d.GetParametersJson(), &p); err != nil {
		return nil, failWrap(ReasonInvalidParameters, err)
	}
	timeout, stable, err := p.timeouts()
	if err != nil {
		return nil, failWrap(ReasonInvalidParameters, err)
	}
	values := []struct {
		name string
		q    quantityParam
		res  corev1.ResourceName
		max  resource.Quantity
		req  bool
	}{
		{"cpuRequest", p.CPURequest, corev1.ResourceCPU, maxCPU, true},
		{"cpuLimit", p.CPULimit, corev1.ResourceCPU, maxCPU, false},
		{"memoryRequest", p.MemoryRequest, corev1.ResourceMemory, maxMemory, true},
		{"memoryLimit", p.MemoryLimit, corev1.ResourceMemory, maxMemory, false},
	}
	given := false
	for _, v := range values {
		if !v.q.set {
			continue
		}
		given = true
		if v.q.v.Sign() <= 0 || v.q.v.Cmp(v.max) > 0 {
			return nil, fail(ReasonInvalidParameters, "%s %s is outside (0, %s]", v.name, v.q.v.String(), v.max.String())
		}
	}
	if !given {
		return nil, fail(ReasonInvalidParameters, "set at least one of cpuRequest, cpuLimit, memoryRequest, memoryLimit")
	}
	target, err := getWorkload(ctx, env, d.GetTarget())
	if err != nil {
		return nil, err
	}
	return templateChange(env, target, timeout, stable, func(tpl *corev1.PodTemplateSpec) error {
		c, err := pickContainer(tpl, p.Container)
		if err != nil {
			return err
		}
		for _, v := range values {
			if !v.q.set {
				continue
			}
			list := &c.Resources.Limits
			if v.req {
				list = &c.Resources.Requests
			}
			if *list == nil {
				*list = corev1.ResourceList{}
			}
			(*list)[v.res] = v.q.v
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if hasReq && hasLim && req.Cmp(lim) > 0 {
				return fail(ReasonInvalidParameters, "container %q: %s request %s would exceed its limit %s", c.Name, r, req.String(), lim.String())
			}
		}
		return nil
	})
}

func pickContainer(tpl *corev1.PodTemplateSpec, name string) (*corev1.Container, error) {
	cs := tpl.Spec.Containers
	if name == "" {
		if len(cs) != 1 {
			return nil, fail(ReasonInvalidParameters, "the pod template has %d containers; name one with \"container\"", len(cs))
		}
		return &cs[0], nil
	}
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i], nil
		}
	}
	names := make([]string, len(cs))
	for i := range cs {
		names[i] = cs[i].Name
	}
	return nil, fail(ReasonInvalidParameters, "no container %q in the pod template (containers: %v)", name, names)
}
