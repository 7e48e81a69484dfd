package diagnose

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Wildcard stands in a template for a position where its lines differ.
const Wildcard = "<*>"

// Defaults of MinerConfig; a zero field takes its default.
const (
	DefaultDepth       = 2
	DefaultSimilarity  = 0.5
	DefaultMaxChildren = 64
	DefaultMaxClusters = 1024
)

// MinerConfig tunes the Drain parse tree.
type MinerConfig struct {
	// Depth is how many leading tokens key the tree below the token-count level. Default 2.
	Depth int `json:"depth,omitempty"`
	// Similarity is the least share of a template's positions a line must match exactly to join
	// it (a line that fits a template's fixed tokens always joins). Default 0.5.
	Similarity float64 `json:"similarity,omitempty"`
	// MaxChildren bounds the distinct tokens under one tree node; further tokens share the
	// wildcard branch. Default 64.
	MaxChildren int `json:"maxChildren,omitempty"`
	// MaxClusters bounds the templates kept; the least recently matched one is evicted to make
	// room. Default 1024.
	MaxClusters int `json:"maxClusters,omitempty"`
}

func (c MinerConfig) withDefaults() MinerConfig {
	if c.Depth <= 0 {
		c.Depth = DefaultDepth
	}
	if !(c.Similarity > 0 && c.Similarity <= 1) {
		c.Similarity = DefaultSimilarity
	}
	if c.MaxChildren <= 0 {
		c.MaxChildren = DefaultMaxChildren
	}
	if c.MaxClusters <= 0 {
		c.MaxClusters = DefaultMaxClusters
	}
	return c
}

// Template is one mined log template.
type Template struct {
	// ID is TemplateID(Text).
	ID string `json:"id"`
	// Text is the masked tokens joined by single spaces, Wildcard where the lines differ.
	Text string `json:"text"`
	// Count is how many lines the template has absorbed.
	Count int `json:"count"`
}

// TemplateID is the first 12 hex digits of sha256 of the template text: short, stable across
// hub members and releases as long as masking does not change.
func TemplateID(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:6])
}

// Miner is a Drain-style online log template miner (He et al., "Drain: An Online Log Parsing
// Approach with Fixed Depth Tree", 2017), fed masked lines (see Masker). A line is routed by its
// token count, then by its first Depth tokens (a token holding a digit, or one arriving at a node
// that already has MaxChildren children, takes the wildcard branch); in the leaf it joins the most
// similar template of the same length, which then turns the differing positions into Wildcard,
// or it starts a new template.
//
// Guarantees: masking runs first, so lines that differ only in masked values (timestamps, pod
// names, addresses, ids, numbers, ...) are the same line to the miner and always land in the same
// template, whichever cluster sent them and in whatever order. A template's text is the
// position-wise agreement of all its lines, which does not depend on the order they came in;
// which template a line joins can depend on what came before only when lines differ in unmasked
// tokens (Drain's greedy choice and the MaxChildren cap). Mine removes the order dependence for a
// batch. A template's ID follows its text, so it changes when the template generalises.
//
// Memory is bounded by MaxClusters templates of at most MaxTokens tokens; when full, the least
// recently matched template is evicted (ties impossible: a counter orders matches) and tree nodes
// left empty are removed. Safe for concurrent use.
type Miner struct {
	mu       sync.Mutex
	cfg      MinerConfig
	masker   *Masker
	root     *node
	clusters map[uint64]*cluster
	nextID   uint64
	clock    uint64
}

type node struct {
	children map[string]*node
	clusters []*cluster
}

type cluster struct {
	id       uint64
	tokens   []string
	count    int
	lastUsed uint64
	path     []string
}

// NewMiner returns an empty miner.
func NewMiner(cfg MinerConfig) *Miner {
	return newMinerWith(cfg, NewMasker())
}

func newMinerWith(cfg MinerConfig, m *Masker) *Miner {
	return &Miner{cfg: cfg.withDefaults(), masker: m, root: &node{}, clusters: map[uint64]*cluster{}}
}

// Add masks line, folds it into the tree and returns the template it now belongs to. ok is false
// for a line that is empty once masked.
func (m *Miner) Add(line string) (t Template, ok bool) {
	tokens := m.masker.tokens(line)
	if len(tokens) == 0 {
		return Template{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.add(tokens).template(), true
}

// Match returns the template line would join, without changing anything.
func (m *Miner) Match(line string) (Template, bool) {
	tokens := m.masker.tokens(line)
	if len(tokens) == 0 {
		return Template{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	leaf := m.find(m.path(tokens, false))
	if leaf == nil {
		return Template{}, false
	}
	if c := m.best(leaf, tokens); c != nil {
		return c.template(), true
	}
	return Template{}, false
}

// Templates lists the templates, most lines first, then by text.
func (m *Miner) Templates() []Template {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Template, 0, len(m.clusters))
	for _, c := range m.clusters {
		out = append(out, c.template())
	}
	sortTemplates(out)
	return out
}

// Len is the number of templates held.
func (m *Miner) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.clusters)
}

func sortTemplates(ts []Template) {
	slices.SortFunc(ts, func(a, b Template) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Text, b.Text)
	})
}

func (c *cluster) template() Template {
	text := strings.Join(c.tokens, " ")
	return Template{ID: TemplateID(text), Text: text, Count: c.count}
}

