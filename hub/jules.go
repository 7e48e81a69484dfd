package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kubedevaiops/kubedevaiops/hub/ai/jules"
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
}

// julesProvider is the Vault key of the Jules API key (KV v2, <mount>/data/<path>/jules).
const julesProvider = "jules"

// newOnboarder wires the onboarding of applications through Jules: a client whose key is read
// from Vault for every call (so a rotated key is picked up), and the tracker and onboarding
// loops the caller runs on the leader.
func newOnboarder(opts julesOptions, vault *secrets.Vault, node *raftnode.Node, fsm *store.Store, plans onboard.Plans, tp trace.TracerProvider, log *slog.Logger) (*onboard.Onboarder, error) {
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
	return onboard.New(onboard.Config{
		Node: node, Store: fsm, Plans: plans, Tracer: tp, Logger: log,
		Jules: jules.TrackerConfig{Client: client, DailyBudget: opts.DailyBudget, PollInterval: opts.PollInterval},
	})
}
