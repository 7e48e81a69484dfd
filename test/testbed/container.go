package testbed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
)

// ContainerOptions name one container of a pod spec and the binary that stands in for its image.
type ContainerOptions struct {
	// Namespace is the pod's namespace: it scopes the service account and the env's Secrets.
	Namespace string
	// Pod is the pod spec, e.g. a Deployment's template.
	Pod corev1.PodSpec
	// Container is the container's name; empty means the only one.
	Container string
	// Binary is the executable run in place of the container's image.
	Binary string
	// KubeconfigFlag, when set, is the flag (e.g. "--kubeconfig") that points the process at a
	// kubeconfig holding the pod's service account token: the stand-in for in-cluster config.
	KubeconfigFlag string
}

// Container is a pod's container run as an OS process.
type Container struct {
	// Args and Env are what the process was started with (Env without the inherited environment).
	Args, Env []string
	proc      *process
}

// RunContainer plays the kubelet for one container, since kwok's nodes run none: it starts
// opts.Binary as an OS process with the container's args exactly, its env resolved from values,
// Secrets and ConfigMaps as a kubelet resolves them, and, through opts.KubeconfigFlag, the
// credentials of the pod's service account (a token from the TokenRequest API, so the
// process holds exactly the RBAC permissions of the service account). It stops in t.Cleanup.
func RunContainer(t testing.TB, c *Cluster, opts ContainerOptions) (*Container, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec, err := containerOf(opts.Pod, opts.Container)
	if err != nil {
		return nil, err
	}
	if len(spec.EnvFrom) > 0 {
		return nil, fmt.Errorf("container %s: envFrom is not supported by the test bed", spec.Name)
	}
	cs, err := c.Clientset()
	if err != nil {
		return nil, err
	}
	env, err := resolveEnv(ctx, cs, opts.Namespace, spec.Env)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", spec.Name, err)
	}
	dir := t.TempDir()
	args := append(append([]string(nil), spec.Command[min(1, len(spec.Command)):]...), spec.Args...)
	if opts.KubeconfigFlag != "" {
		path := filepath.Join(dir, "serviceaccount.kubeconfig")
		if err := c.writeServiceAccountKubeconfig(ctx, cs, opts.Namespace, opts.Pod.ServiceAccountName, path); err != nil {
			return nil, err
		}
		args = append(args, opts.KubeconfigFlag+"="+path)
	}
	// The child must not see a value of the test's own environment for a variable the
	// container sets: the container's env comes last and wins.
	p, err := startProcess("container-"+spec.Name, opts.Binary, args, dir, env)
	if err != nil {
		return nil, err
	}
	ct := &Container{Args: args, Env: env, proc: p}
	t.Cleanup(ct.Stop)
	return ct, nil
}

func containerOf(pod corev1.PodSpec, name string) (*corev1.Container, error) {
	for i := range pod.Containers {
		if name == "" && len(pod.Containers) == 1 || pod.Containers[i].Name == name {
			return &pod.Containers[i], nil
		}
	}
	return nil, fmt.Errorf("pod spec has no container %q (it has %d)", name, len(pod.Containers))
}

// resolveEnv turns env vars into NAME=value pairs; a missing optional reference is left out.
func resolveEnv(ctx context.Context, cs kubernetes.Interface, ns string, vars []corev1.EnvVar) ([]string, error) {
	var out []string
	for _, v := range vars {
		switch src := v.ValueFrom; {
		case src == nil:
			out = append(out, v.Name+"="+v.Value)
		case src.SecretKeyRef != nil:
			ref := src.SecretKeyRef
			s, err := cs.CoreV1().Secrets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			val, ok := []byte(nil), false
			if err == nil {
				val, ok = s.Data[ref.Key]
			}
			if err != nil && !ptr.Deref(ref.Optional, false) {
				return nil, fmt.Errorf("env %s: Secret %s/%s: %w", v.Name, ns, ref.Name, err)
			}
			if !ok && !ptr.Deref(ref.Optional, false) {
				return nil, fmt.Errorf("env %s: Secret %s/%s has no key %s", v.Name, ns, ref.Name, ref.Key)
			}
			if ok {
				out = append(out, v.Name+"="+string(val))
			}
		case src.ConfigMapKeyRef != nil:
			ref := src.ConfigMapKeyRef
			cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			val, ok := "", false
			if err == nil {
				val, ok = cm.Data[ref.Key]
			}
			if !ok && !ptr.Deref(ref.Optional, false) {
				return nil, fmt.Errorf("env %s: ConfigMap %s/%s key %s: %v", v.Name, ns, ref.Name, ref.Key, err)
			}
			if ok {
				out = append(out, v.Name+"="+val)
			}
		default:
			return nil, fmt.Errorf("env %s: only values, secretKeyRef and configMapKeyRef are supported by the test bed", v.Name)
		}
	}
	return out, nil
}

// writeServiceAccountKubeconfig writes a kubeconfig that authenticates as the service account
// with a bound token, as a kubelet projects one into a pod.
func (c *Cluster) writeServiceAccountKubeconfig(ctx context.Context, cs kubernetes.Interface, ns, sa, path string) error {
	if sa == "" {
		sa = "default"
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for service account %s/%s: %w", ns, sa, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[c.Name] = &clientcmdapi.Cluster{Server: c.Config.Host, CertificateAuthority: c.path(fileCA)}
	cfg.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: sa, Namespace: ns}
	cfg.CurrentContext = c.Name
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}

// Stop ends the process gracefully (SIGTERM, as a kubelet stops a container).
func (ct *Container) Stop() { ct.proc.stop(10 * time.Second) }

// Running reports whether the process is alive.
func (ct *Container) Running() bool { return ct.proc.exitedErr() == nil }

// Log returns the last lines of the process's output.
func (ct *Container) Log(lines int) string { return tail(ct.proc.logPath, lines) }
