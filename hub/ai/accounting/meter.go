package accounting

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "kubedevaiops"

// DefaultKeepDays is how many days of per-day usage a Meter keeps when MeterConfig.KeepDays is 0.
const DefaultKeepDays = 31

// ErrBudgetExhausted is returned by Allow when a provider has used its daily budget.
var ErrBudgetExhausted = errors.New("daily AI budget exhausted")

// Price is what a model's tokens cost, in the configured currency per million tokens. Model ""
// prices every model of the provider that has no price of its own.
type Price struct {
	Provider         string  `json:"provider"`
	Model            string  `json:"model,omitempty"`
	InputPerMillion  float64 `json:"inputPerMillion"`
	OutputPerMillion float64 `json:"outputPerMillion"`
}

// Budget caps one provider's use per UTC day; a zero field does not cap.
type Budget struct {
	Provider  string  `json:"provider"`
	MaxTokens int64   `json:"maxTokens,omitempty"` // input and output together
	MaxCost   float64 `json:"maxCost,omitempty"`
}

// MeterConfig sets prices and budgets.
type MeterConfig struct {
	Prices   []Price  `json:"prices,omitempty"`
	Budgets  []Budget `json:"budgets,omitempty"`
	KeepDays int      `json:"keepDays,omitempty"`
	// Now is the clock; time.Now when nil. Days are UTC days.
	Now func() time.Time `json:"-"`
}

// Usage is what a provider used on one day.
type Usage struct {
	Requests     int64   // calls recorded, whatever their outcome
	InputTokens  int64   // prompt tokens
	OutputTokens int64   // completion tokens
	Cost         float64 // in the configured currency
}

func (u *Usage) add(o Usage) {
	u.Requests += o.Requests
	u.InputTokens += o.InputTokens
	u.OutputTokens += o.OutputTokens
	u.Cost += o.Cost
}

type dayProvider struct {
	day      string // 2006-01-02, UTC
	provider string
}

// Meter counts AI use per provider (and model) per day, prices it and enforces daily budgets.
// Safe for concurrent use. The counts live in this process: a restarted hub starts from zero.
type Meter struct {
	cfg     MeterConfig
	prices  map[[2]string]Price
	budgets map[string]Budget

	mu   sync.Mutex
	days map[dayProvider]map[string]*Usage // model -> usage

	requests *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	cost     *prometheus.CounterVec
}