func (m *Miner) add(tokens []string) *cluster {
	m.clock++
	path := m.path(tokens, true)
	leaf := m.ensure(path)
	if c := m.best(leaf, tokens); c != nil {
		for i, tok := range tokens {
			if c.tokens[i] != tok {
				c.tokens[i] = Wildcard
			}
		}
		c.count++
		c.lastUsed = m.clock
		return c
	}
	if len(m.clusters) >= m.cfg.MaxClusters {
		m.evict()
		leaf = m.ensure(path) // eviction may have pruned the leaf
	}
	m.nextID++
	c := &cluster{id: m.nextID, tokens: slices.Clone(tokens), count: 1, lastUsed: m.clock, path: path}
	m.clusters[c.id] = c
	leaf.clusters = append(leaf.clusters, c)
	return c
}

// path is the keys from the root to the leaf for tokens: the token count, then up to Depth
// leading tokens. With forInsert, a token that would exceed MaxChildren of an existing node takes
// the wildcard key; without it, a token with no child of its own falls back to the wildcard key.
func (m *Miner) path(tokens []string, forInsert bool) []string {
	keys := []string{strconv.Itoa(len(tokens))}
	n := m.root.children[keys[0]]
	for i := 0; i < m.cfg.Depth && i < len(tokens); i++ {
		key := tokens[i]
		if hasDigit(key) || key == Wildcard {
			key = Wildcard
		}
		if n != nil {
			if _, ok := n.children[key]; !ok {
				if !forInsert || len(n.children) >= m.cfg.MaxChildren {
					key = Wildcard
				}
			}
			n = n.children[key]
		}
		keys = append(keys, key)
	}
	return keys
}

func (m *Miner) find(path []string) *node {
	n := m.root
	for _, k := range path {
		if n = n.children[k]; n == nil {
			return nil
		}
	}
	return n
}

func (m *Miner) ensure(path []string) *node {
	n := m.root
	for _, k := range path {
		child := n.children[k]
		if child == nil {
			if n.children == nil {
				n.children = map[string]*node{}
			}
			child = &node{}
			n.children[k] = child
		}
		n = child
	}
	return n
}

// best is the leaf's template that tokens should join, or nil. A template whose fixed tokens all
// equal the line's always qualifies; otherwise the share of exactly equal positions must reach
// Similarity. Highest share wins, then fewer wildcards, then the older template.
func (m *Miner) best(leaf *node, tokens []string) *cluster {
	var (
		best                *cluster
		bestSim             float64
		bestWild, bestFixed int
	)
	for _, c := range leaf.clusters {
		if len(c.tokens) != len(tokens) {
			continue
		}
		equal, wild := 0, 0
		for i, tok := range c.tokens {
			switch {
			case tok == Wildcard:
				wild++
			case tok == tokens[i]:
				equal++
			}
		}
		fits := equal+wild == len(tokens)
		sim := float64(equal) / float64(len(tokens))
		if !fits && sim < m.cfg.Similarity {
			continue
		}
		fixed := 0
		if fits {
			fixed = 1
		}
		better := best == nil || fixed > bestFixed ||
			(fixed == bestFixed && (sim > bestSim || (sim == bestSim && (wild < bestWild || (wild == bestWild && c.id < best.id)))))
		if better {
			best, bestSim, bestWild, bestFixed = c, sim, wild, fixed
		}
	}
	return best
}

// evict drops the least recently matched template and prunes the tree nodes it leaves empty.
func (m *Miner) evict() {
	var victim *cluster
	for _, c := range m.clusters {
		if victim == nil || c.lastUsed < victim.lastUsed {
			victim = c
		}
	}
	if victim == nil {
		return
	}
	delete(m.clusters, victim.id)
	// Walk down recording the nodes, then remove the cluster and empty nodes bottom-up.
	nodes := []*node{m.root}
	for _, k := range victim.path {
		n := nodes[len(nodes)-1].children[k]
		if n == nil {
			return
		}
		nodes = append(nodes, n)
	}
	leaf := nodes[len(nodes)-1]
	leaf.clusters = slices.DeleteFunc(leaf.clusters, func(c *cluster) bool { return c == victim })
	for i := len(nodes) - 1; i > 0; i-- {
		n := nodes[i]
		if len(n.clusters) > 0 || len(n.children) > 0 {
			break
		}
		delete(nodes[i-1].children, victim.path[i-1])
	}
}

// Mine clusters a batch of lines into templates, independently of the order of the lines: the
// masked lines are sorted before they are fed to a fresh miner (with room for every line, so
// nothing is evicted). The result depends only on the multiset of masked lines. Templates come
// most lines first, then by text; empty lines are skipped.
func Mine(lines []string, cfg MinerConfig) []Template {
	return mine(NewMasker(), lines, cfg)
}

func mine(masker *Masker, lines []string, cfg MinerConfig) []Template {
	masked := make([][]string, 0, len(lines))
	for _, l := range lines {
		if toks := masker.tokens(l); len(toks) > 0 {
			masked = append(masked, toks)
		}
	}
	slices.SortFunc(masked, func(a, b []string) int { return slices.Compare(a, b) })
	cfg = cfg.withDefaults()
	cfg.MaxClusters = max(cfg.MaxClusters, len(masked))
	m := newMinerWith(cfg, masker)
	for _, toks := range masked {
		m.add(toks)
	}
	out := make([]Template, 0, len(m.clusters))
	for _, c := range m.clusters {
		out = append(out, c.template())
	}
	sortTemplates(out)
	return out
}
