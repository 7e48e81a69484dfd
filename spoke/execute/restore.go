package execute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// savedObject is one object's state before an action, enough to put it back.
type savedObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	UID        string `json:"uid,omitempty"`
	// Existed is false for an object the action creates: restoring deletes it again.
	Existed bool `json:"existed"`
	// Restorable is false when the change cannot be undone (a deleted pod is replaced by its
	// controller, not brought back).
	Restorable bool `json:"restorable"`
	// Object is the whole object as it was, managedFields included, so a restore also gives
	// field ownership back.
	Object json.RawMessage `json:"object,omitempty"`
}

func (s savedObject) String() string {
	if s.Namespace == "" {
		return s.Kind + " " + s.Name
	}
	return s.Kind + " " + s.Namespace + "/" + s.Name
}

func (s savedObject) empty() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(s.APIVersion)
	u.SetKind(s.Kind)
	u.SetNamespace(s.Namespace)
	u.SetName(s.Name)
	return u
}

// errNotRestorable says a change cannot be undone.
var errNotRestorable = errors.New("the change cannot be undone")

// restore puts every saved object back: objects that existed get their saved content (written
// over whatever is there now), objects the action created are deleted, if this engine's field
// manager still owns part of them. It returns the objects as restored.
func restore(ctx context.Context, c client.Client, fieldManager string, saved []savedObject) ([]any, error) {
	out := make([]any, len(saved))
	var errs []error
	// Undo in reverse order of application.
	for i := len(saved) - 1; i >= 0; i-- {
		s := saved[i]
		if !s.Restorable {
			errs = append(errs, fmt.Errorf("%s: %w", s, errNotRestorable))
			continue
		}
		obj, err := restoreOne(ctx, c, fieldManager, s)
		if err != nil {
			errs = append(errs, fmt.Errorf("restore %s: %w", s, err))
			continue
		}
		out[i] = obj
	}
	return out, errors.Join(errs...)
}

func restoreOne(ctx context.Context, c client.Client, fieldManager string, s savedObject) (any, error) {
	key := client.ObjectKey{Namespace: s.Namespace, Name: s.Name}
	if !s.Existed {
		cur := s.empty()
		if err := c.Get(ctx, key, cur); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, nil
			}
			return nil, err
		}
		if !managedBy(cur, fieldManager) {
			// Someone else created it after the action; it is not ours to delete.
			return cur, nil
		}
		uid := cur.GetUID()
		if err := c.Delete(ctx, cur, client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		return nil, nil
	}
	var restored *unstructured.Unstructured
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		want := &unstructured.Unstructured{}
		if err := want.UnmarshalJSON(s.Object); err != nil {
			return fmt.Errorf("decode saved object: %w", err)
		}
		cur := s.empty()
		err := c.Get(ctx, key, cur)
		switch {
		case apierrors.IsNotFound(err):
			// Deleted since: create it again as it was.
			for _, f := range []string{"resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds"} {
				unstructured.RemoveNestedField(want.Object, "metadata", f)
			}
			unstructured.RemoveNestedField(want.Object, "status")
			if err := c.Create(ctx, want, client.FieldOwner(fieldManager)); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			want.SetResourceVersion(cur.GetResourceVersion())
			if err := c.Update(ctx, want, client.FieldOwner(fieldManager)); err != nil {
				return err
			}
		}
		restored = want
		return nil
	})
	if err != nil {
		return nil, err
	}
	return restored, nil
}

func managedBy(obj client.Object, fieldManager string) bool {
	for _, m := range obj.GetManagedFields() {
		if m.Manager == fieldManager {
			return true
		}
	}
	return false
}
