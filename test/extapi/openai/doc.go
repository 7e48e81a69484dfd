// Package openai is a local server for tests that implements the OpenAI chat-completions
// surface (POST /v1/chat/completions) the way the hosted API and compatible servers answer:
// bearer-key authentication, request validation with OpenAI's error objects, scripted
// completions (valid, garbage, cut off, refused, tool calls), 429 with Retry-After and 5xx
// injection, usage counts, and a record of every request as it arrived.
package openai
