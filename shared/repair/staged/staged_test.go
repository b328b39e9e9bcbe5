package staged_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/repair"
	"github.com/idpkeeper/idpkeeper/shared/repair/staged"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

const (
	connectorID = "a3b1c2d4-0001-4e5f-8a9b-0c1d2e3f4a5b" // "Loyalty check", basic auth
	secretName  = "loyalty-api-password"
	vaultURL    = "https://contoso-idp-kv.vault.azure.net/"
)

// fakeAPI accepts the passwords the test has "installed" on it, as the API
// team does during a migration (old and new side by side).
type fakeAPI struct {
	mu       sync.Mutex
	accepted map[string]bool
	seen     []string
	fail     int // the next n probes fail with a transport error
}

func (a *fakeAPI) Accepts(_ context.Context, _ string, user, pw string) (bool, string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail > 0 {
		a.fail--
		return false, "", errTransport
	}
	a.seen = append(a.seen, pw)
	if user == "entra-signup" && a.accepted[pw] {
		return true, "continue", nil
	}
	return false, "auth-failed", nil
}

type transportErr struct{}

func (transportErr) Error() string { return "connection reset" }

var errTransport = transportErr{}

type rig struct {
	srv   *azurefake.Server
	r     *staged.Rotator
	api   *fakeAPI
	store statestore.Dir
	clock time.Time
	mu    sync.Mutex
}

