// Package benchtenant generates the benchmark tenants of the scale
// benchmarks (make bench-scale): S (the example tenant), M and L, each with
// its config, and computes the critical path a scan of one of them cannot
// beat: the time the same requests need at the fake's latency under the
// published throttling limits.
//
// The tenants are deterministic — the same IDs, names, domains, dates,
// flows and secrets on every run — except for the key bytes of the
// certificates, which crypto/rand makes (a certificate's thumbprint is not
// something a scan's cost depends on).
package benchtenant

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// Base is the moment the generated tenants are assessed at.
var Base = time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)

// Spec sizes a generated tenant.
type Spec struct {
	Name string
	// Partners are SAML/WS-Fed federations, each with DomainsPerPartner
	// domains; every second one has a metadata URL in the config.
	Partners, DomainsPerPartner int
	// Socials are Google and Facebook (at most 2).
	Socials int
	// Connectors alternate basic authentication and client certificates;
	// each is backed by a tagged Key Vault secret.
	Connectors int
	// UserFlows each offer the socials, email OTP and every
	// UserFlows-th partner, and call two connectors.
	UserFlows int
	// Secrets are spread over Vaults vaults: one per social and connector
	// (tagged, two versions), the rest other applications' secrets.
	Secrets, Vaults int
	// GraphSize is the tenant size of Graph's identity and access limits
	// (azurefake.TenantSmall …): a tenant with hundreds of partners has far
	// more than 500 users (its guests), so M and L are "L".
	GraphSize string
}

// The benchmark tenants of issue 15. S is the example tenant
// (examples/fixture), loaded with Example.
var (
	M = Spec{Name: "M", Partners: 500, DomainsPerPartner: 2, Socials: 2, Connectors: 200, UserFlows: 50, Secrets: 2000, Vaults: 3, GraphSize: azurefake.TenantLarge}
	L = Spec{Name: "L", Partners: 5000, DomainsPerPartner: 2, Socials: 2, Connectors: 2000, UserFlows: 50, Secrets: 20000, Vaults: 3, GraphSize: azurefake.TenantLarge}
)

// Tenant is a generated (or the example) tenant and its config.
type Tenant struct {
	Spec   Spec
	Fake   *azurefake.Tenant
	Config []byte // YAML
	// Vaults are the vault URLs the config names.
	Vaults []string
}

// repoRoot is the module root, for the example files.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// ExampleFiles are the example tenant's fixture and config (tenant S).
func ExampleFiles() (fixture, config string) {
	root := repoRoot()
	return filepath.Join(root, "examples", "fixture", "tenant.json"), filepath.Join(root, "examples", "idpkeeper.yaml")
}

// Example is tenant S: the example tenant, as its fixture describes it.
func Example() (*azurefake.Tenant, error) {
	fixture, _ := ExampleFiles()
	return azurefake.LoadTenant(fixture)
}

func partnerID(i int) string   { return fmt.Sprintf("00000000-0000-4000-9000-%012d", i) }
func connectorID(i int) string { return fmt.Sprintf("00000000-0000-4000-a000-%012d", i) }
func domain(i, k int) string {
	if k == 0 {
		return fmt.Sprintf("partner%05d.example", i)
	}
	return fmt.Sprintf("partner%05d-%d.example", i, k)
}

// spread is a deterministic day offset in [lo, hi) for item i.
func spread(i, lo, hi int) int {
	return lo + (i*7919)%(hi-lo)
}

