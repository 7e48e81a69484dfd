// Package jules is a local server implementing the Google Jules REST API v1alpha (sources,
// sessions, activities, approvePlan, sendMessage, its states and errors) for tests: sessions
// move on step calls over a virtual clock, faults are scripted, and every request is recorded.
package jules
