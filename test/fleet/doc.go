// Package fleet tests cluster registration and state streaming end to end: test-bed clusters
// (real apiservers and kwok), a 3-member hub and one agent per cluster, each its own OS process.
package fleet
