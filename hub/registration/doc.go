// Package registration admits clusters to the fleet the way Open Cluster Management does: a
// spoke presents a bootstrap token, a CSR and its claims; the hub records a ManagedCluster
// that an admin (or an auto-accepting token) accepts; the hub then signs a short-lived client
// certificate that names the cluster, rotates it on request and revokes it on denial.
//
// Every change is one all-or-nothing store transaction with its audit record, so a token use,
// the cluster and the request are recorded together or not at all.
package registration
