// Package onboard tests the onboarding of a ManagedApplication through Google Jules end to end
// with real processes: hub members, a Vault dev server holding the Jules key, the local Jules
// server, a test-bed cluster and its agent, which dry-runs the manifests of Jules' patch.
package onboard
