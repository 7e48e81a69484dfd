package anonymize

import (
	"net/netip"
	"regexp"
	"strings"
)

// detector finds one shape of value. group is the submatch that is the value (0: the whole
// match); when check is set, a match it refuses is skipped.
type detector struct {
	kind  Kind
	re    *regexp.Regexp
	group int
	check func(string) bool
}

// kubeRand is the alphabet Kubernetes draws generated name suffixes from (no vowels, no 0,1,3).
const kubeRand = `[bcdfghjklmnpqrstvwxz2456789]`

// detectors are compiled once and never changed (regexps are safe for concurrent use).
var detectors = []detector{
	// PEM blocks, whole, and the start of one that was cut off.
	{kind: KindSecret, re: regexp.MustCompile(`-----BEGIN [A-Z0-9 ]{1,64}-----[\s\S]*?-----END [A-Z0-9 ]{1,64}-----`)},
	{kind: KindSecret, re: regexp.MustCompile(`-----BEGIN [A-Z0-9 ]{1,64}-----(?:[ \t]*(?:\r?\n|\\n)[ \t]*[A-Za-z0-9+/=]{8,})*`)},
	// JSON Web Tokens (service-account tokens among them).
	{kind: KindSecret, re: regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)},
	// Bearer and basic credentials.
	{kind: KindSecret, group: 1, re: regexp.MustCompile(`(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{6,})`)},
	{kind: KindSecret, group: 1, re: regexp.MustCompile(`(?i)\bauthorization["']?\s*[:=]\s*["']?(?:basic|token|digest)\s+([A-Za-z0-9._~+/=-]{4,})`)},
	// key=value and key: value secrets, quoted or not, in env, YAML, JSON and log lines.
	{kind: KindSecret, group: 1, re: regexp.MustCompile(`(?i)(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|session[_-]?id|client[_-]?secret)["']?\s*[:=]\s*"((?:[^"\\]|\\.)+)"`)},
	{kind: KindSecret, group: 1, re: regexp.MustCompile(`(?i)(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|session[_-]?id|client[_-]?secret)["']?\s*[:=]\s*'([^']+)'`)},
	{kind: KindSecret, group: 1, re: regexp.MustCompile(`(?i)(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|session[_-]?id|client[_-]?secret)["']?\s*[:=][ \t]*([^\s"',;&|}{\]\[]+)`)},
	// Credentials in URLs: scheme://user:password@host.
	{kind: KindSecret, group: 1, re: regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://([^/\s:@]+:[^/\s@]+)@`)},
	// Cloud and service keys of well-known shapes.
	{kind: KindSecret, re: regexp.MustCompile(`\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}\b`)},
	{kind: KindSecret, re: regexp.MustCompile(`\bsk-[A-Za-z0-9_-]{16,}`)},
	{kind: KindSecret, re: regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}`)},
	{kind: KindSecret, re: regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}|glpat-[A-Za-z0-9_-]{20,})`)},
	{kind: KindSecret, re: regexp.MustCompile(`\bxox[abprs]-[A-Za-z0-9-]{10,}`)},
	{kind: KindSecret, re: regexp.MustCompile(`\bhv[sbr]\.[A-Za-z0-9_-]{20,}`)},
	// Kubernetes bootstrap tokens: [a-z0-9]{6}.[a-z0-9]{16}.
	{kind: KindSecret, re: regexp.MustCompile(`\b[a-z0-9]{6}\.[a-z0-9]{16}\b`)},
	// Emails.
	{kind: KindEmail, re: regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)},
	// IPv4 (IPv6 has its own scanner).
	{kind: KindIP, re: regexp.MustCompile(`\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b`), check: isIPv4},
	// Node names of the major clouds: AWS ip-10-0-1-2[.region.compute.internal], GKE, AKS.
	{kind: KindNode, re: regexp.MustCompile(`\bip-[0-9]{1,3}-[0-9]{1,3}-[0-9]{1,3}-[0-9]{1,3}(?:\.[a-z0-9-]+)*\b`)},
	{kind: KindNode, re: regexp.MustCompile(`\bgke-[a-z0-9-]+-[0-9a-f]{8}-[a-z0-9]{4}\b`)},
	{kind: KindNode, re: regexp.MustCompile(`\baks-[a-z0-9]+-[0-9]{6,10}-vmss[0-9a-z]{6}\b`)},
	// Generated pod and ReplicaSet names: the owner's name before the generated suffixes is the
	// value (the suffixes say nothing about the fleet and tell the model it is a pod).
	{kind: KindWorkload, group: 1, re: regexp.MustCompile(`\b([a-z0-9](?:[a-z0-9-]{0,250}[a-z0-9])?)-` + kubeRand + `{6,10}-` + kubeRand + `{5}\b`)},
	{kind: KindWorkload, group: 1, re: regexp.MustCompile(`\b([a-z0-9](?:[a-z0-9-]{0,250}[a-z0-9])?)-(?:` + kubeRand + `{5}|` + kubeRand + `{8,10})\b`), check: singleSuffix},
	// Text that looks like a placeholder already.
	{kind: KindLiteral, re: placeholderRe},
}

