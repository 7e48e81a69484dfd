package execute

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// applyParams: ApplyManifests {"manifests": "<multi-document YAML or JSON>", "forceConflicts":
// "false"}. At most MaxManifestBytes and MaxManifestObjects; every object namespaced, in the
// target's namespace (a missing namespace defaults to it), none of the groups deniedGroup refuses,
// and the target among them. Applied with server-side apply as field manager FieldManager;
// forceConflicts takes over fields other managers own (kubectl apply --force-conflicts).
type applyParams struct {
	verifyParams
	Manifests      string    `json:"manifests"`
	ForceConflicts boolParam `json:"forceConflicts"`
}

// Limits of ApplyManifests.
const (
	MaxManifestBytes   = 256 << 10
	MaxManifestObjects = 50
)

// deniedGroup: ApplyManifests refuses these API groups. They grant rights or change how the
// cluster admits and serves objects, which no remediation of a workload needs.
func deniedGroup(group string) bool {
	switch group {
	case "rbac.authorization.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io",
		"apiregistration.k8s.io", "certificates.k8s.io":
		return true
	}
	return false
}

// errPartiallyApplied marks an apply error after which some objects may have changed.
var errPartiallyApplied = errors.New("some objects were applied before the error")

type applyExecutor struct{}

func (applyExecutor) prepare(ctx context.Context, env *env, d *fleetv1.DirectivePayload) (*change, error) {
	var p applyParams
	if err := decodeStrict(d.GetParametersJson(), &p); err != nil {
		return nil, failWrap(ReasonInvalidParameters, err)
	}
	timeout, stable, err := p.timeouts()
	if err != nil {
		return nil, failWrap(ReasonInvalidParameters, err)
	}
	ref := d.GetTarget()
	if ref.GetNamespace() == "" || ref.GetName() == "" || ref.GetKind() == "" {
		return nil, fail(ReasonInvalidDirective, "ApplyManifests needs a namespaced target naming one of the manifests")
	}
	objs, err := parseManifests(env.c, p.Manifests, ref.GetNamespace())
	if err != nil {
		return nil, failWrap(ReasonInvalidParameters, err)
	}
	var target *unstructured.Unstructured
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if gvk.Group == ref.GetGroup() && gvk.Kind == ref.GetKind() && o.GetName() == ref.GetName() &&
			(ref.GetVersion() == "" || ref.GetVersion() == gvk.Version) {
			target = o
		}
	}
	if target == nil {
		return nil, fail(ReasonInvalidParameters, "the manifests do not contain the target %s %s/%s", ref.GetKind(), ref.GetNamespace(), ref.GetName())
	}

	// Save every object's current state; the target's preconditions are checked on it.
	saved := make([]savedObject, len(objs))
	before := make([]any, len(objs))
	for i, o := range objs {
		cur := &unstructured.Unstructured{}
		cur.SetGroupVersionKind(o.GroupVersionKind())
		s := savedObject{APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName(), Restorable: true}
		err := env.c.Get(ctx, client.ObjectKeyFromObject(o), cur)
		switch {
		case apierrors.IsNotFound(err):
			if o == target && (ref.GetResourceVersion() != "" || ref.GetUid() != "") {
				return nil, fail(ReasonTargetChanged, "target %s %s/%s does not exist, the directive expects it at resourceVersion %q", ref.GetKind(), ref.GetNamespace(), ref.GetName(), ref.GetResourceVersion())
			}
		case err != nil:
			return nil, fmt.Errorf("get %s: %w", s, err)
		default:
			if o == target {
				if err := checkPreconditions(cur, ref); err != nil {
					return nil, err
				}
			}
			raw, err := cur.MarshalJSON()
			if err != nil {
				return nil, fmt.Errorf("encode %s: %w", s, err)
			}
			s.Existed, s.UID, s.Object, before[i] = true, string(cur.GetUID()), raw, cur
		}
		saved[i] = s
	}

	applyAll := func(ctx context.Context, dry bool) (any, error) {
		out := make([]any, len(objs))
		for i, o := range objs {
			u := o.DeepCopy()
			opts := []client.ApplyOption{client.FieldOwner(env.fieldManager)}
			if p.ForceConflicts.v {
				opts = append(opts, client.ForceOwnership)
			}
			if dry {
				opts = append(opts, client.DryRunAll)
			}
			if err := env.c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), opts...); err != nil {
				err = fmt.Errorf("apply %s: %w", saved[i], err)
				if !dry && i > 0 {
					err = fmt.Errorf("%w (%w)", err, errPartiallyApplied)
				}
				return nil, err
			}
			out[i] = u
		}
		return out, nil
	}
	return &change{
		timeout: timeout, stable: stable,
		before: before, saved: saved,
		dryRun: func(ctx context.Context) (any, error) { return applyAll(ctx, true) },
		apply:  func(ctx context.Context) (any, error) { return applyAll(ctx, false) },
		check: func(ctx context.Context) (bool, string, error) {
			var details []string
			for _, o := range objs {
				done, detail, err := appliedCheck(ctx, env.c, o)
				if err != nil || !done {
					return false, detail, err
				}
				if detail != "" {
					details = append(details, detail)
				}
			}
			return true, strings.Join(details, "; "), nil
		},
	}, nil
}

