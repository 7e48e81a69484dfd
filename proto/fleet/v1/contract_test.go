package fleetv1_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

const pkg = "kubedevaiops.fleet.v1."

// The generated files must register under these paths; other code may look them up.
func TestFilesRegistered(t *testing.T) {
	for _, fd := range []protoreflect.FileDescriptor{
		fleetv1.File_fleet_v1_common_proto,
		fleetv1.File_fleet_v1_registration_proto,
		fleetv1.File_fleet_v1_spoke_proto,
		fleetv1.File_fleet_v1_fleet_proto,
	} {
		got, err := protoregistry.GlobalFiles.FindFileByPath(fd.Path())
		require.NoError(t, err, fd.Path())
		assert.Equal(t, protoreflect.FullName("kubedevaiops.fleet.v1"), got.Package(), fd.Path())
	}
}

// Each service keeps the RPCs the hub, the spoke and kubectl-aiops rely on.
func TestServicesHaveRPCs(t *testing.T) {
	tests := []struct {
		service string
		rpcs    []string
	}{
		{"Registration", []string{"Register", "GetRegistration"}},
		{"Spoke", []string{"Connect"}},
		{"Fleet", []string{
			"ListClusters", "GetCluster", "AcceptCluster", "DenyCluster", "LabelCluster", "GetClusterInventory",
			"CreateToken", "ListTokens", "RevokeToken",
			"ApplyClusterSet", "GetClusterSet", "ListClusterSets", "DeleteClusterSet",
			"ApplyPlacement", "GetPlacement", "ListPlacements", "DeletePlacement", "ListPlacementDecisions",
			"ApplyPolicy", "GetPolicy", "ListPolicies", "DeletePolicy",
			"ListPlans", "GetPlan", "ApprovePlan", "RejectPlan",
			"ListApprovals", "GetApproval",
			"ListAudit", "VerifyAudit",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(pkg + tt.service))
			require.NoError(t, err)
			sd, ok := d.(protoreflect.ServiceDescriptor)
			require.True(t, ok, "%s is not a service", tt.service)
			for _, rpc := range tt.rpcs {
				assert.NotNil(t, sd.Methods().ByName(protoreflect.Name(rpc)), "%s.%s missing", tt.service, rpc)
			}
		})
	}
}

// Connect stays one bidirectional stream of SpokeMessage up and HubMessage down.
func TestConnectIsBidiStream(t *testing.T) {
	m := fleetv1.File_fleet_v1_spoke_proto.Services().ByName("Spoke").Methods().ByName("Connect")
	require.NotNil(t, m)
	assert.True(t, m.IsStreamingClient())
	assert.True(t, m.IsStreamingServer())
	assert.Equal(t, protoreflect.FullName(pkg+"SpokeMessage"), m.Input().FullName())
	assert.Equal(t, protoreflect.FullName(pkg+"HubMessage"), m.Output().FullName())
}