// Generate builds the tenant spec describes.
func Generate(spec Spec) *Tenant {
	tn := &azurefake.Tenant{
		TenantID: fmt.Sprintf("00000000-0000-4000-8000-%012d", spec.Partners),
		EmailOTP: map[string]any{"id": "Email", "state": "enabled", "allowExternalIdToUseEmailOtp": "enabled"},
		CrossTenantDefault: map[string]any{"invitationRedemptionIdentityProviderConfiguration": map[string]any{
			"primaryIdentityProviderPrecedenceOrder": []any{"externalFederation", "azureActiveDirectory", "socialIdentityProviders"},
			"fallbackIdentityProvider":               "emailOneTimePasscode",
		}},
		Vaults: map[string]*azurefake.Vault{},
		BuiltInIdentityProviders: []map[string]any{
			{"id": "EmailOtpSignup-OAUTH", "displayName": "Email One Time Passcode", "identityProviderType": "EmailOTP"},
			{"id": "MSASignup-OAUTH", "displayName": "Microsoft Account", "identityProviderType": "MicrosoftAccount"},
		},
	}
	out := &Tenant{Spec: spec, Fake: tn}
	var vaultHosts []string
	for v := 0; v < spec.Vaults; v++ {
		host := fmt.Sprintf("bench-%s-kv%d.vault.azure.net", strings.ToLower(spec.Name), v+1)
		vaultHosts = append(vaultHosts, host)
		tn.Vaults[host] = &azurefake.Vault{}
		out.Vaults = append(out.Vaults, "https://"+host+"/")
	}

	// A pool of signing certificates with spread expiry dates: making one
	// key per partner would measure the generator, not the scan.
	const pool = 32
	var certs []string
	for k := 0; k < pool; k++ {
		notAfter := Base.AddDate(0, 0, spread(k, -20, 400))
		certs = append(certs, azurefake.CertificateBase64(fmt.Sprintf("bench signing %d", k), notAfter.AddDate(-2, 0, 0), notAfter))
	}
	for i := 0; i < spec.Partners; i++ {
		protocol := "saml"
		if i%3 == 2 {
			protocol = "wsFed"
		}
		var doms []string
		for k := 0; k < spec.DomainsPerPartner; k++ {
			doms = append(doms, domain(i, k))
		}
		tn.Federations = append(tn.Federations, azurefake.Federation{
			Object: map[string]any{
				"id": partnerID(i), "displayName": fmt.Sprintf("Partner %05d", i),
				"issuerUri":                       fmt.Sprintf("https://idp%05d.partner.example/saml", i),
				"passiveSignInUri":                fmt.Sprintf("https://idp%05d.partner.example/sso", i),
				"preferredAuthenticationProtocol": protocol,
				"signingCertificate":              certs[i%pool],
			},
			Domains: doms,
		})
	}
	socials := []struct{ id, name, typ string }{{"Google-OAUTH", "Google", "Google"}, {"Facebook-OAUTH", "Facebook", "Facebook"}}[:min(spec.Socials, 2)]
	for _, s := range socials {
		tn.SocialIdentityProviders = append(tn.SocialIdentityProviders, map[string]any{
			"id": s.id, "displayName": s.name, "identityProviderType": s.typ, "clientId": "bench-" + strings.ToLower(s.name) + "-client", "clientSecret": "******",
		})
	}
	for i := 0; i < spec.Connectors; i++ {
		c := map[string]any{
			"id": connectorID(i), "displayName": fmt.Sprintf("API %05d", i),
			"targetUrl": fmt.Sprintf("https://api%05d.bench.example/signup", i),
		}
		if i%2 == 0 {
			c["authenticationConfiguration"] = map[string]any{"@odata.type": "#microsoft.graph.basicAuthentication", "username": "entra-signup", "password": "******"}
		} else {
			notAfter := Base.AddDate(0, 0, spread(i, -10, 500))
			c["authenticationConfiguration"] = map[string]any{"@odata.type": "#microsoft.graph.clientCertificateAuthentication", "certificateList": []any{
				map[string]any{"isActive": true, "notAfter": notAfter.Unix(), "notBefore": notAfter.AddDate(-1, 0, 0).Unix(), "thumbprint": fmt.Sprintf("%040X", i*2+1)},
				map[string]any{"isActive": false, "notAfter": notAfter.AddDate(-1, 0, 0).Unix(), "notBefore": notAfter.AddDate(-2, 0, 0).Unix(), "thumbprint": fmt.Sprintf("%040X", i*2)},
			}}
		}
		tn.APIConnectors = append(tn.APIConnectors, c)
	}
	for f := 0; f < spec.UserFlows; f++ {
		uf := azurefake.UserFlow{Object: map[string]any{"id": fmt.Sprintf("B2X_1_Bench%03d", f), "userFlowType": "signUpOrSignIn", "userFlowTypeVersion": 1}}
		for _, s := range socials {
			uf.IdentityProviders = append(uf.IdentityProviders, map[string]any{"@odata.type": "#microsoft.graph.socialIdentityProvider", "id": s.id, "displayName": s.name, "identityProviderType": s.typ})
		}
		uf.IdentityProviders = append(uf.IdentityProviders, map[string]any{"@odata.type": "#microsoft.graph.builtInIdentityProvider", "id": "EmailOtpSignup-OAUTH", "displayName": "Email One Time Passcode", "identityProviderType": "EmailOTP"})
		for i := f; i < spec.Partners; i += spec.UserFlows {
			uf.IdentityProviders = append(uf.IdentityProviders, map[string]any{"@odata.type": "#microsoft.graph.samlOrWsFedExternalDomainFederation", "id": partnerID(i), "displayName": fmt.Sprintf("Partner %05d", i)})
		}
		if spec.Connectors > 0 {
			uf.PostFederationSignup = connectorID((2 * f) % spec.Connectors)
			uf.PostAttributeCollection = connectorID((2*f + 1) % spec.Connectors)
		}
		// What an attribute page collects: the built-ins most flows ask
		// for and one custom attribute, as the list page shows them
		// (b2xidentityuserflow-list-userattributeassignments.md).
		for _, a := range []struct {
			id, name, kind string
			optional       bool
		}{{"Email", "Email Address", "builtIn", false}, {"GivenName", "Given Name", "builtIn", false}, {"Surname", "Surname", "builtIn", false},
			{"City", "City", "builtIn", true}, {"PostalCode", "Postal Code", "builtIn", false}, {"extension_0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e_PartnerNumber", "Partner number", "custom", false}} {
			odataType := "#Microsoft.Graph.BuiltInUserFlowAttribute"
			if a.kind == "custom" {
				odataType = "#Microsoft.Graph.CustomUserFlowAttribute"
			}
			uf.UserAttributeAssignments = append(uf.UserAttributeAssignments, map[string]any{
				"id": a.id, "isOptional": a.optional, "requiresVerification": false, "userInputType": "TextBox", "displayName": a.name, "userAttributeValues": []any{},
				"userAttribute": map[string]any{"@odata.type": odataType, "id": a.id, "displayName": a.name, "description": a.name, "userFlowAttributeType": a.kind, "dataType": "string"},
			})
		}
		tn.UserFlows = append(tn.UserFlows, uf)
	}

	// Secrets, round-robin over the vaults: the tagged ones first.
	type secretPlan struct {
		name, tag, contentType string
		managed                bool
	}
	var plans []secretPlan
	for _, s := range socials {
		plans = append(plans, secretPlan{name: strings.ToLower(s.name) + "-client-secret", tag: inventory.Ref(inventory.KindSocial, s.id), contentType: "text/plain"})
	}
	for i := 0; i < spec.Connectors; i++ {
		p := secretPlan{name: fmt.Sprintf("api-%05d-password", i), tag: inventory.Ref(inventory.KindConnector, connectorID(i)), contentType: "text/plain"}
		if i%2 == 1 {
			p = secretPlan{name: fmt.Sprintf("api-%05d-client-cert", i), tag: p.tag, contentType: "application/x-pkcs12", managed: true}
		}
		plans = append(plans, p)
	}
	for j := len(plans); j < spec.Secrets; j++ {
		plans = append(plans, secretPlan{name: fmt.Sprintf("app-%05d-secret", j), contentType: "text/plain"})
	}
	for j, p := range plans {
		vault := tn.Vaults[vaultHosts[j%len(vaultHosts)]]
		created := Base.AddDate(0, 0, -spread(j, 30, 700))
		expires := created.AddDate(0, 0, 365)
		sec := azurefake.Secret{Name: p.name, Managed: p.managed}
		var tags map[string]string
		if p.tag != "" {
			tags = map[string]string{inventory.TagDependency: p.tag}
			older := created.AddDate(-1, 0, 0)
			olderExp := older.AddDate(0, 0, 365)
			sec.Versions = append(sec.Versions, azurefake.SecretVersion{Version: fmt.Sprintf("%032x", j*2), Enabled: true, Created: older, Updated: older, Expires: &olderExp, ContentType: p.contentType, Tags: tags})
		}
		exp := expires
		sec.Versions = append(sec.Versions, azurefake.SecretVersion{Version: fmt.Sprintf("%032x", j*2+1), Enabled: true, Created: created, Updated: created, Expires: &exp, ContentType: p.contentType, Tags: tags})
		vault.Secrets = append(vault.Secrets, sec)
	}
	out.Config = config(spec, tn, out.Vaults)
	return out
}

