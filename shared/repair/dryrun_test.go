package repair

import (
	"context"
	"strings"
	"testing"
)

// A dry run reads no secret value: it plans from Entra and the versions'
// properties (what Key Vault Reader allows), tests nothing at the provider
// (that needs the value) and writes nothing. The value is read only in apply
// mode, right before the write it is for.
func TestDryRunsReadNoSecretValue(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	for name, run := range map[string]func() (Result, error){
		"google":    func() (Result, error) { return RotateSocialSecret(ctx, e.deps(DryRun), googleReq()) },
		"facebook":  func() (Result, error) { return RotateSocialSecret(ctx, e.deps(DryRun), fbReq()) },
		"connector": func() (Result, error) { return UploadConnectorCertificate(ctx, e.deps(DryRun), certReq()) },
	} {
		before := e.srv.SecretValueReads()
		res, err := run()
		if err != nil || res.Outcome != OutcomeDryRun {
			t.Fatalf("%s: %s (%s) %v", name, res.Outcome, res.Detail, err)
		}
		if got := e.srv.SecretValueReads() - before; got != 0 {
			t.Errorf("%s: the dry run read %d secret value(s)", name, got)
		}
		if !strings.Contains(res.Detail, "no secret value was read") || len(res.Plan.Steps) == 0 {
			t.Errorf("%s: the dry run does not say what it would do: %q %v", name, res.Detail, res.Plan.Steps)
		}
	}
	if len(e.srv.Writes()) != 0 {
		t.Errorf("dry runs wrote %d times", len(e.srv.Writes()))
	}
	// Apply reads the value it applies (once per flow).
	before := e.srv.SecretValueReads()
	if res, err := RotateSocialSecret(ctx, e.deps(Apply), googleReq()); err != nil || res.Outcome != OutcomeApplied {
		t.Fatalf("apply: %s %v", res.Outcome, err)
	}
	if e.srv.SecretValueReads()-before != 1 {
		t.Errorf("apply read %d values, want 1", e.srv.SecretValueReads()-before)
	}
}

// A dry run does not call the provider's token endpoint either: the test
// needs the secret value.
func TestSocialDryRunDoesNotTestAtTheProvider(t *testing.T) {
	e := newEnv(t)
	e.google.Close() // any call now fails
	res, err := RotateSocialSecret(context.Background(), e.deps(DryRun), googleReq())
	if err != nil || res.Outcome != OutcomeDryRun {
		t.Fatalf("%s %v: a dry run reached the provider", res.Outcome, err)
	}
}
