// Package analyze runs the spoke's cheap local analyzers: one small analyzer per resource kind
// reads the agent's cache, turns what is wrong into Findings with stable signatures and evidence
// (events, status, log tails, owner changes), and a Runner reports only what is new, changed or gone.
package analyze
