package execute

import rbacv1 "k8s.io/api/rbac/v1"

// RequiredRules are the cluster-wide rights the engine needs for every action type, and for
// ApplyManifests on ConfigMaps, Services, Deployments, StatefulSets, DaemonSets and HPAs (other
// kinds in manifests need their own get/create/patch/update/delete). The ledger additionally
// needs LedgerRules in the agent's namespace.
func RequiredRules() []rbacv1.PolicyRule {
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

// LedgerRules are the rights on the ledger's ConfigMaps, for a Role in Options.Namespace.
func LedgerRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "create", "update", "delete"}},
	}
}
