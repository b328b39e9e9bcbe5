package repair

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/metadata"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

var fastReadBack = ReadBack{Attempts: 4, First: time.Millisecond, Max: 4 * time.Millisecond}

func stepNames(en Entry) []string {
	var out []string
	for _, s := range en.Steps {
		out = append(out, s.Name+"="+s.Outcome)
	}
	return out
}

// A read right after a write may be served by a replica that has not seen
// it: the federation read-back reads again, with backoff, journals each
// disagreeing read, and verifies once the write shows. One PATCH only.
func TestFederationReadBackWaitsOutReplicationLag(t *testing.T) {
	e := newEnv(t)
	e.srv.ReplicationLag(2)
	deps := e.deps(Apply)
	deps.ReadBack = fastReadBack
	plan := certAndEndpointPlan(e, metadata.ActionApply)
	res, err := ApplyFederationPlan(context.Background(), deps, plan, metadata.PolicyAuto)
	if err != nil || res.Outcome != OutcomeApplied || !res.Verified {
		t.Fatalf("%s %s %v", res.Outcome, res.Detail, err)
	}
	en := e.journalEntry(plan.ID)
	got := strings.Join(stepNames(en), " ")
	if got != "patch=ok read-back-attempt-1=failed read-back-attempt-2=failed read-back=ok" || en.Status != StatusVerified {
		t.Fatalf("journal steps %q status %s", got, en.Status)
	}
	if n, _ := e.writesTo("/graph.samlOrWsFedExternalDomainFederation/" + fabrikamID); n != 1 {
		t.Fatalf("%d PATCHes", n)
	}
}

// A write that still does not show after every attempt blocks, journals the
// failure, tells the owner what was written and what Entra shows, and
// returns ErrReadBackMismatch (the job is parked, not retried).
func TestFederationReadBackMismatchBlocksAndTellsTheOwner(t *testing.T) {
	e := newEnv(t)
	e.srv.ReplicationLag(100)
	deps := e.deps(Apply)
	deps.ReadBack = ReadBack{Attempts: 3, First: time.Millisecond, Max: time.Millisecond}
	plan := certAndEndpointPlan(e, metadata.ActionApply)
	res, err := ApplyFederationPlan(context.Background(), deps, plan, metadata.PolicyAuto)
	if !errors.Is(err, ErrReadBackMismatch) || res.Outcome != OutcomeBlocked {
		t.Fatalf("%s %s %v", res.Outcome, res.Detail, err)
	}
	if !strings.Contains(res.Notice, "reading it back 3 times") || !strings.Contains(res.Notice, "passiveSignInUri is \"https://sts.fabrikam.example/adfs/ls/\"") ||
		!strings.Contains(res.Notice, "idpkeeper undo "+plan.ID) {
		t.Fatalf("notice %q", res.Notice)
	}
	en := e.journalEntry(plan.ID)
	if en.Status != StatusFailed || len(en.Steps) != 4 {
		t.Fatalf("journal %s %v", en.Status, stepNames(en))
	}
}

// The connector read-back waits for the uploaded certificate to be listed.
func TestConnectorReadBackWaitsOutReplicationLag(t *testing.T) {
	e := newEnv(t)
	e.srv.ReplicationLag(1)
	deps := e.deps(Apply)
	deps.ReadBack = fastReadBack
	res, err := UploadConnectorCertificate(context.Background(), deps, certReq())
	if err != nil || res.Outcome != OutcomeApplied {
		t.Fatalf("%s %s %v", res.Outcome, res.Detail, err)
	}
	if got := strings.Join(stepNames(e.journalEntry(res.JournalID)), " "); got != "upload=ok read-back-attempt-1=failed read-back=ok" {
		t.Fatalf("journal steps %q", got)
	}
}

// PFX files as people export them: with the issuing chain, AES-256/PBES2
// encrypted (golang.org/x/crypto/pkcs12 refuses both). They open, upload,
// and the fake lists the leaf's thumbprint.
func TestUploadConnectorCertificateWithChainAndAES(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts azurefake.PFXOptions
	}{
		{"chain, AES, no password", azurefake.PFXOptions{WithChain: true}},
		{"chain, AES, password", azurefake.PFXOptions{WithChain: true, Password: canaryPFXPass}},
		{"no chain, 3DES", azurefake.PFXOptions{Legacy: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.opts.CommonName, tc.opts.NotBefore, tc.opts.NotAfter = "registry client", testNow.Add(-time.Hour), testNow.AddDate(1, 0, 0)
			pfx, thumb := azurefake.PFXBase64(tc.opts)
			e.srv.Tenant(func(tn *azurefake.Tenant) {
				for i := range tn.Vaults[vaultHostName].Secrets {
					s := &tn.Vaults[vaultHostName].Secrets[i]
					if s.Name == "partner-registry-client-cert" {
						s.Versions[0].Value = pfx
					}
				}
			})
			req := certReq()
			if tc.opts.Password != "" {
				req.Password = &SecretRef{Vault: vaultHostName, Name: "partner-registry-pfx-password", Version: "pw000000000000000000000000000001"}
			}
			res, err := UploadConnectorCertificate(context.Background(), e.deps(Apply), req)
			if err != nil || res.Outcome != OutcomeApplied || !strings.Contains(res.Detail, thumb) {
				t.Fatalf("%s %s %v", res.Outcome, res.Detail, err)
			}
			e.assertNoCanary(resultTexts(res, err)...)
		})
	}
}

