// Package execute carries out verified remediation directives on the spoke's cluster: it checks
// preconditions, saves the previous state, dry-runs on the server, applies, verifies within a
// deadline and restores the saved state when verification fails, acting once per action id.
package execute
