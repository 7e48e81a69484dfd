package main

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kubedevaiops/kubedevaiops/api/audit"
	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// chain builds n correctly linked records as the hub serves them.
func chain(n int) []*fleetv1.AuditRecord {
	var out []*fleetv1.AuditRecord
	var prev []byte
	for i := 1; i <= n; i++ {
		r := &audit.Record{Sequence: uint64(i), Time: time.Unix(int64(1000+i), 0).UTC(), Actor: "admin/alice",
			Action: "policy.apply", Target: "AIOpsPolicy/p", Details: []byte(`{"n":1}`), PrevHash: prev}
		r.Hash = audit.Hash(r)
		prev = r.Hash
		out = append(out, &fleetv1.AuditRecord{Index: r.Sequence, Time: timestamppb.New(r.Time), Actor: r.Actor,
			Action: r.Action, Subject: r.Target, EntryJson: r.Details, PrevHash: r.PrevHash, Hash: r.Hash})
	}
	return out
}

func clone(rs []*fleetv1.AuditRecord) []*fleetv1.AuditRecord {
	out := make([]*fleetv1.AuditRecord, len(rs))
	for i, r := range rs {
		out[i] = proto.Clone(r).(*fleetv1.AuditRecord)
	}
	return out
}

func TestVerifyChainDetectsTampering(t *testing.T) {
	good := chain(5)
	res, err := verifyChain(good, "")
	require.NoError(t, err)
	require.Contains(t, res, "audit chain intact: 5 records")

	head := hex.EncodeToString(good[4].Hash)
	cases := []struct {
		name   string
		tamper func([]*fleetv1.AuditRecord) []*fleetv1.AuditRecord
		head   string
		want   string
	}{
		{"edited actor", func(r []*fleetv1.AuditRecord) []*fleetv1.AuditRecord { r[2].Actor = "admin/mallory"; return r }, "", "record 3"},
		{"edited details", func(r []*fleetv1.AuditRecord) []*fleetv1.AuditRecord { r[1].EntryJson = []byte(`{"n":2}`); return r }, "", "record 2"},
		{"removed from the middle", func(r []*fleetv1.AuditRecord) []*fleetv1.AuditRecord { return append(r[:2], r[3:]...) }, "", "record 4"},
		{"reordered", func(r []*fleetv1.AuditRecord) []*fleetv1.AuditRecord { r[1], r[2] = r[2], r[1]; return r }, "", "record 3"},
		{"removed from the start", func(r []*fleetv1.AuditRecord) []*fleetv1.AuditRecord { return r[1:] }, "", "starts at record 2"},
		{"removed from the end", func(r []*fleetv1.AuditRecord) []*fleetv1.AuditRecord { return r[:4] }, head, "removed from the end"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verifyChain(tc.tamper(clone(good)), tc.head)
			require.ErrorIs(t, err, errAuditBroken)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
