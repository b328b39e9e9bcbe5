package repair

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/metadata"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

var newFabrikamCert = azurefake.CertificateBase64("sts.fabrikam.example signing 2027", testNow.AddDate(0, -1, 0), testNow.AddDate(2, 0, 0))

func fabrikam(e *env) map[string]string {
	out := map[string]string{}
	e.srv.Tenant(func(tn *azurefake.Tenant) {
		for _, f := range tn.Federations {
			if f.Object["id"] == fabrikamID {
				for _, k := range federationFields {
					s, _ := f.Object[k].(string)
					out[k] = s
				}
			}
		}
	})
	return out
}

// certAndEndpointPlan is what the metadata engine produces when Fabrikam
// rolled its certificate and moved its sign-in endpoint.
func certAndEndpointPlan(e *env, action metadata.Action) metadata.ChangePlan {
	cur := fabrikam(e)
	p := metadata.ChangePlan{
		ID: "mdplan-fabrikam0000001", PartnerID: fabrikamID, Outcome: metadata.OutcomeCertificateReplaced, Action: action,
		Reason: "Fabrikam rolled its signing certificate.",
		Changes: []metadata.Change{
			{Field: metadata.FieldPassiveSignInURI, From: cur[metadata.FieldPassiveSignInURI], To: "https://sts.fabrikam.example/adfs/ls2/"},
			{Field: metadata.FieldSigningCertificate, From: certSHA256(cur[metadata.FieldSigningCertificate]), To: certSHA256(newFabrikamCert)},
		},
		Patch: &metadata.Patch{PassiveSignInURI: "https://sts.fabrikam.example/adfs/ls2/", SigningCertificate: newFabrikamCert},
	}
	return p
}

func issuerPlan(e *env) metadata.ChangePlan {
	cur := fabrikam(e)
	return metadata.ChangePlan{
		ID: "mdplan-fabrikamissuer01", PartnerID: fabrikamID, Outcome: metadata.OutcomeIssuerChanged, Action: metadata.ActionPropose,
		Reason:  "The partner's entityID changed.",
		Changes: []metadata.Change{{Field: metadata.FieldIssuerURI, From: cur[metadata.FieldIssuerURI], To: "https://idp.fabrikam.example/"}},
		Patch:   &metadata.Patch{IssuerURI: "https://idp.fabrikam.example/"},
	}
}

func TestApplyFederationPlanAutoThenUndo(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	orig := fabrikam(e)
	plan := certAndEndpointPlan(e, metadata.ActionApply)
	res, err := ApplyFederationPlan(ctx, e.deps(Apply), plan, metadata.PolicyAuto)
	if err != nil || res.Outcome != OutcomeApplied || !res.Verified {
		t.Fatalf("%s %s %v", res.Outcome, res.Detail, err)
	}
	now := fabrikam(e)
	if now[metadata.FieldSigningCertificate] != newFabrikamCert || now[metadata.FieldPassiveSignInURI] != "https://sts.fabrikam.example/adfs/ls2/" || now[metadata.FieldIssuerURI] != orig[metadata.FieldIssuerURI] {
		t.Fatalf("federation after apply: %v", now)
	}
	en := e.journalEntry(plan.ID)
	if en.Status != StatusVerified || en.Before[metadata.FieldSigningCertificate] != orig[metadata.FieldSigningCertificate] || en.Before[metadata.FieldPassiveSignInURI] != orig[metadata.FieldPassiveSignInURI] {
		t.Fatalf("journal %+v", en)
	}
	if _, ok := en.Before[metadata.FieldIssuerURI]; ok {
		t.Fatal("journal records a field the plan did not change")
	}
	if !strings.Contains(res.Notice, "idpkeeper undo "+plan.ID) {
		t.Fatalf("notice %q", res.Notice)
	}
	// Applying the same plan again changes nothing.
	res, err = ApplyFederationPlan(ctx, e.deps(Apply), plan, metadata.PolicyAuto)
	if err != nil || res.Outcome != OutcomeAlreadyApplied {
		t.Fatalf("%s %v", res.Outcome, err)
	}
	if n, _ := e.writesTo("/federationConfigurations/graph.samlOrWsFedExternalDomainFederation/" + fabrikamID); n != 1 {
		t.Fatalf("%d PATCHes", n)
	}

	// Undo in dry run: nothing written.
	writes := len(e.srv.Writes())
	res, err = Undo(ctx, e.deps(DryRun), plan.ID, "cli:alice")
	if err != nil || res.Outcome != OutcomeDryRun || len(e.srv.Writes()) != writes {
		t.Fatalf("dry-run undo: %s %v", res.Outcome, err)
	}
	res, err = Undo(ctx, e.deps(Apply), plan.ID, "cli:alice")
	if err != nil || res.Outcome != OutcomeUndone || !res.Verified {
		t.Fatalf("undo: %s %s %v", res.Outcome, res.Detail, err)
	}
	if !reflect.DeepEqual(fabrikam(e), orig) {
		t.Fatalf("undo did not restore exactly:\n%v\n%v", fabrikam(e), orig)
	}
	if en := e.journalEntry(plan.ID); en.Status != StatusUndone || en.UndoneBy != "cli:alice" {
		t.Fatalf("journal after undo %+v", en)
	}
	// Undo again: a no-op. Re-finding the plan: not re-applied.
	writes = len(e.srv.Writes())
	if res, err := Undo(ctx, e.deps(Apply), plan.ID, "cli:alice"); err != nil || res.Outcome != OutcomeUndone {
		t.Fatalf("second undo %s %v", res.Outcome, err)
	}
	if res, err := ApplyFederationPlan(ctx, e.deps(Apply), plan, metadata.PolicyAuto); err != nil || res.Outcome != OutcomeBlocked || !strings.Contains(res.Detail, "undone") {
		t.Fatalf("re-apply after undo: %s %s %v", res.Outcome, res.Detail, err)
	}
	if len(e.srv.Writes()) != writes {
		t.Fatal("wrote after the change was undone")
	}
	e.assertNoCanary()
}

