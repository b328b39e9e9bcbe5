package snapshot_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/snapshot"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

var capturedAt = time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)

const vaultURL = "https://contoso-idp-kv.vault.azure.net/"

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func loadFixture(t *testing.T) *azurefake.Tenant {
	t.Helper()
	tn, err := azurefake.LoadTenant(filepath.Join(repoRoot(), "examples", "fixture", "tenant.json"))
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

func read(t *testing.T, transport http.RoundTripper) inventory.Inventory {
	t.Helper()
	clients, err := tenant.NewClients(tenant.StaticCredential{}, tenant.ClientOptions{Transport: transport, KeyVaultURLs: []string{vaultURL}})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := (&tenant.Reader{Clients: clients, Now: func() time.Time { return capturedAt }}).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tenant.SortInventory(&inv)
	return inv
}

// capture records a scan of the fake into dir, as `snapshot export` does.
func capture(t *testing.T, srv *azurefake.Server, dir string) inventory.Inventory {
	t.Helper()
	rec := snapshot.NewRecorder(srv.Transport())
	inv := read(t, rec)
	if err := rec.Save(dir, snapshot.Manifest{CapturedAt: capturedAt, TenantID: "8f3c2a10-5b7e-4d1a-9c66-0e2f4b8a7d31", KeyVaults: []string{vaultURL}}); err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestReplayGivesTheInventoryThatWasRecorded(t *testing.T) {
	tn := loadFixture(t)
	// Plant secret values: none may reach the snapshot files.
	const canary = "CANARY-s3cr3t-value-7f1d"
	for _, v := range tn.Vaults {
		for i := range v.Secrets {
			for j := range v.Secrets[i].Versions {
				v.Secrets[i].Versions[j].Value = canary
			}
		}
	}
	srv := azurefake.NewServer(tn)
	defer srv.Close()
	dir := t.TempDir()
	live := capture(t, srv, dir)

	replay, m, err := snapshot.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !m.CapturedAt.Equal(capturedAt) || m.Responses == 0 {
		t.Fatalf("manifest = %+v", m)
	}
	offline := read(t, replay)
	if !reflect.DeepEqual(live, offline) {
		a, _ := json.MarshalIndent(live, "", " ")
		b, _ := json.MarshalIndent(offline, "", " ")
		t.Fatalf("replayed inventory differs:\nlive:\n%s\nreplay:\n%s", a, b)
	}
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		if strings.Contains(string(data), canary) {
			t.Errorf("%s contains a secret value", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRecorderRefusesSecretValueReads(t *testing.T) {
	srv := azurefake.NewServer(loadFixture(t))
	defer srv.Close()
	rec := snapshot.NewRecorder(srv.Transport())
	// The public cloud's vaults and those of the US Government and China
	// clouds (tenant.cloud).
	for _, u := range []string{vaultURL, "https://contoso-kv.vault.usgovcloudapi.net/", "https://contoso-kv.vault.azure.cn/"} {
		req, _ := http.NewRequest(http.MethodGet, u+"secrets/google-client-secret?api-version=7.6", nil)
		req.Header.Set("Authorization", "Bearer x")
		if _, err := rec.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "refusing to read a secret value") {
			t.Fatalf("%s: err = %v", u, err)
		}
	}
	if srv.SecretValueReads() != 0 {
		t.Fatal("the value request reached Key Vault")
	}
	if err := rec.Save(t.TempDir(), snapshot.Manifest{CapturedAt: capturedAt}); err == nil {
		t.Fatal("Save succeeded after a refused value read")
	}
}

func TestRecorderMasksWriteOnlyFields(t *testing.T) {
	tn := loadFixture(t)
	tn.SocialIdentityProviders[0]["clientSecret"] = "plain-text-should-never-be-returned"
	srv := azurefake.NewServer(tn)
	defer srv.Close()
	dir := t.TempDir()
	capture(t, srv, dir)
	files, _ := filepath.Glob(filepath.Join(dir, "responses", "*.json"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if strings.Contains(string(data), "plain-text-should-never-be-returned") {
			t.Fatalf("%s keeps a clientSecret", f)
		}
	}
}

func TestReplayAnswersUnrecordedRequestsWithAClearError(t *testing.T) {
	replay, _, err := snapshot.Open(filepath.Join(repoRoot(), "examples", "tenant"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "https://graph.microsoft.com/v1.0/users", nil)
	resp, err := replay.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code, Message string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 404 || body.Error.Code != snapshot.ErrNotRecorded || !strings.Contains(body.Error.Message, "/v1.0/users") {
		t.Fatalf("status %d body %+v", resp.StatusCode, body)
	}
	patch, _ := http.NewRequest(http.MethodPatch, "https://graph.microsoft.com/v1.0/identity/identityProviders/Google-OAUTH", strings.NewReader("{}"))
	if _, err := replay.RoundTrip(patch); err == nil {
		t.Fatal("a replay accepted a write")
	}
}

func TestOpenRejectsBadSnapshots(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := snapshot.Open(dir); err == nil || !strings.Contains(err.Error(), "snapshot.json") {
		t.Errorf("missing manifest: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "snapshot.json"), []byte(`{"formatVersion": 9, "capturedAt": "2026-01-01T00:00:00Z"}`), 0o644)
	if _, _, err := snapshot.Open(dir); err == nil || !strings.Contains(err.Error(), "formatVersion 9") {
		t.Errorf("future format: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "snapshot.json"), []byte(`{"formatVersion": 1, "capturedAt": "2026-01-01T00:00:00Z"}`), 0o644)
	os.MkdirAll(filepath.Join(dir, "responses"), 0o755)
	os.WriteFile(filepath.Join(dir, "responses", "x.json"), []byte(`{"method": "GET", "url": `), 0o644)
	if _, _, err := snapshot.Open(dir); err == nil || !strings.Contains(err.Error(), "x.json") {
		t.Errorf("truncated response: %v", err)
	}
}

// A scan that batches its Graph reads records the same files as one that
// sends them one by one: a batch is recorded as the GETs inside it.
func TestBatchedCaptureRecordsTheSameFiles(t *testing.T) {
	srv := azurefake.NewServer(loadFixture(t))
	defer srv.Close()
	files := func(batch bool) map[string]string {
		dir := t.TempDir()
		rec := snapshot.NewRecorder(srv.Transport())
		clients, err := tenant.NewClients(tenant.StaticCredential{}, tenant.ClientOptions{Transport: rec, KeyVaultURLs: []string{vaultURL}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (&tenant.Reader{Clients: clients, NoBatch: !batch}).Read(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := rec.Save(dir, snapshot.Manifest{CapturedAt: capturedAt}); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		paths, _ := filepath.Glob(filepath.Join(dir, "responses", "*.json"))
		for _, p := range paths {
			data, _ := os.ReadFile(p)
			out[filepath.Base(p)] = string(data)
		}
		return out
	}
	batched, alone := files(true), files(false)
	if len(batched) == 0 || !reflect.DeepEqual(batched, alone) {
		var names []string
		for n := range batched {
			if batched[n] != alone[n] {
				names = append(names, n)
			}
		}
		for n := range alone {
			if _, ok := batched[n]; !ok {
				names = append(names, n)
			}
		}
		t.Fatalf("%d files batched, %d alone; differing: %v", len(batched), len(alone), names)
	}
	batches := 0
	for _, r := range srv.Requests() {
		if r.Path == "/v1.0/$batch" && !r.Inner {
			batches++
		}
	}
	if batches == 0 {
		t.Fatal("the batched capture sent no $batch")
	}
}

// A replay answers a batch request by request: a recorded read as it was
// recorded, an unrecorded one with its own 404, and a write anywhere in it
// is refused.
func TestReplayAnswersBatches(t *testing.T) {
	replay, _, err := snapshot.Open(filepath.Join(repoRoot(), "examples", "tenant"))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"requests":[{"id":"1","method":"GET","url":"/identity/apiConnectors"},{"id":"2","method":"GET","url":"/users"}]}`
	req, _ := http.NewRequest(http.MethodPost, "https://graph.microsoft.com/v1.0/$batch", strings.NewReader(body))
	resp, err := replay.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Responses []struct {
			ID     string
			Status int
			Body   json.RawMessage
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || resp.StatusCode != 200 || len(env.Responses) != 2 {
		t.Fatalf("status %d, %v, %+v", resp.StatusCode, err, env)
	}
	for _, r := range env.Responses {
		switch r.ID {
		case "1":
			if r.Status != 200 || !strings.Contains(string(r.Body), `"value"`) {
				t.Errorf("recorded read: %d %s", r.Status, r.Body)
			}
		case "2":
			if r.Status != 404 || !strings.Contains(string(r.Body), snapshot.ErrNotRecorded) {
				t.Errorf("unrecorded read: %d %s", r.Status, r.Body)
			}
		}
	}
	write := `{"requests":[{"id":"1","method":"PATCH","url":"/identity/identityProviders/Google-OAUTH","headers":{"Content-Type":"application/json"},"body":{}}]}`
	req, _ = http.NewRequest(http.MethodPost, "https://graph.microsoft.com/v1.0/$batch", strings.NewReader(write))
	if _, err := replay.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "cannot change the tenant") {
		t.Fatalf("a write inside a batch: %v", err)
	}
}
