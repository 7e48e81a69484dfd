package spokeapi

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/tap"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

func TestStreamTapGivesConnectStreamsAContextTheHubCancels(t *testing.T) {
	for _, tc := range []struct {
		method    string
		closeable bool
	}{
		{fleetv1.Spoke_Connect_FullMethodName, true},
		{fleetv1.Fleet_ListPlacementDecisions_FullMethodName, false},
		{fleetv1.Registration_GetRegistration_FullMethodName, false},
	} {
		t.Run(tc.method, func(t *testing.T) {
			parent, stop := context.WithCancel(context.Background())
			defer stop()
			ctx, err := streamTap(parent, &tap.Info{FullMethodName: tc.method})
			require.NoError(t, err)
			cancel, ok := ctx.Value(streamCloserKey{}).(context.CancelCauseFunc)
			require.Equal(t, tc.closeable, ok)
			if !tc.closeable {
				assert.Equal(t, parent, ctx, "other methods keep the transport's context")
				return
			}
			cause := errors.Join(errClosedByHub, errors.New("denied"))
			cancel(cause)
			<-ctx.Done()
			assert.ErrorIs(t, context.Cause(ctx), errClosedByHub)
			assert.NoError(t, parent.Err(), "only the stream's own context ends")
		})
	}
}
