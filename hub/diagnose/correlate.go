package diagnose

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sync"
	"time"
)

// Defaults of CorrelatorConfig; a zero field takes its default.
const (
	DefaultCorrelationWindow      = time.Hour
	DefaultMaxIncidents           = 10000
	DefaultMaxClustersPerIncident = 10000
)

// CorrelatorConfig tunes a Correlator.
type CorrelatorConfig struct {
	// Window: a diagnosis joins an open fleet incident with its signature and suspect key when it
	// is at most Window before the incident's first or after its last diagnosis. Default 1h.
	Window time.Duration
	// MaxIncidents bounds the incidents kept; when full, the one seen least recently is dropped
	// (ties by id). Default 10000.
	MaxIncidents int
	// MaxClustersPerIncident bounds the member list of one incident; further clusters are counted
	// in Observations but not listed (Truncated). Default 10000.
	MaxClustersPerIncident int
}

// FleetIncident is one problem seen across the fleet: diagnoses with the same incident signature
// and the same suspect change key, close in time.
type FleetIncident struct {
	// ID is the first 16 hex digits of sha256(signature, suspect key, first diagnosis time): the
	// same on every hub member fed the same diagnoses.
	ID        string `json:"id"`
	Signature string `json:"signature"`
	// SuspectKey is SuspectChange.Key of the members ("" when they have no suspect change:
	// the same symptom across clusters with no common rollout).
	SuspectKey string    `json:"suspectKey,omitempty"`
	FirstSeen  time.Time `json:"firstSeen"`
	LastSeen   time.Time `json:"lastSeen"`
	// Clusters are the member clusters, sorted.
	Clusters     []string `json:"clusters"`
	Truncated    bool     `json:"truncated,omitempty"`
	Observations int      `json:"observations"`
}

// Correlator groups diagnoses from many clusters into fleet incidents. Memory is bounded by
// MaxIncidents x MaxClustersPerIncident. Safe for concurrent use; feeding the same diagnoses in
// the same order gives the same incidents and ids.
type Correlator struct {
	mu        sync.Mutex
	cfg       CorrelatorConfig
	incidents map[string]*incident // by id
	byKey     map[groupKey][]*incident
}

type groupKey struct{ signature, suspect string }

type incident struct {
	FleetIncident
	members map[string]struct{}
}

// NewCorrelator returns an empty correlator.
func NewCorrelator(cfg CorrelatorConfig) *Correlator {
	if cfg.Window <= 0 {
		cfg.Window = DefaultCorrelationWindow
	}
	if cfg.MaxIncidents <= 0 {
		cfg.MaxIncidents = DefaultMaxIncidents
	}
	if cfg.MaxClustersPerIncident <= 0 {
		cfg.MaxClustersPerIncident = DefaultMaxClustersPerIncident
	}
	return &Correlator{cfg: cfg, incidents: map[string]*incident{}, byKey: map[groupKey][]*incident{}}
}

// IncidentID is the fleet incident id for a signature, suspect key and first diagnosis time.
func IncidentID(signature, suspectKey string, firstSeen time.Time) string {
	h := sha256.New()
	for _, s := range []string{signature, suspectKey, firstSeen.UTC().Format(time.RFC3339Nano)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Observe adds the diagnosis of cluster made at (typically the finding's first observation, so
// that replays give the same result) and returns the incident it now belongs to, and whether that
// incident is new.
func (c *Correlator) Observe(cluster string, d Diagnosis, at time.Time) (FleetIncident, bool) {
	at = at.UTC()
	key := groupKey{signature: d.Signature}
	if d.SuspectChange != nil {
		key.suspect = d.SuspectChange.Key
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var inc *incident
	for _, cand := range c.byKey[key] {
		if !at.Before(cand.FirstSeen.Add(-c.cfg.Window)) && !at.After(cand.LastSeen.Add(c.cfg.Window)) {
			inc = cand
			break
		}
	}
	created := inc == nil
	if created {
		if len(c.incidents) >= c.cfg.MaxIncidents {
			c.evict()
		}
		inc = &incident{
			FleetIncident: FleetIncident{ID: IncidentID(key.signature, key.suspect, at), Signature: key.signature,
				SuspectKey: key.suspect, FirstSeen: at, LastSeen: at, Clusters: []string{}},
			members: map[string]struct{}{},
		}
		if old, dup := c.incidents[inc.ID]; dup {
			inc = old // the same first diagnosis again after its incident was pruned from byKey
		} else {
			c.incidents[inc.ID] = inc
			c.byKey[key] = append(c.byKey[key], inc)
		}
	}
	inc.Observations++
	if at.Before(inc.FirstSeen) {
		inc.FirstSeen = at // the id stays: it names the incident as first opened
	}
	if at.After(inc.LastSeen) {
		inc.LastSeen = at
	}
	if _, ok := inc.members[cluster]; !ok {
		if len(inc.members) < c.cfg.MaxClustersPerIncident {
			inc.members[cluster] = struct{}{}
			i, _ := slices.BinarySearch(inc.Clusters, cluster)
			inc.Clusters = slices.Insert(inc.Clusters, i, cluster)
		} else {
			inc.Truncated = true
		}
	}
	return inc.snapshot(), created
}

// Get returns one incident by id.
func (c *Correlator) Get(id string) (FleetIncident, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	inc, ok := c.incidents[id]
	if !ok {
		return FleetIncident{}, false
	}
	return inc.snapshot(), true
}

// Incidents lists the incidents, most recently seen first, then by id.
func (c *Correlator) Incidents() []FleetIncident {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]FleetIncident, 0, len(c.incidents))
	for _, inc := range c.incidents {
		out = append(out, inc.snapshot())
	}
	slices.SortFunc(out, func(a, b FleetIncident) int {
		if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// Prune drops incidents last seen before cutoff, and says how many.
func (c *Correlator) Prune(cutoff time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, inc := range c.incidents {
		if inc.LastSeen.Before(cutoff) {
			c.remove(inc)
			n++
		}
	}
	return n
}

func (c *Correlator) evict() {
	var victim *incident
	for _, inc := range c.incidents {
		if victim == nil || inc.LastSeen.Before(victim.LastSeen) || (inc.LastSeen.Equal(victim.LastSeen) && inc.ID < victim.ID) {
			victim = inc
		}
	}
	if victim != nil {
		c.remove(victim)
	}
}

func (c *Correlator) remove(inc *incident) {
	delete(c.incidents, inc.ID)
	key := groupKey{inc.Signature, inc.SuspectKey}
	c.byKey[key] = slices.DeleteFunc(c.byKey[key], func(x *incident) bool { return x == inc })
	if len(c.byKey[key]) == 0 {
		delete(c.byKey, key)
	}
}

func (inc *incident) snapshot() FleetIncident {
	out := inc.FleetIncident
	out.Clusters = slices.Clone(inc.Clusters)
	return out
}
