package accounting

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of CacheConfig; a zero field takes its default.
const (
	DefaultCacheEntries = 1024
	DefaultCacheTTL     = time.Hour
)

// CacheConfig bounds the answer cache.
type CacheConfig struct {
	// MaxEntries is the most answers kept; the least recently used goes first.
	MaxEntries int `json:"maxEntries,omitempty"`
	// TTL is how long an answer may be served after it was stored.
	TTL time.Duration `json:"ttl,omitempty"`
	// Now is the clock; time.Now when nil.
	Now func() time.Time `json:"-"`
}

// Digest is the SHA-256 of an anonymised input.
type Digest [sha256.Size]byte

// DigestOf hashes the parts of an anonymised input (system prompt, user prompt, schema,
// sampling settings...) unambiguously: each part is length-prefixed, so ("ab","c") and
// ("a","bc") differ.
func DigestOf(parts ...string) Digest {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var d Digest
	h.Sum(d[:0])
	return d
}

type cacheKey struct {
	provider, model string
	digest          Digest
}

type cacheEntry struct {
	key     cacheKey
	answer  []byte
	expires time.Time
}

// Cache is a bounded LRU of answers with a time to live. Safe for concurrent use. It stores
// what the caller gives it; callers store anonymised answers, so it holds no fleet names.
type Cache struct {
	cfg   CacheConfig
	mu    sync.Mutex
	order *list.List // front: most recently used
	items map[cacheKey]*list.Element

	hits, misses *prometheus.CounterVec
	evictions    *prometheus.CounterVec
}

// NewCache returns an empty cache; its metrics are registered with reg when it is not nil:
// kubedevaiops_ai_cache_hits_total{provider}, kubedevaiops_ai_cache_misses_total{provider},
// kubedevaiops_ai_cache_evictions_total{reason="capacity"|"expired"} and
// kubedevaiops_ai_cache_entries.
func NewCache(cfg CacheConfig, reg prometheus.Registerer) (*Cache, error) {
	if cfg.MaxEntries < 0 || cfg.TTL < 0 {
		return nil, fmt.Errorf("answer cache: maxEntries %d and ttl %s must not be negative", cfg.MaxEntries, cfg.TTL)
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = DefaultCacheEntries
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultCacheTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Cache{
		cfg: cfg, order: list.New(), items: map[cacheKey]*list.Element{},
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "ai", Name: "cache_hits_total",
			Help: "AI answers served from the answer cache."}, []string{"provider"}),
		misses: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "ai", Name: "cache_misses_total",
			Help: "AI answers looked up in the answer cache and not found."}, []string{"provider"}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "ai", Name: "cache_evictions_total",
			Help: "AI answers dropped from the answer cache, by reason."}, []string{"reason"}),
	}
	if reg != nil {
		entries := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Subsystem: "ai", Name: "cache_entries",
			Help: "AI answers held in the answer cache."}, func() float64 { return float64(c.Len()) })
		for _, col := range []prometheus.Collector{c.hits, c.misses, c.evictions, entries} {
			if err := reg.Register(col); err != nil {
				return nil, fmt.Errorf("answer cache: register metrics: %w", err)
			}
		}
	}
	return c, nil
}

// Lookup returns the answer stored for the key if it has not expired, and marks it used.
func (c *Cache) Lookup(provider, model string, digest Digest) ([]byte, bool) {
	k := cacheKey{provider, model, digest}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if ok && !c.cfg.Now().Before(el.Value.(*cacheEntry).expires) {
		c.removeLocked(el, "expired")
		ok = false
	}
	if !ok {
		c.misses.WithLabelValues(provider).Inc()
		return nil, false
	}
	c.order.MoveToFront(el)
	c.hits.WithLabelValues(provider).Inc()
	return append([]byte(nil), el.Value.(*cacheEntry).answer...), true
}

// Store keeps an answer for the key for the TTL, replacing what was there, and drops the least
// recently used answers beyond MaxEntries.
func (c *Cache) Store(provider, model string, digest Digest, answer []byte) {
	k := cacheKey{provider, model, digest}
	e := &cacheEntry{key: k, answer: append([]byte(nil), answer...), expires: c.cfg.Now().Add(c.cfg.TTL)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		el.Value = e
		c.order.MoveToFront(el)
		return
	}
	c.items[k] = c.order.PushFront(e)
	for c.order.Len() > c.cfg.MaxEntries {
		c.removeLocked(c.order.Back(), "capacity")
	}
}

// Len is the number of answers held, expired ones not yet dropped included.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

func (c *Cache) removeLocked(el *list.Element, reason string) {
	c.order.Remove(el)
	delete(c.items, el.Value.(*cacheEntry).key)
	c.evictions.WithLabelValues(reason).Inc()
}
