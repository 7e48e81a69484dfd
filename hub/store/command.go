package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation"
	kjson "sigs.k8s.io/json"

	hubv1 "github.com/kubedevaiops/kubedevaiops/proto/hub/v1"
)

// CommandType is the first byte of every store log entry; the rest is the command's
// protobuf payload.
//
// Numbers are forever: never reuse or renumber one. A new command type that older
// members may safely skip (it only adds state they do not read) sets
// IgnoreUnknownFlag; one they must not skip leaves it clear, and an older member then
// refuses the entry with ErrUnknownCommand instead of diverging silently. New
// semantics for an existing command need a new type, not a new payload field: an
// older member ignores fields it does not know.
type CommandType uint8

// IgnoreUnknownFlag marks a command type that a member which does not know it skips.
const IgnoreUnknownFlag CommandType = 0x80

// The command types.
const (
	// CmdResourceWrite creates, updates or deletes one resource (hubv1.ResourceWrite).
	CmdResourceWrite CommandType = 1
	// CmdAuditAppend appends one audit record (hubv1.AuditAppend).
	CmdAuditAppend CommandType = 2
	// CmdBatch applies several commands in order in one log entry (hubv1.Batch).
	CmdBatch CommandType = 3
	// CmdTransaction applies resource writes and audit appends all or none (hubv1.Batch).
	CmdTransaction CommandType = 4
)

func (t CommandType) String() string {
	var s string
	switch t &^ IgnoreUnknownFlag {
	case CmdResourceWrite:
		s = "ResourceWrite"
	case CmdAuditAppend:
		s = "AuditAppend"
	case CmdBatch:
		s = "Batch"
	case CmdTransaction:
		s = "Transaction"
	default:
		s = fmt.Sprintf("CommandType(%d)", uint8(t&^IgnoreUnknownFlag))
	}
	if t&IgnoreUnknownFlag != 0 {
		s += "|IgnoreUnknown"
	}
	return s
}

// Size limits, checked when a command is encoded and again when it is applied.
const (
	// MaxObjectSize is the largest object JSON a resource may have.
	MaxObjectSize = 1 << 20
	// MaxAuditDetailsSize is the largest details JSON of an audit record.
	MaxAuditDetailsSize = 64 << 10
	// MaxAuditFieldSize is the largest actor, action, target, cluster or trace id.
	MaxAuditFieldSize = 1024
	// MaxBatchCommands is the most commands one Batch may carry.
	MaxBatchCommands = 4096
)

var marshalOpts = proto.MarshalOptions{Deterministic: true}

func encode(t CommandType, m proto.Message) ([]byte, error) {
	size := marshalOpts.Size(m)
	b := make([]byte, 1, 1+size)
	b[0] = byte(t)
	b, err := marshalOpts.MarshalAppend(b, m)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding %v: %v", ErrInvalid, t, err)
	}
	return b, nil
}

// EncodeCreate encodes the creation of obj, a resource of kind kind, with a new random
// uid and the current time as its creation timestamp. See EncodeCreateWith.
func EncodeCreate(kind string, obj any) ([]byte, error) {
	return EncodeCreateWith(kind, obj, string(uuid.NewUUID()), time.Now())
}

// EncodeCreateWith encodes the creation of obj, a resource of kind kind, with the given
// metadata.uid and metadata.creationTimestamp. obj is the object as JSON ([]byte or
// json.RawMessage) or a value of the kind's Go type. The object must decode strictly
// into the kind's Go type (no unknown or duplicate fields, case-sensitive), carry a
// valid metadata.name and a namespace exactly when the kind is namespaced, and its
// apiVersion and kind, when set, must be the kind's. The command carries the object
// re-encoded from its Go type. resourceVersion, uid, creationTimestamp and generation
// in obj are ignored: the store sets them.
func EncodeCreateWith(kind string, obj any, uid string, created time.Time) ([]byte, error) {
	ki, objJSON, ns, name, err := canonicalObject(kind, obj)
	if err != nil {
		return nil, err
	}
	if uid == "" || len(uid) > 128 {
		return nil, fmt.Errorf("%w: %s %s: uid must be 1 to 128 characters", ErrInvalid, ki.Kind, name)
	}
	if created.IsZero() {
		return nil, fmt.Errorf("%w: %s %s: creation time is zero", ErrInvalid, ki.Kind, name)
	}
	return encode(CmdResourceWrite, &hubv1.ResourceWrite{
		Op: hubv1.ResourceOp_RESOURCE_OP_CREATE, Kind: ki.Kind, Namespace: ns, Name: name,
		Uid: uid, CreationTimestamp: timestamppb.New(created), ObjectJson: objJSON,
	})
}