// The stream oneofs keep every kind of message (oneof field -> message type).
func TestStreamOneofs(t *testing.T) {
	tests := []struct {
		message string
		kinds   map[string]string
	}{
		{"SpokeMessage", map[string]string{
			"hello":               "Hello",
			"heartbeat":           "Heartbeat",
			"inventory_snapshot":  "InventorySnapshot",
			"inventory_delta":     "InventoryDelta",
			"findings":            "Findings",
			"metric_summaries":    "MetricSummaries",
			"action_status":       "ActionStatus",
			"relayed_spans":       "RelayedSpans",
			"certificate_renewal": "CertificateRenewal",
			"policy_status":       "PolicyStatus",
		}},
		{"HubMessage", map[string]string{
			"welcome":            "Welcome",
			"policy_assignment":  "PolicyAssignment",
			"action_directive":   "SignedDirective",
			"cancel":             "Cancel",
			"ack":                "Ack",
			"certificate_issued": "CertificateIssued",
			"disconnect":         "Disconnect",
			"resync_request":     "ResyncRequest",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.message, func(t *testing.T) {
			md := fleetv1.File_fleet_v1_spoke_proto.Messages().ByName(protoreflect.Name(tt.message))
			require.NotNil(t, md)
			oneof := md.Oneofs().ByName("body")
			require.NotNil(t, oneof, "%s has no oneof body", tt.message)
			for field, typ := range tt.kinds {
				fd := oneof.Fields().ByName(protoreflect.Name(field))
				if !assert.NotNil(t, fd, "%s.body lacks %s", tt.message, field) {
					continue
				}
				require.Equal(t, protoreflect.MessageKind, fd.Kind(), field)
				assert.Equal(t, protoreflect.FullName(pkg+typ), fd.Message().FullName(), field)
			}
		})
	}
}

// Enums whose values the spoke and hub switch on keep those values.
func TestEnumValues(t *testing.T) {
	tests := []struct {
		enum   string
		values []string
	}{
		{"RegistrationState", []string{"PENDING", "ACCEPTED", "DENIED"}},
		{"ActionPhase", []string{"RECEIVED", "REFUSED", "DRY_RUN", "APPLYING", "VERIFYING", "SUCCEEDED", "FAILED", "ROLLED_BACK"}},
		{"InventoryChangeType", []string{"UPSERT", "DELETE"}},
		{"DisconnectReason", []string{"DENIED", "REVOKED"}},
	}
	for _, tt := range tests {
		t.Run(tt.enum, func(t *testing.T) {
			d, err := protoregistry.GlobalTypes.FindEnumByName(protoreflect.FullName(pkg + tt.enum))
			require.NoError(t, err)
			prefix := upperSnake(tt.enum) + "_"
			for _, v := range tt.values {
				assert.NotNil(t, d.Descriptor().Values().ByName(protoreflect.Name(prefix+v)), "%s lacks %s", tt.enum, v)
			}
		})
	}
}

// A directive payload survives signing, the envelope, the stream message and back.
func TestSignedDirectiveRoundTrip(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)

	issued := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	payload := &fleetv1.DirectivePayload{
		ActionId:   "act-1",
		Audience:   "prod-eu-1",
		ActionType: "scale",
		Target: &fleetv1.ObjectRef{
			Group: "apps", Version: "v1", Kind: "Deployment",
			Namespace: "shop", Name: "checkout", Uid: "u-1", ResourceVersion: "42",
		},
		ParametersJson: []byte(`{"replicas":5}`),
		DryRun:         true,
		IssuedAt:       timestamppb.New(issued),
		ExpiresAt:      timestamppb.New(issued.Add(5 * time.Minute)),
		Nonce:          []byte{1, 2, 3, 4},
		TraceContext: &fleetv1.TraceContext{
			Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			Tracestate:  "kda=1",
		},
		PlanId:     "plan-7",
		PolicyName: "default",
		Issuer:     "hub-0",
	}
	payloadBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(payload)
	require.NoError(t, err)

	msg := &fleetv1.HubMessage{Body: &fleetv1.HubMessage_ActionDirective{ActionDirective: &fleetv1.SignedDirective{
		Payload:   payloadBytes,
		Signature: ed25519.Sign(priv, payloadBytes),
		KeyId:     "k1",
		Algorithm: "ed25519",
	}}}
	wire, err := proto.Marshal(msg)
	require.NoError(t, err)

	var got fleetv1.HubMessage
	require.NoError(t, proto.Unmarshal(wire, &got))
	env := got.GetActionDirective()
	require.NotNil(t, env)
	assert.Equal(t, "ed25519", env.GetAlgorithm())
	assert.Equal(t, "k1", env.GetKeyId())
	assert.True(t, ed25519.Verify(pub, env.GetPayload(), env.GetSignature()), "signature must verify over the carried bytes")

	var gotPayload fleetv1.DirectivePayload
	require.NoError(t, proto.Unmarshal(env.GetPayload(), &gotPayload))
	assert.True(t, proto.Equal(payload, &gotPayload), "payload changed in transit:\nwant %v\ngot  %v", payload, &gotPayload)

	tampered := append([]byte(nil), env.GetPayload()...)
	tampered[len(tampered)-1] ^= 0xff
	assert.False(t, ed25519.Verify(pub, tampered, env.GetSignature()), "a changed payload must not verify")
}

func upperSnake(s string) string {
	out := make([]byte, 0, len(s)+4)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				out = append(out, '_')
			}
			out = append(out, c)
			continue
		}
		out = append(out, c-'a'+'A')
	}
	return string(out)
}
