// Package jules is the hub's Google Jules provider: a client of the Jules REST API v1alpha, and
// the tracking of Jules sessions in the hub's replicated state, so that onboarding and code-fix
// sessions survive a leader failover and a Jules plan runs only after a human approved it.
package jules