func TestUndoRefusesWhenEntraChangedSince(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	plan := certAndEndpointPlan(e, metadata.ActionApply)
	if _, err := ApplyFederationPlan(ctx, e.deps(Apply), plan, metadata.PolicyAuto); err != nil {
		t.Fatal(err)
	}
	e.srv.Tenant(func(tn *azurefake.Tenant) {
		for _, f := range tn.Federations {
			if f.Object["id"] == fabrikamID {
				f.Object["passiveSignInUri"] = "https://someone-else.example/"
			}
		}
	})
	writes := len(e.srv.Writes())
	_, err := Undo(ctx, e.deps(Apply), plan.ID, "cli:alice")
	if !errors.Is(err, ErrStale) {
		t.Fatalf("undo over a later change: %v", err)
	}
	if len(e.srv.Writes()) != writes {
		t.Fatal("a refused undo wrote")
	}
}

func TestIssuerChangeIsProposedNeverAutomatic(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	orig := fabrikam(e)
	plan := issuerPlan(e)
	// Even if a caller claims ActionApply under policy auto.
	plan.Action = metadata.ActionApply
	res, err := ApplyFederationPlan(ctx, e.deps(Apply), plan, metadata.PolicyAuto)
	if err != nil || res.Outcome != OutcomeProposed {
		t.Fatalf("%s %v", res.Outcome, err)
	}
	if len(e.srv.Writes()) != 0 {
		t.Fatal("an issuer change was written without approval")
	}
	if !strings.Contains(res.Notice, "idpkeeper approve "+plan.ID) {
		t.Fatalf("notice %q", res.Notice)
	}
	if _, _, err := e.store.Get(ctx, ProposalDocument(plan.ID)); err != nil {
		t.Fatalf("proposal not stored: %v", err)
	}

	// Approval in dry run writes nothing; a real approval applies.
	if res, err := Approve(ctx, e.deps(DryRun), plan.ID, "cli:bob"); err != nil || res.Outcome != OutcomeDryRun || len(e.srv.Writes()) != 0 {
		t.Fatalf("dry-run approve %s %v", res.Outcome, err)
	}
	res, err = Approve(ctx, e.deps(Apply), plan.ID, "cli:bob")
	if err != nil || res.Outcome != OutcomeApplied {
		t.Fatalf("approve %s %s %v", res.Outcome, res.Detail, err)
	}
	if fabrikam(e)[metadata.FieldIssuerURI] != "https://idp.fabrikam.example/" {
		t.Fatal("issuer not applied")
	}
	prop, _, _ := readProposal(ctx, e.store, plan.ID)
	if prop.Status != "applied" || prop.ApprovedBy != "cli:bob" {
		t.Fatalf("proposal %+v", prop)
	}
	if en := e.journalEntry(plan.ID); en.Before["approvedBy"] != "cli:bob" || en.Before[metadata.FieldIssuerURI] != orig[metadata.FieldIssuerURI] {
		t.Fatalf("journal %+v", en)
	}
	// Approving twice does not write twice.
	if res, err := Approve(ctx, e.deps(Apply), plan.ID, "cli:bob"); err != nil || res.Outcome != OutcomeAlreadyApplied {
		t.Fatalf("second approve %s %v", res.Outcome, err)
	}
	if n, _ := e.writesTo("/federationConfigurations/graph.samlOrWsFedExternalDomainFederation/" + fabrikamID); n != 1 {
		t.Fatalf("%d PATCHes", n)
	}
}

