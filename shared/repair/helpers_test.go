package repair

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

// Canaries: recognisable secret values planted in the fake vault. No
// journal document, proposal, result, notice or error may contain them.
const (
	canaryGoogle   = "CANARY-google-secret-8d2f61"
	canaryFacebook = "CANARY-fb-secret-19ab77"
	canaryBadValue = "CANARY-wrong-secret-0c0c"
	canaryPFXPass  = "CANARY-pfx-pass-7f3e91" // the password of testdata/connector-b-password.pfx.b64
)

const (
	vaultHostName  = "contoso-idp-kv.vault.azure.net"
	googleClientID = "318275620416-3k9v7c2pq1example.apps.googleusercontent.com"
	fbClientID     = "1480239914352207"
	googleOld      = "3b8e1f0a9c2d4e5f8a7b6c5d4e3f2a1b"
	googleNew      = "9f2a4c6e8b0d1f3a5c7e9b1d3f5a7c9e"
	fbNew          = "fb0000000000000000000000000000b2"
	certConnector  = "b4c2d3e5-0002-4f6a-9b0c-1d2e3f4a5b6c"
	certSecretA    = "6e1b4d3c2f5a7b9c1e3d5f7a9b1c4e6d"
	certSecretB    = "cb00000000000000000000000000000b"
	thumbA         = "67F51059F424A6E58496C13FB824D540F5D99821"
	thumbB         = "149B3F143DF77D8D62CD0FD4ADA2E73B7710F20B"
	fabrikamID     = "5a1d0c3e-2f4b-4e6a-8b7c-9d0e1f2a3b4c"
)

var testNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// env is one fake tenant, its clients, a journal folder and two fake
// providers. crash, when armed, simulates the process dying right after
// the N-th external call (Graph, Key Vault, provider, or journal write):
// that call takes effect, its answer is lost, and every later call fails.
type env struct {
	t       *testing.T
	srv     *azurefake.Server
	store   *crashStore
	dir     string
	crash   *crasher
	google  *httptest.Server
	fb      *httptest.Server
	tenant  *azurefake.Tenant
	journal *Journal
}

type crasher struct {
	mu      sync.Mutex
	at      int // 0 = never
	n       int
	crashed atomic.Bool
}

// errCrash is non-retriable (azcore's errorinfo.NonRetriable): a dead
// process does not retry, and azcore's back-off would only slow the test.
var errCrash error = crashError{}

type crashError struct{}

func (crashError) Error() string { return "simulated crash" }
func (crashError) NonRetriable() {}

// call counts one external call; it reports whether the call may go
// through and whether its answer must be lost.
func (c *crasher) call() (send bool, lose bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed.Load() {
		return false, true
	}
	c.n++
	if c.at > 0 && c.n == c.at {
		c.crashed.Store(true)
		return true, true
	}
	return true, false
}

func (c *crasher) arm(at int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at, c.n = at, 0
	c.crashed.Store(false)
}

func (c *crasher) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

type crashTransport struct {
	next http.RoundTripper
	c    *crasher
}

func (t crashTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	send, lose := t.c.call()
	if !send {
		return nil, errCrash
	}
	resp, err := t.next.RoundTrip(r)
	if lose {
		if resp != nil {
			resp.Body.Close()
		}
		return nil, errCrash
	}
	return resp, err
}

// crashStore counts journal and proposal writes as external calls too.
type crashStore struct {
	statestore.Store
	c *crasher
}

func (s *crashStore) Put(ctx context.Context, name string, data []byte, cond statestore.Condition) (string, error) {
	send, lose := s.c.call()
	if !send {
		return "", errCrash
	}
	etag, err := s.Store.Put(ctx, name, data, cond)
	if lose {
		return "", errCrash
	}
	return etag, err
}

