package accounting

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestDigestOf(t *testing.T) {
	assert.Equal(t, DigestOf("a", "b"), DigestOf("a", "b"))
	assert.NotEqual(t, DigestOf("ab", "c"), DigestOf("a", "bc"), "parts are length-prefixed")
	assert.NotEqual(t, DigestOf("a"), DigestOf("a", ""))
}

func TestCacheKeysAndCopies(t *testing.T) {
	c, err := NewCache(CacheConfig{}, nil)
	require.NoError(t, err)
	d := DigestOf("prompt")
	answer := []byte(`{"a":1}`)
	c.Store("openai", "m1", d, answer)
	answer[0] = 'X' // the cache keeps its own copy

	got, ok := c.Lookup("openai", "m1", d)
	require.True(t, ok)
	assert.Equal(t, `{"a":1}`, string(got))
	got[0] = 'Y'
	again, _ := c.Lookup("openai", "m1", d)
	assert.Equal(t, `{"a":1}`, string(again), "callers get copies")

	for _, miss := range []struct {
		provider, model string
		d               Digest
	}{
		{"other", "m1", d}, {"openai", "m2", d}, {"openai", "m1", DigestOf("other prompt")},
	} {
		_, ok := c.Lookup(miss.provider, miss.model, miss.d)
		assert.False(t, ok, "%+v", miss)
	}

	c.Store("openai", "m1", d, []byte(`{"a":2}`))
	got, _ = c.Lookup("openai", "m1", d)
	assert.Equal(t, `{"a":2}`, string(got), "a store replaces")
	assert.Equal(t, 1, c.Len())
}