// EncodeUpdate encodes the replacement of the stored resource named by obj's kind,
// namespace and name with obj (validated as for EncodeCreateWith). With
// expectedResourceVersion > 0 the update applies only if the stored resource version
// is exactly that, else it fails with ErrConflict; 0 updates unconditionally.
// metadata.resourceVersion inside obj is ignored: pass it here.
func EncodeUpdate(kind string, obj any, expectedResourceVersion uint64) ([]byte, error) {
	ki, objJSON, ns, name, err := canonicalObject(kind, obj)
	if err != nil {
		return nil, err
	}
	return encode(CmdResourceWrite, &hubv1.ResourceWrite{
		Op: hubv1.ResourceOp_RESOURCE_OP_UPDATE, Kind: ki.Kind, Namespace: ns, Name: name,
		ExpectedResourceVersion: expectedResourceVersion, ObjectJson: objJSON,
	})
}

// EncodeApply encodes "create obj, or update it if it exists" in one command (validated as for
// EncodeCreateWith). With expectedResourceVersion > 0 it is an update on that version; 0 makes
// it unconditional. A create gets a new random uid and the current time.
func EncodeApply(kind string, obj any, expectedResourceVersion uint64) ([]byte, error) {
	ki, objJSON, ns, name, err := canonicalObject(kind, obj)
	if err != nil {
		return nil, err
	}
	return encode(CmdResourceWrite, &hubv1.ResourceWrite{
		Op: hubv1.ResourceOp_RESOURCE_OP_APPLY, Kind: ki.Kind, Namespace: ns, Name: name,
		ExpectedResourceVersion: expectedResourceVersion, ObjectJson: objJSON,
		Uid: string(uuid.NewUUID()), CreationTimestamp: timestamppb.Now(),
	})
}

// WithAudit attaches an audit record to an encoded resource write: the store appends it in
// the same transaction if and only if the write succeeds. Redact as for EncodeAuditAppend.
func WithAudit(cmd []byte, e AuditEntry) ([]byte, error) {
	if len(cmd) == 0 || CommandType(cmd[0])&^IgnoreUnknownFlag != CmdResourceWrite {
		return nil, fmt.Errorf("%w: an audit record can be attached to a resource write only", ErrInvalid)
	}
	var w hubv1.ResourceWrite
	if err := proto.Unmarshal(cmd[1:], &w); err != nil {
		return nil, fmt.Errorf("%w: attach audit: %v", ErrInvalid, err)
	}
	audit, err := auditCommand(e)
	if err != nil {
		return nil, err
	}
	if w.Audit != nil || len(w.ProtoReflect().GetUnknown()) > 0 {
		w.Audit = audit
		return encode(CommandType(cmd[0]), &w)
	}
	// audit is the last field, so appending it to cmd writes what encoding the whole message
	// would, without doing so a second time.
	size := marshalOpts.Size(audit)
	out := make([]byte, 0, len(cmd)+protowire.SizeTag(resourceWriteAudit)+protowire.SizeBytes(size))
	out = append(out, cmd...)
	out = protowire.AppendTag(out, resourceWriteAudit, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(size))
	if out, err = marshalOpts.MarshalAppend(out, audit); err != nil {
		return nil, fmt.Errorf("%w: encoding the audit record: %v", ErrInvalid, err)
	}
	return out, nil
}

// resourceWriteAudit is the number of hubv1.ResourceWrite's audit field, its last.
const resourceWriteAudit protowire.Number = 9

