package repair

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/ledger"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

func googleReq() SocialRequest {
	return SocialRequest{
		ProviderID: "Google-OAUTH", ProviderType: "Google", ClientID: googleClientID,
		Secret:    SecretRef{Vault: "https://" + vaultHostName + "/", Name: "google-client-secret", Version: googleNew},
		FindingID: "social-secret-google", MessageID: "msg-1",
	}
}

func fbReq() SocialRequest {
	return SocialRequest{
		ProviderID: "Facebook-OAUTH", ClientID: fbClientID,
		// No version: the newest usable one (what a scan finds).
		Secret: SecretRef{Vault: vaultHostName, Name: "facebook-app-secret"},
	}
}

func TestRotateSocialSecretAppliesVerifiesTagsAndJournals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		req     SocialRequest
		id      string
		secret  string
		version string
		value   string
	}{
		{"google", googleReq(), "Google-OAUTH", "google-client-secret", googleNew, canaryGoogle},
		{"facebook", fbReq(), "Facebook-OAUTH", "facebook-app-secret", fbNew, canaryFacebook},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			deps := e.deps(Apply)
			deps.Ledger = &ledger.Ledger{Store: statestore.Dir{Root: e.dir}, Now: func() time.Time { return testNow }}
			res, err := RotateSocialSecret(ctx, deps, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != OutcomeApplied || !res.Verified {
				t.Fatalf("outcome %s (%s)", res.Outcome, res.Detail)
			}
			if got := e.srv.CredentialOf(tc.id); got != tc.value {
				t.Fatal("Entra does not hold the new secret")
			}
			if tag := e.versionTags(tc.secret)[tc.version][AppliedTag]; tag != testNow.Format(time.RFC3339) {
				t.Fatalf("applied tag %q", tag)
			}
			if e.versionTags(tc.secret)[tc.version]["idpkeeper-dependency"] == "" {
				t.Fatal("tagging dropped the existing tags")
			}
			en := e.journalEntry(res.JournalID)
			if en.Status != StatusVerified || !en.Verified || !strings.Contains(en.Before["appliedVersion"], "/secrets/"+tc.secret+"/") {
				t.Fatalf("journal %+v", en)
			}
			if !strings.Contains(res.Notice, "retire it at") {
				t.Fatalf("notice %q", res.Notice)
			}
			if n, _ := e.writesTo("/identityProviders/" + tc.id); n != 1 {
				t.Fatalf("%d PATCHes", n)
			}
			if tc.req.FindingID != "" {
				le, err := deps.Ledger.Get(ctx, tc.req.FindingID)
				if err != nil || len(le.Jobs) != 1 || le.Jobs[0].Outcome != OutcomeApplied {
					t.Fatalf("ledger %+v %v", le, err)
				}
			}
			e.assertNoCanary(resultTexts(res, err)...)

			// The same job again (a duplicate event): nothing more is written.
			writes := len(e.srv.Writes())
			res2, err := RotateSocialSecret(ctx, e.deps(Apply), tc.req)
			if err != nil || res2.Outcome != OutcomeAlreadyApplied {
				t.Fatalf("re-run: %s %v", res2.Outcome, err)
			}
			if len(e.srv.Writes()) != writes {
				t.Fatal("re-run wrote again")
			}
		})
	}
}

func TestRotateSocialSecretRejectedByProviderWritesNothingToTheTenant(t *testing.T) {
	e := newEnv(t)
	e.srv.Tenant(func(tn *azurefake.Tenant) {
		for i := range tn.Vaults[vaultHostName].Secrets {
			if s := &tn.Vaults[vaultHostName].Secrets[i]; s.Name == "google-client-secret" {
				s.Versions[1].Value = canaryBadValue
			}
		}
	})
	res, err := RotateSocialSecret(context.Background(), e.deps(Apply), googleReq())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeRejectedByProvider || !strings.Contains(res.Detail, "invalid_client") {
		t.Fatalf("%s: %s", res.Outcome, res.Detail)
	}
	if len(e.srv.Writes()) != 0 {
		t.Fatalf("%d writes to Graph/Key Vault after a rejected secret", len(e.srv.Writes()))
	}
	if !strings.Contains(res.Notice, "NOT applied") || !strings.Contains(res.Notice, googleOld) {
		t.Fatalf("notice %q", res.Notice)
	}
	if en := e.journalEntry(res.JournalID); en.Status != StatusRejected {
		t.Fatalf("journal status %s", en.Status)
	}
	// The Google fake echoes the secret in error_description: it must
	// not travel.
	e.assertNoCanary(resultTexts(res, err)...)
}

