package julesplan

import (
	"crypto/sha256"
	"encoding/hex"

	"go.opentelemetry.io/otel/attribute"
)

// Span attributes of the proposal span; trace show finds a plan's spans by kubedevaiops.plan.
const (
	attrPlan      = attribute.Key("kubedevaiops.plan")
	attrRecord    = attribute.Key("jules.record")
	attrJulesPlan = attribute.Key("jules.plan")
)

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
