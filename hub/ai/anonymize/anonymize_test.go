package anonymize

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fleet() Known {
	return Known{
		Clusters:   []string{"prod-eu-1", "prod"},
		Namespaces: []string{"payments", "default"},
		Workloads:  []string{"web", "checkout-api"},
		Nodes:      []string{"worker-7"},
		Secrets:    []string{"Plant3d-Key-xyz"},
	}
}

func TestAnonymizeReplaces(t *testing.T) {
	const pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgwMbRvI0MBZhpF\n-----END RSA PRIVATE KEY-----"
	const jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJl"
	tests := []struct {
		name string
		in   string
		want string // anonymised text
	}{
		{"cluster and namespace", "cluster prod, namespace payments", "cluster <cluster-1>, namespace <namespace-1>"},
		{"longest known name wins", "prod-eu-1 and prod", "<cluster-1> and <cluster-2>"},
		{"workload in a pod name and a DNS name", "web-7d9f8b6c4-x2k4q serves web.payments.svc; ns/web",
			"<workload-1>-7d9f8b6c4-x2k4q serves <workload-1>.<namespace-1>.svc; ns/<workload-1>"},
		{"not inside a longer word", "webhook and prodigy and payments2", "webhook and prodigy and payments2"},
		{"case sensitive", "PROD is not prod", "PROD is not <cluster-1>"},
		{"node", "node worker-7 NotReady", "node <node-1> NotReady"},
		{"cloud node names", "ip-10-0-1-23.eu-west-1.compute.internal and gke-c1-pool-1-3f2a9b1c-x7zq",
			"<node-1> and <node-2>"},
		{"unknown deployment pod keeps its suffixes", "pod billing-worker-5d8f7c9b6-x2k4q OOMKilled",
			"pod <workload-1>-5d8f7c9b6-x2k4q OOMKilled"},
		{"job pod", "pod nightly-report-x2k4q failed", "pod <workload-1>-x2k4q failed"},
		{"words are not generated suffixes", "pre-check and re-build", "pre-check and re-build"},
		{"ipv4", "dial tcp 10.0.12.7:5432: connection refused", "dial tcp <ip-1>:5432: connection refused"},
		{"ipv6", "peer [2001:db8::8a2e:370:7334]:443 and fe80::1.", "peer [<ip-1>]:443 and <ip-2>."},
		{"not an ipv6", "at 12:30:45 std::string aa:bb:cc:dd:ee:ff", "at 12:30:45 std::string aa:bb:cc:dd:ee:ff"},
		{"email", "paged oncall.team+k8s@example.co.uk", "paged <email-1>"},
		{"bearer token", "Authorization: Bearer abc.DEF_123-xyz", "Authorization: Bearer <secret-1>"},
		{"basic credentials", `authorization: Basic dXNlcjpwYXNz`, `authorization: Basic <secret-1>`},
		{"jwt", "token " + jwt + " expired", "token <secret-1> expired"},
		{"key=value", "DB_PASSWORD=hunter2 api_key: 'k-1' client_secret=\"s 3\"",
			"DB_PASSWORD=<secret-1> api_key: '<secret-2>' client_secret=\"<secret-3>\""},
		{"json secret", `{"password": "p\"w", "token":"t0k"}`, `{"password": "<secret-1>", "token":"<secret-2>"}`},
		{"aws keys", "AKIAIOSFODNN7EXAMPLE aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
			"<secret-1> aws_secret_access_key=<secret-2>"},
		{"pem block", "key:\n" + pem + "\nend", "key:\n<secret-1>\nend"},
		{"cut-off pem block", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq", "<secret-1>"},
		{"provider keys", "sk-proj-abcdefghijklmnop1234 AIzaSyA1234567890abcdefghijklmnopqrstuv",
			"<secret-1> <secret-2>"},
		{"url credentials", "postgres://app:s3cret@db:5432/x", "postgres://<secret-1>@db:5432/x"},
		{"bootstrap token", "join with abcdef.0123456789abcdef", "join with <secret-1>"},
		{"known secret anywhere", "xPlant3d-Key-xyzx", "x<secret-1>x"},
		{"overlaps merge into the highest kind", "mail admin@prod.example.com", "mail <email-1>"},
		{"placeholder-looking text is replaced", "literal <cluster-1> here", "literal <literal-1> here"},
		{"same value same placeholder", "prod prod payments prod", "<cluster-1> <cluster-1> <namespace-1> <cluster-1>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSession(fleet())
			got := s.Anonymize(tt.in)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.in, s.RestoreAll(got), "RestoreAll is the inverse")
		})
	}
}

