package analyze

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// PVC reports claims that stay Pending (with the provisioner's or binder's warning as the
// reason) and claims whose volume was lost.
type PVC struct {
	// Grace is how long a claim may be Pending without a warning event; default 5m.
	Grace time.Duration
}

// Name implements Analyzer.
func (PVC) Name() string { return "pvc" }

// Analyze implements Analyzer.
func (a PVC) Analyze(ctx context.Context, in Input) ([]*fleetv1.Finding, error) {
	var list corev1.PersistentVolumeClaimList
	if err := in.Reader.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list persistentvolumeclaims: %w", err)
	}
	var out []*fleetv1.Finding
	for i := range list.Items {
		c := &list.Items[i]
		if c.DeletionTimestamp != nil {
			continue
		}
		switch c.Status.Phase {
		case corev1.ClaimLost:
			f := finding(in, "pvc", fleetv1.Severity_SEVERITY_HIGH, ref(gvkPVC, c), fmt.Sprintf("claim lost its volume %s", c.Spec.VolumeName), "Lost")
			f.Evidence = append(f.Evidence, statusEvidence(in, "phase Lost", "volume "+c.Spec.VolumeName))
			f.Evidence = append(f.Evidence, eventEvidence(ctx, in, c.Namespace, string(c.UID), false)...)
			out = append(out, f)
		case corev1.ClaimPending:
			evs, _ := in.eventsFor(ctx, c.Namespace, string(c.UID))
			var latest *corev1.Event
			if len(evs) > 0 {
				latest = &evs[0]
			}
			if latest != nil && latest.Type == corev1.EventTypeNormal && latest.Reason == "WaitForFirstConsumer" {
				continue // binding waits for a pod, as the storage class asks
			}
			sig := []string{"Pending"}
			summary := "claim is Pending"
			switch {
			case latest != nil && latest.Type == corev1.EventTypeWarning:
				sig = append(sig, signaturePart(latest.Reason))
				summary = fmt.Sprintf("claim is Pending: %s: %s", latest.Reason, firstLine(latest.Message))
			case in.now().Sub(c.CreationTimestamp.Time) < or(a.Grace, 5*time.Minute):
				continue
			}
			class := "(default)"
			if c.Spec.StorageClassName != nil {
				class = *c.Spec.StorageClassName
			}
			f := finding(in, "pvc", fleetv1.Severity_SEVERITY_MEDIUM, ref(gvkPVC, c), summary, sig...)
			f.Evidence = append(f.Evidence, statusEvidence(in, "phase Pending", fmt.Sprintf("storage class %s, requested %s, since %s",
				class, c.Spec.Resources.Requests.Storage().String(), c.CreationTimestamp.UTC().Format(time.RFC3339))))
			f.Evidence = append(f.Evidence, eventEvidence(ctx, in, c.Namespace, string(c.UID), false)...)
			out = append(out, f)
		}
	}
	return out, nil
}