func TestApproveRefusesStaleProposal(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	plan := certAndEndpointPlan(e, metadata.ActionPropose)
	res, err := ApplyFederationPlan(ctx, e.deps(Apply), plan, metadata.PolicyPropose)
	if err != nil || res.Outcome != OutcomeProposed {
		t.Fatalf("%s %v", res.Outcome, err)
	}
	// Someone edits the federation in the portal before the approval.
	e.srv.Tenant(func(tn *azurefake.Tenant) {
		for _, f := range tn.Federations {
			if f.Object["id"] == fabrikamID {
				f.Object["passiveSignInUri"] = "https://sts.fabrikam.example/adfs/manual/"
			}
		}
	})
	res, err = Approve(ctx, e.deps(Apply), plan.ID, "cli:bob")
	if !errors.Is(err, ErrStale) || res.Outcome != OutcomeBlocked {
		t.Fatalf("stale approve: %s %v", res.Outcome, err)
	}
	if len(e.srv.Writes()) != 0 {
		t.Fatal("a stale proposal was applied")
	}
	if prop, _, _ := readProposal(ctx, e.store, plan.ID); prop.Status != "refused" {
		t.Fatalf("proposal %+v", prop)
	}
	if _, err := Approve(ctx, e.deps(Apply), "mdplan-doesnotexist", "cli:bob"); !errors.Is(err, statestore.ErrNotFound) {
		t.Fatalf("approve of an unknown plan: %v", err)
	}
}

func TestPlanFederationPolicies(t *testing.T) {
	cur := map[string]string{metadata.FieldIssuerURI: "https://a/", metadata.FieldPassiveSignInURI: "https://a/sso", metadata.FieldSigningCertificate: "", metadata.FieldPreferredProtocol: "saml"}
	endpoint := metadata.ChangePlan{ID: "mdplan-x", PartnerID: "f", Action: metadata.ActionApply,
		Changes: []metadata.Change{{Field: metadata.FieldPassiveSignInURI, From: "https://a/sso", To: "https://a/sso2"}},
		Patch:   &metadata.Patch{PassiveSignInURI: "https://a/sso2"}}
	issuer := metadata.ChangePlan{ID: "mdplan-y", PartnerID: "f", Action: metadata.ActionApply,
		Changes: []metadata.Change{{Field: metadata.FieldIssuerURI, From: "https://a/", To: "https://b/"}},
		Patch:   &metadata.Patch{IssuerURI: "https://b/"}}
	for _, tc := range []struct {
		name     string
		change   metadata.ChangePlan
		policy   metadata.Policy
		approved bool
		want     string
	}{
		{"auto applies endpoint", endpoint, metadata.PolicyAuto, false, ActionApply},
		{"propose proposes endpoint", endpoint, metadata.PolicyPropose, false, ActionPropose},
		{"notify never applies", endpoint, metadata.PolicyNotify, false, ActionPropose},
		{"issuer never auto", issuer, metadata.PolicyAuto, false, ActionPropose},
		{"issuer with approval", issuer, metadata.PolicyAuto, true, ActionApply},
		{"notify-only plan", metadata.ChangePlan{ID: "mdplan-z", Action: metadata.ActionNotify}, metadata.PolicyAuto, false, ActionNotify},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := PlanFederation(FederationObservation{Change: tc.change, Policy: tc.policy, Approved: tc.approved, Found: true, Current: cur})
			if d.Action != tc.want {
				t.Fatalf("action %q, want %q (%+v)", d.Action, tc.want, d.Plan)
			}
		})
	}
	d := PlanFederation(FederationObservation{Change: endpoint, Policy: metadata.PolicyAuto, Found: true,
		Current: map[string]string{metadata.FieldPassiveSignInURI: "https://elsewhere/"}})
	if !d.Stale || d.Plan.Blocked == "" {
		t.Fatalf("stale plan not blocked: %+v", d)
	}
}

func TestApplyFederationPlanCrashAtEveryCallThenRedeliver(t *testing.T) {
	// The plan is computed once per tenant, before the first attempt, as
	// the metadata engine would: a re-delivered job carries the same plan.
	plans := map[*env]metadata.ChangePlan{}
	prepare := func(e *env) { plans[e] = certAndEndpointPlan(e, metadata.ActionApply) }
	job := func(e *env) (Result, error) {
		return ApplyFederationPlan(context.Background(), e.deps(Apply), plans[e], metadata.PolicyAuto)
	}
	crashEverywhere(t, prepare, job, func(t *testing.T, base, got *env, k int) {
		if !reflect.DeepEqual(fabrikam(got), fabrikam(base)) {
			t.Fatalf("federation differs:\n%v\n%v", fabrikam(got), fabrikam(base))
		}
		if n, _ := got.writesTo("/federationConfigurations/graph.samlOrWsFedExternalDomainFederation/" + fabrikamID); n != 1 {
			t.Fatalf("%d PATCHes", n)
		}
		id := plans[got].ID
		if g, b := got.journalEntry(id), base.journalEntry(id); !reflect.DeepEqual(g, b) {
			t.Fatalf("journal differs:\n%+v\n%+v", g, b)
		}
	})
}