func TestPlaceholdersStableAcrossTexts(t *testing.T) {
	s := NewSession(fleet())
	a := s.Anonymize("prod payments 10.0.0.1")
	b := s.Anonymize("10.0.0.1 in payments on prod, and 10.0.0.2")
	assert.Equal(t, "<cluster-1> <namespace-1> <ip-1>", a)
	assert.Equal(t, "<ip-1> in <namespace-1> on <cluster-1>, and <ip-2>", b)
	assert.Equal(t, 4, s.Len())

	again := NewSession(fleet())
	assert.Equal(t, a, again.Anonymize("prod payments 10.0.0.1"), "same calls, same texts")
}

func TestRestoreKeepsSecrets(t *testing.T) {
	s := NewSession(fleet())
	anon := s.Anonymize("web on prod uses password=hunter2 and Plant3d-Key-xyz")
	require.Equal(t, "<workload-1> on <cluster-1> uses password=<secret-1> and <secret-2>", anon)
	answer := "Restart <workload-1> on <cluster-1>; rotate <secret-1> (and <secret-2>). <cluster-9> is unknown."
	assert.Equal(t, "Restart web on prod; rotate <secret-1> (and <secret-2>). <cluster-9> is unknown.", s.Restore(answer))
	assert.Equal(t, "Restart web on prod; rotate hunter2 (and Plant3d-Key-xyz). <cluster-9> is unknown.", s.RestoreAll(answer))
}