func newRig(t *testing.T, mode repair.Mode) *rig {
	t.Helper()
	tn, err := azurefake.LoadTenant(filepath.Join("..", "..", "..", "examples", "fixture", "tenant.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := azurefake.NewServer(tn)
	t.Cleanup(srv.Close)
	clients, err := tenant.NewClients(tenant.StaticCredential{}, tenant.ClientOptions{Transport: srv.Transport(), KeyVaultURLs: []string{vaultURL}})
	if err != nil {
		t.Fatal(err)
	}
	g := &rig{srv: srv, api: &fakeAPI{accepted: map[string]bool{}}, store: statestore.Dir{Root: t.TempDir()}, clock: time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)}
	g.r = &staged.Rotator{
		Graph: clients.Graph, Vault: clients.Vaults[0].Client, VaultURL: vaultURL, Prober: g.api,
		Journal: &repair.Journal{Store: g.store, Now: g.now}, Mode: mode, Now: g.now,
	}
	return g
}

func (g *rig) now() time.Time { g.mu.Lock(); defer g.mu.Unlock(); return g.clock }
func (g *rig) advance(d time.Duration) {
	g.mu.Lock()
	g.clock = g.clock.Add(d)
	g.mu.Unlock()
}

// value reads a version's value from the fake (the test's privilege).
func (g *rig) value(version string) string {
	var v string
	g.srv.Tenant(func(tn *azurefake.Tenant) {
		for _, s := range tn.Vaults["contoso-idp-kv.vault.azure.net"].Secrets {
			if s.Name == secretName {
				for _, ver := range s.Versions {
					if ver.Version == version {
						v = ver.Value
					}
				}
			}
		}
	})
	return v
}

func (g *rig) versions() int {
	n := 0
	g.srv.Tenant(func(tn *azurefake.Tenant) {
		for _, s := range tn.Vaults["contoso-idp-kv.vault.azure.net"].Secrets {
			if s.Name == secretName {
				n = len(s.Versions)
			}
		}
	})
	return n
}

func (g *rig) patches() int {
	n := 0
	for _, w := range g.srv.Writes() {
		if w.Method == http.MethodPatch && strings.HasSuffix(w.Path, "/apiConnectors/"+connectorID) {
			n++
		}
	}
	return n
}

// run steps until done (or maxSteps), installing the pending password on
// the API after the first step, retrying after errors as a redelivery would.
func (g *rig) run(t *testing.T, maxSteps int) staged.State {
	t.Helper()
	var st staged.State
	for i := 0; i < maxSteps; i++ {
		s, err := g.r.Step(context.Background(), connectorID, secretName)
		if err != nil {
			continue // redelivered
		}
		st = s
		if st.PendingVersion != "" {
			g.api.mu.Lock()
			g.api.accepted[g.value(st.PendingVersion)] = true
			g.api.mu.Unlock()
		}
		if st.Done {
			return st
		}
		g.advance(24 * time.Hour)
	}
	return st
}

func TestStagedRotationEndToEnd(t *testing.T) {
	g := newRig(t, repair.Apply)
	before := g.versions()
	st, err := g.r.Step(context.Background(), connectorID, secretName)
	if err != nil || st.Stage != staged.StagePending || st.PendingVersion == "" || st.NextCheck == nil {
		t.Fatalf("first step: %+v %v", st, err)
	}
	pw := g.value(st.PendingVersion)
	if len(pw) != 32 || strings.Contains(st.Notice, pw) || !strings.Contains(st.Notice, st.PendingVersion) {
		t.Fatalf("pending password of %d chars; notice %q", len(pw), st.Notice)
	}
	// The API has not installed it yet: wait, no write.
	writes := len(g.srv.Writes())
	st, err = g.r.Step(context.Background(), connectorID, secretName)
	if err != nil || st.Stage != staged.StageWaiting || len(g.srv.Writes()) != writes {
		t.Fatalf("waiting step: %+v %v", st, err)
	}
	g.api.accepted[pw] = true
	st, err = g.r.Step(context.Background(), connectorID, secretName)
	if err != nil || !st.Done || st.CurrentVersion == "" {
		t.Fatalf("cut-over step: %+v %v", st, err)
	}
	if g.srv.CredentialOf(connectorID) != pw || g.patches() != 1 || g.versions() != before+1 {
		t.Errorf("connector holds the pending password: %v, patches %d, versions %d→%d", g.srv.CredentialOf(connectorID) == pw, g.patches(), before, g.versions())
	}
	g.srv.Tenant(func(tn *azurefake.Tenant) {
		for _, s := range tn.Vaults["contoso-idp-kv.vault.azure.net"].Secrets {
			if s.Name == secretName {
				last := s.Versions[len(s.Versions)-1]
				if last.Expires == nil || last.Tags["idpkeeper-stage"] != "current" || s.Versions[len(s.Versions)-2].Tags["idpkeeper-stage"] != "previous" {
					t.Errorf("tags/expiry after promotion: new %+v", last.Tags)
				}
			}
		}
	})
	// Every Graph call is one the permission table lists.
	for _, r := range g.srv.Requests() {
		if strings.HasPrefix(r.Path, "/v1.0/") {
			if p, ok := tenant.PermissionFor(r.Method, strings.TrimPrefix(r.Path, "/v1.0")); !ok || (r.Method != "GET" && p.Phase != tenant.PhaseRepair) {
				t.Errorf("%s %s is not in tenant.GraphPermissions (or not in the repair phase)", r.Method, r.Path)
			}
		}
	}
	// Journal and state never hold the password.
	filepath.Walk(g.store.Root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), pw) {
				t.Errorf("%s holds the password", p)
			}
		}
		return nil
	})
}

func TestStagedRotationDryRunWritesNothing(t *testing.T) {
	g := newRig(t, repair.DryRun)
	st, err := g.r.Step(context.Background(), connectorID, secretName)
	if err != nil || st.Stage != staged.StageWouldCreate || len(g.srv.Writes()) != 0 {
		t.Fatalf("dry run: %+v %v, %d writes", st, err, len(g.srv.Writes()))
	}
}

// With a pending password waiting for the API, a dry run says it would probe
// and reads nothing: probing needs the value, and no write would follow.
func TestStagedRotationDryRunReadsNoPendingPassword(t *testing.T) {
	g := newRig(t, repair.Apply)
	if st, err := g.r.Step(context.Background(), connectorID, secretName); err != nil || st.Stage != staged.StagePending {
		t.Fatalf("apply: %+v %v", st, err)
	}
	g.r.Mode = repair.DryRun
	writes, reads := len(g.srv.Writes()), g.srv.SecretValueReads()
	st, err := g.r.Step(context.Background(), connectorID, secretName)
	if err != nil || st.Stage != staged.StageWouldProbe {
		t.Fatalf("dry run: %+v %v", st, err)
	}
	if g.srv.SecretValueReads() != reads || len(g.srv.Writes()) != writes {
		t.Errorf("dry run read %d values, wrote %d times", g.srv.SecretValueReads()-reads, len(g.srv.Writes())-writes)
	}
}

