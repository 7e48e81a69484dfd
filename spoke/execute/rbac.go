package execute

import (
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kubedevaiops/kubedevaiops/api/agentrbac"
)

// RequiredRules are the cluster-wide rights the engine needs (agentrbac.Actions); the ledger
// additionally needs LedgerRules in the agent's namespace.
func RequiredRules() []rbacv1.PolicyRule { return agentrbac.Actions() }

// LedgerRules are the rights on the ledger's ConfigMaps, for a Role in Options.Namespace.
func LedgerRules() []rbacv1.PolicyRule { return agentrbac.Ledgers() }
