package incident

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
)

const (
	// labelPlan marks a plan's actions.
	labelPlan = hubv1alpha1.Group + "/plan"
	// labelIncident marks an incident's plans.
	labelIncident = hubv1alpha1.Group + "/incident"
	// annotationSignature carries the incident signature a plan remediates (its fleet-learning key).
	annotationSignature = hubv1alpha1.Group + "/signature"
)

// Name returns the Incident name for a signature on one object of one cluster. The uid keeps
// a deleted and re-created object apart; the name is stable, so a finding resent after a
// reconnect lands on the same incident.
func Name(cluster, kind, namespace, name, uid, signature string) string {
	sum := sha256.Sum256([]byte(cluster + "\x00" + kind + "\x00" + namespace + "\x00" + name + "\x00" + uid + "\x00" + signature))
	return "inc-" + hex.EncodeToString(sum[:10])
}

// planName returns the name of the attempt-th plan for an incident (attempts count from 1).
func planName(incident string, attempt int) string {
	return fmt.Sprintf("%s-p%d", incident, attempt)
}

// actionName returns the name (and action id) of a plan's i-th action.
func actionName(plan string, i int) string { return fmt.Sprintf("%s-a%d", plan, i) }
