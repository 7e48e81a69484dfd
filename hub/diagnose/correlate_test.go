package diagnose

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func diag(sig, suspect string) Diagnosis {
	d := Diagnosis{Signature: sig}
	if suspect != "" {
		d.SuspectChange = &SuspectChange{Key: suspect}
	}
	return d
}

func TestCorrelatorGroups(t *testing.T) {
	const sig = "pod/CrashLoopBackOff:7d07905892ef"
	c := NewCorrelator(CorrelatorConfig{Window: 30 * time.Minute})

	first, created := c.Observe("east", diag(sig, "image:app=web:v2"), t0)
	assert.True(t, created)
	second, created := c.Observe("west", diag(sig, "image:app=web:v2"), t0.Add(20*time.Minute))
	assert.False(t, created)
	assert.Equal(t, first.ID, second.ID, "same signature, same new image, within the window: one fleet incident")
	third, _ := c.Observe("north", diag(sig, "image:app=web:v2"), t0.Add(45*time.Minute))
	assert.Equal(t, first.ID, third.ID, "the window slides from the last member")
	assert.Equal(t, []string{"east", "north", "west"}, third.Clusters)
	assert.Equal(t, 3, third.Observations)
	assert.Equal(t, IncidentID(sig, "image:app=web:v2", t0), first.ID)

	again, _ := c.Observe("east", diag(sig, "image:app=web:v2"), t0.Add(46*time.Minute))
	assert.Equal(t, []string{"east", "north", "west"}, again.Clusters, "a cluster counts once")
	assert.Equal(t, 4, again.Observations)

	otherImage, created := c.Observe("south", diag(sig, "image:app=web:v3"), t0.Add(time.Minute))
	assert.True(t, created)
	assert.NotEqual(t, first.ID, otherImage.ID, "a different suspect stays separate")
	otherSig, _ := c.Observe("south", diag("pod/OOMKilled", "image:app=web:v2"), t0.Add(time.Minute))
	assert.NotEqual(t, first.ID, otherSig.ID, "a different signature stays separate")
	noSuspect, _ := c.Observe("south", diag(sig, ""), t0.Add(time.Minute))
	assert.NotEqual(t, first.ID, noSuspect.ID, "no suspect is its own group")
	later, created := c.Observe("east", diag(sig, "image:app=web:v2"), t0.Add(3*time.Hour))
	assert.True(t, created, "past the window: a new incident")
	assert.NotEqual(t, first.ID, later.ID)

	got, ok := c.Get(first.ID)
	require.True(t, ok)
	assert.Equal(t, again, got)
	assert.Len(t, c.Incidents(), 5)
	assert.Equal(t, later.ID, c.Incidents()[0].ID, "most recent first")

	assert.Equal(t, 4, c.Prune(t0.Add(2*time.Hour)))
	assert.Len(t, c.Incidents(), 1)
}

func TestCorrelatorDeterministicAndBounded(t *testing.T) {
	feed := func(c *Correlator) []FleetIncident {
		for i := range 50 {
			c.Observe(fmt.Sprintf("c%02d", i%7), diag(fmt.Sprintf("sig%d", i%3), ""), t0.Add(time.Duration(i)*time.Minute))
		}
		return c.Incidents()
	}
	a := feed(NewCorrelator(CorrelatorConfig{MaxIncidents: 3, MaxClustersPerIncident: 2}))
	b := feed(NewCorrelator(CorrelatorConfig{MaxIncidents: 3, MaxClustersPerIncident: 2}))
	assert.Equal(t, a, b)
	require.Len(t, a, 3)
	for _, inc := range a {
		assert.Len(t, inc.Clusters, 2)
		assert.True(t, inc.Truncated)
		assert.Greater(t, inc.Observations, 2)
	}

	// Full: a new incident evicts the one seen least recently.
	c := NewCorrelator(CorrelatorConfig{MaxIncidents: 3})
	feed(c)
	oldest := c.Incidents()[2]
	c.Observe("x", diag("new", ""), t0.Add(time.Hour))
	require.Len(t, c.Incidents(), 3)
	_, ok := c.Get(oldest.ID)
	assert.False(t, ok)
}

func TestCorrelatorEarlierArrival(t *testing.T) {
	c := NewCorrelator(CorrelatorConfig{})
	first, _ := c.Observe("east", diag("s", "k"), t0)
	early, created := c.Observe("west", diag("s", "k"), t0.Add(-10*time.Minute))
	assert.False(t, created)
	assert.Equal(t, first.ID, early.ID, "the id names the incident as first opened")
	assert.Equal(t, t0.Add(-10*time.Minute), early.FirstSeen)
}
