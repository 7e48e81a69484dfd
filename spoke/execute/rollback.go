package execute

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// RevisionAnnotation is the revision number the deployment controller puts on a Deployment and
// its ReplicaSets.
const RevisionAnnotation = "deployment.kubernetes.io/revision"

// rollbackParams: RollbackWorkload {"toRevision": "2"}; without toRevision, the revision before
// the current one. Deployments roll back to a ReplicaSet's template, StatefulSets and DaemonSets
// to a ControllerRevision's, as kubectl rollout undo does.
type rollbackParams struct {
	verifyParams
	ToRevision intParam `json:"toRevision"`
}

type rollbackExecutor struct{}

func (rollbackExecutor) prepare(ctx context.Context, env *env, d *fleetv1.DirectivePayload) (*change, error) {
	var p rollbackParams
	if err := decodeStrict(d.GetParametersJson(), &p); err != nil {
		return nil, failWrap(ReasonInvalidParameters, err)
	}
	timeout, stable, err := p.timeouts()
	if err != nil {
		return nil, failWrap(ReasonInvalidParameters, err)
	}
	if p.ToRevision.set && p.ToRevision.v < 1 {
		return nil, fail(ReasonInvalidParameters, "toRevision %d must be at least 1", p.ToRevision.v)
	}
	target, err := getWorkload(ctx, env, d.GetTarget())
	if err != nil {
		return nil, err
	}
	var revs []revision
	switch w := target.(type) {
	case *appsv1.Deployment:
		revs, err = replicaSetRevisions(ctx, env.c, w)
	default:
		revs, err = controllerRevisions(ctx, env.c, target)
	}
	if err != nil {
		return nil, err
	}
	to, err := pickRevision(revs, p.ToRevision)
	if err != nil {
		return nil, fail(ReasonPrecondition, "%s %s/%s: %v", kindOf(target), target.GetNamespace(), target.GetName(), err)
	}
	return templateChange(env, target, timeout, stable, func(tpl *corev1.PodTemplateSpec) error {
		t, err := to.template(target)
		if err != nil {
			return err
		}
		*tpl = *t
		return nil
	})
}

// revision is one earlier state of a workload's pod template.
type revision struct {
	number   int64
	current  bool
	template func(target client.Object) (*corev1.PodTemplateSpec, error)
}

// pickRevision returns the requested revision, or the newest one before the current.
func pickRevision(revs []revision, want intParam) (revision, error) {
	sort.Slice(revs, func(i, j int) bool { return revs[i].number > revs[j].number })
	if want.set {
		for _, r := range revs {
			if r.number == want.v {
				if r.current {
					return revision{}, fmt.Errorf("revision %d is the current revision; nothing to roll back to", want.v)
				}
				return r, nil
			}
		}
		nums := make([]int64, len(revs))
		for i := range revs {
			nums[i] = revs[i].number
		}
		return revision{}, fmt.Errorf("no revision %d (revisions kept: %v)", want.v, nums)
	}
	seenCurrent := false
	for _, r := range revs {
		if r.current {
			seenCurrent = true
			continue
		}
		if seenCurrent {
			return r, nil
		}
	}
	return revision{}, fmt.Errorf("no revision before the current one is kept")
}

func replicaSetRevisions(ctx context.Context, c client.Client, d *appsv1.Deployment) ([]revision, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s selector: %w", d.Namespace, d.Name, err)
	}
	var list appsv1.ReplicaSetList
	if err := c.List(ctx, &list, client.InNamespace(d.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("list replicasets of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	current, _ := strconv.ParseInt(d.Annotations[RevisionAnnotation], 10, 64)
	var revs []revision
	for i := range list.Items {
		rs := &list.Items[i]
		if owner := metav1.GetControllerOf(rs); owner == nil || owner.UID != d.UID {
			continue
		}
		n, err := strconv.ParseInt(rs.Annotations[RevisionAnnotation], 10, 64)
		if err != nil {
			continue
		}
		tpl := rs.Spec.Template.DeepCopy()
		revs = append(revs, revision{number: n, current: n == current, template: func(client.Object) (*corev1.PodTemplateSpec, error) {
			delete(tpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
			return tpl, nil
		}})
	}
	return revs, nil
}

// controllerRevisions lists a StatefulSet's or DaemonSet's revisions; the newest is current,
// since their controllers renumber a revision they return to.
func controllerRevisions(ctx context.Context, c client.Client, target client.Object) ([]revision, error) {
	var list appsv1.ControllerRevisionList
	if err := c.List(ctx, &list, client.InNamespace(target.GetNamespace())); err != nil {
		return nil, fmt.Errorf("list controllerrevisions in %s: %w", target.GetNamespace(), err)
	}
	var revs []revision
	var newest int64
	for i := range list.Items {
		cr := &list.Items[i]
		if owner := metav1.GetControllerOf(cr); owner == nil || owner.UID != target.GetUID() {
			continue
		}
		newest = max(newest, cr.Revision)
		patch := cr.Data.Raw
		revs = append(revs, revision{number: cr.Revision, template: func(t client.Object) (*corev1.PodTemplateSpec, error) {
			return templateFromPatch(t, patch)
		}})
	}
	for i := range revs {
		revs[i].current = revs[i].number == newest
	}
	return revs, nil
}

// templateFromPatch applies a ControllerRevision's data (a strategic merge patch that replaces
// spec.template) to the target and returns the resulting template.
func templateFromPatch(target client.Object, patch []byte) (*corev1.PodTemplateSpec, error) {
	orig, err := json.Marshal(target)
	if err != nil {
		return nil, err
	}
	var schema any
	switch target.(type) {
	case *appsv1.StatefulSet:
		schema = appsv1.StatefulSet{}
	case *appsv1.DaemonSet:
		schema = appsv1.DaemonSet{}
	default:
		return nil, fmt.Errorf("no controller revisions for %s", kindOf(target))
	}
	merged, err := strategicpatch.StrategicMergePatch(orig, patch, schema)
	if err != nil {
		return nil, fmt.Errorf("apply controller revision to %s %s/%s: %w", kindOf(target), target.GetNamespace(), target.GetName(), err)
	}
	// A fresh object, so maps in the target do not merge into the result.
	out := reflect.New(reflect.TypeOf(target).Elem()).Interface().(client.Object)
	if err := json.Unmarshal(merged, out); err != nil {
		return nil, fmt.Errorf("decode rolled-back %s: %w", kindOf(target), err)
	}
	return podTemplate(out).DeepCopy(), nil
}
