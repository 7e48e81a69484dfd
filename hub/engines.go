package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/kubedevaiops/kubedevaiops/hub/ai"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/accounting"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/builtin"
	"github.com/kubedevaiops/kubedevaiops/hub/ai/openai"
	"github.com/kubedevaiops/kubedevaiops/hub/secrets"
)

// aiOptions configure the AI engines: the routes per task, which clusters external providers
// may not see, and the OpenAI-compatible provider.
type aiOptions struct {
	Routes                     []string
	ForbidClusters, ForbidSets []string
	OpenAI                     openai.Config
}

// newEngines builds the AI registry: the built-in engine, and the OpenAI-compatible provider
// when --openai-base-url is set, its key read from Vault (provider name as the secret name) or
// none (servers such as Ollama need none).
func newEngines(o aiOptions, vault *secrets.Vault, reg prometheus.Registerer, tp trace.TracerProvider, log *slog.Logger) (*ai.Registry, error) {
	cfg := ai.Config{ExternalForbidden: ai.ExternalPolicy{Clusters: o.ForbidClusters, ClusterSets: o.ForbidSets}}
	for _, r := range o.Routes {
		if err := cfg.SetRoute(r); err != nil {
			return nil, fmt.Errorf("--ai-route %q: %w", r, err)
		}
	}
	var providers []ai.Engine
	if o.OpenAI.BaseURL != "" {
		cache, err := accounting.NewCache(accounting.CacheConfig{}, reg)
		if err != nil {
			return nil, err
		}
		meter, err := accounting.NewMeter(accounting.MeterConfig{}, reg)
		if err != nil {
			return nil, err
		}
		var keys openai.KeySource
		if vault != nil {
			name := o.OpenAI.Name
			if name == "" {
				name = "openai"
			}
			keys = openai.KeyFunc(func(ctx context.Context) (string, error) {
				k, err := vault.Key(ctx, name)
				if err != nil {
					return "", err
				}
				return k.Reveal(), nil
			})
		}
		p, err := openai.New(o.OpenAI, keys, openai.Options{Tracer: tp.Tracer("github.com/kubedevaiops/kubedevaiops/hub/ai/openai"), Logger: log, Cache: cache, Meter: meter})
		if err != nil {
			return nil, fmt.Errorf("--openai-base-url: %w", err)
		}
		providers = append(providers, openai.Engine{Provider: p})
	}
	return ai.NewRegistry(cfg, builtin.New(), providers...)
}
