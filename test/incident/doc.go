// Package incident tests the incident loop end to end with real processes: test-bed clusters
// whose pods kwok crashes, agents, a three-member hub signing with Vault transit, and an OTLP
// receiver that collects the one trace of each incident.
package incident
