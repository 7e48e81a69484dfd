// Package codefix asks Google Jules for a code-level fix when the diagnosis places an
// incident's root cause in the application, for incidents of a ManagedApplication with a Git
// repository, and turns the plan Jules proposes into a Plan people approve before Jules writes
// the change. The patch and pull request are stored; nothing runs on any cluster.
package codefix
