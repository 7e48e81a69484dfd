package execute

import (
	"context"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// executor turns one action type's directive into a change. prepare decodes the parameters,
// loads the target and checks the action's preconditions; it changes nothing.
type executor interface {
	prepare(ctx context.Context, env *env, d *fleetv1.DirectivePayload) (*change, error)
}

// change is a prepared action: what it saves, and how to dry-run, apply and check it.
type change struct {
	timeout, stable time.Duration
	// before is reported as before_json.
	before any
	// saved is what restore brings back when verification fails (persisted in the ledger).
	saved []savedObject
	// dryRun sends the change with dryRun=All and returns the server's result.
	dryRun func(ctx context.Context) (any, error)
	// apply writes the change and returns the objects as written.
	apply func(ctx context.Context) (any, error)
	// check probes once whether the change took effect; done=false with a detail means "not
	// yet"; an error means verification cannot succeed any more.
	check func(ctx context.Context) (done bool, detail string, err error)
}

// env is what executors share.
type env struct {
	c            client.Client
	fieldManager string
	maxReplicas  int64
	now          func() time.Time
}
