package analyze

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// EmitFunc sends findings to the hub. An error makes the Runner send the same changes again
// on its next cycle.
type EmitFunc func(ctx context.Context, findings []*fleetv1.Finding) error

// RunnerOptions configure a Runner.
type RunnerOptions struct {
	// Reader is the agent's cache; required.
	Reader client.Reader
	// Logs serves log evidence; nil leaves log evidence saying logs are unavailable.
	Logs LogSource
	// Emit receives new, changed and resolved findings; required.
	Emit EmitFunc
	// Analyzers default to Default().
	Analyzers []Analyzer
	// Interval between analysis cycles; default 30s.
	Interval time.Duration
	// ResendInterval is how often every active finding is sent again even when unchanged, so a
	// hub that lost some catches up; default 10m, negative never.
	ResendInterval time.Duration
	// MaxTracked caps the active findings held; default 5000 (a finding's evidence is bounded,
	// a few KiB to about 20 KiB). At the cap a finding on an
	// object and signature not yet tracked is dropped (not sent, counted in Stats) until
	// tracked ones resolve; tracked findings keep being updated, resent and resolved.
	MaxTracked int
	// MaxBatch caps the findings of one Emit call; default 50.
	MaxBatch int
	// Logger; default discards.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Runner runs the analyzers every interval and reports what changed.
type Runner struct {
	opts RunnerOptions
	log  *slog.Logger
	poke chan struct{}

	resend atomic.Bool // set by ResendAll without waiting for a cycle to end

	mu         sync.Mutex // one cycle at a time; guards the fields below
	tracked    map[trackKey]*tracked
	lastResend time.Time
	scales     *scaleHistory
	prevLogs   *previousLogs

	statsMu sync.Mutex
	stats   Stats
}

type trackKey struct{ uid, signature string }

type tracked struct {
	first   time.Time
	current *fleetv1.Finding
	digest  string // of current's content
	sent    string // digest last emitted; empty before the first emit
	gone    bool   // no longer observed: to be sent resolved, then forgotten
}

// Stats count what the Runner did, for metrics and tests.
type Stats struct {
	// Cycles run, and analyzer runs that failed.
	Cycles, AnalyzerErrors uint64
	// Active is the number of findings tracked now.
	Active int
	// Dropped counts findings not tracked because MaxTracked was reached.
	Dropped uint64
}

// NewRunner checks the options and returns a Runner; Run starts it.
func NewRunner(opts RunnerOptions) (*Runner, error) {
	if opts.Reader == nil {
		return nil, errors.New("analyze runner: a Reader is required")
	}
	if opts.Emit == nil {
		return nil, errors.New("analyze runner: an Emit function is required")
	}
	if opts.Analyzers == nil {
		opts.Analyzers = Default()
	}
	opts.Interval = or(opts.Interval, 30*time.Second)
	opts.ResendInterval = or(opts.ResendInterval, 10*time.Minute)
	opts.MaxTracked = or(opts.MaxTracked, 5000)
	opts.MaxBatch = or(opts.MaxBatch, 50)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{opts: opts, log: log, poke: make(chan struct{}, 1), tracked: map[trackKey]*tracked{},
		scales: newScaleHistory(opts.MaxTracked), prevLogs: newPreviousLogs()}, nil
}

// Run analyzes every interval until ctx ends. A failed Emit is logged and retried next cycle.
func (r *Runner) Run(ctx context.Context) error {
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	for {
		if err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("findings not sent; retrying next cycle", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.poke:
		}
	}
}

// ResendAll makes the next cycle, started at once when Run is running, send every active
// finding; call it when a new stream to the hub opens.
func (r *Runner) ResendAll() {
	r.resend.Store(true)
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

// Stats returns the Runner's counters.
func (r *Runner) Stats() Stats {
	r.statsMu.Lock()
	defer r.statsMu.Unlock()
	return r.stats
}

func (r *Runner) count(f func(*Stats)) {
	r.statsMu.Lock()
	f(&r.stats)
	r.stats.Active = len(r.tracked)
	r.statsMu.Unlock()
}

// RunOnce runs every analyzer once and emits what is new, changed or resolved (everything
// active when a resend is due). It returns the Emit error, if any.
func (r *Runner) RunOnce(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Now()
	in := Input{Reader: r.opts.Reader, Logs: r.opts.Logs, Now: now, scales: r.scales, prevLogs: r.prevLogs}.withEventIndex()
	defer r.prevLogs.endCycle()
	r.scales.observe(ctx, in)
	r.count(func(s *Stats) { s.Cycles++ })
	defer r.count(func(*Stats) {})

	seen := map[trackKey]bool{}
	ok := map[string]bool{}
	for _, a := range r.opts.Analyzers {
		fs, err := runAnalyzer(ctx, a, in)
		if err != nil {
			r.count(func(s *Stats) { s.AnalyzerErrors++ })
			r.log.Warn("analyzer failed; its findings stay as they were", "analyzer", a.Name(), "err", err)
			continue
		}
		ok[a.Name()] = true
		for _, f := range fs {
			k := trackKey{f.GetObject().GetUid(), f.Signature}
			if seen[k] {
				continue
			}
			seen[k] = true
			t := r.tracked[k]
			if t == nil {
				if len(r.tracked) >= r.opts.MaxTracked {
					r.count(func(s *Stats) { s.Dropped++ })
					continue
				}
				t = &tracked{first: now}
				r.tracked[k] = t
			}
			f.FirstObservedAt = timestamppb.New(t.first)
			t.current, t.digest, t.gone = f, digest(f), false
		}
	}
	for k, t := range r.tracked {
		if !seen[k] && ok[t.current.Analyzer] {
			t.gone = true
		}
	}
	resend := r.resend.Swap(false) || r.opts.ResendInterval > 0 && now.Sub(r.lastResend) >= r.opts.ResendInterval

	var keys []trackKey
	for k, t := range r.tracked {
		if t.gone || resend || t.digest != t.sent {
			keys = append(keys, k)
		}
	}
	// Resolutions first (they free room), then by signature and object, so batches are stable.
	sort.Slice(keys, func(i, j int) bool {
		a, b := r.tracked[keys[i]], r.tracked[keys[j]]
		if a.gone != b.gone {
			return a.gone
		}
		if keys[i].signature != keys[j].signature {
			return keys[i].signature < keys[j].signature
		}
		return keys[i].uid < keys[j].uid
	})
	for start := 0; start < len(keys); start += r.opts.MaxBatch {
		end := min(start+r.opts.MaxBatch, len(keys))
		batch := make([]*fleetv1.Finding, 0, end-start)
		for _, k := range keys[start:end] {
			t := r.tracked[k]
			f := t.current
			if t.gone {
				f = proto.Clone(t.current).(*fleetv1.Finding)
				f.Resolved = true
				f.ObservedAt = timestamppb.New(now)
			}
			batch = append(batch, f)
		}
		if err := r.opts.Emit(ctx, batch); err != nil {
			if resend {
				r.resend.Store(true)
			}
			return fmt.Errorf("emit %d findings: %w", len(batch), err)
		}
		for _, k := range keys[start:end] {
			t := r.tracked[k]
			if t.gone {
				delete(r.tracked, k)
			} else {
				t.sent = t.digest
			}
		}
	}
	if resend {
		r.lastResend = now
	}
	return nil
}

// runAnalyzer runs one analyzer, turning a panic into an error so the others still run.
func runAnalyzer(ctx context.Context, a Analyzer, in Input) (fs []*fleetv1.Finding, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("analyzer %s panicked: %v", a.Name(), p)
		}
	}()
	return a.Analyze(ctx, in)
}

// digest identifies a finding's content, leaving out what changes without the problem
// changing: observation times, resource versions, and event and log evidence (events count up
// and logs grow while the problem stays the same; both travel with the finding whenever it is
// sent for another reason, and with the periodic resend).
func digest(f *fleetv1.Finding) string {
	c := proto.Clone(f).(*fleetv1.Finding)
	c.ObservedAt, c.FirstObservedAt = nil, nil
	if c.Object != nil {
		c.Object.ResourceVersion = ""
	}
	kept := c.Evidence[:0]
	for _, e := range c.Evidence {
		if e.Type == EvidenceEvent || e.Type == EvidenceLog {
			continue
		}
		e.ObservedAt = nil
		if e.Source != nil {
			e.Source.ResourceVersion = ""
		}
		kept = append(kept, e)
	}
	c.Evidence = kept
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
