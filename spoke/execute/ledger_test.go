package execute

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// A directive delivered several times at once, to two agents' engines, acts once; later
// deliveries, to a new engine as after an agent restart, return the recorded result.
func TestDuplicateDirectiveActsOnce(t *testing.T) {
	t.Parallel()
	c := kube(t)
	ns := namespace(t, c)
	ctx := testContext(t)
	d := newDeployment(t, c, ns, "web", 1, "web:1", false)
	dir := directive("RestartWorkload", ref(t, c, d, true), map[string]string{"verifyStableFor": "1s"})
	engines := []*Engine{engine(t, c, ns, nil), engine(t, c, ns, nil)}

	const deliveries = 4
	recs := make([]*recorder, deliveries)
	results := make([]*fleetv1.ActionStatus, deliveries)
	var wg sync.WaitGroup
	for i := range deliveries {
		recs[i] = &recorder{}
		wg.Go(func() { results[i] = engines[i%2].Execute(ctx, dir, recs[i].report) })
	}
	wg.Wait()

	acted := 0
	for i := range deliveries {
		if len(recs[i].got()) > 0 {
			acted++
			requirePhase(t, results[i], phaseSucceeded, ReasonVerified)
			require.Equal(t, success, recs[i].got())
		} else if results[i].GetPhase() != phaseSucceeded {
			require.Equal(t, ReasonInProgress, results[i].GetReason(), results[i].GetMessage())
		}
	}
	require.Equal(t, 1, acted, "exactly one delivery acted")
	after := get(t, c, d)
	require.Equal(t, d.Generation+1, after.Generation, "the template changed once")

	rec := &recorder{}
	again := engine(t, c, ns, nil).Execute(ctx, dir, rec.report)
	requirePhase(t, again, phaseSucceeded, ReasonVerified)
	require.Empty(t, rec.got(), "a duplicate does nothing")
	require.Equal(t, after.ResourceVersion, get(t, c, d).ResourceVersion)
	require.NotEmpty(t, again.AfterJson, "the recorded result keeps before / after")
}

// While an action verifies, a duplicate is told it is in progress, in its current phase.
func TestDuplicateWhileInProgress(t *testing.T) {
	t.Parallel()
	c := kube(t)
	ns := namespace(t, c)
	ctx := testContext(t)
	d := newDeployment(t, c, ns, "web", 1, "web:1", false)
	reached, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	e := engine(t, c, ns, func(o *Options) {
		o.Verifier = VerifierFunc(func(ctx context.Context, _ *fleetv1.DirectivePayload) (bool, string, error) {
			once.Do(func() { close(reached) })
			select {
			case <-release:
				return true, "finding gone", nil
			case <-ctx.Done():
				return false, "", ctx.Err()
			}
		})
	})
	dir := directive("ScaleWorkload", ref(t, c, d, false), map[string]string{"replicas": "2", "verifyStableFor": "1s"})
	done := make(chan *fleetv1.ActionStatus, 1)
	go func() { done <- e.Execute(ctx, dir, nil) }()
	<-reached

	dup := engine(t, c, ns, nil).Execute(ctx, dir, nil)
	require.Equal(t, phaseVerifying.String(), dup.GetPhase().String())
	require.Equal(t, ReasonInProgress, dup.GetReason())

	close(release)
	st := <-done
	requirePhase(t, st, phaseSucceeded, ReasonVerified)
	require.Contains(t, st.Message, "finding gone")
	require.Equal(t, int32(2), *get(t, c, d).Spec.Replicas)
}

