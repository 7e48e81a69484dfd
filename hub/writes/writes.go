// Package writes commits many independent store commands at once for the hub's controllers.
//
// It submits each command on its own and lets the member's batcher pack the concurrent ones
// into shared Raft entries; a Batch command must not be submitted itself, since the batcher
// packs submissions into batches and batches do not nest.
package writes

import (
	"context"
	"fmt"
	"sync"

	"github.com/kubedevaiops/kubedevaiops/hub/raftnode"
	"github.com/kubedevaiops/kubedevaiops/hub/store"
)

// parallel bounds the commands in flight from one call; the batcher packs up to 256 per entry.
const parallel = 256

// Commit applies every command and returns one error per command: nil when it was applied,
// else the store's refusal (errors.Is-comparable with the store's sentinels) or the Raft error.
func Commit(ctx context.Context, node *raftnode.Node, cmds [][]byte) []error {
	errs := make([]error, len(cmds))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, cmd := range cmds {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			resp, _, err := node.Apply(ctx, cmd)
			if err != nil {
				errs[i] = err
				return
			}
			res, ok := resp.(*store.Result)
			switch {
			case !ok || res == nil:
				errs[i] = fmt.Errorf("unexpected result %T from the store", resp)
			case res.Err != nil:
				errs[i] = res.Err
			}
		})
	}
	wg.Wait()
	return errs
}
