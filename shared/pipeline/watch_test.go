package pipeline_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/pipeline"
	"github.com/idpkeeper/idpkeeper/shared/repair"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
	"github.com/idpkeeper/idpkeeper/shared/watch"
)

// connectorsOnly keeps the API connectors (and the flows that call them)
// of an inventory: a test that dials must not reach the example's partner
// and provider hosts.
func connectorsOnly(inv inventory.Inventory) inventory.Inventory {
	return inventory.Inventory{APIConnectors: inv.APIConnectors, UserFlows: inv.UserFlows, Secrets: inv.Secrets}
}

// allowLoopbackConnectors lets every connector's check reach 127.0.0.1,
// where the test's API listens (watch.allowNetworks per dependency).
func allowLoopbackConnectors(cfg *config.Config, inv inventory.Inventory) {
	for _, c := range inv.APIConnectors {
		ref := inventory.Ref(inventory.KindConnector, c.ID)
		d := cfg.Dependency(ref)
		if d == nil {
			cfg.Dependencies = append(cfg.Dependencies, config.Dependency{Ref: ref})
			d = &cfg.Dependencies[len(cfg.Dependencies)-1]
		}
		d.Watch = &config.DependencyWatch{AllowNetworks: []string{"127.0.0.1"}}
	}
}

func histories(t *testing.T, state statestore.Store, inv inventory.Inventory, cfg *config.Config) map[string]*watch.History {
	t.Helper()
	out := map[string]*watch.History{}
	for _, ep := range watch.Endpoints(inv, cfg) {
		h, _, err := (watch.Store{State: state}).Load(context.Background(), ep.Key)
		if err != nil {
			t.Fatal(err)
		}
		if h != nil {
			out[ep.Dependency.Name+" "+string(ep.Step)] = h
		}
	}
	return out
}

