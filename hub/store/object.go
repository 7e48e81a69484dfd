package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Apply must set the metadata fields the store owns (uid, creationTimestamp,
// resourceVersion, generation) in an object it must not trust blindly, and must not
// depend on the applying member's Go types (the proposer decoded the object strictly
// already). So it does not decode the object: one validating pass splits the top-level
// object and its metadata into members, and the output is spliced from the input
// bytes. This is several times cheaper than encoding/json with maps.

// member is one "key": value of a JSON object, as offsets into the source.
type member struct {
	key        string // decoded key
	start, end int    // the raw value: src[start:end]
}

// Store-owned metadata fields, in the order they are written.
const (
	ownCreationTimestamp = iota
	ownGeneration
	ownResourceVersion
	ownUID
	numOwned
)

var ownedKeys = [numOwned]string{"creationTimestamp", "generation", "resourceVersion", "uid"}

// objectDoc is a JSON object split one level deep at the top and in metadata.
type objectDoc struct {
	src     []byte
	top     []member
	metaIdx int      // index of metadata in top, -1 when absent
	meta    []member // members of metadata
	// owned holds the new raw values of the store-owned fields; nil keeps the source's.
	owned [numOwned][]byte
}

func parseObject(b []byte) (*objectDoc, error) {
	d := &objectDoc{src: b, metaIdx: -1}
	var s scanner
	s.src = b
	i := s.ws(0)
	if i >= len(b) || b[i] != '{' {
		return nil, errors.New("object is not a JSON object")
	}
	end, err := s.object(i, 0, &d.top)
	if err != nil {
		return nil, fmt.Errorf("object is not valid JSON: %v", err)
	}
	if s.ws(end) != len(b) {
		return nil, errors.New("object is not valid JSON: data after the object")
	}
	if err := checkDuplicates(d.top, ""); err != nil {
		return nil, err
	}
	for i, m := range d.top {
		if m.key != "metadata" {
			continue
		}
		d.metaIdx = i
		raw := b[m.start:m.end]
		if bytes.Equal(raw, []byte("null")) {
			break
		}
		if raw[0] != '{' {
			return nil, errors.New("metadata is not a JSON object")
		}
		// Already validated: this pass only collects the members.
		if _, err := s.object(m.start, 1, &d.meta); err != nil {
			return nil, fmt.Errorf("metadata: %v", err)
		}
		if err := checkDuplicates(d.meta, "metadata."); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func checkDuplicates(ms []member, prefix string) error {
	for i := range ms {
		for j := i + 1; j < len(ms); j++ {
			if ms[i].key == ms[j].key {
				return fmt.Errorf("duplicate field %q", prefix+ms[i].key)
			}
		}
	}
	return nil
}

func find(ms []member, key string) *member {
	for i := range ms {
		if ms[i].key == key {
			return &ms[i]
		}
	}
	return nil
}

// str returns the string value of key in ms ("" when absent or null).
func (d *objectDoc) str(ms []member, key string) (string, error) {
	m := find(ms, key)
	if m == nil {
		return "", nil
	}
	raw := d.src[m.start:m.end]
	if bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	if raw[0] != '"' {
		return "", fmt.Errorf("%s is not a string", key)
	}
	return unquote(raw)
}

func (d *objectDoc) labels() (map[string]string, error) {
	m := find(d.meta, "labels")
	if m == nil || bytes.Equal(d.src[m.start:m.end], []byte("null")) {
		return nil, nil
	}
	if d.src[m.start] != '{' {
		return nil, errors.New("metadata.labels is not a map of strings")
	}
	var ms []member
	s := scanner{src: d.src}
	if _, err := s.object(m.start, 2, &ms); err != nil {
		return nil, err
	}
	l := make(map[string]string, len(ms))
	for _, kv := range ms {
		raw := d.src[kv.start:kv.end]
		if raw[0] != '"' {
			return nil, fmt.Errorf("metadata.labels[%q] is not a string", kv.key)
		}
		v, err := unquote(raw)
		if err != nil {
			return nil, err
		}
		l[kv.key] = v
	}
	return l, nil
}

func (d *objectDoc) generation() int64 {
	m := find(d.meta, "generation")
	if m == nil {
		return 0
	}
	g, err := strconv.ParseInt(string(d.src[m.start:m.end]), 10, 64)
	if err != nil {
		return 0
	}
	return g
}

// rawMeta returns the raw value of a metadata field, or nil.
func (d *objectDoc) rawMeta(key string) []byte {
	if m := find(d.meta, key); m != nil {
		return d.src[m.start:m.end]
	}
	return nil
}

// specSum hashes every top-level field except metadata and status, in key order: what
// a change of bumps metadata.generation.
func (d *objectDoc) specSum() [32]byte {
	idx := make([]int, 0, len(d.top))
	for i, m := range d.top {
		if m.key != "metadata" && m.key != "status" {
			idx = append(idx, i)
		}
	}
	sort.Slice(idx, func(a, b int) bool { return d.top[idx[a]].key < d.top[idx[b]].key })
	h := sha256.New()
	var n [8]byte
	for _, i := range idx {
		m := d.top[i]
		binary.BigEndian.PutUint64(n[:], uint64(len(m.key)))
		h.Write(n[:])
		h.Write([]byte(m.key))
		binary.BigEndian.PutUint64(n[:], uint64(m.end-m.start))
		h.Write(n[:])
		h.Write(d.src[m.start:m.end])
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

func (d *objectDoc) setOwnedString(f int, v string) { d.owned[f] = appendString(nil, v) }

func (d *objectDoc) setGeneration(g int64) { d.owned[ownGeneration] = strconv.AppendInt(nil, g, 10) }

func (d *objectDoc) setResourceVersion(index uint64) {
	b := append(make([]byte, 0, 22), '"')
	b = strconv.AppendUint(b, index, 10)
	d.owned[ownResourceVersion] = append(b, '"')
}

// formatTimestamp renders t like metav1.Time does: RFC 3339 in UTC, whole seconds.
func formatTimestamp(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

func owned(key string) int {
	for i, k := range ownedKeys {
		if k == key {
			return i
		}
	}
	return -1
}

// marshal renders the object: the source's members in their order, with the set
// store-owned fields replacing the source's and written at the end of metadata.
// The output depends only on the source bytes and the set values.
func (d *objectDoc) marshal() []byte {
	n := len(d.src) + 32
	for _, o := range d.owned {
		n += len(o) + 24
	}
	out := make([]byte, 0, n)
	out = append(out, '{')
	for i, m := range d.top {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendKey(out, m.key)
		if i == d.metaIdx {
			out = d.appendMeta(out)
		} else {
			out = append(out, d.src[m.start:m.end]...)
		}
	}
	if d.metaIdx < 0 {
		if len(d.top) > 0 {
			out = append(out, ',')
		}
		out = appendKey(out, "metadata")
		out = d.appendMeta(out)
	}
	return append(out, '}')
}

func (d *objectDoc) appendMeta(out []byte) []byte {
	out = append(out, '{')
	first := true
	for _, m := range d.meta {
		if f := owned(m.key); f >= 0 && d.owned[f] != nil {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = appendKey(out, m.key)
		out = append(out, d.src[m.start:m.end]...)
	}
	for f, v := range d.owned {
		if v == nil {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = appendKey(out, ownedKeys[f])
		out = append(out, v...)
	}
	return append(out, '}')
}

func appendKey(out []byte, k string) []byte { return append(appendString(out, k), ':') }

// appendString appends s as a JSON string, escaped as encoding/json does.
func appendString(out []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always marshals
			return append(out, b...)
		}
	}
	out = append(out, '"')
	out = append(out, s...)
	return append(out, '"')
}

// unquote decodes a raw JSON string (already validated).
func unquote(raw []byte) (string, error) {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return s, nil
}

// maxDepth bounds nesting, as encoding/json does.
const maxDepth = 10000

// scanner is a validating JSON scanner over src (RFC 8259 syntax; strings are not
// checked for valid UTF-8, as encoding/json does not reject it either).
type scanner struct{ src []byte }

func (s *scanner) ws(i int) int {
	for i < len(s.src) {
		switch s.src[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func (s *scanner) errAt(i int, what string) error {
	return fmt.Errorf("%s at offset %d", what, i)
}

// object scans the object at src[i] == '{' and returns the offset after it. When
// members is not nil, it collects the object's members (keys decoded) into it.
func (s *scanner) object(i, depth int, members *[]member) (int, error) {
	if depth > maxDepth {
		return 0, s.errAt(i, "nesting too deep")
	}
	i = s.ws(i + 1)
	if i < len(s.src) && s.src[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(s.src) || s.src[i] != '"' {
			return 0, s.errAt(i, "expected a string key")
		}
		kend, err := s.str(i)
		if err != nil {
			return 0, err
		}
		kstart := i
		i = s.ws(kend)
		if i >= len(s.src) || s.src[i] != ':' {
			return 0, s.errAt(i, "expected ':'")
		}
		vstart := s.ws(i + 1)
		vend, err := s.value(vstart, depth+1)
		if err != nil {
			return 0, err
		}
		if members != nil {
			key, err := unquote(s.src[kstart:kend])
			if err != nil {
				return 0, err
			}
			*members = append(*members, member{key: key, start: vstart, end: vend})
		}
		i = s.ws(vend)
		if i >= len(s.src) {
			return 0, s.errAt(i, "unexpected end")
		}
		switch s.src[i] {
		case ',':
			i = s.ws(i + 1)
		case '}':
			return i + 1, nil
		default:
			return 0, s.errAt(i, "expected ',' or '}'")
		}
	}
}

func (s *scanner) value(i, depth int) (int, error) {
	if i >= len(s.src) {
		return 0, s.errAt(i, "unexpected end")
	}
	switch c := s.src[i]; {
	case c == '{':
		return s.object(i, depth, nil)
	case c == '[':
		return s.array(i, depth)
	case c == '"':
		return s.str(i)
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number(i)
	case c == 't':
		return s.literal(i, "true")
	case c == 'f':
		return s.literal(i, "false")
	case c == 'n':
		return s.literal(i, "null")
	}
	return 0, s.errAt(i, "invalid character")
}

func (s *scanner) array(i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, s.errAt(i, "nesting too deep")
	}
	i = s.ws(i + 1)
	if i < len(s.src) && s.src[i] == ']' {
		return i + 1, nil
	}
	for {
		end, err := s.value(i, depth+1)
		if err != nil {
			return 0, err
		}
		i = s.ws(end)
		if i >= len(s.src) {
			return 0, s.errAt(i, "unexpected end")
		}
		switch s.src[i] {
		case ',':
			i = s.ws(i + 1)
		case ']':
			return i + 1, nil
		default:
			return 0, s.errAt(i, "expected ',' or ']'")
		}
	}
}

func (s *scanner) literal(i int, lit string) (int, error) {
	if !bytes.HasPrefix(s.src[i:], []byte(lit)) {
		return 0, s.errAt(i, "invalid literal")
	}
	return i + len(lit), nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (s *scanner) number(i int) (int, error) {
	b := s.src
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return 0, s.errAt(i, "invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return 0, s.errAt(i, "invalid number")
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return 0, s.errAt(i, "invalid number")
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, nil
}

func isHex(c byte) bool { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') }

// str scans the string at src[i] == '"' and returns the offset after its closing quote.
func (s *scanner) str(i int) (int, error) {
	b := s.src
	for i++; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(b) {
				return 0, s.errAt(i, "unterminated string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return 0, s.errAt(i, "invalid \\u escape")
				}
				i += 6
			default:
				return 0, s.errAt(i, "invalid escape")
			}
		case c < 0x20:
			return 0, s.errAt(i, "control character in string")
		default:
			i++
		}
	}
	return 0, s.errAt(i, "unterminated string")
}
