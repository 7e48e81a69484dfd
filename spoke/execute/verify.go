package execute

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// verify polls the change's check (and the Verifier) until it has held for the stability window,
// or fails when the timeout passes first or a check reports it cannot succeed.
func (x *execution) verify(ctx context.Context) (string, error) {
	ch := x.ch
	ctx, cancel := context.WithTimeout(ctx, ch.timeout)
	defer cancel()
	t := time.NewTicker(x.e.opts.PollInterval)
	defer t.Stop()
	var healthySince time.Time
	last := "no check completed"
	var lastErr error
	for {
		ok, detail, err := ch.check(ctx)
		if err == nil && ok && x.e.opts.Verifier != nil {
			var fixed bool
			var vdetail string
			fixed, vdetail, err = x.e.opts.Verifier.Verify(ctx, x.d)
			if err == nil {
				ok = fixed
				if vdetail != "" {
					detail += "; " + vdetail
				}
			}
		}
		var definite *failure
		switch {
		case errors.As(err, &definite):
			return "", err
		case err != nil:
			// API hiccups are retried until the deadline.
			lastErr, healthySince = err, time.Time{}
		default:
			last, lastErr = detail, nil
			switch {
			case !ok:
				healthySince = time.Time{}
			case healthySince.IsZero():
				healthySince = time.Now()
			}
			if ok && time.Since(healthySince) >= ch.stable {
				return detail, nil
			}
		}
		select {
		case <-ctx.Done():
			if cause := context.Cause(ctx); cause != nil && cause != context.DeadlineExceeded {
				return "", cause
			}
			if lastErr != nil {
				last += fmt.Sprintf(" (last check failed: %v)", lastErr)
			}
			return "", fail(ReasonVerificationFailed, "not verified within %s: %s", ch.timeout, last)
		case <-t.C:
		}
	}
}