func TestRotateSocialSecretRefusesSupersededAndUntestable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Google: the old version as target while the newer one gets applied first.
	if _, err := RotateSocialSecret(ctx, e.deps(Apply), googleReq()); err != nil {
		t.Fatal(err)
	}
	old := googleReq()
	old.Secret.Version = googleOld
	res, err := RotateSocialSecret(ctx, e.deps(Apply), old)
	// The old version is tagged applied too (by the fixture), so it is
	// "already applied"; drop its tag to see the superseded rule.
	if err != nil || res.Outcome != OutcomeAlreadyApplied {
		t.Fatalf("%s %v", res.Outcome, err)
	}
	p := PlanSocialRotation(SocialObservation{
		Request: old, ProviderFound: true, ProviderType: "Google", ClientID: googleClientID, HasTester: true, Now: testNow,
		Versions: []SecretVersion{
			{Version: googleOld, Enabled: true, Created: testNow.AddDate(-1, 0, 0)},
			{Version: googleNew, Enabled: true, Created: testNow.AddDate(0, -1, 0), Tags: map[string]string{AppliedTag: "x"}},
		},
	})
	if !strings.Contains(p.Blocked, "superseded") {
		t.Fatalf("blocked %q", p.Blocked)
	}

	deps := e.deps(Apply)
	delete(deps.Providers, "Facebook")
	res, err = RotateSocialSecret(ctx, deps, fbReq())
	if err != nil || res.Outcome != OutcomeBlocked || !strings.Contains(res.Detail, "never applied untested") {
		t.Fatalf("%s %s %v", res.Outcome, res.Detail, err)
	}
}

