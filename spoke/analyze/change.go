package analyze

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// ChangeDetail is the JSON carried in the detail of a "change" evidence: the owner's latest
// rollout, what it changed, and when. The hub's diagnosis parses it to blame a rollout.
//
//	{"owner":{"group":"apps","kind":"Deployment","namespace":"shop","name":"web","uid":"…"},
//	 "fromRevision":2,"toRevision":3,"changedAt":"2026-01-02T03:04:05Z",
//	 "changes":[{"field":"image","container":"app","from":"a:v1","to":"a:v2"},
//	            {"field":"env","container":"app","name":"MODE","from":"x","to":"y"},
//	            {"field":"resources","container":"app","name":"limits.memory","from":"128Mi","to":"64Mi"},
//	            {"field":"replicas","from":"3","to":"5","at":"2026-01-02T03:00:00Z"}]}
type ChangeDetail struct {
	Owner ChangeOwner `json:"owner"`
	// FromRevision and ToRevision are the owner's revision numbers: the
	// deployment.kubernetes.io/revision annotation of the ReplicaSets of a Deployment, the
	// revision of the ControllerRevisions of a StatefulSet or DaemonSet.
	FromRevision int64 `json:"fromRevision"`
	ToRevision   int64 `json:"toRevision"`
	// ChangedAt is when the new revision was created (its ReplicaSet or ControllerRevision).
	// With no previous revision, only a scale is told of: FromRevision equals ToRevision and
	// ChangedAt is when the agent saw the scale.
	ChangedAt time.Time `json:"changedAt"`
	// Changes lists what differs between the two revisions' pod templates (and replicas);
	// empty when only fields outside those compared changed.
	Changes []Change `json:"changes"`
}

