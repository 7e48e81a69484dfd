package diagnose

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestMask(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"rfc3339 timestamp", "2026-12-01T10:00:03.123Z starting", "<TS> starting"},
		{"offset timestamp", "2026-12-01 10:00:03,5+01:00 starting", "<TS> starting"},
		{"go log timestamp", "2026/12/01 10:00:03 listening", "<TS> listening"},
		{"klog header", "E1201 10:00:03.123456 1 reflector.go:123] watch failed", "<TS> <NUM> reflector.go:<NUM>] watch failed"},
		{"uuid", "request 9f1c2d3e-4b5a-6c7d-8e9f-0a1b2c3d4e5f failed", "request <UUID> failed"},
		{"ipv4 and port", "dial tcp 10.0.3.17:5432: connect: connection refused", "dial tcp <IP>: connect: connection refused"},
		{"ipv6 bracketed with port", "dial tcp [fd00::1]:443: i/o timeout", "dial tcp <IP>: i/o timeout"},
		{"ipv6 bare, colon after", "peer fd00:12:34:56::1: reset", "peer <IP>: reset"},
		{"not ipv6", "error: bad:thing: here", "error: bad:thing: here"},
		{"url", `Get http://10.0.0.5:8080/healthz?x=1 failed`, "Get <URL> failed"},
		{"quoted url", `Get "http://api:8080/healthz": EOF`, "Get <STR>: EOF"},
		{"path", "open /etc/app/config.yaml: no such file or directory", "open <PATH>: no such file or directory"},
		{"relative path and key", "load file=./conf/app.toml", "load file=<PATH>"},
		{"http version is no path", "HTTP/1.1 500", "HTTP/<NUM> <NUM>"},
		{"deployment pod name", "pod web-7d9f8b6c5d-x2k9p crashed", "pod web-<ID> crashed"},
		{"replicaset name", "replicaset web-7d9f8b6c5d scaled", "replicaset web-<ID> scaled"},
		{"generateName suffix", "job pod backup-28190400-qzxwv failed", "job pod backup-<NUM>-<ID> failed"},
		{"plain words kept", "namespace kube-system not-found", "namespace kube-system not-found"},
		{"statefulset ordinal", "db-0 is leader", "db-<NUM> is leader"},
		{"hex", "segfault addr=0x7ffd3a2b pc=0x4a2b3c", "segfault addr=<HEX> pc=<HEX>"},
		{"container id", "container 3f4e5d6c7b8a9f0e1d2c started", "container <HEX> started"},
		{"hex-looking word kept", "deadbeefcafe seen", "deadbeefcafe seen"},
		{"durations", "retry in 1.5s after 2m30s (timeout 300ms)", "retry in <DUR> after <DUR> (timeout <DUR>)"},
		{"quantities", "limit 512Mi exceeded by 10MB", "limit <QTY> exceeded by <QTY>"},
		{"numbers", "exit code 137 after 3 restarts, -1.5 left", "exit code <NUM> after <NUM> restarts, -<NUM> left"},
		{"version keeps its letter", "running web:v2.3.1", "running web:v2.<NUM>"},
		{"double quotes and escapes", `user "a \"b\" c" denied`, "user <STR> denied"},
		{"single quotes", `key 'db.password' missing`, "key <STR> missing"},
		{"apostrophes kept", "can't connect, don't retry", "can't connect, don't retry"},
		{"unterminated quote kept", `bad "quote here`, `bad "quote here`},
		{"whitespace collapses", "  a \t b  ", "a b"},
		{"json log", `{"ts":"2026-12-01T10:00:03Z","level":"error","msg":"failed to connect","error":"dial tcp 10.0.0.1:5432: connection refused","reqId":"abc"}`,
			"level=error msg=failed to connect error=dial tcp <IP>: connection refused"},
		{"json log without message fields", `{"b":2,"a":"x","c":{"d":1}}`, "a=x b=<NUM>"},
		{"long token", "blob " + strings.Repeat("A", 200), "blob <LONG>"},
	}
	m := NewMasker()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := m.Mask(tt.in)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, got, m.Mask(got), "idempotent")
		})
	}
}

func TestMaskBounds(t *testing.T) {
	m := NewMasker()
	many := strings.Repeat("word ", 500)
	assert.Len(t, strings.Fields(m.Mask(many)), MaxTokens)
	huge := strings.Repeat("x", 3*MaxLineBytes)
	assert.Equal(t, MaskLong, m.Mask(huge))
	bad := "error \xff\xfe here"
	assert.True(t, utf8.ValidString(m.Mask(bad)))
}
