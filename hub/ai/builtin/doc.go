// Package builtin is the hub's built-in AI engine: it does every task of hub/ai with no
// network and deterministically — diagnosis and plans through hub/diagnose, best-practice
// manifests generated from a ManagedApplication, explanations of plans, incidents and
// diagnoses, and answers to a fixed set of question forms read from a FleetView.
package builtin
