package pipeline_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/events"
	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/pipeline"
	"github.com/idpkeeper/idpkeeper/shared/repair"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

func kvEvent(id, typ, vault, name string) string {
	return `{"id":"` + id + `","eventType":"` + typ + `","subject":"` + name + `","eventTime":"2026-11-20T07:00:00Z",` +
		`"data":{"Id":"https://` + vault + `.vault.azure.net/secrets/` + name + `/v9","VaultName":"` + vault + `","ObjectType":"Secret","ObjectName":"` + name + `","Version":"v9"},` +
		`"dataVersion":"1","metadataVersion":"1"}`
}

func parse(t *testing.T, raw string) events.KeyVaultEvent {
	t.Helper()
	e, err := events.Decode(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.ParseKeyVault(e)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// DecideEvent is pure: the index of the last scan and the config decide.
func TestDecideEvent(t *testing.T) {
	cfg, err := config.Load(examples("idpkeeper.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	scanned := time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
	ix := &pipeline.SecretIndex{Version: 1, ScannedAt: scanned, Vaults: []string{"contoso-idp-kv"}, Secrets: []pipeline.IndexedEntry{
		{Vault: "contoso-idp-kv", Name: "facebook-app-secret", Dependencies: []string{"social/Facebook-OAUTH"}},
		{Vault: "contoso-idp-kv", Name: "smtp-relay-password"},
	}}
	const near, newer = events.SecretNearExpiry, events.SecretNewVersionCreated
	for _, c := range []struct {
		name          string
		ix            *pipeline.SecretIndex
		typ, v, obj   string
		deps, resolve bool
		ignore        bool
		why           string
	}{
		{"tagged secret", ix, near, "contoso-idp-kv", "facebook-app-secret", true, false, false, ""},
		{"named in the config, not tagged", ix, near, "contoso-idp-kv", "loyalty-api-password", true, false, false, ""},
		{"known, backs nothing", ix, near, "contoso-idp-kv", "smtp-relay-password", false, false, true, "backs no dependency"},
		{"known, backs nothing, new version", ix, newer, "contoso-idp-kv", "smtp-relay-password", false, true, false, "new version may carry"},
		{"created since the scan", ix, newer, "contoso-idp-kv", "brand-new-secret", false, true, false, "not in the index"},
		{"no index yet", nil, near, "contoso-idp-kv", "facebook-app-secret", false, true, false, "no secret index yet"},
		{"a vault nobody configured", ix, near, "other-kv", "x", false, false, true, "not one IdP Keeper reads"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := pipeline.DecideEvent(parse(t, kvEvent("e", c.typ, c.v, c.obj)), c.ix, cfg)
			if (len(d.Dependencies) > 0) != c.deps || d.Resolve != c.resolve || d.Ignore != c.ignore || !strings.Contains(d.Reason, c.why) {
				t.Errorf("%+v", d)
			}
		})
	}
}

// liveRig is the pipeline on the live-tenant code path: the real Graph and
// Key Vault SDK clients against the HTTPS fake, so every call is counted.
func liveRig(t *testing.T, mutate func(*azurefake.Tenant)) (rig, *azurefake.Server) {
	t.Helper()
	tn, err := azurefake.LoadTenant(examples("fixture", "tenant.json"))
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(tn)
	}
	srv := azurefake.NewServer(tn)
	t.Cleanup(srv.Close)
	r := newRig(t, statestore.Dir{Root: t.TempDir()})
	r.p.Source = scan.Source{Credential: tenant.StaticCredential{}, Transport: srv.Transport()}
	return r, srv
}

// The event handler answers from the stored index: no Graph or Key Vault
// request. A known secret queues its rotation at once; one the index does
// not know queues a resolve-secret job, which reads that secret's version
// properties only (no value, no Graph), learns it into the index, and
// queues exactly the rotation job (same MessageID) a known secret would
// have had — or, for a secret that backs nothing, makes its next event an
// immediate "ignored".
func TestEventsDecideFromTheIndexAndResolveLater(t *testing.T) {
	ctx := context.Background()
	r, srv := liveRig(t, nil)
	rep, err := repairDeps(t, srv)
	if err != nil {
		t.Fatal(err)
	}
	rep.Mode = repair.DryRun
	r.p.Repair = rep
	if err := r.p.StoreSecretIndex(ctx); err != nil {
		t.Fatal(err)
	}
	r.collect(t)
	before := len(srv.Requests())

	known, err := r.p.HandleEvent(ctx, json.RawMessage(kvEvent("ev-known", events.SecretNearExpiry, "contoso-idp-kv", "facebook-app-secret")))
	if err != nil || known.Outcome != pipeline.EventQueued || len(known.Jobs) != 1 || known.Jobs[0].Kind != jobs.KindRotateCredential {
		t.Fatalf("known secret: %+v %v", known, err)
	}
	// A secret created after the scan, tagged for the Facebook provider,
	// and one that backs nothing (scans do not list those).
	srv.Tenant(func(tn *azurefake.Tenant) {
		v := tn.Vaults["contoso-idp-kv.vault.azure.net"]
		now := time.Date(2026, 11, 20, 6, 30, 0, 0, time.UTC)
		v.Secrets = append(v.Secrets, azurefake.Secret{Name: "facebook-app-secret-2026", Versions: []azurefake.SecretVersion{{
			Version: "v9", Value: "not-read", Enabled: true, Created: now, Updated: now, ContentType: "text/plain",
			Tags: map[string]string{"idpkeeper-dependency": "social/Facebook-OAUTH"},
		}}})
	})
	unknownRaw := kvEvent("ev-new", events.SecretNewVersionCreated, "contoso-idp-kv", "facebook-app-secret-2026")
	smtpRaw := kvEvent("ev-smtp", events.SecretNearExpiry, "contoso-idp-kv", "smtp-relay-password")
	for _, raw := range []string{unknownRaw, smtpRaw} {
		out, err := r.p.HandleEvent(ctx, json.RawMessage(raw))
		if err != nil || out.Outcome != pipeline.EventQueued || len(out.Jobs) != 1 || out.Jobs[0].Kind != jobs.KindResolveSecret {
			t.Fatalf("unknown secret: %+v %v", out, err)
		}
	}
	if n := len(srv.Requests()) - before; n != 0 {
		t.Fatalf("the event handler made %d Graph/Key Vault requests; it must decide from the index alone", n)
	}

	before, reads := len(srv.Requests()), srv.SecretValueReads()
	for _, d := range r.collect(t) {
		if d.Job.Kind != jobs.KindResolveSecret {
			continue
		}
		if err := r.p.Handler()(ctx, d); err != nil {
			t.Fatalf("resolve job: %v", err)
		}
	}
	for _, req := range srv.Requests()[before:] {
		if !strings.HasSuffix(req.Path, "/versions") {
			t.Errorf("a resolve job called %s %s%s; it needs the version list only", req.Method, req.Host, req.Path)
		}
	}
	if srv.SecretValueReads() != reads {
		t.Error("a resolve job read a secret value")
	}
	after := r.collect(t)
	if len(after) != 1 || after[0].Job.Kind != jobs.KindRotateCredential || after[0].Job.Dependency != "social/Facebook-OAUTH" ||
		after[0].Job.Secret.Name != "facebook-app-secret-2026" || after[0].Job.Source != "ev-new" {
		t.Fatalf("the resolve jobs queued %+v", after)
	}
	// Learnt: both events are now decided at once.
	again, err := r.p.HandleEvent(ctx, json.RawMessage(unknownRaw))
	if err != nil || len(again.Jobs) != 1 || again.Jobs[0].Kind != jobs.KindRotateCredential || again.Jobs[0].MessageID != after[0].MessageID {
		t.Fatalf("after resolving: %+v %v (resolved job %s)", again, err, after[0].MessageID)
	}
	smtp, err := r.p.HandleEvent(ctx, json.RawMessage(smtpRaw))
	if err != nil || smtp.Outcome != pipeline.EventIgnored {
		t.Fatalf("a secret found to back nothing: %+v %v", smtp, err)
	}
	e, err := r.p.Ledger.Get(ctx, pipelineDependencyID("secret/contoso-idp-kv/facebook-app-secret-2026"))
	if err != nil || len(e.Jobs) != 1 || e.Jobs[0].Outcome != pipeline.OutcomeResolvedEvent {
		t.Errorf("resolve outcome not recorded: %+v %v", e.Jobs, err)
	}
	// The next timer scan keeps what resolve jobs learnt.
	if err := r.p.StoreSecretIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if smtp, _ := r.p.HandleEvent(ctx, json.RawMessage(smtpRaw)); smtp.Outcome != pipeline.EventIgnored {
		t.Errorf("a new scan forgot the learnt secret: %+v", smtp)
	}
}

// A Key Vault 403 during a repair parks the job with the role to grant
// instead of having Service Bus redeliver it five times.
func TestRepairKeyVault403IsPermanent(t *testing.T) {
	ctx := context.Background()
	r, srv := liveRig(t, nil)
	p := r.p
	if err := p.StoreSecretIndex(ctx); err != nil {
		t.Fatal(err)
	}
	r.collect(t)
	// Repair in apply mode: the new version's value is read before the PATCH.
	rep, err := repairDeps(t, srv)
	if err != nil {
		t.Fatal(err)
	}
	p.Repair = rep
	srv.AddFault(azurefake.Fault{Method: "GET", PathPrefix: "/secrets/facebook-app-secret/", Status: 403, Code: "Forbidden",
		Message: "Caller is not authorized to perform action on resource."})
	out, err := p.HandleEvent(ctx, json.RawMessage(kvEvent("ev-fb", events.SecretNewVersionCreated, "contoso-idp-kv", "facebook-app-secret")))
	if err != nil || out.Outcome != pipeline.EventQueued {
		t.Fatalf("%+v %v", out, err)
	}
	var rotate jobs.Delivery
	for _, d := range r.collect(t) {
		if d.Job.Kind == jobs.KindRotateCredential {
			rotate = d
		}
	}
	err = p.Handler()(ctx, rotate)
	if !jobs.IsPermanent(err) || !strings.Contains(err.Error(), `grant "Key Vault Secrets Officer" on vault contoso-idp-kv`) {
		t.Fatalf("a Key Vault 403 in a repair: %v (permanent %v)", err, jobs.IsPermanent(err))
	}
}

func pipelineDependencyID(ref string) string { return assess.NewID("dependency", ref) }

// repairDeps are the repair step's clients on the fake, in apply mode.
func repairDeps(t *testing.T, srv *azurefake.Server) (*repair.Deps, error) {
	t.Helper()
	clients, err := tenant.NewClients(tenant.StaticCredential{}, tenant.ClientOptions{Transport: srv.Transport(), KeyVaultURLs: []string{"https://contoso-idp-kv.vault.azure.net/"}})
	if err != nil {
		return nil, err
	}
	return &repair.Deps{Graph: clients.Graph, Vaults: repair.VaultsOf(clients), Journal: &repair.Journal{Store: statestore.Dir{Root: t.TempDir()}},
		Providers: map[string]repair.ProviderTester{"Facebook": repair.FacebookTester{}}, Mode: repair.Apply}, nil
}