// config is the tenant's config: an owner per partner (every second one
// with a metadata URL), the API team owning the connectors. The per-partner
// entries are YAML flow mappings, one line each, as a generated config for
// thousands of partners would be: the L config stays under config's 1 MB
// limit (TestLargeConfigFitsLimits).
func config(spec Spec, tn *azurefake.Tenant, vaults []string) []byte {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("version: 1")
	w("tenant:")
	w("  id: %s", tn.TenantID)
	w("keyVaults:")
	for _, v := range vaults {
		w("  - %s", v)
	}
	w("defaults:")
	w("  leadTime: 30d")
	w("  maxSecretAge: 365d")
	w("  policy: propose")
	w("owners:")
	w("  - name: identity-team")
	w("    email: identity-team@bench.example")
	w("    internal: true")
	w("  - name: api-team")
	w("    email: api-team@bench.example")
	w("    internal: true")
	for i := 0; i < spec.Partners; i++ {
		w("  - {name: p%05d, email: sso@%s}", i, domain(i, 0))
	}
	w("fallbackAdmin: entra-admins@bench.example")
	w("dependencies:")
	for _, s := range tn.SocialIdentityProviders {
		w("  - ref: social/%s", s["id"])
		w("    owner: identity-team")
	}
	for i := 0; i < spec.Partners; i++ {
		if i%2 == 0 {
			w("  - {ref: federation/%s, owner: p%05d, metadata: {url: \"https://idp%05d.partner.example/md.xml\"}}", domain(i, 0), i, i)
		} else {
			w("  - {ref: federation/%s, owner: p%05d}", domain(i, 0), i)
		}
	}
	for i := 0; i < spec.Connectors; i++ {
		w("  - {ref: connector/%s, owner: api-team}", connectorID(i))
	}
	w("  - ref: emailotp/email")
	w("    owner: identity-team")
	return b.Bytes()
}

