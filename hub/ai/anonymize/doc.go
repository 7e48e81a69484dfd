// Package anonymize replaces what identifies a fleet (cluster, namespace, workload and node names,
// IP addresses, emails) and every secret it can recognise with stable placeholders such as
// <cluster-1> before text leaves the hub for an external AI provider, and puts the real values
// back into the provider's answer. A Session holds one mapping; nothing is global.
package anonymize
