package ai

import (
	"strings"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
)

// FleetView is the read-only slice of the hub's state that explanations and answers are made
// from. The hub implements it over its store and the spokes' inventories; every method returns
// what it has, and nothing (not an error) for what does not exist.
type FleetView interface {
	// Plan by name.
	Plan(name string) (*hubv1alpha1.Plan, bool)
	// Incident by name.
	Incident(name string) (*hubv1alpha1.Incident, bool)
	// Actions created from the plan.
	Actions(plan string) []hubv1alpha1.Action
	// ClusterKnown says whether a ManagedCluster of that name is registered.
	ClusterKnown(cluster string) bool
	// Incidents of one cluster, in any phase.
	Incidents(cluster string) []hubv1alpha1.Incident
	// Knowledge entries whose signature is signature or a refinement of it (signature + ":" +
	// a log template id), for every action type.
	Knowledge(signature string) []hubv1alpha1.KnowledgeEntry
	// ImageUses are the containers, in every cluster, whose image ImageMatches image.
	ImageUses(image string) []ImageUse
}

// ImageUse is one workload container running an image.
type ImageUse struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	// Workload is "Kind/name", e.g. "Deployment/checkout".
	Workload  string `json:"workload"`
	Container string `json:"container"`
	// Image as the pod spec names it.
	Image string `json:"image"`
}

// ImageMatches says whether the image reference running (as in a pod spec) is what a question
// asks about. Both are normalised first (a Docker Hub name gets docker.io/ and library/); a query
// without tag or digest matches every tag and digest of the repository, a query with a tag or a
// digest only that one.
func ImageMatches(running, query string) bool {
	rRepo, rTag, rDigest := splitImage(running)
	qRepo, qTag, qDigest := splitImage(query)
	if rRepo == "" || rRepo != qRepo {
		return false
	}
	switch {
	case qDigest != "":
		return rDigest == qDigest
	case qTag != "":
		return rTag == qTag || (rTag == "" && rDigest == "" && qTag == "latest")
	}
	return true
}

// splitImage cuts a reference into normalised repository, tag and digest.
func splitImage(ref string) (repo, tag, digest string) {
	ref = strings.TrimSpace(ref)
	if i := strings.Index(ref, "@"); i >= 0 {
		ref, digest = ref[:i], ref[i+1:]
	}
	if i := strings.LastIndex(ref, ":"); i >= 0 && !strings.Contains(ref[i:], "/") {
		ref, tag = ref[:i], ref[i+1:]
	}
	if ref == "" {
		return "", "", ""
	}
	first, rest, found := strings.Cut(ref, "/")
	switch {
	case !found:
		ref = "docker.io/library/" + ref
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		ref = "docker.io/" + ref
	case first == "index.docker.io":
		ref = "docker.io/" + rest
	}
	if r, ok := strings.CutPrefix(ref, "docker.io/"); ok && !strings.Contains(r, "/") {
		ref = "docker.io/library/" + r
	}
	return strings.ToLower(ref), tag, digest
}
