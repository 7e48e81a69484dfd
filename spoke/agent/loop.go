package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubedevaiops/kubedevaiops/spoke/analyze"
	"github.com/kubedevaiops/kubedevaiops/spoke/execute"
	"github.com/kubedevaiops/kubedevaiops/spoke/guard"
	spoketel "github.com/kubedevaiops/kubedevaiops/spoke/telemetry"
)

// recoveryInterval is how often the executor finishes actions an earlier run left half done.
const recoveryInterval = time.Minute

// startIncidentLoop starts the analyzers, the executor's recovery and the span relay; the
// returned function stops them. kube must read the API server directly (no cache): the guard
// and the executor compare resource versions and read their own writes back.
func (a *Agent) startIncidentLoop(ctx context.Context, cfg *rest.Config, kube client.Client, cache client.Reader) (func(), error) {
	in := a.incidents
	in.log = a.log
	tel, err := spoketel.New(spoketel.Config{ClusterName: a.opts.ClusterName, ServiceVersion: a.opts.Version, Sink: in.spans})
	if err != nil {
		return nil, err
	}
	in.tracer = tel.Tracer()
	if in.guard, err = guard.New(guard.Options{Client: kube, ClusterName: a.opts.ClusterName, Namespace: a.opts.Namespace,
		PinnedKeyIDs: a.opts.PinnedDirectiveKeys, Logger: a.log}); err != nil {
		return nil, fmt.Errorf("directive guard: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	logs := analyze.NewLogSource(cs)
	if in.engine, err = execute.New(kube, execute.Options{Namespace: a.opts.Namespace, Verifier: workloadVerifier{in: analyze.Input{Reader: cache, Logs: logs}},
		Log: logr.FromSlogHandler(a.log.Handler())}); err != nil {
		return nil, fmt.Errorf("remediation executor: %w", err)
	}
	interval := a.opts.AnalyzeInterval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	if in.runner, err = analyze.NewRunner(analyze.RunnerOptions{Reader: cache, Logs: logs, Emit: in.emitFindings, Interval: interval, Logger: a.log}); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	in.ctx = ctx
	wg := &in.wg
	wg.Go(func() {
		if err := in.runner.Run(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("analyzers stopped", "err", err)
		}
	})
	wg.Go(func() {
		if err := in.engine.Run(ctx, recoveryInterval, in.report); err != nil && ctx.Err() == nil {
			a.log.Error("executor recovery stopped", "err", err)
		}
	})
	return func() {
		cancel()
		wg.Wait()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = tel.Shutdown(sctx)
	}, nil
}
