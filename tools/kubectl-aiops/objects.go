package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
)

// printObjects writes hub objects as a table, or as a Kubernetes List in json or yaml, the form
// kubectl prints, rather than the wire form with its base64 object bytes.
func printObjects(w io.Writer, format string, items []*fleetv1.Resource, table func(*tabwriter.Writer)) error {
	switch format {
	case "", "table":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	case "json", "yaml":
		list := struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Items      []json.RawMessage `json:"items"`
		}{APIVersion: "v1", Kind: "List", Items: []json.RawMessage{}}
		for _, it := range items {
			list.Items = append(list.Items, it.GetObjectJson())
		}
		return writeJSONOrYAML(w, format, list)
	default:
		return fmt.Errorf("unknown output format %q: use table, json or yaml", format)
	}
}

// printObject writes one hub object as yaml (the default for a table) or json.
func printObject(w io.Writer, format string, r *fleetv1.Resource) error {
	if format == "json" {
		return writeJSONOrYAML(w, "json", json.RawMessage(r.GetObjectJson()))
	}
	return writeJSONOrYAML(w, "yaml", json.RawMessage(r.GetObjectJson()))
}

func writeJSONOrYAML(w io.Writer, format string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if format == "yaml" {
		if data, err = yaml.JSONToYAML(data); err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	_, err = fmt.Fprintln(w, string(data))
	return err
}

// age formats how long ago t was, as kubectl does.
func age(t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	d := time.Since(t).Round(time.Second)
	switch {
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}
