package diagnose

import (
	"encoding/json"
	"net"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Placeholders that Mask puts where a variable value was. None contains a digit, a slash, a
// quote or a colon, so masking its own output changes nothing.
const (
	MaskString    = "<STR>"
	MaskTimestamp = "<TS>"
	MaskUUID      = "<UUID>"
	MaskURL       = "<URL>"
	MaskIP        = "<IP>"
	MaskPath      = "<PATH>"
	MaskName      = "<ID>" // the generated suffix of a Kubernetes name: web-<ID>
	MaskHex       = "<HEX>"
	MaskDuration  = "<DUR>"
	MaskQuantity  = "<QTY>"
	MaskNumber    = "<NUM>"
	MaskLong      = "<LONG>" // a token longer than MaxTokenBytes after masking
)

// Limits that bound the work and memory spent on one line.
const (
	// MaxLineBytes: longer lines are cut before masking.
	MaxLineBytes = 8192
	// MaxTokens: masked lines keep at most this many tokens.
	MaxTokens = 64
	// MaxTokenBytes: a longer masked token (a blob, a stack frame of a minified bundle) becomes
	// MaskLong. MaxTokens*(MaxTokenBytes+1) < MaxLineBytes, so a masked line is never cut again
	// and masking is idempotent.
	MaxTokenBytes = 120

	maxMaskPasses  = 4
	maxQuotedBytes = 1024
)

// Masker normalises log lines (see Mask). It is immutable once built and safe for concurrent use.
type Masker struct {
	rules []maskRule
	// jsonKeys are the fields of a structured log line that say what happened, in the order they
	// are kept; other fields (request ids, latencies, callers) only add variance.
	jsonKeys []string
}

type maskRule struct {
	re *regexp.Regexp
	// repl is a regexp replacement template, used when fn is nil.
	repl string
	fn   func(string) string
}

// NewMasker compiles the rules. They apply in order: longer, more specific shapes first, so that
// e.g. an IP is not masked as four numbers, nor a timestamp as a duration.
func NewMasker() *Masker {
	re := regexp.MustCompile
	return &Masker{jsonKeys: []string{"level", "severity", "lvl", "msg", "message", "error", "err", "exception", "reason"}, rules: []maskRule{
		// URLs, then addresses: a URL holds addresses and paths, an IPv6 address can hold what
		// looks like a clock time.
		{re: re(`\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s<>]+`), repl: MaskURL},
		{re: re(`\[?\b(?:\d{1,3}\.){3}\d{1,3}\b\]?(?::\d{1,5}\b)?`), repl: MaskIP},
		{re: re(`(?i)\[?[0-9a-f:]*:[0-9a-f:]*:[0-9a-f:.]*\]?(?::\d{1,5}\b)?`), fn: maskIPv6},
		// Timestamps: RFC 3339 / ISO 8601, Go's log package, klog headers, clock times, dates.
		{re: re(`\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?`), repl: MaskTimestamp},
		{re: re(`\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?`), repl: MaskTimestamp},
		{re: re(`\b[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+`), repl: MaskTimestamp},
		{re: re(`\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\b`), repl: MaskTimestamp},
		{re: re(`\b\d{4}-\d{2}-\d{2}\b`), repl: MaskTimestamp},
		{re: re(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`), repl: MaskUUID},
		{re: re(`(^|[\s=(\[,])(?:~|\.{1,2})?/[\w.\-/@+%]+`), repl: "${1}" + MaskPath},
		{re: re(`\b[a-z0-9]+(?:-[a-z0-9]+)+\b`), fn: maskGeneratedName},
		{re: re(`\b0[xX][0-9a-fA-F]+\b`), repl: MaskHex},
		{re: re(`\b[0-9a-fA-F]{8,}\b`), fn: maskHexRun},
		{re: re(`\b\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d)(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))*\b`), repl: MaskDuration},
		{re: re(`\b\d+(?:\.\d+)?(?:Ki|Mi|Gi|Ti|Pi|Ei|KiB|MiB|GiB|TiB|KB|MB|GB|TB|kB|k|M|G|T)\b`), repl: MaskQuantity},
		{re: re(`\b\d+(?:\.\d+)?\b`), repl: MaskNumber},
	}}
}

// maskIPv6 masks a candidate only when it really parses as an IPv6 address (with optional
// brackets and port), so "a::b" in prose or a clock time is left alone.
func maskIPv6(candidate string) string {
	s := strings.TrimRight(candidate, ":")
	trail := candidate[len(s):]
	host := s
	if h, _, err := net.SplitHostPort(s); err == nil && strings.HasPrefix(s, "[") {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ip := net.ParseIP(host); ip != nil && strings.Contains(host, ":") {
		return MaskIP + trail
	}
	return candidate
}

// generatedAlphabet is the alphabet of Kubernetes' random name suffixes and pod-template hashes
// (no vowels, no 0, 1 or 3), so that they never spell words.
const generatedAlphabet = "bcdfghjklmnpqrstvwxz2456789"

func isGenerated(seg string, minLen, maxLen int) bool {
	if len(seg) < minLen || len(seg) > maxLen {
		return false
	}
	for _, r := range seg {
		if !strings.ContainsRune(generatedAlphabet, r) {
			return false
		}
	}
	return true
}

// maskGeneratedName replaces the generated tail of a Kubernetes name: the 5-character random
// suffix (generateName, e.g. pods of a ReplicaSet, Job or DaemonSet) and, before it, a
// pod-template or controller-revision hash of 6 to 10 characters; or a lone hash at the end
// (a ReplicaSet name). "web-7d9f8b6c5d-x2k9p" and "web-5f6d7c8b9-q4w8z" both become "web-<ID>".
func maskGeneratedName(s string) string {
	segs := strings.Split(s, "-")
	n := len(segs)
	switch {
	case n >= 3 && isGenerated(segs[n-1], 5, 5) && isGenerated(segs[n-2], 6, 10):
		n -= 2
	case n >= 2 && isGenerated(segs[n-1], 5, 10) && hasDigit(segs[n-1]):
		n--
	case n >= 2 && isGenerated(segs[n-1], 5, 5):
		n--
	default:
		return s
	}
	return strings.Join(segs[:n], "-") + "-" + MaskName
}

// maskHexRun masks a run of 8 or more hex digits (container ids, digests, commit ids) only when it
// mixes digits and letters; pure digits are numbers, pure letters are words.
func maskHexRun(s string) string {
	if hasDigit(s) && strings.ContainsAny(strings.ToLower(s), "abcdef") {
		return MaskHex
	}
	return s
}

func hasDigit(s string) bool {
	return strings.ContainsAny(s, "0123456789")
}

// Mask normalises one log line so that the same message with different variable parts reads the
// same: structured JSON lines are reduced to their level, message and error fields; then, in
// this order, quoted strings, timestamps, UUIDs, URLs, IPv4 and IPv6 addresses (with ports),
// paths, generated Kubernetes name suffixes, hex values, durations, quantities and numbers are
// replaced by the placeholders above. Whitespace collapses to single spaces, the line is cut to
// MaxLineBytes before and MaxTokens tokens after masking, and invalid UTF-8 is replaced.
func (m *Masker) Mask(line string) string {
	return strings.Join(m.tokens(line), " ")
}

// tokens is Mask before the join.
func (m *Masker) tokens(line string) []string {
	if len(line) > MaxLineBytes {
		line = line[:MaxLineBytes]
	}
	if !utf8.ValidString(line) {
		line = strings.ToValidUTF8(line, "\uFFFD")
	}
	line = flattenJSON(line, m.jsonKeys)
	line = maskQuoted(line)
	// A placeholder can give a later rule's pattern new edges (a number masked next to a name
	// suffix), so the rules run again until nothing changes: that makes Mask idempotent.
	for range maxMaskPasses {
		before := line
		for _, r := range m.rules {
			if r.fn != nil {
				line = r.re.ReplaceAllStringFunc(line, r.fn)
			} else {
				line = r.re.ReplaceAllString(line, r.repl)
			}
		}
		if line == before {
			break
		}
	}
	fields := strings.Fields(line)
	if len(fields) > MaxTokens {
		fields = fields[:MaxTokens]
	}
	for i, f := range fields {
		if len(f) > MaxTokenBytes {
			fields[i] = MaskLong
		}
	}
	return fields
}

// flattenJSON turns a JSON-object log line into "key=value" text of its message fields (or, when
// it has none of them, of all its scalar top-level fields, by key). Other lines pass unchanged.
func flattenJSON(line string, keys []string) string {
	trimmed := strings.TrimSpace(line)
	if !strings.HasPrefix(trimmed, "{") || !strings.HasSuffix(trimmed, "}") {
		return line
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(trimmed), &obj); err != nil {
		return line
	}
	scalar := func(v any) (string, bool) {
		switch v := v.(type) {
		case string:
			return v, true
		case float64, bool:
			b, _ := json.Marshal(v)
			return string(b), true
		}
		return "", false
	}
	var parts []string
	for _, k := range keys {
		if s, ok := scalar(obj[k]); ok {
			parts = append(parts, k+"="+s)
		}
	}
	if len(parts) == 0 {
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if s, ok := scalar(obj[k]); ok {
				parts = append(parts, k+"="+s)
			}
		}
	}
	if len(parts) == 0 {
		return line
	}
	return strings.Join(parts, " ")
}

// maskQuoted replaces "double", `back` and 'single' quoted strings by MaskString. A single quote
// counts only when it opens after a non-letter and closes before one, so apostrophes in words
// ("can't") are left alone. An unterminated quote is left as it is.
func maskQuoted(s string) string {
	if !strings.ContainsAny(s, "\"'`") {
		return s
	}
	var b strings.Builder
	isWord := func(r rune) bool {
		return r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= utf8.RuneSelf
	}
	prev := ' '
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == '"' || r == '`' || (r == '\'' && !isWord(prev))) && i+size < len(s) {
			if end, ok := closingQuote(s, i+size, r, isWord); ok {
				b.WriteString(MaskString)
				i = end + 1
				prev = '>'
				continue
			}
		}
		b.WriteRune(r)
		prev = r
		i += size
	}
	return b.String()
}

// closingQuote finds the quote that closes one opened just before from; backslash escapes count
// inside double quotes.
func closingQuote(s string, from int, q rune, isWord func(rune) bool) (int, bool) {
	// Quoted values longer than maxQuotedBytes are not what masking is for, and the bound keeps
	// a line full of unmatched quotes linear.
	for j := from; j < len(s) && j < from+maxQuotedBytes; j++ {
		switch {
		case s[j] == '\\' && q == '"':
			j++
		case rune(s[j]) == q:
			if q == '\'' {
				next, _ := utf8.DecodeRuneInString(s[j+1:])
				if j+1 < len(s) && isWord(next) {
					continue
				}
			}
			return j, true
		}
	}
	return 0, false
}
