// Package e2e holds the end-to-end suites: real clusters from test/testbed, real Vault, and the
// project's binaries and contracts exercised the way a user of the fleet would.
package e2e
