package store

import (
	"runtime"
	"sync"
)

// Strictly decoding and re-encoding an object recurses through the large frames of
// sigs.k8s.io/json and encoding/json. On the fresh goroutine gRPC gives each request, that grows
// and copies the stack every time (the hub profile showed this costing about as much CPU as
// the decode's own work). A few long-lived goroutines keep stacks that have grown already.

type warmJob struct {
	f    func()
	done chan struct{}
}

var (
	warmOnce sync.Once
	warmJobs chan *warmJob
)

// onWarmStack runs f on a long-lived goroutine when one is idle, else on the caller's, and
// returns when f has.
func onWarmStack(f func()) {
	warmOnce.Do(func() {
		warmJobs = make(chan *warmJob) // unbuffered: a send succeeds only when a worker waits
		for range runtime.GOMAXPROCS(0) {
			go func() {
				for j := range warmJobs {
					j.f()
					close(j.done)
				}
			}()
		}
	})
	j := &warmJob{f: f, done: make(chan struct{})}
	select {
	case warmJobs <- j:
		<-j.done
	default:
		f()
	}
}
