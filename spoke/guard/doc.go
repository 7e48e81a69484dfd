// Package guard decides whether the spoke may act on a directive: its signature by a trusted hub
// key, its audience, its validity window, that it was not seen before, and that the cluster's own
// AIOpsPolicy allows it now. It changes nothing in the cluster but its ledger of seen directives.
package guard