// An agent that stops mid-verification leaves its entry in progress; once its lease has run out,
// the next delivery (or the upkeep loop) restores the saved state and reports ROLLED_BACK.
func TestInterruptedActionIsRestored(t *testing.T) {
	t.Parallel()
	c := kube(t)
	for _, via := range []string{"redelivery", "upkeep"} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t, c)
			d := newDeployment(t, c, ns, "web", 1, "web:1", false)
			dir := directive("RestartWorkload", ref(t, c, d, true), map[string]string{"verifyStableFor": "1s"})

			// The first agent applies, then stops while verifying.
			agentCtx, stopAgent := context.WithCancel(testContext(t))
			reached := make(chan struct{})
			var once sync.Once
			first := engine(t, c, ns, func(o *Options) {
				o.Verifier = VerifierFunc(func(ctx context.Context, _ *fleetv1.DirectivePayload) (bool, string, error) {
					once.Do(func() { close(reached) })
					<-ctx.Done()
					return false, "", ctx.Err()
				})
			})
			done := make(chan *fleetv1.ActionStatus, 1)
			go func() { done <- first.Execute(agentCtx, dir, nil) }()
			<-reached
			stopAgent()
			requirePhase(t, <-done, phaseFailed, ReasonInterrupted)
			require.NotEmpty(t, get(t, c, d).Spec.Template.Annotations[RestartedAtAnnotation], "the change was applied")

			// Within the lease, the entry still belongs to the stopped agent.
			st := engine(t, c, ns, nil).Execute(testContext(t), dir, nil)
			require.Equal(t, ReasonInProgress, st.GetReason())

			// After it, the next agent restores the saved state.
			later := engine(t, c, ns, func(o *Options) { o.Clock = func() time.Time { return time.Now().Add(time.Minute) } })
			rec := &recorder{}
			if via == "redelivery" {
				st = later.Execute(testContext(t), dir, rec.report)
			} else {
				require.NoError(t, later.Maintain(testContext(t), rec.report))
				st = engine(t, c, ns, nil).Execute(testContext(t), dir, nil) // now the recorded result
			}
			requirePhase(t, st, phaseRolledBack, ReasonInterrupted)
			require.Equal(t, []fleetv1.ActionPhase{phaseRolledBack}, rec.got())
			restored := get(t, c, d)
			require.Empty(t, restored.Spec.Template.Annotations[RestartedAtAnnotation])
			require.Equal(t, d.Spec.Template, restored.Spec.Template)
			require.NotEmpty(t, st.BeforeJson)
		})
	}
}

// Entries are ConfigMaps in the agent's namespace; upkeep drops final ones after their retention
// and beyond MaxEntries.
func TestLedgerUpkeep(t *testing.T) {
	t.Parallel()
	c := kube(t)
	ns := namespace(t, c)
	ctx := testContext(t)
	d := newDeployment(t, c, ns, "web", 1, "web:1", false)
	e := engine(t, c, ns, func(o *Options) { o.Retention = time.Minute })
	for i := range 4 {
		dir := directive("ScaleWorkload", ref(t, c, d, false), map[string]string{"replicas": "2"})
		dir.DryRun = true
		dir.ExpiresAt = timestamppb.New(time.Now().Add(time.Duration(i+1) * time.Hour))
		requirePhase(t, e.Execute(ctx, dir, nil), phaseDryRun, "")
		var cm corev1.ConfigMap
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ledgerName(dir.ActionId)}, &cm))
		require.Equal(t, dir.ActionId, cm.Annotations[ActionIDAnnotation])
		require.Equal(t, LedgerLabelValue, cm.Labels[LedgerLabel])
	}
	count := func() int {
		var list corev1.ConfigMapList
		require.NoError(t, c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{LedgerLabel: LedgerLabelValue}))
		return len(list.Items)
	}
	require.Equal(t, 4, count())

	capped := engine(t, c, ns, func(o *Options) { o.MaxEntries = 3 })
	require.NoError(t, capped.Maintain(ctx, nil))
	require.Equal(t, 3, count(), "beyond MaxEntries the entries due soonest go")

	// 2h30m later the directives expiring at +1h and +2h are past expiry and retention.
	later := engine(t, c, ns, func(o *Options) {
		o.Retention = time.Minute
		o.Clock = func() time.Time { return time.Now().Add(150 * time.Minute) }
	})
	require.NoError(t, later.Maintain(ctx, nil))
	require.Equal(t, 2, count())
}

// Without a ledger there is no idempotency: the engine refuses to act.
func TestLedgerUnavailable(t *testing.T) {
	t.Parallel()
	c := kube(t)
	ns := namespace(t, c)
	d := newDeployment(t, c, ns, "web", 1, "web:1", false)

	st := engine(t, c, "no-such-namespace", nil).Execute(testContext(t), directive("ScaleWorkload", ref(t, c, d, false), map[string]string{"replicas": "2"}), nil)

	requirePhase(t, st, phaseFailed, ReasonLedgerUnavailable)
	require.Equal(t, d.ResourceVersion, get(t, c, d).ResourceVersion)
}
