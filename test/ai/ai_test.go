package ai

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	fleetv1 "github.com/kubedevaiops/kubedevaiops/proto/fleet/v1"
	extopenai "github.com/kubedevaiops/kubedevaiops/test/extapi/openai"
	"github.com/kubedevaiops/kubedevaiops/test/testbed"
)

// question asks about a different signature each time, so no answer comes from the cache.
func question(sig string) string { return "what did the fleet learn about signature " + sig }

func TestProviderKeysFromVault(t *testing.T) {
	vault := testbed.StartVault(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	firstKey, secondKey := "sk-planted-"+strings.Repeat("a1", 12), "sk-rotated-"+strings.Repeat("b2", 12)
	vc, err := vault.Client()
	require.NoError(t, err)
	putKey := func(key string) {
		_, err := vc.KVv2("secret").Put(ctx, "kubedevaiops/providers/openai", map[string]any{"api_key": key})
		require.NoError(t, err)
	}
	putKey(firstKey)
	server := extopenai.Start(extopenai.Config{APIKey: firstKey, Models: []string{"test-model"}})
	t.Cleanup(server.Close)
	server.Default(func(extopenai.ChatRequest) extopenai.Reply {
		return extopenai.JSON(map[string]any{"answer": "Nothing is recorded for that signature yet.", "answerable": true, "confidence": 0.6,
			"references": []any{}, "suggestedActions": []any{}})
	})
	tokenFile := filepath.Join(t.TempDir(), "vault-token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(vault.RootToken), 0o600))
	hub := testbed.StartHub(t, testbed.HubOptions{Members: 3, Args: []string{
		"--vault-addr=" + vault.Address, "--vault-token-file=" + tokenFile, "--vault-key-cache-ttl=1s",
		"--openai-base-url=" + server.URL, "--openai-model=test-model", "--ai-route=answer=openai,builtin",
	}})
	if t.Failed() {
		return
	}
	admin := hub.Client(0)
	var answers []string

	t.Run("the external provider answers with the key from Vault", func(t *testing.T) {
		out, err := admin.Ask(ctx, &fleetv1.AskRequest{Question: question("pod/CrashLoopBackOff/Error")})
		require.NoError(t, err)
		assert.Equal(t, "openai", out.GetSource().GetProvider(), out.GetSource().GetFallbackReason())
		assert.False(t, out.GetSource().GetFellBack())
		assert.Contains(t, out.GetAnswer(), "Nothing is recorded")
		answers = append(answers, protojson.Format(out))
	})

	t.Run("a rotated key is picked up without a restart", func(t *testing.T) {
		putKey(secondKey)
		server.SetAPIKey(secondKey)
		n := 0
		testbed.Eventually(t, 30*time.Second, "an answer with the new key", func() error {
			n++
			out, err := admin.Ask(ctx, &fleetv1.AskRequest{Question: question(fmt.Sprintf("pod/Restarting/Error%d", n))})
			if err != nil {
				return err
			}
			answers = append(answers, protojson.Format(out))
			if out.GetSource().GetProvider() != "openai" {
				return fmt.Errorf("answered by %s: %s", out.GetSource().GetProvider(), out.GetSource().GetFallbackReason())
			}
			return nil
		})
	})

	t.Run("without Vault the built-in engine answers and says why", func(t *testing.T) {
		vault.Halt()
		n := 0
		testbed.Eventually(t, 30*time.Second, "a built-in answer", func() error {
			n++
			out, err := admin.Ask(ctx, &fleetv1.AskRequest{Question: question(fmt.Sprintf("pod/OOMKilled%d", n))})
			if err != nil {
				return err
			}
			answers = append(answers, protojson.Format(out))
			if out.GetSource().GetProvider() != "builtin" || !out.GetSource().GetFellBack() {
				return fmt.Errorf("answered by %s (fell back %t)", out.GetSource().GetProvider(), out.GetSource().GetFellBack())
			}
			if !strings.Contains(strings.ToLower(out.GetSource().GetFallbackReason()), "vault") {
				return fmt.Errorf("the reason does not say Vault: %s", out.GetSource().GetFallbackReason())
			}
			return nil
		})
	})

	t.Run("the key appears in no log, audit record or answer", func(t *testing.T) {
		var haystack []string
		for _, m := range hub.Members {
			b, err := os.ReadFile(m.LogPath())
			require.NoError(t, err)
			haystack = append(haystack, string(b))
		}
		recs, err := admin.ListAudit(ctx, &fleetv1.ListAuditRequest{})
		require.NoError(t, err)
		haystack = append(haystack, protojson.Format(recs))
		fallbacks := 0
		for _, r := range recs.GetRecords() {
			if r.GetAction() == "ai.fallback" {
				fallbacks++
			}
		}
		assert.NotZero(t, fallbacks, "the answers not used are audited")
		haystack = append(haystack, answers...)
		for _, key := range []string{firstKey, secondKey} {
			for _, h := range haystack {
				assert.NotContains(t, h, key)
				assert.NotContains(t, h, key[len(key)-12:], "not even a part of it")
			}
		}
		for _, r := range server.Requests() {
			assert.NotContains(t, string(r.Body), firstKey, "the key goes only in the Authorization header")
			assert.NotContains(t, string(r.Body), secondKey, "the key goes only in the Authorization header")
		}
	})
}
