package anonymize

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Kind is the class of a replaced value; it names the placeholder, as in <namespace-2>.
type Kind string

// The kinds, from the highest priority to the lowest: when detected values overlap, they are
// replaced together by one placeholder of the highest kind among them, so that no part of any
// of them is left in the text.
const (
	KindSecret    Kind = "secret"
	KindEmail     Kind = "email"
	KindIP        Kind = "ip"
	KindNode      Kind = "node"
	KindWorkload  Kind = "workload"
	KindNamespace Kind = "namespace"
	KindCluster   Kind = "cluster"
	// KindLiteral is text of the input that already looks like a placeholder: it is replaced
	// too, so that restoring never turns it into a real value.
	KindLiteral Kind = "literal"
)

func (k Kind) priority() int {
	switch k {
	case KindSecret:
		return 8
	case KindEmail:
		return 7
	case KindIP:
		return 6
	case KindNode:
		return 5
	case KindWorkload:
		return 4
	case KindNamespace:
		return 3
	case KindCluster:
		return 2
	default:
		return 1
	}
}

// Known are the names and secrets the caller knows are in the text. Names match whole, case
// sensitively, where they are not part of a longer word (letters, digits, underscore), so
// "web" is replaced in "web-7d9f8", "ns/web" and "web.default.svc", not in "webhook". Secrets
// match anywhere.
type Known struct {
	Clusters   []string
	Namespaces []string
	Workloads  []string
	Nodes      []string
	// Secrets are exact strings that must never leave the hub, such as the provider's own key.
	Secrets []string
}

// Session is one anonymisation mapping: the same value always gets the same placeholder, in
// every text the session anonymises, and placeholders are numbered per kind in the order the
// values are first seen, so the same calls give the same texts. Safe for concurrent use.
type Session struct {
	known []knownValue // longest first

	mu      sync.Mutex
	byValue map[string]string // value -> placeholder
	byPH    map[string]entry  // placeholder -> value
	next    map[Kind]int
}

type knownValue struct {
	value string
	kind  Kind
	whole bool // must not be part of a longer word
}

type entry struct {
	value string
	kind  Kind
}

// NewSession returns an empty mapping that knows the given names and secrets.
func NewSession(known Known) *Session {
	s := &Session{byValue: map[string]string{}, byPH: map[string]entry{}, next: map[Kind]int{}}
	add := func(values []string, kind Kind, whole bool) {
		for _, v := range values {
			if v != "" {
				s.known = append(s.known, knownValue{value: v, kind: kind, whole: whole})
			}
		}
	}
	add(known.Secrets, KindSecret, false)
	add(known.Nodes, KindNode, true)
	add(known.Workloads, KindWorkload, true)
	add(known.Namespaces, KindNamespace, true)
	add(known.Clusters, KindCluster, true)
	slices.SortStableFunc(s.known, func(a, b knownValue) int { return len(b.value) - len(a.value) })
	return s
}

// placeholderRe matches every placeholder a Session can produce.
var placeholderRe = regexp.MustCompile(`<(secret|email|ip|node|workload|namespace|cluster|literal)-([1-9][0-9]{0,8})>`)

// span is a detected value: text[start:end].
type span struct {
	start, end int
	kind       Kind
}

