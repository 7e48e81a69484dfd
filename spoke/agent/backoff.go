package agent

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff grows exponentially with full jitter, so a fleet of spokes that lost the same hub
// member does not come back in one wave.
type backoff struct {
	base, cap, cur time.Duration
}

func newBackoff(base, cap time.Duration) *backoff { return &backoff{base: base, cap: cap, cur: base} }

func (b *backoff) next() time.Duration {
	d := b.cur/2 + rand.N(b.cur/2+1)
	b.cur = min(2*b.cur, b.cap)
	return d
}

func (b *backoff) reset() { b.cur = b.base }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