func TestUndoCrashAtEveryCallThenRedeliver(t *testing.T) {
	var plan metadata.ChangePlan
	var orig map[string]string
	prepare := func(e *env) {
		orig = fabrikam(e)
		plan = certAndEndpointPlan(e, metadata.ActionApply)
		if _, err := ApplyFederationPlan(context.Background(), e.deps(Apply), plan, metadata.PolicyAuto); err != nil {
			t.Fatal(err)
		}
		e.crash.arm(0) // count the undo's calls only
	}
	job := func(e *env) (Result, error) { return Undo(context.Background(), e.deps(Apply), plan.ID, "cli:alice") }
	crashEverywhere(t, prepare, job, func(t *testing.T, base, got *env, k int) {
		if !reflect.DeepEqual(fabrikam(got), orig) {
			t.Fatalf("not restored:\n%v\n%v", fabrikam(got), orig)
		}
		if n, _ := got.writesTo("/federationConfigurations/graph.samlOrWsFedExternalDomainFederation/" + fabrikamID); n != 2 {
			t.Fatalf("%d PATCHes (apply + undo)", n)
		}
		if g, b := got.journalEntry(plan.ID), base.journalEntry(plan.ID); !reflect.DeepEqual(g, b) {
			t.Fatalf("journal differs:\n%+v\n%+v", g, b)
		}
	})
}

func TestDryRunWritesNothingAnywhere(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	deps := e.deps(DryRun)
	var texts []string
	for _, run := range []func() (Result, error){
		func() (Result, error) { return RotateSocialSecret(ctx, deps, googleReq()) },
		func() (Result, error) { return RotateSocialSecret(ctx, deps, fbReq()) },
		func() (Result, error) { return UploadConnectorCertificate(ctx, deps, certReq()) },
		func() (Result, error) {
			return ApplyFederationPlan(ctx, deps, certAndEndpointPlan(e, metadata.ActionApply), metadata.PolicyAuto)
		},
		func() (Result, error) { return ApplyFederationPlan(ctx, deps, issuerPlan(e), metadata.PolicyAuto) },
	} {
		res, err := run()
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != OutcomeDryRun || res.Mode != "dry-run" {
			t.Fatalf("outcome %s (%s)", res.Outcome, res.Detail)
		}
		if len(res.Plan.Writes) == 0 {
			t.Fatalf("dry run shows no planned writes: %+v", res.Plan)
		}
		texts = append(texts, resultTexts(res, err)...)
	}
	if w := e.srv.Writes(); len(w) != 0 {
		t.Fatalf("dry run wrote %d times, first %s %s", len(w), w[0].Method, w[0].Path)
	}
	if files := storedFiles(t, e.dir); len(files) != 0 {
		t.Fatalf("dry run stored %v", files)
	}
	e.assertNoCanary(texts...)
	// The zero Mode is dry run.
	if (Deps{}).Mode != DryRun {
		t.Fatal("the zero Mode is not DryRun")
	}
}

func TestApplyWithoutJournalIsRefused(t *testing.T) {
	e := newEnv(t)
	deps := e.deps(Apply)
	deps.Journal = nil
	if _, err := RotateSocialSecret(context.Background(), deps, googleReq()); !errors.Is(err, ErrNoJournal) {
		t.Fatalf("%v", err)
	}
	if len(e.srv.Writes()) != 0 {
		t.Fatal("wrote without a journal")
	}
}

func TestJournalStepsAreIdempotentAndConcurrent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := Plan{ID: "rot-0123456789abcdef", Kind: KindSocialSecret, Dependency: "social/x"}
	if _, err := e.journal.begin(ctx, p, map[string]string{"appliedVersion": "v1"}); err != nil {
		t.Fatal(err)
	}
	// A second begin (a re-run) keeps the first Before.
	if _, err := e.journal.begin(ctx, p, map[string]string{"appliedVersion": "v2"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 8)
	for i := range 8 {
		go func() {
			_, err := e.journal.step(ctx, p.ID, "step-"+string(rune('a'+i%4)), StepOK, "")
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	en := e.journalEntry(p.ID)
	if len(en.Steps) != 4 || en.Before["appliedVersion"] != "v1" {
		t.Fatalf("%+v", en)
	}
}
