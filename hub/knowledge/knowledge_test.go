package knowledge

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	hubv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/hub/v1alpha1"
	aiopsv1alpha1 "github.com/kubedevaiops/kubedevaiops/api/v1alpha1"
)

const sig = "pod/CrashLoopBackOff:1a2b3c4d5e6f"

func entry(signature string, a aiopsv1alpha1.ActionType, s, f int64) hubv1alpha1.KnowledgeEntry {
	e := NewEntry(signature, a)
	e.Spec.Successes, e.Spec.Failures = s, f
	return e
}

func TestBetaMoments(t *testing.T) {
	tests := []struct {
		name      string
		b         Beta
		mean      float64
		p, wantQ  float64
		x, wantCD float64
	}{
		{"uniform", Beta{1, 1}, 0.5, 0.1, 0.1, 0.3, 0.3},
		{"beta(2,1): cdf x^2", Beta{2, 1}, 2.0 / 3, 0.25, 0.5, 0.5, 0.25},
		{"beta(1,2): cdf 1-(1-x)^2", Beta{1, 2}, 1.0 / 3, 0.75, 0.5, 0.5, 0.75},
		{"beta(1,3): cdf 1-(1-x)^3", Beta{1, 3}, 0.25, 0.875, 0.5, 0.5, 0.875},
		{"beta(5,5) symmetric", Beta{5, 5}, 0.5, 0.5, 0.5, 0.5, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, tt.b.Validate())
			assert.InDelta(t, tt.mean, tt.b.Mean(), 1e-12)
			assert.InDelta(t, tt.wantQ, tt.b.Quantile(tt.p), 1e-9)
			assert.InDelta(t, tt.wantCD, tt.b.CDF(tt.x), 1e-9)
		})
	}
	// For integer a, b: I_x(a, b) = P(Binomial(a+b-1, x) >= a), an independent check.
	for _, ab := range [][2]int{{30, 10}, {3, 7}, {1, 20}, {12, 2}} {
		b := Beta{float64(ab[0]), float64(ab[1])}
		for _, x := range []float64{0.05, 0.2, 0.5, 0.7, 0.95} {
			assert.InDelta(t, binomialTail(ab[0]+ab[1]-1, ab[0], x), b.CDF(x), 1e-10, "I_%v(%v)", x, ab)
		}
		lb := b.LowerBound(0.9)
		assert.InDelta(t, 0.1, b.CDF(lb), 1e-9)
		assert.Less(t, lb, b.Mean())
	}
	assert.Error(t, Beta{0, 1}.Validate())
	assert.Error(t, Beta{1, -1}.Validate())
}

// binomialTail is P(X >= k) for X ~ Binomial(n, p).
func binomialTail(n, k int, p float64) float64 {
	sum := 0.0
	for j := k; j <= n; j++ {
		c := 1.0
		for i := 1; i <= j; i++ {
			c = c * float64(n-j+i) / float64(i)
		}
		sum += c * math.Pow(p, float64(j)) * math.Pow(1-p, float64(n-j))
	}
	return sum
}

func TestPriorFrom(t *testing.T) {
	b := PriorFrom(0.8, 2)
	assert.InDelta(t, 1.6, b.Alpha, 1e-12)
	assert.InDelta(t, 0.4, b.Beta, 1e-12)
	assert.InDelta(t, 0.8, b.Mean(), 1e-12)
	assert.InDelta(t, 0.99, PriorFrom(1.5, 0).Mean(), 1e-12, "clamped")
	assert.InDelta(t, DefaultPriorStrength, PriorFrom(0.5, -1).Alpha*2, 1e-12, "default strength")
}

