package execute

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// RestartedAtAnnotation is set on the pod template to replace every pod, as kubectl rollout
// restart does.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// restartParams: RestartWorkload takes only the common verify parameters.
type restartParams struct {
	verifyParams
}

type restartExecutor struct{}

func (restartExecutor) prepare(ctx context.Context, env *env, d *fleetv1.DirectivePayload) (*change, error) {
	var p restartParams
	if err := decodeStrict(d.GetParametersJson(), &p); err != nil {
		return nil, failWrap(ReasonInvalidParameters, err)
	}
	timeout, stable, err := p.timeouts()
	if err != nil {
		return nil, failWrap(ReasonInvalidParameters, err)
	}
	target, err := getWorkload(ctx, env, d.GetTarget())
	if err != nil {
		return nil, err
	}
	return templateChange(env, target, timeout, stable, func(tpl *corev1.PodTemplateSpec) error {
		if tpl.Annotations == nil {
			tpl.Annotations = map[string]string{}
		}
		tpl.Annotations[RestartedAtAnnotation] = env.now().UTC().Format(time.RFC3339Nano)
		return nil
	})
}
