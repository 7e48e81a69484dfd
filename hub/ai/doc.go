// Package ai is the hub's one interface to AI engines: the tasks an engine can do (Engine,
// Capabilities), their typed and validated requests and answers, the strict parsers and JSON
// schemas of what external providers return, and the Registry that picks a provider per task
// and falls back to the built-in engine when a provider fails or answers something invalid.
package ai
