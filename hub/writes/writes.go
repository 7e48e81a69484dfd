// Package writes commits store commands for the hub's services and controllers: one, or many
// independent ones at once.
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

// One commits one command and returns the store's result for it. The error is the Raft
// error, or the store's refusal (errors.Is-comparable with the store's sentinels).
func One(ctx context.Context, node *raftnode.Node, cmd []byte) (*store.Result, error) {
	resp, _, err := node.Apply(ctx, cmd)
	if err != nil {
		return nil, err
	}
	res, ok := resp.(*store.Result)
	if !ok || res == nil {
		return nil, fmt.Errorf("unexpected result %T from the store", resp)
	}
	if res.Err != nil {
		return nil, res.Err
	}
	return res, nil
}

// Commit applies every command and returns one error per command, as One does for each.
func Commit(ctx context.Context, node *raftnode.Node, cmds [][]byte) []error {
	errs := make([]error, len(cmds))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, cmd := range cmds {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, errs[i] = One(ctx, node, cmd)
		})
	}
	wg.Wait()
	return errs
}