// Anonymize returns text with every known name and secret, and every value the detectors
// recognise, replaced by its placeholder.
func (s *Session) Anonymize(text string) string {
	spans := s.detect(text)
	if len(spans) == 0 {
		return text
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	b.Grow(len(text))
	last := 0
	for _, sp := range spans {
		b.WriteString(text[last:sp.start])
		b.WriteString(s.placeholderLocked(text[sp.start:sp.end], sp.kind))
		last = sp.end
	}
	b.WriteString(text[last:])
	return b.String()
}

func (s *Session) placeholderLocked(value string, kind Kind) string {
	if ph, ok := s.byValue[value]; ok {
		return ph
	}
	s.next[kind]++
	ph := "<" + string(kind) + "-" + strconv.Itoa(s.next[kind]) + ">"
	s.byValue[value] = ph
	s.byPH[ph] = entry{value: value, kind: kind}
	return ph
}

// Restore puts the real values back into an answer, except secrets: a secret placeholder stays
// as it is, so a secret never comes back through a provider's answer. Placeholders the session
// did not hand out (a provider may invent some) are left as they are.
func (s *Session) Restore(text string) string { return s.restore(text, false) }

// RestoreAll is the exact inverse of Anonymize, secrets included: RestoreAll(Anonymize(t)) == t.
func (s *Session) RestoreAll(text string) string { return s.restore(text, true) }

func (s *Session) restore(text string, secrets bool) string {
	if !strings.Contains(text, "<") {
		return text
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return placeholderRe.ReplaceAllStringFunc(text, func(ph string) string {
		e, ok := s.byPH[ph]
		if !ok || (e.kind == KindSecret && !secrets) {
			return ph
		}
		return e.value
	})
}

// RestoreJSON restores (as Restore) the placeholders inside the string literals of a JSON
// text, re-encoding a literal whose value changed so the result stays valid JSON whatever the
// restored values contain. Placeholders the provider wrote with \u escapes are found too.
// Everything outside string literals is copied unchanged.
func (s *Session) RestoreJSON(data []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(data))
	for i := 0; i < len(data); {
		if data[i] != '"' {
			out.WriteByte(data[i])
			i++
			continue
		}
		end := stringEnd(data, i)
		if end < 0 { // unterminated: not JSON, leave the rest alone
			out.Write(data[i:])
			break
		}
		lit := data[i : end+1]
		i = end + 1
		var str string
		if err := json.Unmarshal(lit, &str); err != nil {
			out.Write(lit)
			continue
		}
		restored := s.Restore(str)
		if restored == str {
			out.Write(lit)
			continue
		}
		out.Write(encodeString(restored))
	}
	return out.Bytes()
}

// stringEnd returns the index of the quote closing the JSON string that opens at start, or -1.
func stringEnd(data []byte, start int) int {
	for j := start + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return -1
}

func encodeString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// Placeholders is the session's mapping from placeholder to value, secrets left out, for an
// answer that comes back later than the session lives (a Jules session runs for minutes and
// may finish on another hub member): keep it with the request, restore with Restorer.
func (s *Session) Placeholders() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for ph, e := range s.byPH {
		if e.kind != KindSecret {
			out[ph] = e.value
		}
	}
	return out
}

// Resume continues a session from a mapping Placeholders made, for a later text of the same
// conversation and for restoring its answers: kept values get their placeholders again (names
// where they are whole words, as NewSession's), new values get new numbers after the kept
// ones, and Placeholders returns both. Keys that are not placeholders of this package are
// ignored, so a damaged record cannot make Restore replace arbitrary text.
func Resume(placeholders map[string]string) *Session {
	s := &Session{byValue: map[string]string{}, byPH: map[string]entry{}, next: map[Kind]int{}}
	for ph, v := range placeholders {
		m := placeholderRe.FindStringSubmatch(ph)
		if m == nil || m[0] != ph || Kind(m[1]) == KindSecret || v == "" {
			continue
		}
		kind := Kind(m[1])
		n, _ := strconv.Atoi(m[2])
		s.byPH[ph] = entry{value: v, kind: kind}
		s.byValue[v] = ph
		s.next[kind] = max(s.next[kind], n)
		switch kind {
		case KindNode, KindWorkload, KindNamespace, KindCluster:
			s.known = append(s.known, knownValue{value: v, kind: kind, whole: true})
		}
	}
	slices.SortStableFunc(s.known, func(a, b knownValue) int {
		if len(a.value) != len(b.value) {
			return len(b.value) - len(a.value)
		}
		return strings.Compare(a.value, b.value)
	})
	return s
}

// Len is the number of distinct values the session has replaced.
func (s *Session) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byPH)
}

// detect returns the spans to replace, sorted and merged: overlapping spans become one of the
// highest kind among them.
func (s *Session) detect(text string) []span {
	var spans []span
	for _, k := range s.known {
		for off := 0; off < len(text); {
			i := strings.Index(text[off:], k.value)
			if i < 0 {
				break
			}
			start := off + i
			end := start + len(k.value)
			if !k.whole || (!wordByteBefore(text, start) && !wordByteAt(text, end)) {
				spans = append(spans, span{start, end, k.kind})
			}
			off = start + 1
		}
	}
	spans = append(spans, detectPatterns(text)...)
	if len(spans) == 0 {
		return nil
	}
	slices.SortFunc(spans, func(a, b span) int {
		if a.start != b.start {
			return a.start - b.start
		}
		return b.end - a.end
	})
	merged := spans[:1]
	for _, sp := range spans[1:] {
		last := &merged[len(merged)-1]
		if sp.start < last.end {
			last.end = max(last.end, sp.end)
			if sp.kind.priority() > last.kind.priority() {
				last.kind = sp.kind
			}
			continue
		}
		merged = append(merged, sp)
	}
	return merged
}

func isWordByte(b byte) bool {
	return b == '_' || b >= 0x80 || ('0' <= b && b <= '9') || ('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z')
}

func wordByteBefore(text string, i int) bool { return i > 0 && isWordByte(text[i-1]) }
func wordByteAt(text string, i int) bool     { return i < len(text) && isWordByte(text[i]) }