func TestRank(t *testing.T) {
	cands := []Candidate{
		{ActionType: aiopsv1alpha1.ActionRestartWorkload, Prior: 0.3},
		{ActionType: aiopsv1alpha1.ActionRollbackWorkload, Prior: 0.85},
		{ActionType: aiopsv1alpha1.ActionDeletePod, Prior: 0.25},
	}
	order := func(rs []Ranked) []aiopsv1alpha1.ActionType {
		var out []aiopsv1alpha1.ActionType
		for _, r := range rs {
			out = append(out, r.ActionType)
		}
		return out
	}
	tests := []struct {
		name    string
		entries []hubv1alpha1.KnowledgeEntry
		opts    Options
		want    []aiopsv1alpha1.ActionType
		unsafe  []bool
	}{
		{
			name: "no knowledge: by prior",
			want: []aiopsv1alpha1.ActionType{"RollbackWorkload", "RestartWorkload", "DeletePod"},
		},
		{
			name:    "a fix that worked elsewhere is promoted",
			entries: []hubv1alpha1.KnowledgeEntry{entry(sig, aiopsv1alpha1.ActionDeletePod, 10, 0)},
			want:    []aiopsv1alpha1.ActionType{"DeletePod", "RollbackWorkload", "RestartWorkload"},
		},
		{
			name:    "a fix that failed is demoted below the floor and marked unsafe",
			entries: []hubv1alpha1.KnowledgeEntry{entry(sig, aiopsv1alpha1.ActionRollbackWorkload, 0, 4)},
			want:    []aiopsv1alpha1.ActionType{"RestartWorkload", "DeletePod", "RollbackWorkload"},
			unsafe:  []bool{false, false, true},
		},
		{
			name:    "unsafe dropped on request",
			entries: []hubv1alpha1.KnowledgeEntry{entry(sig, aiopsv1alpha1.ActionRollbackWorkload, 0, 4)},
			opts:    Options{DropUnsafe: true},
			want:    []aiopsv1alpha1.ActionType{"RestartWorkload", "DeletePod"},
		},
		{
			name: "below the floor with fewer than K observations stays safe",
			// Restart: Beta(0.6,1.4)+1 failure -> mean 0.2 < 0.3, but only 1 observation.
			entries: []hubv1alpha1.KnowledgeEntry{entry(sig, aiopsv1alpha1.ActionRestartWorkload, 0, 1)},
			want:    []aiopsv1alpha1.ActionType{"RollbackWorkload", "DeletePod", "RestartWorkload"},
			unsafe:  []bool{false, false, false},
		},
		{
			name:    "a negative floor disables it",
			entries: []hubv1alpha1.KnowledgeEntry{entry(sig, aiopsv1alpha1.ActionRollbackWorkload, 0, 4)},
			opts:    Options{Floor: -1},
			// Rollback: Beta(1.7, 0.3) + 4 failures -> mean 0.283, between Restart and DeletePod.
			want:   []aiopsv1alpha1.ActionType{"RestartWorkload", "RollbackWorkload", "DeletePod"},
			unsafe: []bool{false, false, false},
		},
		{
			name:    "entries of another signature do not count",
			entries: []hubv1alpha1.KnowledgeEntry{entry("pod/OOMKilled", aiopsv1alpha1.ActionDeletePod, 50, 0)},
			want:    []aiopsv1alpha1.ActionType{"RollbackWorkload", "RestartWorkload", "DeletePod"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Rank(sig, cands, tt.entries, tt.opts)
			assert.Equal(t, tt.want, order(got))
			for i, u := range tt.unsafe {
				assert.Equal(t, u, got[i].Unsafe, "unsafe of %s", got[i].ActionType)
			}
			for _, r := range got {
				assert.Equal(t, cands[r.Index].ActionType, r.ActionType)
				assert.InDelta(t, r.Posterior.Mean(), r.Confidence, 1e-6)
				assert.Less(t, r.LowerBound, r.Confidence)
			}
		})
	}
}

func TestRankTiesAndEntryOrder(t *testing.T) {
	// Equal candidates: by action type, then by input position.
	cands := []Candidate{
		{ActionType: aiopsv1alpha1.ActionRestartWorkload},
		{ActionType: aiopsv1alpha1.ActionDeletePod},
		{ActionType: aiopsv1alpha1.ActionDeletePod},
	}
	got := Rank(sig, cands, nil, Options{})
	require.Len(t, got, 3)
	assert.Equal(t, []int{1, 2, 0}, []int{got[0].Index, got[1].Index, got[2].Index})
	assert.Equal(t, 0.5, got[0].Confidence, "uniform prior")

	// Split entries for the same pair are summed, whatever their order.
	a := entry(sig, aiopsv1alpha1.ActionDeletePod, 2, 1)
	b := entry(sig, aiopsv1alpha1.ActionDeletePod, 1, 0)
	b.Name = "other"
	r1 := Rank(sig, cands, []hubv1alpha1.KnowledgeEntry{a, b}, Options{})
	r2 := Rank(sig, cands, []hubv1alpha1.KnowledgeEntry{b, a}, Options{})
	assert.Equal(t, r1, r2)
	assert.Equal(t, int64(3), r1[0].Successes)
	assert.Equal(t, int64(1), r1[0].Failures)
	assert.InDelta(t, 4.0/6, r1[0].Confidence, 1e-6, "Beta(1+3, 1+1)")
}

