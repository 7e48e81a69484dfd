// Package accounting keeps what AI calls cost: a bounded, expiring cache of validated answers
// keyed by provider, model and the digest of the anonymised input (Cache), and tokens, cost and
// outcomes counted per provider per day with optional daily budgets (Meter), both exported as
// Prometheus metrics. It knows nothing of any provider's API.
package accounting