// EncodeDelete encodes the deletion of one resource; expectedResourceVersion as for
// EncodeUpdate.
func EncodeDelete(kind, namespace, name string, expectedResourceVersion uint64) ([]byte, error) {
	ki, err := checkRef(kind, namespace, name)
	if err != nil {
		return nil, err
	}
	return encode(CmdResourceWrite, &hubv1.ResourceWrite{
		Op: hubv1.ResourceOp_RESOURCE_OP_DELETE, Kind: ki.Kind, Namespace: namespace, Name: name,
		ExpectedResourceVersion: expectedResourceVersion,
	})
}

// EncodeAuditAppend encodes the append of one audit record. Details must be valid JSON
// and is stored compacted.
//
// REDACT BEFORE CALLING: the audit log is permanent, replicated and hash-chained, so
// nothing can be scrubbed from it later. Callers must remove secrets from every field
// — bootstrap token secrets, private keys, certificates' keys, API keys, Vault
// tokens, passwords, and any header or environment value that might hold one — and
// record a reference instead (e.g. the token id, never "id.secret").
func EncodeAuditAppend(e AuditEntry) ([]byte, error) {
	cmd, err := auditCommand(e)
	if err != nil {
		return nil, err
	}
	return encode(CmdAuditAppend, cmd)
}

func auditCommand(e AuditEntry) (*hubv1.AuditAppend, error) {
	if e.Actor == "" || e.Action == "" {
		return nil, fmt.Errorf("%w: audit entry: actor and action are required", ErrInvalid)
	}
	for _, f := range []struct{ name, v string }{
		{"actor", e.Actor}, {"action", e.Action}, {"target", e.Target}, {"cluster", e.Cluster}, {"traceID", e.TraceID},
	} {
		if len(f.v) > MaxAuditFieldSize {
			return nil, fmt.Errorf("%w: audit entry: %s is %d bytes, limit %d", ErrTooLarge, f.name, len(f.v), MaxAuditFieldSize)
		}
	}
	var details []byte
	if len(e.Details) > 0 {
		var buf bytes.Buffer
		if err := json.Compact(&buf, e.Details); err != nil {
			return nil, fmt.Errorf("%w: audit entry: details is not valid JSON: %v", ErrInvalid, err)
		}
		details = buf.Bytes()
	}
	if len(details) > MaxAuditDetailsSize {
		return nil, fmt.Errorf("%w: audit entry: details is %d bytes, limit %d", ErrTooLarge, len(details), MaxAuditDetailsSize)
	}
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	return &hubv1.AuditAppend{
		Time: timestamppb.New(t), Actor: e.Actor, Action: e.Action, Target: e.Target,
		Cluster: e.Cluster, TraceId: e.TraceID, DetailsJson: details,
	}, nil
}

// EncodeBatch packs encoded commands (each from an Encode function) into one Batch
// command. They are applied in order, each with its own result. Batches do not nest.
func EncodeBatch(cmds [][]byte) ([]byte, error) {
	if len(cmds) > MaxBatchCommands {
		return nil, fmt.Errorf("%w: batch of %d commands, limit %d", ErrTooLarge, len(cmds), MaxBatchCommands)
	}
	for i, c := range cmds {
		if len(c) == 0 {
			return nil, fmt.Errorf("%w: batch command %d is empty", ErrInvalid, i)
		}
		if CommandType(c[0])&^IgnoreUnknownFlag == CmdBatch {
			return nil, fmt.Errorf("%w: batch command %d is a batch; batches do not nest", ErrInvalid, i)
		}
	}
	b := make([]byte, 1, 1+batchSize(cmds))
	b[0] = byte(CmdBatch)
	return appendBatch(b, cmds), nil
}

// checkRef validates a kind, namespace and name.
func checkRef(kind, namespace, name string) (KindInfo, error) {
	ki, ok := LookupKind(kind)
	if !ok {
		return ki, fmt.Errorf("%w: unknown kind %q", ErrInvalid, kind)
	}
	if err := checkNamespace(ki, namespace); err != nil {
		return ki, err
	}
	if name == "" {
		return ki, fmt.Errorf("%w: %s: metadata.name is required", ErrInvalid, kind)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return ki, fmt.Errorf("%w: %s name %q: %s", ErrInvalid, kind, name, strings.Join(errs, "; "))
	}
	return ki, nil
}

