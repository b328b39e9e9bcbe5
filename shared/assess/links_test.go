package assess

import (
	"reflect"
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// Links answers what the one-off functions answer, and a secret both
// tagged for a dependency and named by its config entry backs it once, in
// inventory order.
func TestLinksAgreeWithAssess(t *testing.T) {
	tagged := googleSecret("v2", at(40*day))
	named := inventory.Secret{Vault: "https://kv.vault.azure.net/", Name: "google-old", Version: "v1", Created: at(-400 * day)}
	both := googleSecret("v3", at(90*day))
	both.Name = "google-both"
	inv := inventory.Inventory{
		SocialIdentityProviders: []inventory.SocialIdentityProvider{google()},
		Federations:             []inventory.Federation{{ID: fedID, DisplayName: "Fabrikam", Domains: []string{"fabrikam.example"}}},
		Secrets:                 []inventory.Secret{both, named, tagged},
	}
	cfg := config.Default()
	cfg.Owners = []config.Owner{{Name: "idp", Email: "idp@contoso.example"}, {Name: "fab", Email: "it@fabrikam.example"}}
	cfg.Dependencies = []config.Dependency{
		{Ref: "social/Google-OAUTH", Owner: "idp", KeyVaultSecret: "google-both"},
		{Ref: "federation/FABRIKAM.example", Owner: "fab"},
	}
	l := NewLinks(inv, cfg)
	got := l.SecretsBacking("social/google-oauth")
	if len(got) != 2 || got[0].Name != "google-both" || got[1].Name != "google-client-secret" {
		t.Fatalf("secrets backing Google: %+v", got)
	}
	for _, ref := range []string{"social/Google-OAUTH", "federation/" + fedID, "federation/fabrikam.example", "connector/none"} {
		if a, b := l.OwnerOf(ref), OwnerOf(inv, cfg, ref); !reflect.DeepEqual(a, b) {
			t.Errorf("%s: owner %+v, one-off %+v", ref, a, b)
		}
		if a, b := l.DependencyConfig(ref), DependencyConfig(inv, cfg, ref); a != b {
			t.Errorf("%s: config %+v, one-off %+v", ref, a, b)
		}
	}
	if o := l.OwnerOf("federation/" + fedID); o == nil || o.Email != "it@fabrikam.example" {
		t.Errorf("a federation's owner by its domain's entry: %+v", o)
	}
}
