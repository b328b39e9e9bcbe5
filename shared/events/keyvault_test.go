package events_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/events"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// The Event Grid schema sample Key Vault documents (MicrosoftDocs
// articles/event-grid/event-schema-key-vault.md), quirks included: the
// trailing space in "ObjectName ", a padded version, NBF/EXP as strings.
const docsSample = `{"id":"00eccf70-95a7-4e7c-8299-2eb17ee9ad64","topic":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/sample-rg/providers/Microsoft.KeyVault/vaults/sample-kv","subject":"b2c-google-client-secret","eventType":"Microsoft.KeyVault.SecretNearExpiry","eventTime":"2019-07-25T01:08:33.1036736Z","data":{"Id":"https://sample-kv.vault.azure.net/secrets/b2c-google-client-secret/ee059b2bb5bc48398a53b168c6cdcb10","VaultName":"sample-kv","ObjectType":"Secret","ObjectName ":"b2c-google-client-secret","Version":" ee059b2bb5bc48398a53b168c6cdcb10","NBF":"1559081980","EXP":"1559082102"},"dataVersion":"1","metadataVersion":"1"}`

// The same event as a CloudEvents 1.0 delivery, lower-case data keys and
// numeric times (the docs' table).
const cloudEvent = `{"specversion":"1.0","type":"Microsoft.KeyVault.SecretNearExpiry","source":"/subscriptions/0/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/sample-kv","id":"ce-1","time":"2026-11-24T06:00:00Z","subject":"b2c-google-client-secret","data":{"id":"https://sample-kv.vault.azure.net/secrets/b2c-google-client-secret/v2","vaultName":"sample-kv","objectType":"Secret","objectName":"b2c-google-client-secret","version":"v2","nbf":1559081980,"exp":1559082102}}`

func parse(t *testing.T, raw string) (events.KeyVaultEvent, error) {
	t.Helper()
	e, err := events.Decode(json.RawMessage(raw))
	if err != nil {
		return events.KeyVaultEvent{}, err
	}
	return events.ParseKeyVault(e)
}

func TestParseKeyVaultBothSchemas(t *testing.T) {
	for name, raw := range map[string]string{"eventgrid": docsSample, "cloudevents": cloudEvent} {
		ev, err := parse(t, raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ev.Type != events.SecretNearExpiry || ev.Data.VaultName != "sample-kv" || ev.Data.ObjectName != "b2c-google-client-secret" || ev.Data.ObjectType != "Secret" {
			t.Errorf("%s: %+v", name, ev)
		}
		if ev.Data.Expires == nil || !ev.Data.Expires.Equal(time.Unix(1559082102, 0)) {
			t.Errorf("%s: exp = %v", name, ev.Data.Expires)
		}
	}
	ev, _ := parse(t, docsSample)
	if ev.Data.Version != "ee059b2bb5bc48398a53b168c6cdcb10" {
		t.Errorf("padded version not trimmed: %q", ev.Data.Version)
	}
}

func TestParseKeyVaultRejectsWhatAJobCannotUse(t *testing.T) {
	cases := map[string]string{
		"no data":       `{"id":"1","eventType":"Microsoft.KeyVault.SecretNearExpiry","subject":"","eventTime":"2026-01-01T00:00:00Z"}`,
		"data a number": `{"id":"2","eventType":"Microsoft.KeyVault.SecretNearExpiry","data":42}`,
		"no vault":      `{"id":"3","eventType":"Microsoft.KeyVault.SecretNearExpiry","subject":"x","data":{"ObjectName":"x"}}`,
		"no object":     `{"id":"4","eventType":"Microsoft.KeyVault.SecretNearExpiry","data":{"VaultName":"kv"}}`,
		"bad exp":       `{"id":"5","eventType":"Microsoft.KeyVault.SecretNearExpiry","data":{"VaultName":"kv","ObjectName":"x","EXP":"tomorrow"}}`,
		"no id":         `{"eventType":"Microsoft.KeyVault.SecretNearExpiry","data":{"VaultName":"kv","ObjectName":"x"}}`,
		"not an event":  `{"hello":"world"}`,
		"truncated":     `{"id":"6","eventType":"Microsoft.KeyVault.Secret`,
	}
	for name, raw := range cases {
		if _, err := parse(t, raw); !errors.Is(err, events.ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestSplitAcceptsArrayOrObject(t *testing.T) {
	raws, err := events.Split([]byte("[" + docsSample + "," + cloudEvent + "]"))
	if err != nil || len(raws) != 2 {
		t.Fatalf("array: %d %v", len(raws), err)
	}
	raws, err = events.Split([]byte(docsSample))
	if err != nil || len(raws) != 1 {
		t.Fatalf("object: %d %v", len(raws), err)
	}
	for _, bad := range []string{"", "[{", "not json"} {
		if _, err := events.Split([]byte(bad)); !errors.Is(err, events.ErrMalformed) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestIndexMapsTagsAndConfig(t *testing.T) {
	secrets := []inventory.Secret{
		{Vault: "https://contoso-idp-kv.vault.azure.net/", Name: "facebook-app-secret", Tags: map[string]string{inventory.TagDependency: "social/Facebook-OAUTH"}},
		{Vault: "https://contoso-idp-kv.vault.azure.net/", Name: "smtp", Tags: map[string]string{"team": "mail"}},
	}
	cfg, err := config.Parse("c.yaml", []byte(`version: 1
owners: [{name: o, email: o@contoso.example}]
dependencies:
  - {ref: connector/abc, owner: o, keyVaultSecret: loyalty-api-password}
  - {ref: social/Google-OAUTH, owner: o, keyVaultSecret: "https://other-kv.vault.azure.net/secrets/google"}
`))
	if err != nil {
		t.Fatal(err)
	}
	ix := events.NewIndex(secrets, cfg)
	check := func(vault, name, want string) {
		t.Helper()
		if got := strings.Join(ix.Dependencies(vault, name), ","); got != want {
			t.Errorf("%s/%s → %q, want %q", vault, name, got, want)
		}
	}
	check("contoso-idp-kv", "Facebook-App-Secret", "social/Facebook-OAUTH")
	check("contoso-idp-kv", "smtp", "")
	check("any-kv", "loyalty-api-password", "connector/abc")
	check("other-kv", "google", "social/Google-OAUTH")
	check("contoso-idp-kv", "google", "")
}

func TestExampleEventFilesParse(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "examples", "events", "*.json"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		raws, err := events.Split(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, r := range raws {
			if _, err := parse(t, string(r)); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
}
