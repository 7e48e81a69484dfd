package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kubedevaiops/kubedevaiops/hub/ai/jules"
	"github.com/kubedevaiops/kubedevaiops/hub/codefix"
	"github.com/kubedevaiops/kubedevaiops/hub/onboard"
	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/secrets"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
)

// julesOptions configure the Google Jules provider.
type julesOptions struct {
	BaseURL      string
	DailyBudget  int
	PollInterval time.Duration
	// CodeFixes asks Jules for code-level fixes of incidents rooted in an application's code.
	CodeFixes bool
}

// julesProvider is the Vault key of the Jules API key (KV v2, <mount>/data/<path>/jules).
const julesProvider = "jules"

// julesLoops are the leader loops of the work done through Jules.
type julesLoops struct {
	tracker   *jules.Tracker
	onboarder *onboard.Onboarder
	fixer     *codefix.Fixer
}

// newJulesLoops wires the Jules provider: a client whose key is read from Vault for every call
// (so a rotated key is picked up), the tracker of the sessions, the onboarding of applications
// and the code-fix proposals for incidents; the caller runs their loops on the leader.
func newJulesLoops(opts julesOptions, vault *secrets.Vault, node *raftnode.Node, fsm *store.Store, plans onboard.Plans, tp trace.TracerProvider, log *slog.Logger) (*julesLoops, error) {
	key := jules.KeyFunc(func(ctx context.Context) (string, error) {
		s, err := vault.Key(ctx, julesProvider)
		if err != nil {
			return "", err
		}
		return s.Reveal(), nil
	})
	client, err := jules.New(jules.Config{BaseURL: opts.BaseURL, Key: key, Tracer: tp.Tracer("github.com/kubedevaiops/kubedevaiops/hub/ai/jules"), Logger: log})
	if err != nil {
		return nil, fmt.Errorf("--jules-base-url: %w", err)
	}
	tracker, err := jules.NewTracker(jules.TrackerConfig{Client: client, Node: node, Store: fsm, DailyBudget: opts.DailyBudget, PollInterval: opts.PollInterval,
		Tracer: tp.Tracer("github.com/kubedevaiops/kubedevaiops/hub/ai/jules"), Logger: log.With("component", "jules")})
	if err != nil {
		return nil, err
	}
	l := &julesLoops{tracker: tracker}
	if l.onboarder, err = onboard.New(onboard.Config{Node: node, Store: fsm, Plans: plans, Tracker: tracker, Tracer: tp, Logger: log}); err != nil {
		return nil, err
	}
	if opts.CodeFixes {
		if l.fixer, err = codefix.New(codefix.Config{Node: node, Store: fsm, Tracker: tracker, Policies: plans, Tracer: tp, Logger: log}); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// run starts the loops on node's leader.
func (l *julesLoops) run(node *raftnode.Node) {
	node.RunWhileLeader("jules-sessions", l.tracker.Run)
	node.RunWhileLeader("onboarding", l.onboarder.Run)
	if l.fixer != nil {
		node.RunWhileLeader("code-fixes", l.fixer.Run)
	}
}
