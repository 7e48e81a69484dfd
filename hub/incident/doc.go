// Package incident runs the hub's side of the incident loop: it records the findings spokes
// report as Incidents, turns each open incident into a remediation Plan (diagnosis, ranking by
// what the fleet learned, the governing AIOpsPolicy's approval rules), signs the approved
// actions into directives, and records the spokes' results, the audit trail and the learning.
package incident