// The API connectors are checked on the watch's schedule, into its history.
// With probe credentials on, each connector's credential is read from Key
// Vault; off, no secret value is read and the check reports no-credential —
// never auth-failed — and a Key Vault 403 names the role to grant.
func TestWatchChecksConnectorsWithTheirCredential(t *testing.T) {
	var mu sync.Mutex
	var gotAuth []string
	// The API wants the loyalty connector's password; anything else is 401.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, pw, _ := r.BasicAuth()
		mu.Lock()
		gotAuth = append(gotAuth, u+":"+pw)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if pw != "loyalty-pw-canary" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"version":"1.0.0","action":"Continue"}`)
	}))
	defer api.Close()
	for _, tc := range []struct {
		name        string
		credentials bool
		fault       bool
	}{{"credentials on", true, false}, {"credentials off", false, false}, {"credentials on, Key Vault 403", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			gotAuth = nil
			mu.Unlock()
			cfg, _ := config.Load(examples("idpkeeper.yaml"))
			tn, err := azurefake.LoadTenant(examples("fixture", "tenant.json"))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tn.APIConnectors {
				c["targetUrl"] = api.URL + "/" + c["id"].(string) // plain http: loopback only
			}
			for _, s := range tn.Vaults["contoso-idp-kv.vault.azure.net"].Secrets {
				if s.Name == "loyalty-api-password" {
					s.Versions[len(s.Versions)-1].Value = "loyalty-pw-canary"
				}
			}
			srv := azurefake.NewServer(tn)
			defer srv.Close()
			clients, err := tenant.NewClients(tenant.StaticCredential{}, tenant.ClientOptions{Transport: srv.Transport(), KeyVaultURLs: cfg.KeyVaults})
			if err != nil {
				t.Fatal(err)
			}
			res, err := scan.Run(context.Background(), scan.Options{Config: cfg, Source: scan.Source{Credential: tenant.StaticCredential{}, Transport: srv.Transport()}})
			if err != nil {
				t.Fatal(err)
			}
			inv := connectorsOnly(res.Inventory)
			allowLoopbackConnectors(cfg, inv)
			state := statestore.Dir{Root: t.TempDir()}
			p := &pipeline.Pipeline{Config: cfg, State: state, Repair: &repair.Deps{Graph: clients.Graph, Vaults: repair.VaultsOf(clients)},
				ProbeCredentials: tc.credentials, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			if tc.fault {
				// Key Vault's answer without a role that reads values.
				srv.AddFault(azurefake.Fault{Method: http.MethodGet, PathPrefix: "/secrets/loyalty-api-password", Status: 403, Code: "Forbidden",
					Message: "Caller is not authorized to perform action on resource."})
			}
			reads := srv.SecretValueReads()
			run, err := p.Watch(context.Background(), "test", &inv)
			if err != nil {
				t.Fatal(err)
			}
			if len(run.Outcome.Endpoints) != 3 || run.Outcome.Unchecked != 0 {
				t.Fatalf("%d endpoints, %d unchecked", len(run.Outcome.Endpoints), run.Outcome.Unchecked)
			}
			classes := map[string]string{}
			details := map[string]string{}
			for i, ep := range run.Outcome.Endpoints {
				r := run.Outcome.Results[i]
				classes[ep.Dependency.Name] = r.Class
				details[ep.Dependency.Name] = r.Detail
				if r.Class == "api-auth-failed" && (!tc.credentials || ep.Dependency.Name == "Loyalty check") {
					t.Errorf("%s: auth-failed although the check ran without the credential: %s", ep.Dependency.Name, r.Detail)
				}
			}
			used := strings.Contains(strings.Join(gotAuth, ","), "entra-signup:loyalty-pw-canary")
			switch {
			case tc.credentials && !tc.fault:
				// The CRM API refuses its own (fixture) password: a real
				// auth-failed, judged with the credential Entra sends.
				if classes["Loyalty check"] != "api-continue" || classes["Legacy CRM lookup"] != "api-auth-failed" || !used {
					t.Errorf("with credentials: %v, credential used %v", classes, used)
				}
			case !tc.credentials:
				if got := srv.SecretValueReads() - reads; got != 0 || used {
					t.Errorf("credentials off: %d secret values read, credential used %v", got, used)
				}
				if classes["Loyalty check"] != "api-no-credential" || !strings.Contains(details["Loyalty check"], "IDPKEEPER_ENABLE_PROBE_CREDENTIALS") {
					t.Errorf("credentials off: %v, %q", classes, details["Loyalty check"])
				}
			case tc.fault:
				if classes["Loyalty check"] != "api-no-credential" || !strings.Contains(details["Loyalty check"], `grant "Key Vault Secrets User" on vault contoso-idp-kv`) {
					t.Errorf("Key Vault 403: %v, %q", classes, details["Loyalty check"])
				}
			}
			// Each result is in the connector's history, and no password is.
			hs := histories(t, state, inv, cfg)
			if len(hs) != 3 {
				t.Errorf("%d histories, want 3", len(hs))
			}
			filepath.Walk(state.Root, func(path string, info os.FileInfo, err error) error {
				if err == nil && !info.IsDir() {
					if data, _ := os.ReadFile(path); strings.Contains(string(data), "loyalty-pw-canary") {
						t.Errorf("%s carries the password", path)
					}
				}
				return nil
			})
		})
	}
}

// A connector whose target resolves inside the network is not called by the
// watch unless its dependency's allowNetworks lists the network: the target
// URL comes from the tenant, the credential from Key Vault.
func TestWatchConnectorChecksAreGuarded(t *testing.T) {
	var hits int
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer api.Close()
	cfg, _ := config.Load(examples("idpkeeper.yaml"))
	inv := inventory.Inventory{APIConnectors: []inventory.APIConnector{{ID: "c1", DisplayName: "Internal", TargetURL: api.URL + "/hook", AuthType: inventory.AuthUnknown}}}
	p := &pipeline.Pipeline{Config: cfg, State: &watch.Memory{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	run, err := p.Watch(context.Background(), "test", &inv)
	if err != nil {
		t.Fatal(err)
	}
	if r := run.Outcome.Results[0]; r.State != watch.Down || r.Class != watch.ClassAddressBlocked || hits != 0 {
		t.Errorf("%+v, %d requests reached the API", r, hits)
	}
}

// What an API echoes back (the Authorization header, the password) is
// redacted before it is kept in the watch's history.
func TestWatchHistoryRedactsEchoedCredentials(t *testing.T) {
	const password = "loyalty-pw-CANARY-echo"
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Not the contract: the excerpt of the body lands in the detail.
		_, pw, _ := r.BasicAuth()
		io.WriteString(w, "denied: "+r.Header.Get("Authorization")+" / "+pw)
	}))
	defer api.Close()
	tn, err := azurefake.LoadTenant(examples("fixture", "tenant.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range tn.APIConnectors {
		c["targetUrl"] = api.URL + "/" + c["id"].(string)
	}
	for _, s := range tn.Vaults["contoso-idp-kv.vault.azure.net"].Secrets {
		if s.Name == "loyalty-api-password" {
			s.Versions[len(s.Versions)-1].Value = password
		}
	}
	srv := azurefake.NewServer(tn)
	defer srv.Close()
	cfg, _ := config.Load(examples("idpkeeper.yaml"))
	clients, err := tenant.NewClients(tenant.StaticCredential{}, tenant.ClientOptions{Transport: srv.Transport(), KeyVaultURLs: cfg.KeyVaults})
	if err != nil {
		t.Fatal(err)
	}
	res, err := scan.Run(context.Background(), scan.Options{Config: cfg, Source: scan.Source{Credential: tenant.StaticCredential{}, Transport: srv.Transport()}})
	if err != nil {
		t.Fatal(err)
	}
	inv := connectorsOnly(res.Inventory)
	allowLoopbackConnectors(cfg, inv)
	state := statestore.Dir{Root: t.TempDir()}
	p := &pipeline.Pipeline{Config: cfg, State: state, ProbeCredentials: true, Repair: &repair.Deps{Graph: clients.Graph, Vaults: repair.VaultsOf(clients)},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := p.Watch(context.Background(), "test", &inv); err != nil {
		t.Fatal(err)
	}
	redacted := false
	b64 := base64.StdEncoding.EncodeToString([]byte("entra-signup:" + password))
	filepath.Walk(state.Root, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(path)
		redacted = redacted || strings.Contains(string(data), "Basic [redacted]")
		for _, leak := range []string{password, b64, b64[:16], "CANARY"} {
			if strings.Contains(string(data), leak) {
				t.Errorf("%s carries %q", path, leak)
			}
		}
		return nil
	})
	if !redacted {
		t.Error("no history kept the (redacted) echo: the test did not exercise redaction")
	}
}

// script is a watch.Checker answering each endpoint from a table.
type script struct {
	mu    sync.Mutex
	state map[string]watch.State // by dependency name; missing: up
	now   func() time.Time
}

func (s *script) CheckAll(_ context.Context, eps []watch.Endpoint, _ int) []watch.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]watch.Result, len(eps))
	for i, ep := range eps {
		st, ok := s.state[ep.Dependency.Name]
		if !ok {
			st = watch.Up
		}
		out[i] = watch.Result{At: s.now(), State: st, Class: watch.ClassOK, HTTP: 200, LatencyMs: 100}
		if st == watch.Down {
			out[i].Class, out[i].HTTP, out[i].Detail = watch.ClassConnect, 0, "no TCP connection: connection refused"
		}
	}
	return out
}

// A partner's sign-in endpoint goes down: once the outage is confirmed the
// partner is told — what we see, from where, since when, whose users, what
// we need — through the notice stages (daily while it lasts); when it comes
// back a recovery notice goes to the same people and the outage's ledger
// entry is closed. An outage nobody was told about gets no recovery notice.
func TestWatchNoticesOutageAndRecovery(t *testing.T) {
	r := newRig(t, statestore.Dir{Root: t.TempDir()})
	clock := capturedAt
	r.p.Now = func() time.Time { return clock }
	r.p.Notifier.Now = r.p.Now
	r.p.Ledger.Now = r.p.Now
	r.p.Config.Watch.ObservedFrom = "IdP Keeper in Azure West Europe"
	sc := &script{state: map[string]watch.State{"Adatum": watch.Down}, now: func() time.Time { return clock }}
	r.p.WatchChecker = sc
	// No seed: start from scratch with the scripted results.
	r.p.Source = scan.Source{SnapshotDir: t.TempDir()}
	tn, err := scan.Open(r.p.Config, scan.Source{SnapshotDir: examples("tenant")})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := tn.Reader.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var last pipeline.WatchRun
	for i := 0; i < 3; i++ { // 06:00, 06:10, 06:20: three failures spanning 20 minutes
		clock = capturedAt.Add(time.Duration(i) * 10 * time.Minute)
		if last, err = r.p.Watch(ctx, "watch-test", &inv); err != nil {
			t.Fatal(err)
		}
		if i < 2 && len(r.outboxFiles(t)) != 0 {
			t.Fatalf("a notice went out before the outage was confirmed: %v", r.outboxFiles(t))
		}
	}
	var down *assess.Finding
	for i := range last.Findings {
		if last.Findings[i].Kind == assess.KindEndpointDown {
			down = &last.Findings[i]
		}
	}
	if down == nil || down.Dependency.Name != "Adatum" || down.Severity != assess.Expired {
		t.Fatalf("down finding %+v", down)
	}
	files := r.outboxFiles(t)
	if len(files) != 2 || !strings.HasPrefix(files[0], down.ID+"-overdue-2026-11-20") {
		t.Fatalf("outbox %v", files)
	}
	eml, _ := os.ReadFile(filepath.Join(r.outbox, down.ID+"-overdue-2026-11-20.eml"))
	for _, want := range []string{`To: "adatum-it" <it-security@adatum.example>`, "Bring https://idp.adatum.example/saml2/sso back",
		"from IdP Keeper in Azure West Europe", "since 2026-11-20T06:00:00Z", "users from adatum.example", "Failed checks in a row: 3", "Last error: connect"} {
		if !strings.Contains(string(eml), want) {
			t.Errorf("the partner's notice lacks %q:\n%s", want, eml)
		}
	}
	// The next round, still down, the same day: nothing new.
	clock = capturedAt.Add(30 * time.Minute)
	if _, err := r.p.Watch(ctx, "watch-test", &inv); err != nil {
		t.Fatal(err)
	}
	if len(r.outboxFiles(t)) != 2 {
		t.Errorf("a second notice the same day: %v", r.outboxFiles(t))
	}
	// Back up: the recovery notice, and the outage's entry is closed.
	sc.mu.Lock()
	delete(sc.state, "Adatum")
	sc.mu.Unlock()
	clock = capturedAt.Add(40 * time.Minute)
	run, err := r.p.Watch(ctx, "watch-test", &inv)
	if err != nil {
		t.Fatal(err)
	}
	var rec *assess.Finding
	for i := range run.Findings {
		if run.Findings[i].Kind == assess.KindEndpointRecovered {
			rec = &run.Findings[i]
		}
	}
	if rec == nil || rec.Detail["downFinding"] != down.ID {
		t.Fatalf("recovery %+v", rec)
	}
	recEml, err := os.ReadFile(filepath.Join(r.outbox, rec.ID+"-recovered.eml"))
	if err != nil || !strings.Contains(string(recEml), "Nothing more is needed") || !strings.Contains(string(recEml), "it-security@adatum.example") {
		t.Fatalf("recovery notice: %v\n%s", err, recEml)
	}
	e, err := r.p.Ledger.Get(ctx, down.ID)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	for _, j := range e.Jobs {
		closed = closed || j.Outcome == pipeline.OutcomeResolved
	}
	if !closed {
		t.Errorf("the outage's ledger entry is not closed: %+v", e.Jobs)
	}
	clock = capturedAt.Add(50 * time.Minute)
	if _, err := r.p.Watch(ctx, "watch-test", &inv); err != nil {
		t.Fatal(err)
	}
	if len(r.outboxFiles(t)) != 4 {
		t.Errorf("the recovery notice went twice: %v", r.outboxFiles(t))
	}

	// A blip that never became an outage, and an outage recovered before
	// anyone was told (no notifier at the time): no recovery notice.
	r2 := newRig(t, statestore.Dir{Root: t.TempDir()})
	clock = capturedAt
	r2.p.Now, r2.p.Source = func() time.Time { return clock }, scan.Source{SnapshotDir: t.TempDir()}
	r2.p.Ledger.Now, r2.p.Notifier.Now = r2.p.Now, r2.p.Now
	notifier := r2.p.Notifier
	r2.p.Notifier = nil
	sc2 := &script{state: map[string]watch.State{"Adatum": watch.Down}, now: func() time.Time { return clock }}
	r2.p.WatchChecker = sc2
	for i := 0; i < 3; i++ {
		clock = capturedAt.Add(time.Duration(i) * 10 * time.Minute)
		if _, err := r2.p.Watch(ctx, "w", &inv); err != nil {
			t.Fatal(err)
		}
	}
	r2.p.Notifier = notifier
	delete(sc2.state, "Adatum")
	clock = capturedAt.Add(30 * time.Minute)
	if _, err := r2.p.Watch(ctx, "w", &inv); err != nil {
		t.Fatal(err)
	}
	for _, f := range r2.outboxFiles(t) {
		if strings.Contains(f, "-recovered") {
			t.Errorf("recovery notice for an outage nobody was told about: %s", f)
		}
	}
}

// The timer scan stores the inventory; the watch plans from it without a
// tenant scan, and its results feed the next timer report.
func TestWatchUsesTheStoredInventoryAndFeedsTheReport(t *testing.T) {
	r := newRig(t, statestore.Dir{Root: t.TempDir()})
	ctx := context.Background()
	if _, err := r.p.Watch(ctx, "w", nil); !errors.Is(err, pipeline.ErrNoInventory) {
		t.Fatalf("watch before any scan: %v", err)
	}
	if _, _, err := r.p.ScanAndQueue(ctx, "scan"); err != nil {
		t.Fatal(err)
	}
	si, err := r.p.LoadInventory(ctx)
	if err != nil || len(si.Inventory.Federations) != 4 {
		t.Fatalf("stored inventory: %d federations, %v", len(si.Inventory.Federations), err)
	}
	// A snapshot app replays what was recorded with the snapshot: Adatum is
	// down at capture time.
	run, err := r.p.Watch(ctx, "w", nil)
	if err != nil {
		t.Fatal(err)
	}
	if run.Outcome.Unchecked != 0 || len(run.Outcome.Endpoints) != 12 {
		t.Errorf("%d of %d endpoints unchecked", run.Outcome.Unchecked, len(run.Outcome.Endpoints))
	}
	for i, ep := range run.Outcome.Endpoints {
		// The CRM connector's target is plain http: never dialled.
		if ep.Dependency.Name == "Legacy CRM lookup" && (run.Outcome.Results[i].State != watch.Skipped || run.Outcome.Results[i].Class != watch.ClassNotHTTPS) {
			t.Errorf("CRM connector: %+v", run.Outcome.Results[i])
		}
	}
	found := false
	for _, f := range run.Findings {
		found = found || f.Kind == assess.KindEndpointDown && f.Dependency.Name == "Adatum"
	}
	if !found {
		t.Fatal("the recorded outage of Adatum's sign-in endpoint was not found")
	}
	// The state now holds the histories (continued from the snapshot); the
	// next timer report shows them.
	res, _, err := r.p.ScanAndQueue(ctx, "scan-2")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Report.Endpoints) != 12 {
		t.Errorf("the report shows %d endpoints' availability, want 12", len(res.Report.Endpoints))
	}
	ada := ""
	for _, p := range res.Report.Partners {
		if p.Name == "Adatum" && p.WorstSeverity != nil {
			ada = p.WorstSeverity.String()
		}
	}
	if ada != "expired" {
		t.Errorf("Adatum's partner row: worst severity %q", ada)
	}
	var st struct{ Results []json.RawMessage }
	for _, ep := range watch.Endpoints(si.Inventory, r.p.Config) {
		if ep.Dependency.Name == "Adatum" {
			data, _, err := r.state.Get(ctx, watch.DocumentName(ep.Key))
			if err != nil || json.Unmarshal(data, &st) != nil || len(st.Results) == 0 {
				t.Errorf("Adatum's history was not continued into the state: %v", err)
			}
		}
	}
}

// The watch checks the token endpoints the secret test posts to: one list
// of Google's and Facebook's published endpoints.
func TestWatchedTokenEndpointsAreTheRepairs(t *testing.T) {
	for typ, want := range map[string]string{"Google": repair.GoogleTokenURL, "Facebook": repair.FacebookTokenURL} {
		p, ok := watch.ProviderOf(typ)
		if !ok {
			t.Fatalf("no provider %s", typ)
		}
		found := false
		for _, e := range p.Endpoints {
			found = found || e.Role == watch.RoleToken && e.URL == want
		}
		if !found {
			t.Errorf("%s: the watch's token endpoint is not %s", typ, want)
		}
	}
}
