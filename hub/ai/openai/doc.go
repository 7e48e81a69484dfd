// Package openai is the hub's provider for any server that speaks the OpenAI chat-completions
// API (OpenAI, vLLM, Ollama, LocalAI...): it explains and answers questions with answers
// constrained by a JSON schema, anonymising what it sends, validating every answer into typed
// structures before anyone sees it, and caching, budgeting, counting and tracing each call.
package openai
