package incident

import (
	"errors"

	"go.opentelemetry.io/otel/trace"

	"github.com/kubedevaiops/kubedevaiops/hub/store"
)

// op is one encoded store command, or the error that kept it from encoding.
type op struct {
	b   []byte
	err error
}

func create(kind string, obj any) op {
	b, err := store.EncodeCreate(kind, obj)
	return op{b, err}
}

func update(kind string, obj any, rv uint64) op {
	b, err := store.EncodeUpdate(kind, obj, rv)
	return op{b, err}
}

func apply(kind string, obj any, rv uint64) op {
	b, err := store.EncodeApply(kind, obj, rv)
	return op{b, err}
}

func audit(e store.AuditEntry) op {
	b, err := store.EncodeAuditAppend(e)
	return op{b, err}
}

func (o op) cmd() ([]byte, error) { return o.b, o.err }

// transaction joins ops into one all-or-nothing store command.
func transaction(ops ...op) ([]byte, error) {
	cmds := make([][]byte, 0, len(ops))
	var errs []error
	for _, o := range ops {
		if o.err != nil {
			errs = append(errs, o.err)
			continue
		}
		cmds = append(cmds, o.b)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return store.EncodeTransaction(cmds)
}

// traceIDOf returns the trace id of a W3C traceparent, or "" when there is none.
func traceIDOf(traceparent string) string {
	sc := spanContextOf(traceparent)
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

func spanContextOf(traceparent string) trace.SpanContext {
	return trace.SpanContextFromContext(extract(traceparent))
}