func TestStagedRotationOverdue(t *testing.T) {
	g := newRig(t, repair.Apply)
	g.r.Deadline = 48 * time.Hour
	if _, err := g.r.Step(context.Background(), connectorID, secretName); err != nil {
		t.Fatal(err)
	}
	g.advance(72 * time.Hour)
	st, err := g.r.Step(context.Background(), connectorID, secretName)
	if err != nil || st.Stage != staged.StageOverdue || !strings.Contains(st.Notice, "after the deadline") || g.patches() != 0 {
		t.Fatalf("overdue: %+v %v", st, err)
	}
}

// A failure after each external call, then redelivery: the end state is the
// uninterrupted one — one new version, one PATCH with the final password.
func TestStagedRotationSurvivesAFailureAtEveryCall(t *testing.T) {
	faults := []azurefake.Fault{
		{Method: http.MethodPut, PathPrefix: "/secrets/" + secretName, Status: 503, Times: 1},
		{Method: http.MethodGet, PathPrefix: "/secrets/" + secretName + "/versions", Status: 500, Times: 1},
		{Method: http.MethodGet, PathPrefix: "/v1.0/identity/apiConnectors/" + connectorID, Status: 503, Times: 1},
		{Method: http.MethodPatch, PathPrefix: "/v1.0/identity/apiConnectors/" + connectorID, Status: 500, Times: 1},
		{Method: http.MethodPatch, PathPrefix: "/secrets/" + secretName + "/", Status: 500, Times: 1},
	}
	for _, f := range faults {
		t.Run(f.Method+" "+f.PathPrefix, func(t *testing.T) {
			g := newRig(t, repair.Apply)
			before := g.versions()
			g.srv.AddFault(f)
			st := g.run(t, 12)
			if !st.Done {
				t.Fatalf("never finished: %+v", st)
			}
			if g.versions() != before+1 {
				t.Errorf("versions %d → %d, want exactly one new", before, g.versions())
			}
			if got := g.srv.CredentialOf(connectorID); got == "" || got != g.value(st.CurrentVersion) {
				t.Error("the connector does not hold the current version's password")
			}
			if f.Method == http.MethodPatch && strings.Contains(f.PathPrefix, "apiConnectors") {
				if g.patches() != 1 { // the failed PATCH was refused, so it is not a write
					t.Errorf("%d connector PATCHes", g.patches())
				}
			} else if g.patches() != 1 {
				t.Errorf("%d connector PATCHes, want 1", g.patches())
			}
		})
	}
	t.Run("probe", func(t *testing.T) {
		g := newRig(t, repair.Apply)
		g.api.fail = 2
		if st := g.run(t, 12); !st.Done || g.patches() != 1 {
			t.Fatalf("%+v, %d patches", st, g.patches())
		}
	})
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		pw, err := staged.GeneratePassword(staged.Policy{Length: 12, Symbols: true})
		if err != nil || len(pw) != 12 || seen[pw] {
			t.Fatalf("%q %v (repeat %v)", pw, err, seen[pw])
		}
		seen[pw] = true
		if !strings.ContainsAny(pw, "ABCDEFGHJKLMNPQRSTUVWXYZ") || !strings.ContainsAny(pw, "abcdefghijkmnopqrstuvwxyz") || !strings.ContainsAny(pw, "23456789") || !strings.ContainsAny(pw, "-_.~!@#%^*+=") {
			t.Fatalf("%q misses a class", pw)
		}
	}
	if _, err := staged.GeneratePassword(staged.Policy{Length: 2}); err == nil {
		t.Error("a 2-character password was accepted")
	}
}
