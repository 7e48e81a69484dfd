package spokeapi

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics count what the member's streams carry, for capacity planning and the fleet benchmark.
type metrics struct {
	heartbeats, deltas, changes, snapshots, findings, unhandled prometheus.Counter
}

func newMetrics(s *Server, reg prometheus.Registerer) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "kubedevaiops", Subsystem: "spoke", Name: name, Help: help})
	}
	m := &metrics{
		heartbeats: c("heartbeats_total", "Heartbeats received from spokes."),
		deltas:     c("inventory_deltas_total", "Inventory deltas applied."),
		changes:    c("inventory_changes_total", "Object changes in the applied inventory deltas."),
		snapshots:  c("inventory_snapshots_total", "Complete inventory snapshots received."),
		findings:   c("findings_total", "Analyzer findings recorded from spokes."),
		unhandled:  c("messages_unhandled_total", "Spoke messages of kinds this hub does not process yet."),
	}
	if reg != nil {
		reg.MustRegister(m.heartbeats, m.deltas, m.changes, m.snapshots, m.findings, m.unhandled,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "kubedevaiops", Subsystem: "spoke", Name: "streams",
				Help: "Spoke streams this member serves."}, func() float64 { return float64(s.Connected()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "kubedevaiops", Subsystem: "spoke", Name: "inventory_objects",
				Help: "Inventory objects this member holds for its streams."}, func() float64 { return float64(s.heldObjects()) }),
		)
	}
	return m
}
