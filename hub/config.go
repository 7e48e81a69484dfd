package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// applyConfigFile sets every flag that was not given on the command line from a YAML file whose
// keys are the flag names (data-dir: /var/lib/hub, join: 10.0.0.1:7401, ...). Flags on the command
// line win. Unknown keys are refused so that a misspelt setting is not silently ignored.
func applyConfigFile(flags *pflag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var unknown []string
	for _, key := range keys {
		f := flags.Lookup(key)
		if f == nil || key == "config" {
			unknown = append(unknown, key)
			continue
		}
		if f.Changed {
			continue
		}
		if err := f.Value.Set(fmt.Sprint(values[key])); err != nil {
			return fmt.Errorf("config file %s: %s: %w", path, key, err)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("config file %s: unknown settings %s (the keys are the flag names, e.g. data-dir)", path, strings.Join(unknown, ", "))
	}
	return nil
}
