// Package agentrbac lists the Kubernetes rights the spoke agent needs in its cluster: the
// contract between whoever installs the agent (the hub's Cluster API importer, the Helm chart)
// and the agent, whose own tests run it with no more than these.
package agentrbac

import rbacv1 "k8s.io/api/rbac/v1"

var read = []string{"get", "list", "watch"}

// Watch are the rights to read what the inventory and the analyzers watch, cluster-wide, and
// the containers' logs the analyzers quote as evidence.
func Watch() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"nodes", "namespaces", "pods", "services", "events", "persistentvolumeclaims", "endpoints"}, Verbs: read},
		{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets", "daemonsets", "replicasets", "controllerrevisions"}, Verbs: read},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: read},
		{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"}, Verbs: read},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "ingressclasses"}, Verbs: read},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read},
		{APIGroups: []string{"aiops.kubedevaiops.io"}, Resources: []string{"*"}, Verbs: read},
	}
}

// Actions are the cluster-wide rights the remediation executor needs for every action type,
// and for ApplyManifests on ConfigMaps, Services, Deployments, StatefulSets, DaemonSets and
// HPAs (other kinds in manifests need their own get/create/patch/update/delete).
func Actions() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		// Workloads: read, change the template (restart, rollback, resources), restore.
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets", "daemonsets"},
			Verbs: []string{"get", "list", "create", "patch", "update", "delete"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale", "statefulsets/scale"}, Verbs: []string{"update"}},
		// Rollback reads the revisions; DeletePod's verification reads the owning ReplicaSet.
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets", "controllerrevisions"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "delete"}},
		{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"},
			Verbs: []string{"get", "list", "create", "patch", "update", "delete"}},
		// ApplyManifests' common kinds.
		{APIGroups: []string{""}, Resources: []string{"configmaps", "services"}, Verbs: []string{"get", "create", "patch", "update", "delete"}},
	}
}

// Ledgers are the rights, in the agent's namespace, on the ConfigMaps where the directive guard
// keeps its replay ledger and the executor one record per action.
func Ledgers() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "create", "update", "delete"}},
	}
}
