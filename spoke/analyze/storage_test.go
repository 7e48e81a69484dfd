package analyze_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubedevaiops/kubedevaiops/spoke/analyze"
)

func TestPVCAnalyzer(t *testing.T) {
	ns := namespace(t, "pvc-analyzer")
	a := analyze.PVC{}
	claim := func(name string, class *string, volume string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: class, VolumeName: volume,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
	}
	tests := []struct {
		name  string
		setup func(t *testing.T) *corev1.PersistentVolumeClaim
		want  []string
	}{
		{
			name:  "storage class missing: the binder's warning is the reason",
			setup: func(t *testing.T) *corev1.PersistentVolumeClaim { return claim("data", ptr("nosuch-class"), "") },
			want:  []string{"pvc/Pending/ProvisioningFailed"},
		},
		{
			name: "bound to a volume",
			setup: func(t *testing.T) *corev1.PersistentVolumeClaim {
				create(t, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-analyzer-vol"}, Spec: corev1.PersistentVolumeSpec{
					Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
					AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/pvc-analyzer"}},
					StorageClassName:       ""}})
				return claim("bound", ptr(""), "pvc-analyzer-vol")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.setup(t)
			create(t, c)
			if tt.want == nil {
				require.Eventually(t, func() bool {
					cur := &corev1.PersistentVolumeClaim{}
					return reader.Get(context.Background(), client.ObjectKeyFromObject(c), cur) == nil && cur.Status.Phase == corev1.ClaimBound
				}, time.Minute, 200*time.Millisecond)
			}
			awaitFindings(t, a, input(), "PersistentVolumeClaim", ns, c.Name, tt.want)
		})
	}
}