func TestRecordRaisesConfidenceElsewhere(t *testing.T) {
	cands := []Candidate{{ActionType: aiopsv1alpha1.ActionRollbackWorkload, Prior: 0.85}}
	before := Rank(sig, cands, nil, Options{})[0].Confidence

	// Cluster A's rollback is verified: the same signature in cluster B gets a higher confidence.
	e := Record(NewEntry(sig, aiopsv1alpha1.ActionRollbackWorkload), true, time.Unix(100, 0))
	after := Rank(sig, cands, []hubv1alpha1.KnowledgeEntry{e}, Options{})[0].Confidence
	assert.Greater(t, after, before)

	// Two failures later it is demoted below where it started.
	e = Record(Record(e, false, time.Unix(200, 0)), false, time.Unix(300, 0))
	demoted := Rank(sig, cands, []hubv1alpha1.KnowledgeEntry{e}, Options{})[0].Confidence
	assert.Less(t, demoted, before)
}

func TestRecord(t *testing.T) {
	t1 := time.Date(2026, 12, 1, 10, 0, 0, 500, time.FixedZone("x", 3600))
	orig := entry(sig, aiopsv1alpha1.ActionRollbackWorkload, 2, 1)
	orig.Name = ""

	got := Record(orig, true, t1)
	assert.Equal(t, int64(3), got.Spec.Successes)
	assert.Equal(t, int64(1), got.Spec.Failures)
	require.NotNil(t, got.Spec.LastOutcomeTime)
	assert.True(t, got.Spec.LastOutcomeTime.Equal(&metav1.Time{Time: t1.Truncate(time.Second)}))
	assert.Equal(t, EntryName(sig, aiopsv1alpha1.ActionRollbackWorkload), got.Name)
	assert.Equal(t, int64(2), orig.Spec.Successes, "input untouched")
	assert.Nil(t, orig.Spec.LastOutcomeTime, "input untouched")

	failed := Record(got, false, t1.Add(-time.Hour))
	assert.Equal(t, int64(2), failed.Spec.Failures)
	assert.True(t, failed.Spec.LastOutcomeTime.Equal(got.Spec.LastOutcomeTime), "an older outcome keeps the latest time")
	assert.Equal(t, t1.UTC().Truncate(time.Second), got.Spec.LastOutcomeTime.Time, "stored in UTC")

	later := Record(failed, false, t1.Add(time.Hour))
	assert.Equal(t, t1.Add(time.Hour).UTC().Truncate(time.Second), later.Spec.LastOutcomeTime.Time)
}

func TestEntryName(t *testing.T) {
	n := EntryName(sig, aiopsv1alpha1.ActionRollbackWorkload)
	assert.Equal(t, n, EntryName(sig, aiopsv1alpha1.ActionRollbackWorkload), "stable")
	assert.Regexp(t, `^rollbackworkload-[0-9a-f]{20}$`, n)
	assert.NotEqual(t, n, EntryName(sig+"x", aiopsv1alpha1.ActionRollbackWorkload))
	assert.NotEqual(t, n, EntryName(sig, aiopsv1alpha1.ActionRestartWorkload))
	// The separator keeps ("ab", "c") and ("a", "bc") apart.
	assert.NotEqual(t, EntryName("ab", "C"), EntryName("a", "BC")[len("bc-"):])

	for _, in := range []struct{ sig, action string }{
		{"", ""}, {sig, "Weird Action/Type_ü!"}, {"x", "ScaleWorkloadScaleWorkloadScaleWorkloadScaleWorkload"},
	} {
		name := EntryName(in.sig, aiopsv1alpha1.ActionType(in.action))
		assert.Empty(t, validation.IsDNS1123Subdomain(name), name)
		assert.Empty(t, validation.IsDNS1123Label(name), name)
	}
	assert.Regexp(t, `^action-`, EntryName("", ""))
}
