package benchtenant_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/benchtenant"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// M is what the issue sizes it to, its config is valid, and two
// generations differ only in certificate bytes.
func TestGenerateM(t *testing.T) {
	spec := benchtenant.M
	a, b := benchtenant.Generate(spec), benchtenant.Generate(spec)
	tn := a.Fake
	domains, secrets, tagged := 0, 0, 0
	for _, f := range tn.Federations {
		domains += len(f.Domains)
	}
	for _, v := range tn.Vaults {
		secrets += len(v.Secrets)
		for _, s := range v.Secrets {
			if s.Versions[0].Tags[inventory.TagDependency] != "" {
				tagged++
			}
		}
	}
	if len(tn.Federations) != 500 || domains != 1000 || len(tn.SocialIdentityProviders) != 2 || len(tn.APIConnectors) != 200 ||
		len(tn.UserFlows) != 50 || secrets != 2000 || len(tn.Vaults) != 3 || tagged != 202 {
		t.Fatalf("M: %d partners, %d domains, %d socials, %d connectors, %d flows, %d secrets in %d vaults (%d tagged)",
			len(tn.Federations), domains, len(tn.SocialIdentityProviders), len(tn.APIConnectors), len(tn.UserFlows), secrets, len(tn.Vaults), tagged)
	}
	cfg, err := config.Parse("m.yaml", a.Config)
	if err != nil {
		t.Fatalf("the generated config: %v", err)
	}
	if len(cfg.Dependencies) != 2+500+200+1 || len(cfg.KeyVaults) != 3 {
		t.Errorf("config: %d dependencies, %d vaults", len(cfg.Dependencies), len(cfg.KeyVaults))
	}
	for i := range a.Fake.Federations {
		delete(a.Fake.Federations[i].Object, "signingCertificate")
		delete(b.Fake.Federations[i].Object, "signingCertificate")
	}
	if !reflect.DeepEqual(a.Fake, b.Fake) || string(a.Config) != string(b.Config) {
		t.Error("two generations of M differ beyond their certificates")
	}
}

// The critical path is the longest chain at the mean latency, or a
// bucket's refill time for the requests past its capacity, whichever is
// longer.
func TestCriticalPath(t *testing.T) {
	sh := benchtenant.Shape{GraphChain: 5, VaultChains: map[string]int{"kv1": 30, "kv2": 20}}
	lat := 80 * time.Millisecond
	th := azurefake.DocumentedLimits(azurefake.TenantLarge)
	if got := benchtenant.CriticalPath(sh, lat, &th, map[string]float64{azurefake.FamilyIdentityProviders: 150}); got != 30*lat {
		t.Errorf("chains only: %v, want %v", got, 30*lat)
	}
	// 260 requests through a 200-request bucket refilled at 200/min: the
	// last 60 need 18 s of refill, then a latency.
	if got := benchtenant.CriticalPath(sh, lat, &th, map[string]float64{azurefake.FamilyIdentityProviders: 260}); got != 18*time.Second+lat {
		t.Errorf("throttled: %v, want %v", got, 18*time.Second+lat)
	}
	th.StartEmpty = true
	if got := benchtenant.CriticalPath(sh, lat, &th, map[string]float64{azurefake.FamilyIdentityProviders: 100}); got != 30*time.Second+lat {
		t.Errorf("empty bucket: %v, want %v", got, 30*time.Second+lat)
	}
	ex, err := benchtenant.Example()
	if err != nil {
		t.Fatal(err)
	}
	if s := benchtenant.ShapeOf(ex, 100); s.GraphChain != 2 || s.VaultChains["contoso-idp-kv.vault.azure.net"] != 3 {
		t.Errorf("S shape %+v", s)
	}
}

// The L tenant's config, an owner and an entry per partner and connector,
// is read under config's limits (issue 12: at most 1 MB and 100,000 nodes),
// so the scale benchmark runs on a config a real deployment could load.
func TestLargeConfigFitsLimits(t *testing.T) {
	tn := benchtenant.Generate(benchtenant.L)
	if len(tn.Config) > config.MaxFileBytes {
		t.Fatalf("the L config is %d bytes, over config.MaxFileBytes %d", len(tn.Config), config.MaxFileBytes)
	}
	cfg, err := config.Parse("l.yaml", tn.Config)
	if err != nil {
		t.Fatalf("the L config: %v", err)
	}
	if len(cfg.Dependencies) != 2+5000+2000+1 || len(cfg.Owners) != 2+5000 {
		t.Errorf("config: %d dependencies, %d owners", len(cfg.Dependencies), len(cfg.Owners))
	}
	if d := cfg.Dependency("federation/partner04998.example"); d == nil || d.Owner != "p04998" || d.Metadata == nil || d.Metadata.URL == "" {
		t.Errorf("partner 4998: %+v", d)
	}
	t.Logf("L config: %d bytes", len(tn.Config))
}