func TestPlanSocialRotationTable(t *testing.T) {
	base := SocialObservation{
		Request:       SocialRequest{ProviderID: "Google-OAUTH", ClientID: "cid", Secret: SecretRef{Vault: vaultHostName, Name: "g", Version: "v2"}},
		ProviderFound: true, ProviderType: "Google", ClientID: "cid", HasTester: true, Now: testNow,
		Versions: []SecretVersion{
			{Version: "v1", Enabled: true, Created: testNow.AddDate(0, -6, 0), Tags: map[string]string{AppliedTag: "t"}},
			{Version: "v2", Enabled: true, Created: testNow.AddDate(0, 0, -1)},
		},
	}
	for _, tc := range []struct {
		name  string
		mod   func(*SocialObservation)
		check func(Plan) bool
	}{
		{"applies", func(*SocialObservation) {}, func(p Plan) bool { return p.Blocked == "" && p.Done == "" && len(p.Writes) == 2 }},
		{"writes show references only", func(*SocialObservation) {}, func(p Plan) bool {
			return strings.HasSuffix(p.Writes[0].From, "/secrets/g/v1") && strings.HasSuffix(p.Writes[0].To, "/secrets/g/v2")
		}},
		{"client ID mismatch", func(o *SocialObservation) { o.ClientID = "other" }, func(p Plan) bool { return strings.Contains(p.Blocked, "client ID") }},
		{"type mismatch", func(o *SocialObservation) { o.Request.ProviderType = "Facebook" }, func(p Plan) bool { return strings.Contains(p.Blocked, "type") }},
		{"missing provider", func(o *SocialObservation) { o.ProviderFound = false }, func(p Plan) bool { return strings.Contains(p.Blocked, "no identity provider") }},
		{"disabled", func(o *SocialObservation) { o.Versions[1].Enabled = false }, func(p Plan) bool { return strings.Contains(p.Blocked, "disabled") }},
		{"missing version", func(o *SocialObservation) { o.Request.Secret.Version = "v9" }, func(p Plan) bool { return strings.Contains(p.Blocked, "does not exist") }},
		{"already applied", func(o *SocialObservation) { o.Versions[1].Tags = map[string]string{AppliedTag: "t2"} }, func(p Plan) bool { return p.Done != "" }},
		{"tagged but journal unfinished continues", func(o *SocialObservation) {
			o.Versions[1].Tags = map[string]string{AppliedTag: "t2"}
			o.Journal = &Entry{Status: StatusApplying}
		}, func(p Plan) bool { return p.Done == "" && p.Blocked == "" }},
		{"newest usable when no version", func(o *SocialObservation) { o.Request.Secret.Version = "" }, func(p Plan) bool {
			return p.ID == SocialPlanID("Google-OAUTH", SecretRef{Vault: vaultHostName, Name: "g", Version: "v2"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			o.Versions = append([]SecretVersion(nil), base.Versions...)
			tc.mod(&o)
			if p := PlanSocialRotation(o); !tc.check(p) {
				t.Fatalf("%+v", p)
			}
		})
	}
	// The ID is stable: a re-delivered job finds the same journal entry.
	if PlanSocialRotation(base).ID != PlanSocialRotation(base).ID {
		t.Fatal("plan ID not deterministic")
	}
}

// crashEverywhere runs job uninterrupted to learn the end state and how many
// external calls it makes, then, for every k, runs it on a fresh tenant
// with a crash right after call k and re-delivers it. check compares each
// crashed-then-redelivered environment with the uninterrupted one.
func crashEverywhere(t *testing.T, prepare func(*env), job func(*env) (Result, error), check func(t *testing.T, base, got *env, k int)) {
	t.Helper()
	base := newEnv(t)
	if prepare != nil {
		prepare(base)
	}
	if _, err := job(base); err != nil {
		t.Fatal(err)
	}
	calls := base.crash.count()
	if calls < 3 {
		t.Fatalf("only %d external calls counted", calls)
	}
	for k := 1; k <= calls; k++ {
		t.Run(fmt.Sprintf("crash-after-call-%d", k), func(t *testing.T) {
			e := newEnv(t)
			if prepare != nil {
				prepare(e)
			}
			e.crash.arm(k)
			res, err := job(e)
			if err == nil && e.crash.crashed.Load() {
				t.Fatalf("a crash at call %d went unnoticed (outcome %s)", k, res.Outcome)
			}
			if err != nil && !errors.Is(err, errCrash) && !strings.Contains(err.Error(), "simulated crash") && !errors.Is(err, context.Canceled) {
				t.Logf("crash error: %v", err)
			}
			e.assertNoCanary(resultTexts(res, err)...)
			e.crash.arm(0)
			res, err = job(e)
			if err != nil {
				t.Fatalf("re-delivery after a crash at call %d: %v", k, err)
			}
			if res.Outcome != OutcomeApplied && res.Outcome != OutcomeAlreadyApplied && res.Outcome != OutcomeUndone {
				t.Fatalf("re-delivery outcome %s: %s", res.Outcome, res.Detail)
			}
			e.assertNoCanary(resultTexts(res, err)...)
			check(t, base, e, k)
		})
	}
}

func TestRotateSocialSecretCrashAtEveryCallThenRedeliver(t *testing.T) {
	job := func(e *env) (Result, error) {
		return RotateSocialSecret(context.Background(), e.deps(Apply), googleReq())
	}
	id := SocialPlanID("Google-OAUTH", googleReq().Secret)
	crashEverywhere(t, nil, job, func(t *testing.T, base, got *env, k int) {
		if got.srv.CredentialOf("Google-OAUTH") != canaryGoogle {
			t.Fatal("Entra does not hold the new secret")
		}
		if !reflect.DeepEqual(got.versionTags("google-client-secret"), base.versionTags("google-client-secret")) {
			t.Fatalf("tags differ:\n%v\n%v", got.versionTags("google-client-secret"), base.versionTags("google-client-secret"))
		}
		if len(got.versionTags("google-client-secret")) != 2 {
			t.Fatal("a secret version was lost or added")
		}
		if g, b := got.journalEntry(id), base.journalEntry(id); !reflect.DeepEqual(g, b) {
			t.Fatalf("journal differs:\n%+v\n%+v", g, b)
		}
		// The secret cannot be read back, so a PATCH whose answer was
		// lost is sent once more with the same body; nothing else repeats.
		n, bodies := got.writesTo("/identityProviders/Google-OAUTH")
		if len(bodies) != 1 || n > 2 {
			t.Fatalf("%d PATCHes with %d bodies", n, len(bodies))
		}
		if n, _ := got.writesTo("/secrets/google-client-secret/" + googleNew); n != 1 {
			t.Fatalf("%d tag writes", n)
		}
	})
}

// A Graph failure (not a crash) on the PATCH: the job fails, nothing is
// tagged, and the re-delivery completes with one accepted PATCH.
func TestRotateSocialSecretGraphFaultThenRetry(t *testing.T) {
	e := newEnv(t)
	e.srv.AddFault(azurefake.Fault{Method: "PATCH", PathPrefix: "/v1.0/identity/identityProviders/", Status: 500, Times: 1})
	_, err := RotateSocialSecret(context.Background(), e.deps(Apply), googleReq())
	if err == nil {
		t.Fatal("a failed PATCH was not reported")
	}
	if e.versionTags("google-client-secret")[googleNew][AppliedTag] != "" {
		t.Fatal("tagged although the PATCH failed")
	}
	res, err := RotateSocialSecret(context.Background(), e.deps(Apply), googleReq())
	if err != nil || res.Outcome != OutcomeApplied {
		t.Fatalf("%s %v", res.Outcome, err)
	}
	if n, _ := e.writesTo("/identityProviders/Google-OAUTH"); n != 1 {
		t.Fatalf("%d accepted PATCHes", n)
	}
}