func TestRestoreJSON(t *testing.T) {
	s := NewSession(Known{Workloads: []string{"web", `a"b`}, Namespaces: []string{"payments"}})
	s.Anonymize(`web payments a"b`)
	tests := []struct {
		name, in, want string
	}{
		{"plain", `{"summary":"restart <workload-1> in <namespace-1>","n":1}`, `{"summary":"restart web in payments","n":1}`},
		{"unicode escapes", `{"s":"\u003cworkload-1\u003e"}`, `{"s":"web"}`},
		{"value needing escapes", `["use <workload-2>"]`, `["use a\"b"]`},
		{"keys too, layout kept", "{ \"<workload-1>\" : [ 1, \"x\" ] }", "{ \"web\" : [ 1, \"x\" ] }"},
		{"unchanged literal kept byte for byte", `{"s":"caf\u00e9 <cluster-3>"}`, `{"s":"caf\u00e9 <cluster-3>"}`},
		{"not JSON", `oops "<workload-1>`, `oops "<workload-1>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(s.RestoreJSON([]byte(tt.in)))
			assert.Equal(t, tt.want, got)
			if json.Valid([]byte(tt.in)) {
				assert.True(t, json.Valid([]byte(got)))
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	s := NewSession(fleet())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				in := "prod payments 10.1.2.3 web"
				require.Equal(t, in, s.RestoreAll(s.Anonymize(in)))
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 4, s.Len())
}

// plantedSecret reports whether a known secret can be checked for absence: a string of only
// placeholder characters could be part of a placeholder itself.
func plantedSecret(secret string) bool {
	return len(secret) >= 6 && !strings.ContainsAny(secret, "<>") &&
		strings.IndexFunc(secret, func(r rune) bool { return !(r == '-' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9')) }) >= 0
}

func FuzzAnonymizeRoundTrip(f *testing.F) {
	f.Add("cluster prod ns payments pod web-7d9f8b6c4-x2k4q at 10.0.0.1 token=abc", "prod", "web", "Plant3d-Key-xyz")
	f.Add("<cluster-1> <literal-1> <<secret-1>> <ip-0>", "cluster", "<cluster-1>", "S3cret!value")
	f.Add("mail a@b.sk-PLANTEDkey1234567890abcdef.com", "b", "sk", "sk-PLANTEDkey1234567890abcdef")
	f.Add("-----BEGIN X-----\nabc\n-----END X----- fe80::1 ::ffff:1.2.3.4", "x", "y", "K3y_with_underscore")
	f.Add("Bearer Plant3d-Key-xyzPlant3d-Key-xyz", "a", "b", "Plant3d-Key-xyz")
	f.Fuzz(func(t *testing.T, text, cluster, workload, secret string) {
		s := NewSession(Known{Clusters: []string{cluster}, Workloads: []string{workload}, Secrets: []string{secret}})
		anon := s.Anonymize(text)
		if got := s.RestoreAll(anon); got != text {
			t.Fatalf("RestoreAll(Anonymize(%q)) = %q", text, got)
		}
		if again := s.Anonymize(text); again != anon {
			t.Fatalf("not stable: %q then %q", anon, again)
		}
		if plantedSecret(secret) {
			if strings.Contains(anon, secret) {
				t.Fatalf("secret %q survived in %q", secret, anon)
			}
			if restored := s.Restore(anon); strings.Contains(restored, secret) {
				t.Fatalf("secret %q came back through Restore: %q", secret, restored)
			}
		}
	})
}

func FuzzRestoreJSON(f *testing.F) {
	f.Add(`{"a":"<workload-1> \u003cnamespace-1\u003e","b":["<ip-1>"]}`)
	f.Add(`"\\<workload-1>\"`)
	f.Add(`{"x":"<secret-1>"}`)
	f.Fuzz(func(t *testing.T, doc string) {
		s := NewSession(Known{Workloads: []string{`we"b\`}, Namespaces: []string{"ns\u2028"}})
		s.Anonymize("we\"b\\ ns\u2028 10.0.0.1 password=x")
		out := s.RestoreJSON([]byte(doc))
		if !json.Valid([]byte(doc)) {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("RestoreJSON(%q) = %q is not JSON", doc, out)
		}
		var in, got any
		require.NoError(t, json.Unmarshal([]byte(doc), &in))
		require.NoError(t, json.Unmarshal(out, &got))
		assert.Equal(t, restoreValue(s, in), got)
	})
}

// restoreValue restores every string of a decoded JSON value: what RestoreJSON must amount to.
func restoreValue(s *Session, v any) any {
	switch x := v.(type) {
	case string:
		return s.Restore(x)
	case []any:
		for i := range x {
			x[i] = restoreValue(s, x[i])
		}
		return x
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[s.Restore(k)] = restoreValue(s, e)
		}
		return out
	default:
		return v
	}
}

func TestResumeContinuesAConversation(t *testing.T) {
	s := NewSession(fleet())
	anon := s.Anonymize("web in payments on prod-eu-1 leaked Plant3d-Key-xyz")
	kept := s.Placeholders()
	assert.Equal(t, map[string]string{"<workload-1>": "web", "<namespace-1>": "payments", "<cluster-1>": "prod-eu-1"}, kept,
		"secrets are never kept with a request")

	// The record may be damaged or edited: only real placeholders are used.
	kept["web"], kept["<secret-1>"], kept["<workload-2"] = "X", "Plant3d-Key-xyz", "Y"
	r := Resume(kept)
	answer := anon + " | fix web in <workload-1>, <secret-1>, <workload-2, <node-4>"
	assert.Equal(t, "web in payments on prod-eu-1 leaked <secret-1> | fix web in web, <secret-1>, <workload-2, <node-4>", r.Restore(answer))
	assert.Equal(t, "no placeholders", Resume(nil).Restore("no placeholders"))

	// A later message of the same conversation: kept names get their placeholders again, new
	// values new numbers, and the mapping grows.
	reply := r.Anonymize("webhook of web in payments listens on 10.0.0.7, ask ops@example.com")
	assert.Equal(t, "webhook of <workload-1> in <namespace-1> listens on <ip-1>, ask <email-1>", reply)
	assert.Equal(t, "10.0.0.7", r.Placeholders()["<ip-1>"])
	assert.Equal(t, "web", r.Placeholders()["<workload-1>"])
	assert.Equal(t, "<workload-3>", Resume(map[string]string{"<workload-2>": "a"}).placeholderLocked("b", KindWorkload), "numbers go on after the kept ones")
}