func loadTenant(t *testing.T) *azurefake.Tenant {
	t.Helper()
	tn, err := azurefake.LoadTenant(filepath.Join("..", "..", "examples", "fixture", "tenant.json"))
	if err != nil {
		t.Fatal(err)
	}
	v := tn.Vaults[vaultHostName]
	for i := range v.Secrets {
		s := &v.Secrets[i]
		switch s.Name {
		case "google-client-secret":
			s.Versions[0].Value = "old-google-value"
			s.Versions[0].Tags = map[string]string{"idpkeeper-dependency": "social/Google-OAUTH", AppliedTag: "2025-07-01T09:30:00Z"}
			s.Versions[1].Value = canaryGoogle
		case "facebook-app-secret":
			s.Versions[0].Value = "old-fb-value"
			s.Versions[0].Tags[AppliedTag] = "2025-11-15T10:00:00Z"
			exp := testNow.AddDate(1, 0, 0)
			s.Versions = append(s.Versions, azurefake.SecretVersion{
				Version: fbNew, Value: canaryFacebook, Enabled: true, ContentType: "text/plain",
				Created: testNow.Add(-24 * time.Hour), Updated: testNow.Add(-24 * time.Hour), Expires: &exp,
				Tags: map[string]string{"idpkeeper-dependency": "social/Facebook-OAUTH"},
			})
		case "partner-registry-client-cert":
			s.Versions[0].Value = readTestdata(t, "connector-a.pfx.b64")
			s.Versions[0].Expires = nil
			s.Versions = append(s.Versions, azurefake.SecretVersion{
				Version: certSecretB, Value: readTestdata(t, "connector-b-password.pfx.b64"), Enabled: true,
				ContentType: "application/x-pkcs12", Created: testNow.Add(-time.Hour), Updated: testNow.Add(-time.Hour),
			})
		}
	}
	v.Secrets = append(v.Secrets, azurefake.Secret{Name: "partner-registry-pfx-password", Versions: []azurefake.SecretVersion{{
		Version: "pw000000000000000000000000000001", Value: canaryPFXPass, Enabled: true, Created: testNow.Add(-time.Hour), Updated: testNow.Add(-time.Hour),
	}}})
	return tn
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// googleHandler acts as Google's token endpoint: it answers invalid_grant
// for the right client (the made-up code is never valid) and
// invalid_client otherwise.
func googleHandler(good string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("code") == "" {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"invalid_request"}`))
			return
		}
		if r.PostForm.Get("client_id") == googleClientID && r.PostForm.Get("client_secret") == good {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"Malformed auth code."}`))
			return
		}
		w.WriteHeader(401)
		// Echo the secret in the description, as a careless provider
		// might: the tester must not pass it on.
		_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"Unauthorized client ` + r.PostForm.Get("client_secret") + `"}`))
	}
}

func facebookHandler(good string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost && r.PostForm.Get("grant_type") == "client_credentials" &&
			r.PostForm.Get("client_id") == fbClientID && r.PostForm.Get("client_secret") == good {
			_, _ = w.Write([]byte(`{"access_token":"1480239914352207|app-token","token_type":"bearer"}`))
			return
		}
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"error":{"message":"Error validating client secret.","type":"OAuthException","code":1,"fbtrace_id":"AbC"}}`))
	}
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, crash: &crasher{}, dir: t.TempDir()}
	e.tenant = loadTenant(t)
	e.srv = azurefake.NewServer(e.tenant)
	t.Cleanup(e.srv.Close)
	e.google = httptest.NewServer(googleHandler(canaryGoogle))
	t.Cleanup(e.google.Close)
	e.fb = httptest.NewServer(facebookHandler(canaryFacebook))
	t.Cleanup(e.fb.Close)
	e.store = &crashStore{Store: statestore.Dir{Root: e.dir}, c: e.crash}
	e.journal = &Journal{Store: e.store, Now: func() time.Time { return testNow }}
	return e
}

// deps builds fresh SDK clients (a restarted process) in mode m.
func (e *env) deps(m Mode) Deps {
	e.t.Helper()
	clients, err := tenant.NewClients(tenant.StaticCredential{}, tenant.ClientOptions{
		Transport:    crashTransport{next: e.srv.Transport(), c: e.crash},
		KeyVaultURLs: []string{"https://" + vaultHostName + "/"},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	provClient := &http.Client{Transport: crashTransport{next: http.DefaultTransport, c: e.crash}}
	return Deps{
		Graph:   clients.Graph,
		Vaults:  VaultsOf(clients),
		Journal: e.journal,
		Providers: map[string]ProviderTester{
			"Google":   GoogleTester{TokenURL: e.google.URL + "/token", Client: provClient},
			"Facebook": FacebookTester{TokenURL: e.fb.URL + "/oauth/access_token", Client: provClient},
		},
		Mode: m,
		Now:  func() time.Time { return testNow },
	}
}

// writesTo counts accepted writes whose path ends with suffix.
func (e *env) writesTo(suffix string) (n int, bodies map[string]bool) {
	bodies = map[string]bool{}
	for _, w := range e.srv.Writes() {
		if strings.HasSuffix(w.Path, suffix) {
			n++
			bodies[string(w.Body)] = true
		}
	}
	return n, bodies
}

// versionTags returns the tags of every version of a secret.
func (e *env) versionTags(name string) map[string]map[string]string {
	out := map[string]map[string]string{}
	e.srv.Tenant(func(t *azurefake.Tenant) {
		for _, s := range t.Vaults[vaultHostName].Secrets {
			if s.Name != name {
				continue
			}
			for _, v := range s.Versions {
				tags := map[string]string{}
				for k, val := range v.Tags {
					tags[k] = val
				}
				out[v.Version] = tags
			}
		}
	})
	return out
}

// journalEntry reads a journal document raw from the store, without the
// write counter (which legitimately differs after a crash).
func (e *env) journalEntry(id string) Entry {
	e.t.Helper()
	data, _, err := statestore.Dir{Root: e.dir}.Get(context.Background(), JournalDocument(id))
	if err != nil {
		e.t.Fatalf("journal %s: %v", id, err)
	}
	var en Entry
	if err := json.Unmarshal(data, &en); err != nil {
		e.t.Fatal(err)
	}
	en.Version = 0
	return en
}

// assertNoCanary checks every stored document, and the given texts, for
// planted secret values.
func (e *env) assertNoCanary(texts ...string) {
	e.t.Helper()
	canaries := []string{canaryGoogle, canaryFacebook, canaryBadValue, canaryPFXPass, "CANARY-"}
	_ = filepath.Walk(e.dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		for _, c := range canaries {
			if strings.Contains(string(b), c) {
				e.t.Errorf("stored document %s contains a secret value", p)
			}
		}
		return nil
	})
	for i, s := range texts {
		for _, c := range canaries {
			if strings.Contains(s, c) {
				// Name the text, never print it: it holds a secret.
				e.t.Errorf("text %d (%d bytes) contains a secret value", i, len(s))
			}
		}
	}
}

func resultTexts(r Result, err error) []string {
	b, _ := json.Marshal(r)
	out := []string{string(b), r.Notice, r.Detail}
	if err != nil {
		out = append(out, err.Error())
	}
	return out
}

func storedFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}
