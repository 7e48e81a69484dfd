// Package onboard onboards ManagedApplications with a Git source through Google Jules: it starts
// the session, turns the plan Jules proposes into a Plan people approve, tells Jules once they
// did, and dry-runs the manifests of the patch Jules produced on the application's cluster.
package onboard