// ChangeOwner names the workload whose revisions are compared.
type ChangeOwner struct {
	Group     string `json:"group"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
}

// Change is one difference between two revisions.
type Change struct {
	// Field is one of image, env, envFrom, resources, command, args, container (added or
	// removed: the empty side), replicas, or template (other pod template fields).
	Field string `json:"field"`
	// Container is the container's name (init containers too); empty for replicas and template.
	Container string `json:"container,omitempty"`
	// Name is the env var name, or the resource as "requests.cpu" / "limits.memory".
	Name string `json:"name,omitempty"`
	// At is when the agent saw spec.replicas change (replicas only: a scale is no revision, and
	// Kubernetes keeps no history of it, so the Runner remembers the last one it saw).
	// From and To are the old and new values. Env values are literals only: a value from a
	// Secret or ConfigMap reads "secretKeyRef:<secret>/<key>", never its content, and literals of
	// secret-looking names read "[REDACTED]".
	From string     `json:"from,omitempty"`
	To   string     `json:"to,omitempty"`
	At   *time.Time `json:"at,omitempty"`
}

// revisionAnnotation numbers a Deployment's ReplicaSets.
const revisionAnnotation = "deployment.kubernetes.io/revision"

// ownerChangeEvidence walks a pod to the workload that owns it and describes that
// workload's latest rollout; nil when there is no owner with two revisions.
func ownerChangeEvidence(ctx context.Context, in Input, pod *corev1.Pod) *fleetv1.Evidence {
	owner := metav1.GetControllerOf(pod)
	if owner == nil {
		return nil
	}
	switch owner.Kind {
	case "ReplicaSet":
		var rs appsv1.ReplicaSet
		if err := in.Reader.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: owner.Name}, &rs); err != nil {
			return nil
		}
		return replicaSetOwnerChange(ctx, in, &rs)
	case "StatefulSet":
		var sts appsv1.StatefulSet
		if err := in.Reader.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: owner.Name}, &sts); err != nil {
			return nil
		}
		return statefulSetChange(ctx, in, &sts)
	case "DaemonSet":
		var ds appsv1.DaemonSet
		if err := in.Reader.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: owner.Name}, &ds); err != nil {
			return nil
		}
		return daemonSetChange(ctx, in, &ds)
	}
	return nil
}

// replicaSetOwnerChange describes the latest rollout of the Deployment owning rs.
func replicaSetOwnerChange(ctx context.Context, in Input, rs *appsv1.ReplicaSet) *fleetv1.Evidence {
	owner := metav1.GetControllerOf(rs)
	if owner == nil || owner.Kind != "Deployment" {
		return nil
	}
	var dep appsv1.Deployment
	if err := in.Reader.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: owner.Name}, &dep); err != nil || dep.UID != owner.UID {
		return nil
	}
	return deploymentChange(ctx, in, &dep)
}

// deploymentChange compares the pod template of the Deployment's current revision with the
// previous revision's ReplicaSet.
func deploymentChange(ctx context.Context, in Input, dep *appsv1.Deployment) *fleetv1.Evidence {
	var list appsv1.ReplicaSetList
	if err := in.Reader.List(ctx, &list, client.InNamespace(dep.Namespace)); err != nil {
		return nil
	}
	type rev struct {
		n  int64
		rs *appsv1.ReplicaSet
	}
	var revs []rev
	for i := range list.Items {
		rs := &list.Items[i]
		if c := metav1.GetControllerOf(rs); c == nil || c.UID != dep.UID {
			continue
		}
		n, err := strconv.ParseInt(rs.Annotations[revisionAnnotation], 10, 64)
		if err != nil {
			continue
		}
		revs = append(revs, rev{n, rs})
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i].n > revs[j].n })
	cur := -1
	want, err := strconv.ParseInt(dep.Annotations[revisionAnnotation], 10, 64)
	for i := range revs {
		if err == nil && revs[i].n == want || err != nil && i == 0 {
			cur = i
			break
		}
	}
	if cur < 0 {
		return nil
	}
	d := ChangeDetail{Owner: changeOwner(gvkDeployment, dep), FromRevision: revs[cur].n, ToRevision: revs[cur].n}
	if cur+1 < len(revs) {
		from, to := revs[cur+1], revs[cur]
		d.FromRevision, d.ChangedAt = from.n, to.rs.CreationTimestamp.UTC()
		d.Changes = templateChanges(&from.rs.Spec.Template, &to.rs.Spec.Template)
	}
	return withScale(in, gvkDeployment, dep, d)
}

// withScale adds the last replicas change the Runner saw to d and makes the evidence; with
// neither a previous revision nor a scale there is no change to tell of.
func withScale(in Input, gvk schema.GroupVersionKind, owner client.Object, d ChangeDetail) *fleetv1.Evidence {
	c, scaled := in.scales.lastChange(owner.GetUID())
	if scaled {
		d.Changes = append(d.Changes, c)
		if d.FromRevision == d.ToRevision {
			d.ChangedAt = *c.At
		}
	}
	if d.FromRevision == d.ToRevision && !scaled {
		return nil
	}
	return changeEvidence(in, gvk, owner, d)
}

// statefulSetChange compares the StatefulSet's update revision with the one before it.
func statefulSetChange(ctx context.Context, in Input, sts *appsv1.StatefulSet) *fleetv1.Evidence {
	return controllerRevisionChange(ctx, in, gvkStatefulSet, sts, sts.Status.UpdateRevision)
}

// daemonSetChange compares the DaemonSet's newest revision with the one before it.
func daemonSetChange(ctx context.Context, in Input, ds *appsv1.DaemonSet) *fleetv1.Evidence {
	return controllerRevisionChange(ctx, in, gvkDaemonSet, ds, "")
}

// controllerRevisionChange diffs the pod templates stored in the owner's ControllerRevisions:
// current is the named revision (the newest when empty) and the previous is the one numbered
// just below it.
func controllerRevisionChange(ctx context.Context, in Input, gvk schema.GroupVersionKind, owner client.Object, current string) *fleetv1.Evidence {
	var list appsv1.ControllerRevisionList
	if err := in.Reader.List(ctx, &list, client.InNamespace(owner.GetNamespace())); err != nil {
		return nil
	}
	var revs []*appsv1.ControllerRevision
	for i := range list.Items {
		if c := metav1.GetControllerOf(&list.Items[i]); c != nil && c.UID == owner.GetUID() {
			revs = append(revs, &list.Items[i])
		}
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i].Revision > revs[j].Revision })
	cur := -1
	for i, r := range revs {
		if current == "" || r.Name == current {
			cur = i
			break
		}
	}
	if cur < 0 {
		return nil
	}
	d := ChangeDetail{Owner: changeOwner(gvk, owner), FromRevision: revs[cur].Revision, ToRevision: revs[cur].Revision}
	if cur+1 < len(revs) {
		from, to := revs[cur+1], revs[cur]
		fromT, err1 := revisionTemplate(from)
		toT, err2 := revisionTemplate(to)
		if err1 == nil && err2 == nil {
			d.FromRevision, d.ChangedAt = from.Revision, to.CreationTimestamp.UTC()
			d.Changes = templateChanges(fromT, toT)
		}
	}
	return withScale(in, gvk, owner, d)
}

// revisionTemplate reads the pod template a StatefulSet or DaemonSet controller stores in a
// ControllerRevision (a patch of the form {"spec":{"template":{…}}}).
func revisionTemplate(cr *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	var patch struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(cr.Data.Raw, &patch); err != nil {
		return nil, fmt.Errorf("controller revision %s: %w", cr.Name, err)
	}
	return &patch.Spec.Template, nil
}

func changeOwner(gvk schema.GroupVersionKind, obj client.Object) ChangeOwner {
	return ChangeOwner{Group: gvk.Group, Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: string(obj.GetUID())}
}

func changeEvidence(in Input, gvk schema.GroupVersionKind, owner client.Object, d ChangeDetail) *fleetv1.Evidence {
	if d.Changes == nil {
		d.Changes = []Change{}
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return nil
	}
	var what []string
	for _, c := range d.Changes {
		what = append(what, c.Field)
	}
	summary := fmt.Sprintf("%s %s rolled from revision %d to %d at %s", gvk.Kind, owner.GetName(), d.FromRevision, d.ToRevision, d.ChangedAt.Format(time.RFC3339))
	if len(what) > 0 {
		summary += " changing " + strings.Join(dedupe(what), ", ")
	}
	return &fleetv1.Evidence{Type: EvidenceChange, Summary: summary, Detail: string(raw), Source: ref(gvk, owner), ObservedAt: timestamppb.New(in.now())}
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// templateChanges lists what differs between two pod templates, container by container.
func templateChanges(from, to *corev1.PodTemplateSpec) []Change {
	var out []Change
	fromC := containersByName(from)
	toC := containersByName(to)
	for _, name := range unionKeys(fromC, toC) {
		a, b := fromC[name], toC[name]
		switch {
		case a == nil:
			out = append(out, Change{Field: "container", Container: name, To: b.Image})
			continue
		case b == nil:
			out = append(out, Change{Field: "container", Container: name, From: a.Image})
			continue
		}
		if a.Image != b.Image {
			out = append(out, Change{Field: "image", Container: name, From: a.Image, To: b.Image})
		}
		out = append(out, envChanges(name, a, b)...)
		out = append(out, resourceChanges(name, a.Resources, b.Resources)...)
		if !reflect.DeepEqual(a.Command, b.Command) {
			out = append(out, Change{Field: "command", Container: name, From: strings.Join(a.Command, " "), To: strings.Join(b.Command, " ")})
		}
		if !reflect.DeepEqual(a.Args, b.Args) {
			out = append(out, Change{Field: "args", Container: name, From: Redact(strings.Join(a.Args, " ")), To: Redact(strings.Join(b.Args, " "))})
		}
	}
	if len(out) == 0 && !sameTemplate(from, to) {
		out = append(out, Change{Field: "template"})
	}
	return out
}

// sameTemplate compares templates without the labels and annotations controllers add to tell
// revisions apart.
func sameTemplate(a, b *corev1.PodTemplateSpec) bool {
	strip := func(t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
		t = t.DeepCopy()
		delete(t.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
		delete(t.Labels, appsv1.ControllerRevisionHashLabelKey)
		if len(t.Labels) == 0 {
			t.Labels = nil
		}
		return t
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

func containersByName(t *corev1.PodTemplateSpec) map[string]*corev1.Container {
	m := map[string]*corev1.Container{}
	for i := range t.Spec.InitContainers {
		m[t.Spec.InitContainers[i].Name] = &t.Spec.InitContainers[i]
	}
	for i := range t.Spec.Containers {
		m[t.Spec.Containers[i].Name] = &t.Spec.Containers[i]
	}
	return m
}

func unionKeys[V any](a, b map[string]V) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]V{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

func envChanges(container string, a, b *corev1.Container) []Change {
	env := func(c *corev1.Container) map[string]string {
		m := map[string]string{}
		for _, e := range c.Env {
			m[e.Name] = envValue(e)
		}
		return m
	}
	ea, eb := env(a), env(b)
	var out []Change
	for _, name := range unionKeys(ea, eb) {
		va, okA := ea[name]
		vb, okB := eb[name]
		if okA == okB && va == vb {
			continue
		}
		out = append(out, Change{Field: "env", Container: container, Name: name, From: va, To: vb})
	}
	envFrom := func(c *corev1.Container) string {
		var s []string
		for _, f := range c.EnvFrom {
			switch {
			case f.SecretRef != nil:
				s = append(s, f.Prefix+"secret:"+f.SecretRef.Name)
			case f.ConfigMapRef != nil:
				s = append(s, f.Prefix+"configMap:"+f.ConfigMapRef.Name)
			}
		}
		return strings.Join(s, ",")
	}
	if fa, fb := envFrom(a), envFrom(b); fa != fb {
		out = append(out, Change{Field: "envFrom", Container: container, From: fa, To: fb})
	}
	return out
}

// envValue is what may be said of an env var's value: literals (redacted when the name looks
// secret) and where a referenced value comes from, never the referenced value itself.
func envValue(e corev1.EnvVar) string {
	switch {
	case e.ValueFrom == nil:
		if sensitiveName.MatchString(e.Name) && e.Value != "" {
			return "[REDACTED]"
		}
		return Redact(e.Value)
	case e.ValueFrom.SecretKeyRef != nil:
		return "secretKeyRef:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
	case e.ValueFrom.ConfigMapKeyRef != nil:
		return "configMapKeyRef:" + e.ValueFrom.ConfigMapKeyRef.Name + "/" + e.ValueFrom.ConfigMapKeyRef.Key
	case e.ValueFrom.FieldRef != nil:
		return "fieldRef:" + e.ValueFrom.FieldRef.FieldPath
	case e.ValueFrom.ResourceFieldRef != nil:
		return "resourceFieldRef:" + e.ValueFrom.ResourceFieldRef.Resource
	}
	return "valueFrom"
}

func resourceChanges(container string, a, b corev1.ResourceRequirements) []Change {
	var out []Change
	for _, part := range []struct {
		name string
		a, b corev1.ResourceList
	}{{"requests", a.Requests, b.Requests}, {"limits", a.Limits, b.Limits}} {
		keys := map[string]bool{}
		for k := range part.a {
			keys[string(k)] = true
		}
		for k := range part.b {
			keys[string(k)] = true
		}
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			qa, okA := part.a[corev1.ResourceName(k)]
			qb, okB := part.b[corev1.ResourceName(k)]
			if okA && okB && qa.Cmp(qb) == 0 {
				continue
			}
			c := Change{Field: "resources", Container: container, Name: part.name + "." + k}
			if okA {
				c.From = qa.String()
			}
			if okB {
				c.To = qb.String()
			}
			out = append(out, c)
		}
	}
	return out
}