// parseManifests splits and checks the manifests, defaulting namespaces to ns.
func parseManifests(c client.Client, manifests, ns string) ([]*unstructured.Unstructured, error) {
	if strings.TrimSpace(manifests) == "" {
		return nil, fmt.Errorf("manifests is required")
	}
	if len(manifests) > MaxManifestBytes {
		return nil, fmt.Errorf("manifests are %d bytes, more than %d", len(manifests), MaxManifestBytes)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(manifests)), 4096)
	var objs []*unstructured.Unstructured
	seen := map[string]bool{}
	for n := 1; ; n++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("manifest document %d: %w", n, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		gvk := u.GroupVersionKind()
		switch {
		case gvk.Kind == "" || gvk.Version == "":
			return nil, fmt.Errorf("manifest document %d has no apiVersion or kind", n)
		case strings.HasSuffix(gvk.Kind, "List"):
			return nil, fmt.Errorf("manifest document %d is a %s; give the objects as separate documents", n, gvk.Kind)
		case u.GetName() == "":
			return nil, fmt.Errorf("manifest document %d (%s) has no metadata.name", n, gvk.Kind)
		case deniedGroup(gvk.Group):
			return nil, fmt.Errorf("manifest document %d: %s objects (group %s) may not be applied by a remediation", n, gvk.Kind, gvk.Group)
		}
		namespaced, err := c.IsObjectNamespaced(u)
		if err != nil {
			return nil, fmt.Errorf("manifest document %d: %s is not served by this cluster: %w", n, gvk.GroupKind(), err)
		}
		if !namespaced {
			return nil, fmt.Errorf("manifest document %d: %s %s is cluster-scoped; only objects in namespace %s may be applied", n, gvk.Kind, u.GetName(), ns)
		}
		if u.GetNamespace() == "" {
			u.SetNamespace(ns)
		} else if u.GetNamespace() != ns {
			return nil, fmt.Errorf("manifest document %d: %s %s is in namespace %s; only namespace %s may be changed", n, gvk.Kind, u.GetName(), u.GetNamespace(), ns)
		}
		if u.GetResourceVersion() != "" || len(u.GetManagedFields()) > 0 {
			return nil, fmt.Errorf("manifest document %d: %s %s carries metadata.resourceVersion or managedFields; give the intended state only", n, gvk.Kind, u.GetName())
		}
		key := gvk.GroupKind().String() + "/" + u.GetName()
		if seen[key] {
			return nil, fmt.Errorf("manifest document %d: %s %s appears twice", n, gvk.Kind, u.GetName())
		}
		seen[key] = true
		objs = append(objs, u)
		if len(objs) > MaxManifestObjects {
			return nil, fmt.Errorf("more than %d objects in the manifests", MaxManifestObjects)
		}
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("manifests hold no objects")
	}
	return objs, nil
}

// appliedCheck: the object exists, and a workload among them has rolled out.
func appliedCheck(ctx context.Context, c client.Client, o *unstructured.Unstructured) (bool, string, error) {
	gvk := o.GroupVersionKind()
	cur := &unstructured.Unstructured{}
	cur.SetGroupVersionKind(gvk)
	if err := c.Get(ctx, client.ObjectKeyFromObject(o), cur); err != nil {
		if apierrors.IsNotFound(err) {
			return false, fmt.Sprintf("%s %s/%s does not exist", gvk.Kind, o.GetNamespace(), o.GetName()), nil
		}
		return false, "", fmt.Errorf("get %s %s/%s: %w", gvk.Kind, o.GetNamespace(), o.GetName(), err)
	}
	switch gvk {
	case gvkDeployment, gvkStatefulSet, gvkDaemonSet:
	default:
		return true, "", nil
	}
	typed, err := newObject(c, gvk)
	if err != nil {
		return false, "", err
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(cur.Object, typed); err != nil {
		return false, "", fmt.Errorf("decode %s %s/%s: %w", gvk.Kind, o.GetNamespace(), o.GetName(), err)
	}
	done, detail, err := rolloutDone(typed)
	return done, fmt.Sprintf("%s %s: %s", gvk.Kind, o.GetName(), detail), err
}