func TestCacheLRUAndTTL(t *testing.T) {
	clk := &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	reg := prometheus.NewPedanticRegistry()
	c, err := NewCache(CacheConfig{MaxEntries: 2, TTL: time.Minute, Now: clk.Now}, reg)
	require.NoError(t, err)
	a, b, x := DigestOf("a"), DigestOf("b"), DigestOf("x")
	c.Store("openai", "m", a, []byte("A"))
	c.Store("openai", "m", b, []byte("B"))
	_, ok := c.Lookup("openai", "m", a) // a is now the most recently used
	require.True(t, ok)
	c.Store("openai", "m", x, []byte("X")) // evicts b
	_, ok = c.Lookup("openai", "m", b)
	assert.False(t, ok, "least recently used is evicted")
	_, ok = c.Lookup("openai", "m", a)
	assert.True(t, ok)
	assert.Equal(t, 2, c.Len())

	clk.Add(59 * time.Second)
	_, ok = c.Lookup("openai", "m", x)
	assert.True(t, ok, "within the TTL")
	clk.Add(time.Second)
	_, ok = c.Lookup("openai", "m", x)
	assert.False(t, ok, "expired at the TTL")
	assert.Equal(t, 1, c.Len(), "an expired answer is dropped when seen")

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP kubedevaiops_ai_cache_entries AI answers held in the answer cache.
# TYPE kubedevaiops_ai_cache_entries gauge
kubedevaiops_ai_cache_entries 1
# HELP kubedevaiops_ai_cache_evictions_total AI answers dropped from the answer cache, by reason.
# TYPE kubedevaiops_ai_cache_evictions_total counter
kubedevaiops_ai_cache_evictions_total{reason="capacity"} 1
kubedevaiops_ai_cache_evictions_total{reason="expired"} 1
# HELP kubedevaiops_ai_cache_hits_total AI answers served from the answer cache.
# TYPE kubedevaiops_ai_cache_hits_total counter
kubedevaiops_ai_cache_hits_total{provider="openai"} 3
# HELP kubedevaiops_ai_cache_misses_total AI answers looked up in the answer cache and not found.
# TYPE kubedevaiops_ai_cache_misses_total counter
kubedevaiops_ai_cache_misses_total{provider="openai"} 2
`)))
}

func TestCacheConfigErrors(t *testing.T) {
	_, err := NewCache(CacheConfig{MaxEntries: -1}, nil)
	assert.ErrorContains(t, err, "maxEntries -1")
	reg := prometheus.NewRegistry()
	_, err = NewCache(CacheConfig{}, reg)
	require.NoError(t, err)
	_, err = NewCache(CacheConfig{}, reg)
	assert.ErrorContains(t, err, "register metrics", "a second cache on one registry is refused, not a panic")
}

func prices() []Price {
	return []Price{
		{Provider: "openai", Model: "gpt-big", InputPerMillion: 2.5, OutputPerMillion: 10},
		{Provider: "openai", InputPerMillion: 1, OutputPerMillion: 2}, // every other openai model
	}
}

func TestMeterCost(t *testing.T) {
	m, err := NewMeter(MeterConfig{Prices: prices()}, nil)
	require.NoError(t, err)
	assert.InDelta(t, 2.5*1000/1e6+10*500/1e6, m.Cost("openai", "gpt-big", 1000, 500), 1e-12)
	assert.InDelta(t, (1*1000+2*500)/1e6, m.Cost("openai", "small", 1000, 500), 1e-12, "provider default")
	assert.Zero(t, m.Cost("local", "llama", 1000, 500), "unpriced")
}

func TestMeterDaysMetricsAndBudget(t *testing.T) {
	clk := &clock{now: time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)}
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMeter(MeterConfig{Prices: prices(), KeepDays: 2, Now: clk.Now,
		Budgets: []Budget{{Provider: "openai", MaxTokens: 5000}, {Provider: "paid", MaxCost: 0.01}}}, reg)
	require.NoError(t, err)

	require.NoError(t, m.Allow("openai"))
	m.Record("openai", "gpt-big", "ok", 1000, 500)
	m.Record("openai", "gpt-big", "cached", 0, 0)
	m.Record("openai", "small", "invalid_answer", 2000, 100)
	m.Record("local", "llama", "ok", 10, 20)

	day1 := clk.Now()
	assert.Equal(t, Usage{Requests: 3, InputTokens: 3000, OutputTokens: 600, Cost: m.Cost("openai", "gpt-big", 1000, 500) + m.Cost("openai", "small", 2000, 100)},
		roundCost(m.Today("openai")))
	assert.Equal(t, map[string]Usage{
		"gpt-big": {Requests: 2, InputTokens: 1000, OutputTokens: 500, Cost: m.Cost("openai", "gpt-big", 1000, 500)},
		"small":   {Requests: 1, InputTokens: 2000, OutputTokens: 100, Cost: m.Cost("openai", "small", 2000, 100)},
	}, m.DayByModel("openai", day1))
	require.NoError(t, m.Allow("openai"), "3600 of 5000 tokens")
	m.Record("openai", "small", "ok", 1400, 0)
	err = m.Allow("openai")
	require.ErrorIs(t, err, ErrBudgetExhausted)
	assert.ErrorContains(t, err, `provider "openai" used 5000 of its 5000 tokens today`)

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP kubedevaiops_ai_cost_total Cost of AI calls in the configured currency, from the configured prices.
# TYPE kubedevaiops_ai_cost_total counter
kubedevaiops_ai_cost_total{model="gpt-big",provider="openai"} 0.0075
kubedevaiops_ai_cost_total{model="llama",provider="local"} 0
kubedevaiops_ai_cost_total{model="small",provider="openai"} 0.0036
# HELP kubedevaiops_ai_day_tokens Tokens used today (UTC) per provider, by direction.
# TYPE kubedevaiops_ai_day_tokens gauge
kubedevaiops_ai_day_tokens{direction="input",provider="local"} 10
kubedevaiops_ai_day_tokens{direction="input",provider="openai"} 4400
kubedevaiops_ai_day_tokens{direction="output",provider="local"} 20
kubedevaiops_ai_day_tokens{direction="output",provider="openai"} 600
# HELP kubedevaiops_ai_requests_total AI tasks handled by a provider, by outcome (ok, cached, or the kind of failure).
# TYPE kubedevaiops_ai_requests_total counter
kubedevaiops_ai_requests_total{outcome="cached",provider="openai"} 1
kubedevaiops_ai_requests_total{outcome="invalid_answer",provider="openai"} 1
kubedevaiops_ai_requests_total{outcome="ok",provider="local"} 1
kubedevaiops_ai_requests_total{outcome="ok",provider="openai"} 2
# HELP kubedevaiops_ai_tokens_total Tokens AI providers counted, by direction (input: prompt, output: completion).
# TYPE kubedevaiops_ai_tokens_total counter
kubedevaiops_ai_tokens_total{direction="input",model="gpt-big",provider="openai"} 1000
kubedevaiops_ai_tokens_total{direction="input",model="llama",provider="local"} 10
kubedevaiops_ai_tokens_total{direction="input",model="small",provider="openai"} 3400
kubedevaiops_ai_tokens_total{direction="output",model="gpt-big",provider="openai"} 500
kubedevaiops_ai_tokens_total{direction="output",model="llama",provider="local"} 20
kubedevaiops_ai_tokens_total{direction="output",model="small",provider="openai"} 100
`), "kubedevaiops_ai_cost_total", "kubedevaiops_ai_day_tokens", "kubedevaiops_ai_requests_total", "kubedevaiops_ai_tokens_total"))
	dayCost := gaugeValues(t, reg, "kubedevaiops_ai_day_cost")
	assert.InDelta(t, 0.0111, dayCost["openai"], 1e-12)
	assert.Zero(t, dayCost["local"])

	// Past midnight UTC: a new day with a fresh budget; the day gauges start again.
	clk.Add(2 * time.Hour)
	require.NoError(t, m.Allow("openai"))
	assert.Equal(t, Usage{}, m.Today("openai"))
	assert.Equal(t, int64(4), m.Day("openai", day1).Requests, "yesterday is kept")
	m.Record("paid", "x", "ok", 0, 0)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP kubedevaiops_ai_day_tokens Tokens used today (UTC) per provider, by direction.
