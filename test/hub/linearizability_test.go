package hub

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// registerInput is one operation on a key: a write of value, or a read.
type registerInput struct {
	key   string
	write bool
	value string
}

// registerOutput is what a read returned; found is false for a key never written.
type registerOutput struct {
	value string
	found bool
}

// kvModel is a map of independent registers, partitioned by key so each key is checked alone.
var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(registerInput).key
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(byKey))
		for _, ops := range byKey {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return registerOutput{} },
	Step: func(state, input, output any) (bool, any) {
		s, in := state.(registerOutput), input.(registerInput)
		if in.write {
			return true, registerOutput{value: in.value, found: true}
		}
		return output.(registerOutput) == s, s
	},
	Equal: func(a, b any) bool { return a == b },
	DescribeOperation: func(input, output any) string {
		in := input.(registerInput)
		if in.write {
			return fmt.Sprintf("put(%s, %s)", in.key, in.value)
		}
		out := output.(registerOutput)
		if !out.found {
			return fmt.Sprintf("get(%s) -> none", in.key)
		}
		return fmt.Sprintf("get(%s) -> %s", in.key, out.value)
	},
}

// schedules is how many fault schedules to run: 1 in `make test`, more with
// LINEARIZABILITY_SCHEDULES (the long run, `make test-linearizability`).
func schedules(t *testing.T) int {
	if s := os.Getenv("LINEARIZABILITY_SCHEDULES"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "LINEARIZABILITY_SCHEDULES")
		return n
	}
	return 1
}

// Concurrent clients read and write a few keys through every member while leaders are killed and
// restarted and cut off by partitions; the recorded history must be linearizable.
func TestLinearizableUnderLeaderKillsAndPartitions(t *testing.T) {
	n := schedules(t)
	h := testbed.StartHub(t, testbed.HubOptions{Members: 3, Partitionable: true, Args: []string{"--hold-timeout=3s"}})
	for s := range n {
		seed := uint64(time.Now().UnixNano())
		t.Run(fmt.Sprintf("schedule-%d", s), func(t *testing.T) {
			history := runSchedule(t, h, s, seed)
			res, info := porcupine.CheckOperationsVerbose(kvModel, history, time.Minute)
			if res != porcupine.Ok {
				path := filepath.Join(t.TempDir(), "history.html")
				if f, err := os.Create(path); err == nil {
					_ = porcupine.Visualize(kvModel, info, f)
					_ = f.Close()
				}
				t.Fatalf("history of %d operations is %v (seed %d); visualization in %s", len(history), res, seed, path)
			}
			t.Logf("schedule %d: %d operations, linearizable", s, len(history))
		})
	}
}

// runSchedule runs clients against the hub through one fault schedule: kill the leader and
// restart it, then cut the next leader off and heal (the order alternates between schedules).
// Every loop is bounded by time and count.
func runSchedule(t *testing.T, h *testbed.Hub, schedule int, seed uint64) []porcupine.Operation {
	const (
		clients      = 6
		keys         = 3
		maxOpsClient = 400
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }

	var (
		mu      sync.Mutex
		history []porcupine.Operation
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	record := func(op porcupine.Operation) {
		mu.Lock()
		history = append(history, op)
		mu.Unlock()
	}
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(c)))
			for i := 0; i < maxOpsClient; i++ {
				select {
				case <-stop:
					return
				default:
				}
				member := rng.IntN(len(h.Members))
				if !h.Members[member].Running() {
					continue
				}
				key := fmt.Sprintf("lin-%d-k%d", schedule, rng.IntN(keys))
				opCtx, opCancel := context.WithTimeout(ctx, 5*time.Second)
				if rng.IntN(2) == 0 {
					value := fmt.Sprintf("c%d-%d", c, i)
					call := now()
					_, err := putPolicy(opCtx, h.Client(member), key, value)
					ret := now()
					switch {
					case err == nil:
						record(porcupine.Operation{ClientId: c, Input: registerInput{key: key, write: true, value: value}, Call: call, Output: registerOutput{}, Return: ret})
					case status.Code(err) == codes.Unavailable && !isTransport(err):
						// Refused before it was proposed: it had no effect.
					default:
						// The outcome is unknown: it may take effect at any time after the call.
						record(porcupine.Operation{ClientId: c, Input: registerInput{key: key, write: true, value: value}, Call: call, Output: registerOutput{}, Return: math.MaxInt64})
					}
				} else {
					call := now()
					v, err := getPolicy(opCtx, h.Client(member), key, false)
					ret := now()
					switch {
					case err == nil:
						record(porcupine.Operation{ClientId: c, Input: registerInput{key: key}, Call: call, Output: registerOutput{value: v, found: true}, Return: ret})
					case status.Code(err) == codes.NotFound:
						record(porcupine.Operation{ClientId: c, Input: registerInput{key: key}, Call: call, Output: registerOutput{}, Return: ret})
					}
					// A failed read has no effect and is left out.
				}
				opCancel()
			}
		})
	}

	for round := range 2 {
		time.Sleep(time.Second) // let clients run between faults; this paces the schedule, it asserts nothing
		leader, err := h.Leader(ctx)
		require.NoError(t, err, "round %d", round)
		if (round+schedule)%2 == 0 {
			h.Kill(leader)
			time.Sleep(time.Second)
			require.NoError(t, h.Start(leader), "restart %s", h.Members[leader].ID)
		} else {
			h.Isolate(leader)
			time.Sleep(2 * time.Second)
			h.Heal()
		}
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	require.NotEmpty(t, history)
	return history
}

// isTransport tells a connection failure from the hub's own "no quorum" answer: the former may
// have happened after the request reached a member, the latter is given only for writes that
// were never proposed.
func isTransport(err error) bool {
	st, _ := status.FromError(err)
	return st.Code() == codes.Unavailable && !strings.Contains(st.Message(), "no hub leader is reachable")
}
