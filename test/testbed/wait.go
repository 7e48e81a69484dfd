package testbed

import (
	"testing"
	"time"
)

// Eventually polls check every 200 ms until it returns nil, failing the test with the last
// error after timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		last := check()
		if last == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
