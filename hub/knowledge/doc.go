// Package knowledge is the fleet-learning math: a Beta posterior of the success rate of one
// remediation (action type) against one incident signature, computed from a KnowledgeEntry's
// counts; ranking of candidate remediations by that posterior behind a safety floor; and the
// pure update of an entry when an outcome is counted. It stores nothing itself.
package knowledge