// NewMeter returns a Meter; its metrics are registered with reg when it is not nil:
// kubedevaiops_ai_requests_total{provider,outcome},
// kubedevaiops_ai_tokens_total{provider,model,direction="input"|"output"},
// kubedevaiops_ai_cost_total{provider,model}, and today's (UTC) totals
// kubedevaiops_ai_day_tokens{provider,direction}, kubedevaiops_ai_day_cost{provider}.
func NewMeter(cfg MeterConfig, reg prometheus.Registerer) (*Meter, error) {
	if cfg.KeepDays < 0 {
		return nil, fmt.Errorf("AI meter: keepDays %d must not be negative", cfg.KeepDays)
	}
	if cfg.KeepDays == 0 {
		cfg.KeepDays = DefaultKeepDays
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Meter{cfg: cfg, prices: map[[2]string]Price{}, budgets: map[string]Budget{}, days: map[dayProvider]map[string]*Usage{}}
	for _, p := range cfg.Prices {
		if p.Provider == "" || p.InputPerMillion < 0 || p.OutputPerMillion < 0 {
			return nil, fmt.Errorf("AI meter: price %+v needs a provider and prices that are not negative", p)
		}
		k := [2]string{p.Provider, p.Model}
		if _, dup := m.prices[k]; dup {
			return nil, fmt.Errorf("AI meter: provider %q model %q priced twice", p.Provider, p.Model)
		}
		m.prices[k] = p
	}
	for _, b := range cfg.Budgets {
		if b.Provider == "" || b.MaxTokens < 0 || b.MaxCost < 0 {
			return nil, fmt.Errorf("AI meter: budget %+v needs a provider and limits that are not negative", b)
		}
		if _, dup := m.budgets[b.Provider]; dup {
			return nil, fmt.Errorf("AI meter: provider %q has two budgets", b.Provider)
		}
		m.budgets[b.Provider] = b
	}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "ai", Name: "requests_total",
		Help: "AI tasks handled by a provider, by outcome (ok, cached, or the kind of failure)."}, []string{"provider", "outcome"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "ai", Name: "tokens_total",
		Help: "Tokens AI providers counted, by direction (input: prompt, output: completion)."}, []string{"provider", "model", "direction"})
	m.cost = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "ai", Name: "cost_total",
		Help: "Cost of AI calls in the configured currency, from the configured prices."}, []string{"provider", "model"})
	if reg != nil {
		for _, col := range []prometheus.Collector{m.requests, m.tokens, m.cost, dayCollector{m}} {
			if err := reg.Register(col); err != nil {
				return nil, fmt.Errorf("AI meter: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

// Cost prices tokens of a provider's model; zero when neither the model nor the provider has a
// price.
func (m *Meter) Cost(provider, model string, inputTokens, outputTokens int64) float64 {
	p, ok := m.prices[[2]string{provider, model}]
	if !ok {
		p = m.prices[[2]string{provider, ""}]
	}
	return (float64(inputTokens)*p.InputPerMillion + float64(outputTokens)*p.OutputPerMillion) / 1e6
}

// Allow refuses, with an error wrapping ErrBudgetExhausted, when the provider has reached its
// token or cost budget today.
func (m *Meter) Allow(provider string) error {
	b, ok := m.budgets[provider]
	if !ok {
		return nil
	}
	u := m.Today(provider)
	switch {
	case b.MaxTokens > 0 && u.InputTokens+u.OutputTokens >= b.MaxTokens:
		return fmt.Errorf("provider %q used %d of its %d tokens today: %w", provider, u.InputTokens+u.OutputTokens, b.MaxTokens, ErrBudgetExhausted)
	case b.MaxCost > 0 && u.Cost >= b.MaxCost:
		return fmt.Errorf("provider %q spent %.4f of its %.4f today: %w", provider, u.Cost, b.MaxCost, ErrBudgetExhausted)
	}
	return nil
}

// Record counts one task of a provider's model with its outcome and the tokens it used (zero
// for an answer from the cache or a call that failed before the provider counted any).
func (m *Meter) Record(provider, model, outcome string, inputTokens, outputTokens int64) {
	inputTokens, outputTokens = max(inputTokens, 0), max(outputTokens, 0)
	cost := m.Cost(provider, model, inputTokens, outputTokens)
	m.requests.WithLabelValues(provider, outcome).Inc()
	if inputTokens > 0 || outputTokens > 0 {
		m.tokens.WithLabelValues(provider, model, "input").Add(float64(inputTokens))
		m.tokens.WithLabelValues(provider, model, "output").Add(float64(outputTokens))
		m.cost.WithLabelValues(provider, model).Add(cost)
	}
	now := m.cfg.Now().UTC()
	k := dayProvider{now.Format(time.DateOnly), provider}
	m.mu.Lock()
	defer m.mu.Unlock()
	models := m.days[k]
	if models == nil {
		models = map[string]*Usage{}
		m.days[k] = models
		m.pruneLocked(now)
	}
	u := models[model]
	if u == nil {
		u = &Usage{}
		models[model] = u
	}
	u.add(Usage{Requests: 1, InputTokens: inputTokens, OutputTokens: outputTokens, Cost: cost})
}

// pruneLocked forgets days older than KeepDays.
func (m *Meter) pruneLocked(now time.Time) {
	oldest := now.AddDate(0, 0, -(m.cfg.KeepDays - 1)).Format(time.DateOnly)
	for k := range m.days {
		if k.day < oldest {
			delete(m.days, k)
		}
	}
}

// Day is what a provider used on the UTC day of t, all models together.
func (m *Meter) Day(provider string, t time.Time) Usage {
	var total Usage
	for _, u := range m.DayByModel(provider, t) {
		total.add(u)
	}
	return total
}

// Today is Day for the current UTC day.
func (m *Meter) Today(provider string) Usage { return m.Day(provider, m.cfg.Now()) }

// DayByModel is what a provider used on the UTC day of t, per model.
func (m *Meter) DayByModel(provider string, t time.Time) map[string]Usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Usage{}
	for model, u := range m.days[dayProvider{t.UTC().Format(time.DateOnly), provider}] {
		out[model] = *u
	}
	return out
}

// dayCollector exports today's totals per provider at scrape time, so the gauges roll over at
// midnight UTC without a timer.
type dayCollector struct{ m *Meter }

var (
	dayTokensDesc = prometheus.NewDesc(namespace+"_ai_day_tokens", "Tokens used today (UTC) per provider, by direction.",
		[]string{"provider", "direction"}, nil)
	dayCostDesc = prometheus.NewDesc(namespace+"_ai_day_cost", "Cost of AI calls today (UTC) per provider, in the configured currency.",
		[]string{"provider"}, nil)
)

func (c dayCollector) Describe(ch chan<- *prometheus.Desc) { ch <- dayTokensDesc; ch <- dayCostDesc }

func (c dayCollector) Collect(ch chan<- prometheus.Metric) {
	today := c.m.cfg.Now().UTC().Format(time.DateOnly)
	totals := map[string]Usage{}
	c.m.mu.Lock()
	for k, models := range c.m.days {
		if k.day != today {
			continue
		}
		t := totals[k.provider]
		for _, u := range models {
			t.add(*u)
		}
		totals[k.provider] = t
	}
	c.m.mu.Unlock()
	providers := make([]string, 0, len(totals))
	for p := range totals {
		providers = append(providers, p)
	}
	slices.Sort(providers)
	for _, p := range providers {
		u := totals[p]
		ch <- prometheus.MustNewConstMetric(dayTokensDesc, prometheus.GaugeValue, float64(u.InputTokens), p, "input")
		ch <- prometheus.MustNewConstMetric(dayTokensDesc, prometheus.GaugeValue, float64(u.OutputTokens), p, "output")
		ch <- prometheus.MustNewConstMetric(dayCostDesc, prometheus.GaugeValue, u.Cost, p)
	}
}
