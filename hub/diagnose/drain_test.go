package diagnose

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Two clusters logging the same failure: different pods, addresses, ids, timestamps, ports,
// durations and line order.
var (
	clusterALog = []string{
		"2026-12-01T10:00:01.002Z INFO starting web server version=v2 pod=web-7d9f8b6c5d-x2k9p",
		"2026-12-01T10:00:01.120Z INFO loaded config from /etc/web/config.yaml in 12ms",
		"2026-12-01T10:00:02.001Z ERROR failed to connect to postgres at 10.0.3.17:5432 (request 9f1c2d3e-4b5a-6c7d-8e9f-0a1b2c3d4e5f): dial tcp 10.0.3.17:5432: connect: connection refused",
		"2026-12-01T10:00:03.001Z ERROR failed to connect to postgres at 10.0.3.17:5432 (request 1b2c3d4e-4b5a-6c7d-8e9f-0a1b2c3d4e5f): dial tcp 10.0.3.17:5432: connect: connection refused",
		"panic: runtime error: invalid memory address or nil pointer dereference",
		"[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a2b3c]",
	}
	clusterBLog = []string{
		"[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x7f1e2d]",
		"2027-01-15T22:13:59.999Z INFO starting web server version=v2 pod=web-5f6d7c8b9-q4w8z",
		"2027-01-15T22:14:00.300Z INFO loaded config from /etc/web/config.yaml in 7ms",
		"2027-01-15T22:14:01.001Z ERROR failed to connect to postgres at 172.20.0.9:6432 (request 0a0b0c0d-1111-2222-3333-444455556666): dial tcp 172.20.0.9:6432: connect: connection refused",
		"panic: runtime error: invalid memory address or nil pointer dereference",
		"2027-01-15T22:14:02.001Z ERROR failed to connect to postgres at 172.20.0.9:6432 (request ffffffff-1111-2222-3333-444455556666): dial tcp 172.20.0.9:6432: connect: connection refused",
	}
)

func ids(ts []Template) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

func TestMineCrossClusterStable(t *testing.T) {
	a := Mine(clusterALog, MinerConfig{})
	b := Mine(clusterBLog, MinerConfig{})
	require.Len(t, a, 5)
	assert.Equal(t, a, b, "same templates, ids and counts from both clusters")
	assert.Equal(t, 2, a[0].Count)
	assert.Equal(t, "<TS> ERROR failed to connect to postgres at <IP> (request <UUID>): dial tcp <IP>: connect: connection refused", a[0].Text)
	assert.Equal(t, TemplateID(a[0].Text), a[0].ID)
}

func TestMinerCrossClusterStreaming(t *testing.T) {
	// One long-lived miner fed A then B, another fed B then A: every line of either cluster maps
	// to the same template id in both, and to the same id for A's and B's version of the line.
	ab, ba := NewMiner(MinerConfig{}), NewMiner(MinerConfig{})
	for _, l := range append(slices.Clone(clusterALog), clusterBLog...) {
		ab.Add(l)
	}
	for _, l := range append(slices.Clone(clusterBLog), clusterALog...) {
		ba.Add(l)
	}
	assert.Equal(t, ab.Templates(), ba.Templates())
	for _, l := range append(slices.Clone(clusterALog), clusterBLog...) {
		x, ok1 := ab.Match(l)
		y, ok2 := ba.Match(l)
		require.True(t, ok1 && ok2, l)
		assert.Equal(t, x.ID, y.ID, l)
	}
	pa, _ := ab.Match(clusterALog[2])
	pb, _ := ab.Match(clusterBLog[3])
	assert.Equal(t, pa.ID, pb.ID)
}

func TestMineOrderIndependent(t *testing.T) {
	lines := []string{
		"connect to db failed", "connect to cache failed", "connect to queue timed out",
		"user alice logged in", "user bob logged in", "user carol logged out", "shutting down",
		"retry 3 of 5", "retry 4 of 5",
	}
	want := Mine(lines, MinerConfig{})
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := slices.Clone(lines)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		assert.Equal(t, want, Mine(shuffled, MinerConfig{}))
	}
}

func TestMinerTemplates(t *testing.T) {
	tests := []struct {
		name  string
		cfg   MinerConfig
		lines []string
		want  []Template
	}{
		{
			name:  "masked values merge without wildcards",
			lines: []string{"user 1 logged in from 10.0.0.1", "user 22 logged in from 10.0.0.2"},
			want:  []Template{{Text: "user <NUM> logged in from <IP>", Count: 2}},
		},
		{
			name:  "differing words become wildcards",
			lines: []string{"connect to db failed", "connect to cache failed"},
			want:  []Template{{Text: "connect to <*> failed", Count: 2}},
		},
		{
			name:  "too different stays apart",
			lines: []string{"connect to db failed", "disk quota nearly full"},
			want:  []Template{{Text: "connect to db failed", Count: 1}, {Text: "disk quota nearly full", Count: 1}},
		},
		{
			name:  "different token counts stay apart",
			lines: []string{"connect to db failed", "connect to db failed again"},
			want:  []Template{{Text: "connect to db failed", Count: 1}, {Text: "connect to db failed again", Count: 1}},
		},
		{
			name:  "different leading tokens stay apart",
			lines: []string{"reading config file", "writing config file"},
			want:  []Template{{Text: "reading config file", Count: 1}, {Text: "writing config file", Count: 1}},
		},
		{
			name:  "past MaxChildren leading tokens share the wildcard branch",
			cfg:   MinerConfig{MaxChildren: 1},
			lines: []string{"reading config file", "writing config file", "parsing config file"},
			want:  []Template{{Text: "<*> config file", Count: 2}, {Text: "reading config file", Count: 1}},
		},
		{
			name:  "a stricter similarity keeps them apart",
			cfg:   MinerConfig{Similarity: 0.9},
			lines: []string{"connect to db failed", "connect to cache failed"},
			want:  []Template{{Text: "connect to cache failed", Count: 1}, {Text: "connect to db failed", Count: 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMiner(tt.cfg)
			for _, l := range tt.lines {
				_, ok := m.Add(l)
				require.True(t, ok)
			}
			for i := range tt.want {
				tt.want[i].ID = TemplateID(tt.want[i].Text)
			}
			assert.Equal(t, tt.want, m.Templates())
		})
	}
}

func TestMinerEviction(t *testing.T) {
	m := NewMiner(MinerConfig{MaxClusters: 2})
	m.Add("alpha one two")
	m.Add("beta one two three")
	m.Add("alpha one two") // alpha is now the most recently used
	m.Add("gamma one two three four")
	assert.Equal(t, 2, m.Len())
	_, ok := m.Match("beta one two three")
	assert.False(t, ok, "least recently used template evicted")
	_, ok = m.Match("alpha one two")
	assert.True(t, ok)
	assert.Empty(t, m.root.children["4"], "empty branch pruned")
	_, ok = m.Add("   ")
	assert.False(t, ok, "blank line")
}

func TestTemplateIDStable(t *testing.T) {
	// Pinned: a change of this id changes every incident signature in the fleet's knowledge.
	assert.Equal(t, "7d07905892ef", TemplateID("connect to <*> failed"))
}
