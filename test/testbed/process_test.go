package testbed

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A component that dies at start-up is reported by name, with the last lines of its log.
func TestFailedStartNamesTheBinaryAndShowsItsLog(t *testing.T) {
	p, err := startProcess("kube-apiserver", "/bin/sh",
		[]string{"-c", "echo starting; echo 'E1201 listen tcp 127.0.0.1:6443: bind: address already in use' >&2; exit 3"},
		t.TempDir(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { p.stop(time.Second) })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = p.await(ctx, "ready", func(context.Context) error { return errors.New("not yet") })
	require.Error(t, err)
	msg := err.Error()
	require.True(t, strings.HasPrefix(msg, "kube-apiserver: exited early: exit status 3"), msg)
	require.Contains(t, msg, "bind: address already in use")
	require.Contains(t, msg, "starting")
}

// A component that never becomes ready is reported when the deadline passes, and stop ends it.
func TestReadinessDeadlineAndStop(t *testing.T) {
	p, err := startProcess("etcd", "/bin/sleep", []string{"600"}, t.TempDir(), nil)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = p.await(ctx, "serving", func(context.Context) error { return errors.New("connection refused") })
	require.ErrorContains(t, err, "etcd: not serving before the deadline (last check: connection refused)")

	p.stop(5 * time.Second)
	select {
	case <-p.exited:
	default:
		t.Fatal("the process is still running after stop")
	}
}

func TestFreePortsAreDistinct(t *testing.T) {
	ports, err := freePorts(20)
	require.NoError(t, err)
	seen := map[int]bool{}
	for _, p := range ports {
		require.False(t, seen[p], "port %d returned twice", p)
		seen[p] = true
	}
}

func TestMissingBinaryTellsHowToBuildIt(t *testing.T) {
	t.Setenv("TESTBIN", t.TempDir())
	_, err := binary(binAPIServer)
	require.ErrorContains(t, err, "test binary kube-apiserver not found")
	require.ErrorContains(t, err, "run `make testbin` first")
}