// Shape is what the critical path depends on besides the request counts:
// the longest chains of requests that must follow one another.
type Shape struct {
	// GraphChain is the longest chain of Graph round trips: a collection's
	// pages follow their nextLinks one by one, and a user flow's own reads
	// need the flow list first.
	GraphChain int
	// VaultChains are the same for each vault: the request that elicits
	// Key Vault's authentication challenge (its first, sent without a
	// token), its list pages, then the versions of a secret on the last
	// page.
	VaultChains map[string]int
}

func pages(n, size int) int {
	if n <= 0 {
		return 1
	}
	return (n + size - 1) / size
}

// ShapeOf is the tenant's chains at Graph page size graphPage (Key Vault
// pages hold azurefake.VaultPageSize).
func ShapeOf(tn *azurefake.Tenant, graphPage int) Shape {
	flowChain := 0
	for _, f := range tn.UserFlows {
		flowChain = max(flowChain, 1, pages(len(f.IdentityProviders), graphPage), pages(len(f.UserAttributeAssignments), graphPage))
	}
	sh := Shape{VaultChains: map[string]int{}}
	sh.GraphChain = max(
		pages(len(tn.SocialIdentityProviders)+len(tn.BuiltInIdentityProviders), graphPage),
		pages(len(tn.Federations), graphPage),
		pages(len(tn.APIConnectors), graphPage),
		pages(len(tn.UserFlows), graphPage)+flowChain,
	)
	for host, v := range tn.Vaults {
		versions := 0
		for _, s := range v.Secrets {
			versions = max(versions, pages(len(s.Versions), azurefake.VaultPageSize))
		}
		sh.VaultChains[host] = 1 + pages(len(v.Secrets), azurefake.VaultPageSize) + versions
	}
	return sh
}

// CriticalPath is the least time the requests of one scan can take: no
// chain of dependent requests runs faster than its length times the mean
// latency, and no family serves more requests than its bucket holds plus
// what it refills (the last one still needs a latency to come back). served
// are the requests each family answered (429s left out: they are what the
// critical path does without); services run in parallel, so the slowest
// one sets the path.
func CriticalPath(sh Shape, latency time.Duration, th *azurefake.Throttling, served map[string]float64) time.Duration {
	cp := time.Duration(sh.GraphChain) * latency
	for _, chain := range sh.VaultChains {
		cp = max(cp, time.Duration(chain)*latency)
	}
	if th == nil {
		return cp
	}
	for family, n := range served {
		var l azurefake.Limit
		switch {
		case family == azurefake.FamilyIdentityProviders:
			l = th.IdentityProviders
		case family == azurefake.FamilyIdentityAccess:
			l = th.IdentityAccess
		case strings.HasPrefix(family, azurefake.FamilyKeyVaultPrefix):
			l = th.KeyVault
		default:
			continue
		}
		if l.Capacity <= 0 {
			continue
		}
		start := l.Capacity
		if th.StartEmpty {
			start = 0
		}
		wait := math.Max(0, (n-start)/l.Rate())
		cp = max(cp, time.Duration(wait*float64(time.Second))+latency)
	}
	return cp
}
