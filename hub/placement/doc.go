// Package placement decides which ManagedClusters an Open Cluster Management Placement selects.
// Schedule is a pure function: from the placement, the hub's clusters and cluster sets and the
// placement's current decisions it computes the desired PlacementDecisions and placement status.
// Reading the inputs and writing the outputs back is the controller's job, not this package's.
//
// How a decision is made:
//
//   - Candidates are the clusters the hub has accepted (spec.hubAcceptsClient) and that are not
//     being deleted. This hub has no ManagedClusterSetBindings: every ManagedClusterSet is usable
//     from every namespace, so an empty spec.clusterSets means every cluster, and a non-empty one
//     means the union of the members of the named sets that exist.
//   - spec.predicates are ORed; the label, claim and CEL parts of one predicate are ANDed. CEL
//     expressions see the cluster as the variable managedCluster (its JSON form as a map).
//   - Taints: NoSelect excludes a cluster unless tolerated, NoSelectIfNew only if the placement
//     has not selected it before, PreferNoSelect never excludes but ranks the cluster last.
//     A toleration with tolerationSeconds lasts until taint.timeAdded + tolerationSeconds;
//     Output.RequeueAfter says when the earliest such toleration runs out.
//   - With spec.numberOfClusters, clusters already selected are kept first ("Steady"), then the
//     rest by name, untolerated PreferNoSelect clusters last.
//   - Selected clusters are split into decision groups (spec.decisionStrategy.groupStrategy) and
//     each group into PlacementDecisions of at most 100 clusters.
//
// Left out on purpose, compared with OCM's scheduler: prioritizers and scores (prioritizerPolicy,
// sortBy, scoreRateLimit; decisions carry no score), spreadPolicy, and OCM's own CEL functions
// (scores, versionIsGreaterThan, quantityIsGreaterThan, parseJSON); CEL here is the standard
// library plus the string extensions. When nothing is selected no PlacementDecision is produced
// (OCM keeps one empty PlacementDecision).
package placement
