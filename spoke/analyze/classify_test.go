package analyze

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestUnschedulableReason(t *testing.T) {
	tests := []struct{ msg, want string }{
		{"0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.", "InsufficientCPU"},
		{"0/5 nodes are available: 2 node(s) were unschedulable, 3 Insufficient memory.", "InsufficientMemory"},
		{"0/4 nodes are available: 1 Insufficient cpu, 3 Insufficient memory.", "InsufficientMemory"},
		{"0/2 nodes are available: 1 Insufficient cpu, 1 Insufficient memory.", "InsufficientCPU"},
		{"0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: gpu}.", "Taint"},
		{"0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.", "NodeAffinity"},
		{"0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.", "UnboundPVC"},
		{"no nodes available to schedule pods", "NoNodes"},
		{"something new", "Other"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, unschedulableReason(tt.msg), tt.msg)
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"connecting with password=hunter2 now", "connecting with password=[REDACTED] now"},
		{`{"api_key": "abcd1234"}`, `{"api_key": "[REDACTED]"}`},
		{"Authorization: Bearer abcdefghijklmnop", "Authorization: Bearer [REDACTED]"},
		{"dial postgres://app:s3cret@db:5432/app", "dial postgres://app:[REDACTED]@db:5432/app"},
		{"token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl here", "token [REDACTED JWT] here"},
		{"key AKIAABCDEFGHIJKLMNOP used", "key [REDACTED AWS KEY] used"},
		{"GET /healthz 200 in 3ms", "GET /healthz 200 in 3ms"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Redact(tt.in), tt.in)
	}
}

func TestSignaturePart(t *testing.T) {
	assert.Equal(t, "FailedCreate", signaturePart("FailedCreate"))
	assert.Equal(t, "ProgressDeadlineExceeded", signaturePart("progress deadline exceeded"))
	assert.Equal(t, "Cpu", signaturePart("cpu"))
	assert.Equal(t, "Unknown", signaturePart("/ /"))
}
