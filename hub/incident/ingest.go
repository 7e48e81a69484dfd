package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"golang.org/x/time/rate"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
	"github.com/kubedevaiops/kubedevaiops/hub/writes"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

const (
	// refreshAfter is how stale an unchanged incident's lastObservedTime may get before a
	// resent finding refreshes it; below it, resends cost no Raft write.
	refreshAfter = 5 * time.Minute
	// Per-cluster bound on incident writes: a burst of findingsBurst, then findingsPerSecond.
	// Findings over it are dropped; the spoke resends active findings periodically.
	findingsPerSecond = 2
	findingsBurst     = 50
	// maxEvidence and maxDetail bound what one incident stores.
	maxEvidence = 16
	maxDetail   = 4096
)

// Findings records the findings a cluster's spoke reported: a new one opens an Incident, a
// resolved one resolves it, and a resend of an unchanged one writes nothing. It returns how many
// findings were dropped by the per-cluster rate bound.
func (h *Hub) Findings(ctx context.Context, cluster string, findings []*fleetv1.Finding) (dropped int, err error) {
	lim := h.limiter(cluster)
	var errs []error
	for _, f := range findings {
		if err := validFinding(f); err != nil {
			errs = append(errs, fmt.Errorf("finding from %s refused: %w", cluster, err))
			continue
		}
		cmd, err := h.findingWrite(cluster, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if cmd == nil {
			continue
		}
		if !lim.Allow() {
			dropped++
			continue
		}
		if _, err := writes.One(ctx, h.node, cmd); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrAlreadyExists) {
			errs = append(errs, fmt.Errorf("record finding %s on %s: %w", f.GetSignature(), cluster, err))
		}
	}
	return dropped, errors.Join(errs...)
}

func (h *Hub) limiter(cluster string) *rate.Limiter {
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.limiters[cluster]
	if !ok {
		l = rate.NewLimiter(findingsPerSecond, findingsBurst)
		h.limiters[cluster] = l
	}
	return l
}

// forgetCluster drops per-cluster state when its stream goes away.
func (h *Hub) forgetCluster(cluster string) {
	h.mu.Lock()
	delete(h.limiters, cluster)
	h.mu.Unlock()
}

func validFinding(f *fleetv1.Finding) error {
	switch {
	case f.GetSignature() == "":
		return errors.New("signature is empty")
	case len(f.GetSignature()) > 253:
		return errors.New("signature is longer than 253 characters")
	case f.GetObject().GetKind() == "" || f.GetObject().GetName() == "":
		return errors.New("object kind and name are required")
	case f.GetObservedAt() == nil:
		return errors.New("observed_at is required")
	}
	return nil
}