func checkNamespace(ki KindInfo, namespace string) error {
	switch {
	case ki.Namespaced && namespace == "":
		return fmt.Errorf("%w: %s is namespaced: metadata.namespace is required", ErrInvalid, ki.Kind)
	case !ki.Namespaced && namespace != "":
		return fmt.Errorf("%w: %s is cluster-scoped: metadata.namespace must be empty, got %q", ErrInvalid, ki.Kind, namespace)
	case namespace != "":
		if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
			return fmt.Errorf("%w: %s namespace %q: %s", ErrInvalid, ki.Kind, namespace, strings.Join(errs, "; "))
		}
	}
	return nil
}

// canonicalObject validates obj as a kind object and returns it re-encoded from the
// kind's Go type, with its namespace and name.
func canonicalObject(kind string, obj any) (ki KindInfo, out []byte, ns, name string, err error) {
	onWarmStack(func() { ki, out, ns, name, err = decodeAndReencode(kind, obj) })
	return ki, out, ns, name, err
}

func decodeAndReencode(kind string, obj any) (ki KindInfo, out []byte, ns, name string, err error) {
	ki, ok := LookupKind(kind)
	if !ok {
		return ki, nil, "", "", fmt.Errorf("%w: unknown kind %q", ErrInvalid, kind)
	}
	var in []byte
	switch v := obj.(type) {
	case []byte:
		in = v
	case json.RawMessage:
		in = v
	case nil:
		return ki, nil, "", "", fmt.Errorf("%w: %s: object is nil", ErrInvalid, kind)
	default:
		if in, err = json.Marshal(v); err != nil {
			return ki, nil, "", "", fmt.Errorf("%w: %s: encoding %T: %v", ErrInvalid, kind, obj, err)
		}
	}
	if len(in) > MaxObjectSize {
		return ki, nil, "", "", fmt.Errorf("%w: %s object is %d bytes, limit %d", ErrTooLarge, kind, len(in), MaxObjectSize)
	}
	typed := ki.New()
	strict, err := kjson.UnmarshalStrict(in, typed)
	if err != nil {
		return ki, nil, "", "", fmt.Errorf("%w: %s: %v", ErrInvalid, kind, err)
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return ki, nil, "", "", fmt.Errorf("%w: %s: %s", ErrInvalid, kind, strings.Join(msgs, "; "))
	}
	acc, ok := typed.(metav1.Object)
	if !ok {
		return ki, nil, "", "", fmt.Errorf("%w: %s: Go type %T has no ObjectMeta", ErrInvalid, kind, typed)
	}
	if err := setTypeMeta(ki, typed); err != nil {
		return ki, nil, "", "", err
	}
	ns, name = acc.GetNamespace(), acc.GetName()
	if _, err := checkRef(kind, ns, name); err != nil {
		return ki, nil, "", "", err
	}
	if out, err = json.Marshal(typed); err != nil {
		return ki, nil, "", "", fmt.Errorf("%w: %s %s: re-encoding: %v", ErrInvalid, kind, name, err)
	}
	if len(out) > MaxObjectSize {
		return ki, nil, "", "", fmt.Errorf("%w: %s %s object is %d bytes, limit %d", ErrTooLarge, kind, name, len(out), MaxObjectSize)
	}
	return ki, out, ns, name, nil
}

// setTypeMeta checks the object's apiVersion and kind, when set, and sets them.
func setTypeMeta(ki KindInfo, typed any) error {
	ro, ok := typed.(runtime.Object)
	if !ok {
		return fmt.Errorf("%w: %s: Go type %T is not a runtime.Object", ErrInvalid, ki.Kind, typed)
	}
	want := schema.GroupVersionKind{Group: ki.Group, Version: ki.Version, Kind: ki.Kind}
	got := ro.GetObjectKind().GroupVersionKind()
	if got.Kind != "" && got.Kind != ki.Kind {
		return fmt.Errorf("%w: object kind is %q, want %q", ErrInvalid, got.Kind, ki.Kind)
	}
	if got.Version != "" && got.GroupVersion() != want.GroupVersion() {
		return fmt.Errorf("%w: %s apiVersion is %q, want %q", ErrInvalid, ki.Kind, got.GroupVersion().String(), ki.APIVersion())
	}
	ro.GetObjectKind().SetGroupVersionKind(want)
	return nil
}