var deploymentPodRe = regexp.MustCompile(`-` + kubeRand + `{6,10}-` + kubeRand + `{5}$`)

// singleSuffix accepts name-xxxxx (a Job's or DaemonSet's pod) and name-xxxxxxxx (a ReplicaSet)
// when the suffix has a digit, as generated ones nearly always do and words never; a
// Deployment's pod is left to the detector that keeps its owner's name.
func singleSuffix(m string) bool {
	if deploymentPodRe.MatchString(m) {
		return false
	}
	return strings.ContainsAny(m[strings.LastIndexByte(m, '-'):], "0123456789")
}

func isIPv4(s string) bool {
	a, err := netip.ParseAddr(s)
	if err == nil {
		return a.Is4()
	}
	// netip refuses leading zeros ("010.0.0.1"); such text is still an address to hide.
	for _, part := range strings.Split(s, ".") {
		n := 0
		for _, c := range part {
			n = n*10 + int(c-'0')
		}
		if n > 255 {
			return false
		}
	}
	return true
}

func detectPatterns(text string) []span {
	var spans []span
	for _, d := range detectors {
		for _, m := range d.re.FindAllStringSubmatchIndex(text, -1) {
			start, end := m[2*d.group], m[2*d.group+1]
			if start < 0 || start == end {
				continue
			}
			if d.check != nil && !d.check(text[m[0]:m[1]]) {
				continue
			}
			spans = append(spans, span{start, end, d.kind})
		}
	}
	return append(spans, scanIPv6(text)...)
}

// scanIPv6 finds IPv6 addresses: runs of hex digits, colons and dots with at least two colons
// and a hex digit, standing alone, that parse as an address (a trailing dot or colon, as at the
// end of a sentence, is not part of it).
func scanIPv6(text string) []span {
	var spans []span
	isRun := func(c byte) bool {
		return c == ':' || c == '.' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
	}
	for i := 0; i < len(text); {
		if !isRun(text[i]) {
			i++
			continue
		}
		j := i
		for j < len(text) && isRun(text[j]) {
			j++
		}
		start, end := i, j
		i = j
		for end > start && (text[end-1] == '.' || text[end-1] == ':') && !strings.HasSuffix(text[start:end], "::") {
			end--
		}
		run := text[start:end]
		if strings.Count(run, ":") < 2 || !strings.ContainsAny(run, "0123456789abcdefABCDEF") ||
			wordByteBefore(text, start) || wordByteAt(text, j) {
			continue
		}
		if a, err := netip.ParseAddr(run); err == nil && a.Is6() {
			spans = append(spans, span{start, end, KindIP})
		}
	}
	return spans
}