// findingWrite returns the command that records f, or nil when the stored incident already
// says what f says.
func (h *Hub) findingWrite(cluster string, f *fleetv1.Finding) ([]byte, error) {
	o := f.GetObject()
	name := Name(cluster, o.GetKind(), o.GetNamespace(), o.GetName(), o.GetUid(), f.GetSignature())
	now := h.now()
	want := incidentFrom(cluster, name, f)
	res, err := h.store.Get(store.KindIncident, "", name)
	if err != nil {
		if f.GetResolved() {
			return nil, nil // resolved before the hub heard of it
		}
		want.Status.Phase = hubv1alpha1.IncidentOpen
		return transaction(create(store.KindIncident, want), audit(store.AuditEntry{
			Actor: "cluster/" + cluster, Action: "incident.open", Target: "Incident/" + name, Cluster: cluster,
			TraceID: traceIDOf(want.Spec.TraceParent), Details: mustJSON(map[string]string{"signature": want.Spec.Signature, "object": objectString(want.Spec.Object), "summary": want.Spec.Summary}),
		}))
	}
	var cur hubv1alpha1.Incident
	if err := res.Decode(&cur); err != nil {
		return nil, fmt.Errorf("stored incident %s: %w", name, err)
	}
	next := cur.DeepCopy()
	switch {
	case f.GetResolved() && cur.Status.Phase != hubv1alpha1.IncidentResolved:
		next.Status.Phase = hubv1alpha1.IncidentResolved
		t := metav1.NewTime(now.UTC().Truncate(time.Second))
		next.Status.ResolvedTime = &t
		next.Spec.LastObservedTime = want.Spec.LastObservedTime
		return transaction(update(store.KindIncident, next, res.ResourceVersion), audit(store.AuditEntry{
			Actor: "cluster/" + cluster, Action: "incident.resolved", Target: "Incident/" + name, Cluster: cluster,
			TraceID: traceIDOf(cur.Spec.TraceParent), Details: mustJSON(map[string]string{"signature": cur.Spec.Signature, "plan": cur.Status.PlanRef}),
		}))
	case f.GetResolved():
		return nil, nil
	case cur.Status.Phase == hubv1alpha1.IncidentResolved:
		// The problem is back after it cleared: the incident reopens and gets a new plan.
		next.Spec = want.Spec
		next.Status.Phase, next.Status.ResolvedTime, next.Status.Message = hubv1alpha1.IncidentOpen, nil, "reopened: the problem came back after it was resolved"
		return transaction(update(store.KindIncident, next, res.ResourceVersion), audit(store.AuditEntry{
			Actor: "cluster/" + cluster, Action: "incident.reopen", Target: "Incident/" + name, Cluster: cluster,
			TraceID: traceIDOf(want.Spec.TraceParent), Details: mustJSON(map[string]string{"signature": cur.Spec.Signature}),
		}))
	}
	stale := now.Sub(cur.Spec.LastObservedTime.Time) > refreshAfter
	want.Spec.TraceParent = cur.Spec.TraceParent // the incident keeps the trace it started
	want.Spec.FirstObservedTime = cur.Spec.FirstObservedTime
	if !stale {
		want.Spec.LastObservedTime = cur.Spec.LastObservedTime
	}
	if reflect.DeepEqual(want.Spec, cur.Spec) {
		return nil, nil
	}
	next.Spec = want.Spec
	return update(store.KindIncident, next, res.ResourceVersion).cmd()
}

// incidentFrom converts a finding to the incident it opens.
func incidentFrom(cluster, name string, f *fleetv1.Finding) *hubv1alpha1.Incident {
	o := f.GetObject()
	inc := &hubv1alpha1.Incident{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{hubv1alpha1.LabelCluster: cluster}},
		Spec: hubv1alpha1.IncidentSpec{
			Cluster: cluster, Analyzer: f.GetAnalyzer(), Signature: f.GetSignature(), Severity: severity(f.GetSeverity()),
			Object: refOf(o), ObjectUID: o.GetUid(), Summary: truncate(f.GetSummary(), 512),
			LastObservedTime: metav1.NewTime(f.GetObservedAt().AsTime().UTC().Truncate(time.Second)),
			TraceParent:      f.GetTraceContext().GetTraceparent(),
		},
	}
	inc.Spec.FirstObservedTime = inc.Spec.LastObservedTime
	if t := f.GetFirstObservedAt(); t != nil {
		inc.Spec.FirstObservedTime = metav1.NewTime(t.AsTime().UTC().Truncate(time.Second))
	}
	for i, e := range f.GetEvidence() {
		if i == maxEvidence {
			break
		}
		ev := hubv1alpha1.Evidence{Type: e.GetType(), Summary: truncate(e.GetSummary(), 512), Detail: truncate(e.GetDetail(), maxDetail)}
		if e.GetSource() != nil {
			r := refOf(e.GetSource())
			ev.Source = &r
		}
		if e.GetObservedAt() != nil {
			t := metav1.NewTime(e.GetObservedAt().AsTime().UTC().Truncate(time.Second))
			ev.ObservedTime = &t
		}
		inc.Spec.Evidence = append(inc.Spec.Evidence, ev)
	}
	return inc
}

func severity(s fleetv1.Severity) string {
	switch s {
	case fleetv1.Severity_SEVERITY_LOW:
		return "Low"
	case fleetv1.Severity_SEVERITY_MEDIUM:
		return "Medium"
	case fleetv1.Severity_SEVERITY_HIGH:
		return "High"
	case fleetv1.Severity_SEVERITY_CRITICAL:
		return "Critical"
	}
	return "Info"
}

func refOf(o *fleetv1.ObjectRef) hubv1alpha1.ObjectReference {
	av := o.GetVersion()
	if o.GetGroup() != "" {
		av = o.GetGroup() + "/" + o.GetVersion()
	}
	return hubv1alpha1.ObjectReference{APIVersion: av, Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName()}
}

func objectString(r hubv1alpha1.ObjectReference) string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("audit details of %T do not marshal: %v", v, err))
	}
	return b
}
