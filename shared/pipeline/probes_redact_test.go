package pipeline_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/pipeline"
	"github.com/idpkeeper/idpkeeper/shared/repair"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

// The scheduled probe stores what it found in probes/latest.json: an API
// that echoes the Authorization header (and the password) in its user
// message must not get the credential into the store.
func TestStoredProbesRedactEchoedCredentials(t *testing.T) {
	const password = "loyalty-pw-CANARY-echo"
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pw, _ := r.BasicAuth()
		json.NewEncoder(w).Encode(map[string]string{
			"version": "1.0.0", "action": "ShowBlockPage",
			"userMessage": "Got " + r.Header.Get("Authorization") + " for " + user + " / " + pw,
		})
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
	state := statestore.Dir{Root: t.TempDir()}
	p := &pipeline.Pipeline{Config: cfg, State: state, ProbeCredentials: true, Repair: &repair.Deps{Graph: clients.Graph, Vaults: repair.VaultsOf(clients)},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	res, err := scan.Run(context.Background(), scan.Options{Config: cfg, Source: scan.Source{Credential: tenant.StaticCredential{}, Transport: srv.Transport()}})
	if err != nil {
		t.Fatal(err)
	}
	probes, err := p.ProbeConnectors(context.Background(), res.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	echoed := false
	for _, pr := range probes {
		echoed = echoed || strings.Contains(pr.Result.UserMessage, "Got Basic [redacted]")
	}
	if !echoed {
		t.Fatalf("no probe saw the echo: %+v", probes)
	}
	data, _, err := state.Get(context.Background(), pipeline.LatestProbes)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte("entra-signup:" + password))
	for _, leak := range []string{password, b64, b64[:16], "CANARY"} {
		if strings.Contains(string(data), leak) {
			t.Errorf("probes/latest.json carries %q:\n%s", leak, data)
		}
	}
}