# TYPE kubedevaiops_ai_day_tokens gauge
kubedevaiops_ai_day_tokens{direction="input",provider="paid"} 0
kubedevaiops_ai_day_tokens{direction="output",provider="paid"} 0
`), "kubedevaiops_ai_day_tokens"))

	// The cost budget of an unpriced provider never trips; KeepDays forgets old days.
	require.NoError(t, m.Allow("paid"))
	clk.Add(48 * time.Hour)
	m.Record("openai", "small", "ok", 1, 1)
	assert.Equal(t, Usage{}, m.Day("openai", day1), "older than KeepDays")
}

func TestMeterCostBudget(t *testing.T) {
	m, err := NewMeter(MeterConfig{Prices: []Price{{Provider: "paid", InputPerMillion: 1000, OutputPerMillion: 1000}},
		Budgets: []Budget{{Provider: "paid", MaxCost: 1}}}, nil)
	require.NoError(t, err)
	m.Record("paid", "m", "ok", 600, 0)
	require.NoError(t, m.Allow("paid"))
	m.Record("paid", "m", "ok", 0, 400)
	err = m.Allow("paid")
	require.ErrorIs(t, err, ErrBudgetExhausted)
	assert.ErrorContains(t, err, "spent 1.0000 of its 1.0000")
	require.NoError(t, m.Allow("other"), "no budget, no cap")
}

func TestMeterConfigErrors(t *testing.T) {
	for name, cfg := range map[string]MeterConfig{
		"price without provider": {Prices: []Price{{Model: "m"}}},
		"negative price":         {Prices: []Price{{Provider: "p", InputPerMillion: -1}}},
		"priced twice":           {Prices: []Price{{Provider: "p", Model: "m"}, {Provider: "p", Model: "m"}}},
		"negative budget":        {Budgets: []Budget{{Provider: "p", MaxTokens: -1}}},
		"two budgets":            {Budgets: []Budget{{Provider: "p"}, {Provider: "p"}}},
		"negative keepDays":      {KeepDays: -1},
	} {
		_, err := NewMeter(cfg, nil)
		assert.Error(t, err, name)
	}
}

// gaugeValues reads one gauge family by its provider label.
func gaugeValues(t *testing.T, g prometheus.Gatherer, name string) map[string]float64 {
	families, err := g.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "provider" {
					out[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}

// roundCost rounds away float noise from summing costs in another order.
func roundCost(u Usage) Usage {
	u.Cost = float64(int64(u.Cost*1e9+0.5)) / 1e9
	return u
}