// A 400 from Graph is a bug of ours (or a route Graph does not serve): the
// error names the request and Graph's message and is permanent, so the job
// is parked with it instead of being retried.
func TestGraph400FailsLoudlyWithPathAndMessage(t *testing.T) {
	e := newEnv(t)
	e.srv.AddFault(azurefake.Fault{Method: "PATCH", PathPrefix: "/v1.0/directory/federationConfigurations/", Status: 400, Code: "BadRequest", Message: "Invalid value specified for property 'signingCertificate'."})
	plan := certAndEndpointPlan(e, metadata.ActionApply)
	_, err := ApplyFederationPlan(context.Background(), e.deps(Apply), plan, metadata.PolicyAuto)
	want := "PATCH /directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation/" + fabrikamID + ": HTTP 400 BadRequest: Invalid value specified for property 'signingCertificate'."
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to contain %q", err, want)
	}
	var ge *tenant.GraphError
	if !errors.As(err, &ge) || !ge.Permanent() {
		t.Fatalf("err %T is not a permanent Graph error", err)
	}
}

// Every Graph request the repair flows send is a call of the permission
// table, writes in the repair phase (the grant infra makes with enableRepair).
func TestEveryRepairCallIsInThePermissionTable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if res, err := RotateSocialSecret(ctx, e.deps(Apply), googleReq()); err != nil || res.Outcome != OutcomeApplied {
		t.Fatalf("social: %s %s %v", res.Outcome, res.Detail, err)
	}
	if res, err := UploadConnectorCertificate(ctx, e.deps(Apply), certReq()); err != nil || res.Outcome != OutcomeApplied {
		t.Fatalf("connector: %s %s %v", res.Outcome, res.Detail, err)
	}
	plan := certAndEndpointPlan(e, metadata.ActionApply)
	if res, err := ApplyFederationPlan(ctx, e.deps(Apply), plan, metadata.PolicyAuto); err != nil || res.Outcome != OutcomeApplied {
		t.Fatalf("federation: %s %s %v", res.Outcome, res.Detail, err)
	}
	if res, err := Undo(ctx, e.deps(Apply), plan.ID, "admin@contoso.example"); err != nil || res.Outcome != OutcomeUndone {
		t.Fatalf("undo: %s %s %v", res.Outcome, res.Detail, err)
	}
	calls := map[string]bool{}
	for _, r := range e.srv.Requests() {
		if !strings.HasPrefix(r.Path, "/v1.0/") {
			continue
		}
		p, ok := tenant.PermissionFor(r.Method, strings.TrimPrefix(r.Path, "/v1.0"))
		if !ok || (r.Method != "GET" && p.Phase != tenant.PhaseRepair) {
			t.Errorf("%s %s is not in tenant.GraphPermissions (or not in the repair phase)", r.Method, r.Path)
			continue
		}
		calls[p.Method+" "+p.Endpoint] = true
	}
	for _, want := range []string{
		"GET /identity/identityProviders/{id}", "PATCH /identity/identityProviders/{id}",
		"GET /identity/apiConnectors/{id}", "POST /identity/apiConnectors/{id}/uploadClientCertificate",
		"GET /directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation",
		"PATCH /directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation/{id}",
	} {
		if !calls[want] {
			t.Errorf("%s was not called (calls: %v)", want, calls)
		}
	}
}

// Issue 12 (2) in the repair step: a Key Vault version list whose nextLink
// loops ends the job with an error instead of paging forever.
func TestVersionListLoopStopsTheRepair(t *testing.T) {
	e := newEnv(t)
	e.srv.AddFault(azurefake.Fault{PathPrefix: "/secrets/google-client-secret/versions",
		Body: `{"value":[],"nextLink":"https://contoso-idp-kv.vault.azure.net/secrets/google-client-secret/versions?api-version=7.6&$skiptoken=x"}`})
	_, err := RotateSocialSecret(context.Background(), e.deps(Apply), googleReq())
	if err == nil || !strings.Contains(err.Error(), "list versions of google-client-secret: paging stopped: page 2 links back to an earlier page") {
		t.Fatalf("err = %v", err)
	}
	if len(e.srv.Writes()) != 0 {
		t.Fatal("wrote after a failed read")
	}
}
