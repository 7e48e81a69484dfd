package raftnode

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// leaderLoop is a background task that runs only while this member leads.
type leaderLoop struct {
	name string
	run  func(ctx context.Context)
}

// RunWhileLeader registers fn to run whenever this member becomes leader; its context is
// cancelled when leadership is lost or the node shuts down. fn starts after the leader's
// barrier, so it sees every write committed by earlier leaders. Register before leadership can
// be won, i.e. right after New.
func (n *Node) RunWhileLeader(name string, fn func(ctx context.Context)) {
	n.leaderMu.Lock()
	defer n.leaderMu.Unlock()
	n.leaderLoops = append(n.leaderLoops, leaderLoop{name: name, run: fn})
}

// watchLeadership starts the leader loops on gaining leadership and stops them on losing it.
func (n *Node) watchLeadership() {
	var (
		cancel context.CancelFunc
		loops  sync.WaitGroup
	)
	stopLoops := func() {
		if cancel != nil {
			cancel()
			loops.Wait()
			cancel = nil
		}
	}
	defer stopLoops()
	for {
		select {
		case <-n.stop:
			return
		case isLeader := <-n.raft.LeaderCh():
			// A second true in a row means leadership was lost and regained in between:
			// restart the loops for the new term.
			stopLoops()
			if !isLeader {
				n.log.Info("lost leadership")
				continue
			}
			term := n.raft.CurrentTerm()
			n.log.Info("became leader", "term", term)
			ctx, cancelLoops := context.WithCancel(context.Background())
			cancel = cancelLoops
			n.leaderMu.Lock()
			registered := append([]leaderLoop(nil), n.leaderLoops...)
			n.leaderMu.Unlock()
			registered = append(registered, leaderLoop{name: "dead-member-removal", run: n.removeDeadMembers})
			loops.Add(1)
			go func() {
				defer loops.Done()
				if err := n.ensureBarrier(ctx, term); err != nil {
					n.log.Warn("leader barrier failed; leader loops not started", "err", err)
					return
				}
				for _, l := range registered {
					loops.Add(1)
					go func() {
						defer loops.Done()
						n.log.Debug("leader loop started", "loop", l.name)
						l.run(ctx)
					}()
				}
			}()
		}
	}
}

// removeDeadMembers removes voters the leader has not heard from for DeadMemberTimeout, as long
// as at least MinQuorum voters remain and the remaining healthy voters still form a quorum.
func (n *Node) removeDeadMembers(ctx context.Context) {
	if n.cfg.DeadMemberTimeout <= 0 {
		return
	}
	obs := make(chan raft.Observation, 64)
	observer := raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
			return true
		}
		return false
	})
	n.raft.RegisterObserver(observer)
	defer n.raft.DeregisterObserver(observer)

	failing := map[raft.ServerID]time.Time{} // peer -> last contact
	tick := time.NewTicker(n.cfg.DeadMemberTimeout / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-obs:
			switch d := o.Data.(type) {
			case raft.FailedHeartbeatObservation:
				if _, ok := failing[d.PeerID]; !ok {
					failing[d.PeerID] = d.LastContact
				}
			case raft.ResumedHeartbeatObservation:
				delete(failing, d.PeerID)
			}
		case <-tick.C:
			n.removeDead(failing)
		}
	}
}

func (n *Node) removeDead(failing map[raft.ServerID]time.Time) {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	voters := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	for id, last := range failing {
		if last.IsZero() || time.Since(last) < n.cfg.DeadMemberTimeout {
			continue
		}
		healthy := voters - len(failing)
		after := voters - 1
		if after < n.cfg.MinQuorum || healthy < after/2+1 {
			n.log.Warn("member unreachable but not removed: removal would drop the hub below its minimum quorum",
				"member", id, "voters", voters, "min_quorum", n.cfg.MinQuorum)
			continue
		}
		if err := n.raft.RemoveServer(id, 0, 5*time.Second).Error(); err != nil {
			n.log.Warn("removing dead member failed", "member", id, "err", err)
			continue
		}
		n.log.Info("removed dead member", "member", id, "unreachable_for", time.Since(last).Round(time.Second))
		delete(failing, id)
		voters--
	}
}
