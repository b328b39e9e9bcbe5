package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/notify"
	"github.com/idpkeeper/idpkeeper/shared/repair"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

// A fake Google token endpoint: the right client secret authenticates (and
// only the made-up code is refused), any other does not.
func fakeGoogle(t *testing.T, goodSecret string) *httptest.Server {
	t.Helper()
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		if r.PostForm.Get("client_secret") == goodSecret {
			io.WriteString(w, `{"error":"invalid_grant","error_description":"Malformed auth code."}`)
			return
		}
		io.WriteString(w, `{"error":"invalid_client","error_description":"The OAuth client was not found."}`)
	}))
	t.Cleanup(ts.Close)
	return ts
}

// A new Google client secret version stored in Key Vault reaches Entra
// through the RotateCredential job: tested at the provider, PATCHed, read
// back, tagged, journaled, the owner told — and in dry run nothing is written.
func TestNewSocialSecretVersionIsAppliedThroughTheJob(t *testing.T) {
	const newSecret = "GOCSPX-canary-new-secret-1234"
	for _, apply := range []bool{false, true} {
		tn, err := azurefake.LoadTenant(filepath.Join("..", "examples", "fixture", "tenant.json"))
		if err != nil {
			t.Fatal(err)
		}
		vault := tn.Vaults["contoso-idp-kv.vault.azure.net"]
		for i := range vault.Secrets {
			if vault.Secrets[i].Name == "google-client-secret" {
				now := time.Now().UTC().Truncate(time.Second)
				exp := now.AddDate(1, 0, 0)
				vault.Secrets[i].Versions = append(vault.Secrets[i].Versions, azurefake.SecretVersion{
					Version: "aaaabbbbccccddddeeeeffff00001111", Value: newSecret, Enabled: true, Created: now, Updated: now, Expires: &exp,
					ContentType: "text/plain", Tags: map[string]string{"idpkeeper-dependency": "social/Google-OAUTH"},
				})
			}
		}
		srv := azurefake.NewServer(tn)
		google := fakeGoogle(t, newSecret)
		cfg, err := config.Load(filepath.Join("..", "examples", "idpkeeper.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		state, outbox := statestore.Dir{Root: t.TempDir()}, t.TempDir()
		queue := jobs.NewMemory(jobs.MemoryOptions{})
		p, err := newPipeline(pipelineParts{
			Config: cfg, Source: scan.Source{Credential: tenant.StaticCredential{}, Transport: srv.Transport()},
			Sender: queue, State: state, Channels: []notify.Channel{notify.Outbox{Dir: outbox, Stdout: io.Discard}},
			Apply: apply, Providers: map[string]repair.ProviderTester{"Google": repair.GoogleTester{TokenURL: google.URL, Client: google.Client()}},
		})
		if err != nil {
			t.Fatal(err)
		}
		event := `{"id":"ev-google-1","eventType":"Microsoft.KeyVault.SecretNewVersionCreated","subject":"google-client-secret","eventTime":"2026-11-24T08:00:00Z",` +
			`"data":{"Id":"https://contoso-idp-kv.vault.azure.net/secrets/google-client-secret/aaaabbbbccccddddeeeeffff00001111","VaultName":"contoso-idp-kv","ObjectType":"Secret","ObjectName":"google-client-secret","Version":"aaaabbbbccccddddeeeeffff00001111"},"dataVersion":"1","metadataVersion":"1"}`
		// The timer scan's secret index, which KeyVaultEvents decides from.
		if err := p.StoreSecretIndex(context.Background()); err != nil {
			t.Fatal(err)
		}
		if out, err := p.HandleEvent(context.Background(), []byte(event)); err != nil || out.Outcome != "queued" || out.Jobs[0].Kind != jobs.KindRotateCredential {
			t.Fatalf("event: %+v %v", out, err)
		}
		// Delivered three times: one cut-over, one notice.
		var deliveries []jobs.Delivery
		queue.Drain(context.Background(), func(_ context.Context, d jobs.Delivery) error { deliveries = append(deliveries, d); return nil })
		for i := 0; i < 3; i++ {
			for _, d := range deliveries {
				if err := p.Handler()(context.Background(), d); err != nil {
					t.Fatalf("apply=%v delivery %d: %v", apply, i, err)
				}
			}
		}
		writes := srv.Writes()
		if !apply {
			if len(writes) != 0 {
				t.Errorf("dry run wrote %d times", len(writes))
			}
			if n := srv.SecretValueReads(); n != 0 {
				t.Errorf("dry run read %d secret values; it plans from properties only", n)
			}
			srv.Close()
			continue
		}
		patches := 0
		for _, w := range writes {
			if w.Method == http.MethodPatch && strings.HasSuffix(w.Path, "/identityProviders/Google-OAUTH") {
				patches++
			}
		}
		if srv.CredentialOf("Google-OAUTH") != newSecret || patches != 1 {
			t.Errorf("Entra holds the new secret: %v, PATCHes: %d (want 1 after 3 deliveries)", srv.CredentialOf("Google-OAUTH") == newSecret, patches)
		}
		notices, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
		if len(notices) != 1 {
			t.Fatalf("%d notices, want the one cut-over notice", len(notices))
		}
		data, _ := os.ReadFile(notices[0])
		if !strings.Contains(string(data), "identity-team@contoso.example") || strings.Contains(string(data), newSecret) {
			t.Errorf("cut-over notice to the wrong owner or carrying the secret:\n%s", data)
		}
		// Nothing written to the state carries the secret either.
		filepath.Walk(state.Root, func(path string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				if b, _ := os.ReadFile(path); strings.Contains(string(b), newSecret) {
					t.Errorf("%s holds the secret value", path)
				}
			}
			return nil
		})
		srv.Close()
	}
}

type installedAPI struct{ accept map[string]bool }

func (a *installedAPI) Accepts(_ context.Context, _, _, pw string) (bool, string, error) {
	return a.accept[pw], "", nil
}

// A basic-auth connector's password near expiry is rotated in stages through
// the RotateCredential job and its scheduled re-checks.
func TestBasicAuthConnectorRotatesInStages(t *testing.T) {
	tn, err := azurefake.LoadTenant(filepath.Join("..", "examples", "fixture", "tenant.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := azurefake.NewServer(tn)
	defer srv.Close()
	cfg, err := config.Load(filepath.Join("..", "examples", "idpkeeper.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	queue := jobs.NewMemory(jobs.MemoryOptions{Clock: now})
	outbox := t.TempDir()
	p, err := newPipeline(pipelineParts{
		Config: cfg, Source: scan.Source{Credential: tenant.StaticCredential{}, Transport: srv.Transport()},
		Sender: queue, State: statestore.Dir{Root: t.TempDir()}, Channels: []notify.Channel{notify.Outbox{Dir: outbox, Stdout: io.Discard}},
		Apply: true, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	api := &installedAPI{accept: map[string]bool{}}
	p.Prober = api
	event := `{"id":"ev-loyalty-1","eventType":"Microsoft.KeyVault.SecretNearExpiry","subject":"loyalty-api-password","eventTime":"2026-11-01T09:00:00Z",` +
		`"data":{"VaultName":"contoso-idp-kv","ObjectType":"Secret","ObjectName":"loyalty-api-password","Version":"5d0a3c2b1e4f6a8b0d2c4e6f8a0b3d5c"},"dataVersion":"1","metadataVersion":"1"}`
	if out, err := p.HandleEvent(context.Background(), []byte(event)); err != nil || out.Outcome != "queued" {
		t.Fatalf("event: %+v %v", out, err)
	}
	pendingValue := func() string {
		var v string
		srv.Tenant(func(tn *azurefake.Tenant) {
			for _, s := range tn.Vaults["contoso-idp-kv.vault.azure.net"].Secrets {
				if s.Name == "loyalty-api-password" {
					for _, ver := range s.Versions {
						if ver.Tags["idpkeeper-stage"] == "pending" {
							v = ver.Value
						}
					}
				}
			}
		})
		return v
	}
	for day := 0; day < 4; day++ {
		if _, err := queue.Drain(context.Background(), p.Handler()); err != nil {
			t.Fatal(err)
		}
		if pw := pendingValue(); pw != "" {
			api.accept[pw] = true // the API team installs it
		}
		clock = clock.Add(25 * time.Hour)
	}
	creds := srv.CredentialOf("a3b1c2d4-0001-4e5f-8a9b-0c1d2e3f4a5b")
	if creds == "" || api.accept[creds] != true {
		t.Fatalf("the connector does not present the installed pending password")
	}
	notices, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
	var all strings.Builder
	for _, n := range notices {
		b, _ := os.ReadFile(n)
		all.Write(b)
	}
	if !strings.Contains(all.String(), "loyalty-api-password") || !strings.Contains(all.String(), "loyalty-devs@contoso.example") || strings.Contains(all.String(), creds) {
		t.Errorf("notices do not tell the API owner where the password is, or carry it:\n%s", all.String())
	}
}

// A Graph 400 is our bug (or a route Graph does not serve), not a missing
// permission: the jobs that meet it are parked with the request and Graph's
// message as the reason — the Functions policy, applied in process by `run`
// — instead of being redelivered or read as a gap.
func TestGraph400ParksJobsWithTheReason(t *testing.T) {
	tn, err := azurefake.LoadTenant(filepath.Join("..", "examples", "fixture", "tenant.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := azurefake.NewServer(tn)
	defer srv.Close()
	cfg, err := config.Load(filepath.Join("..", "examples", "idpkeeper.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := scan.Source{Credential: tenant.StaticCredential{}, Transport: srv.Transport()}
	lp, err := localPipeline(cfg, src, filepath.Join(dir, "state"), filepath.Join(dir, "outbox"), time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC), false, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, queued, err := lp.ScanAndQueue(context.Background(), "t"); err != nil || len(queued) == 0 {
		t.Fatalf("scan: %d jobs, %v", len(queued), err)
	}
	// From now on every scan a job makes (none cached) meets the 400.
	lp.ScanTTL = time.Nanosecond
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/identity/apiConnectors", Status: 400, Code: "BadRequest", Message: "Query option 'Expand' is not allowed."})
	stats, err := lp.queue.Drain(context.Background(), lp.parkingHandler())
	if err != nil || stats.DeadLettered != 0 {
		t.Fatalf("%+v %v: a 400 was retried into the dead-letter queue", stats, err)
	}
	parked, err := jobs.ListParked(context.Background(), lp.State, 0)
	if err != nil || len(parked) == 0 {
		t.Fatalf("%d parked, %v", len(parked), err)
	}
	for _, p := range parked {
		if !strings.Contains(p.Reason, "GET /identity/apiConnectors: HTTP 400 BadRequest: Query option 'Expand' is not allowed.") {
			t.Errorf("parked %s with reason %q", p.MessageID, p.Reason)
		}
	}
}
