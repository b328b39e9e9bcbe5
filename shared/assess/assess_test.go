package assess

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func at(d time.Duration) *time.Time { t := now.Add(d); return &t }
func boolp(b bool) *bool            { return &b }

const (
	fedID  = "0f8fad5b-d9cb-469f-a165-70867728950e"
	connID = "9b2f4c1e-7d3a-4e8f-b6a1-0c5d2e9f8a71"
)

func google() inventory.SocialIdentityProvider {
	return inventory.SocialIdentityProvider{ID: "Google-OAUTH", DisplayName: "Google", Type: "Google", ClientID: "123.apps.googleusercontent.com"}
}

// googleSecret is a tagged secret created 10 days ago.
func googleSecret(version string, expires *time.Time) inventory.Secret {
	return inventory.Secret{
		Vault: "https://kv.vault.azure.net/", Name: "google-client-secret", Version: version,
		Created: at(-10 * day), Updated: at(-10 * day), Expires: expires,
		Tags: map[string]string{inventory.TagDependency: "social/Google-OAUTH"},
	}
}

func fabrikam(notAfter time.Time, sha256 string) inventory.Federation {
	return inventory.Federation{
		ID: fedID, DisplayName: "Fabrikam", IssuerURI: "https://sts.fabrikam.example/",
		Domains: []string{"fabrikam.example", "fabrikam-partners.example"},
		SigningCertificate: &inventory.Certificate{
			Subject: "CN=ADFS Signing - sts.fabrikam.example", SHA1: "AA11", SHA256: sha256,
			NotBefore: now.Add(-300 * day), NotAfter: notAfter,
		},
	}
}

func certConnector(certs ...inventory.ConnectorCertificate) inventory.APIConnector {
	return inventory.APIConnector{ID: connID, DisplayName: "Sign-up validation", TargetURL: "https://api.contoso.com/validate", AuthType: inventory.AuthCertificate, Certificates: certs}
}

func basicConnector(target string) inventory.APIConnector {
	return inventory.APIConnector{ID: connID, DisplayName: "Sign-up validation", TargetURL: target, AuthType: inventory.AuthBasic, Username: "entra"}
}

func cert(thumb string, notBefore, notAfter time.Duration, active bool) inventory.ConnectorCertificate {
	return inventory.ConnectorCertificate{Thumbprint: thumb, NotBefore: now.Add(notBefore), NotAfter: now.Add(notAfter), Active: active}
}

// cfg is a valid config with owners, a fallback admin and the given
// dependencies.
func cfg(deps ...config.Dependency) *config.Config {
	c := config.Default()
	c.Owners = []config.Owner{
		{Name: "identity-team", Email: "identity@contoso.com", Organisation: "Contoso", Internal: true},
		{Name: "fabrikam-it", Email: "sso@fabrikam.example", Organisation: "Fabrikam"},
	}
	c.FallbackAdmin = "admins@contoso.com"
	c.Dependencies = deps
	if err := c.Validate(); err != nil {
		panic(err)
	}
	return c
}

func fedConfigured(ref string) config.Dependency {
	return config.Dependency{Ref: ref, Owner: "fabrikam-it", Metadata: &config.Metadata{URL: "https://sts.fabrikam.example/FederationMetadata/2007-06/FederationMetadata.xml"}}
}

func dur(d time.Duration) *config.Duration { v := config.Duration(d); return &v }

// summary renders findings as sorted "kind:severity" strings.
func summary(fs []Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Kind + ":" + f.Severity.String()
	}
	sort.Strings(out)
	return out
}

func find(t *testing.T, fs []Finding, kind string) Finding {
	t.Helper()
	for _, f := range fs {
		if f.Kind == kind {
			return f
		}
	}
	t.Fatalf("no %s finding in %v", kind, summary(fs))
	return Finding{}
}

func TestAssessKinds(t *testing.T) {
	tests := []struct {
		name string
		inv  inventory.Inventory
		cfg  *config.Config
		want []string
		// check inspects the findings further; optional.
		check func(t *testing.T, fs []Finding)
	}{
		{name: "empty tenant", inv: inventory.Inventory{}, cfg: cfg(), want: []string{}},

		// --- social IdP secrets
		{name: "social untracked", inv: inventory.Inventory{SocialIdentityProviders: []inventory.SocialIdentityProvider{google()}}, cfg: cfg(),
			want: []string{"social-secret-untracked:warning"},
			check: func(t *testing.T, fs []Finding) {
				f := fs[0]
				if f.Due != nil || !strings.Contains(f.Action, "idpkeeper-dependency=social/Google-OAUTH") {
					t.Errorf("untracked: due=%v action=%q", f.Due, f.Action)
				}
				if f.Owner == nil || !f.Owner.Fallback || f.Owner.Email != "admins@contoso.com" {
					t.Errorf("unowned dependency should go to the fallback admin: %+v", f.Owner)
				}
			}},
		{name: "social configured secret not found",
			inv:  inventory.Inventory{SocialIdentityProviders: []inventory.SocialIdentityProvider{google()}, Secrets: []inventory.Secret{{Vault: "https://kv.vault.azure.net/", Name: "other"}}},
			cfg:  cfg(config.Dependency{Ref: "social/Google-OAUTH", Owner: "identity-team", KeyVaultSecret: "google-secret"}),
			want: []string{"social-secret-untracked:warning"},
			check: func(t *testing.T, fs []Finding) {
				if fs[0].Detail["configuredSecret"] != "google-secret" || !strings.Contains(fs[0].Action, `keyVaultSecret "google-secret"`) {
					t.Errorf("configured name not reported: %+v", fs[0])
				}
				if fs[0].Owner == nil || fs[0].Owner.Name != "identity-team" || fs[0].Owner.Fallback {
					t.Errorf("configured owner not used: %+v", fs[0].Owner)
				}
			}},
		{name: "social tracked without expiry", inv: inventory.Inventory{SocialIdentityProviders: []inventory.SocialIdentityProvider{google()}, Secrets: []inventory.Secret{googleSecret("v1", nil)}}, cfg: cfg(),
			want: []string{"social-secret-no-expiry:warning"}},
		{name: "social healthy", inv: inventory.Inventory{SocialIdentityProviders: []inventory.SocialIdentityProvider{google()}, Secrets: []inventory.Secret{googleSecret("v1", at(30*day+time.Second))}}, cfg: cfg(),
			want: []string{}},
		{name: "social exactly at lead time", inv: inventory.Inventory{SocialIdentityProviders: []inventory.SocialIdentityProvider{google()}, Secrets: []inventory.Secret{googleSecret("v1", at(30*day))}}, cfg: cfg(),
			want: []string{"social-secret-expiring:warning"},
			check: func(t *testing.T, fs []Finding) {
				if fs[0].Due == nil || !fs[0].Due.Equal(now.Add(30*day)) || !strings.HasSuffix(fs[0].Action, "before 2026-12-24.") {
					t.Errorf("due/action: %v %q", fs[0].Due, fs[0].Action)
				}
				if !strings.Contains(fs[0].Action, "Google Cloud console") {
					t.Errorf("action should say where to rotate: %q", fs[0].Action)
				}
				if fs[0].Detail["secretName"] != "google-client-secret" || fs[0].Detail["secretVersion"] != "v1" {
					t.Errorf("detail: %v", fs[0].Detail)
				}
			}},
		{name: "social at critical window", inv: inventory.Inventory{SocialIdentityProviders: []inventory.SocialIdentityProvider{google()}, Secrets: []inventory.Secret{googleSecret("v1", at(10*day))}}, cfg: cfg(),
			want: []string{"social-secret-expiring:critical"}},
		{name: "social one second before expiry", inv: inventory.Inventory{SocialIdentityProviders: []inventory.SocialIdentityProvider{google()}, Secrets: []inventory.Secret{googleSecret("v1", at(time.Second))}}, cfg: cfg(),
			want: []string{"social-secret-expiring:critical"}},
		{name: "social at the instant of expiry", inv: inventory.Inventory{SocialIdentityProviders: []inventory.SocialIdentityProvider{google()}, Secrets: []inventory.Secret{googleSecret("v1", at(0))}}, cfg: cfg(),
			want: []string{"social-secret-expired:expired"}},
		{name: "social expired", inv: inventory.Inventory{SocialIdentityProviders: []inventory.SocialIdentityProvider{google()}, Secrets: []inventory.Secret{googleSecret("v1", at(-3*day))}}, cfg: cfg(),
			want: []string{"social-secret-expired:expired"},
			check: func(t *testing.T, fs []Finding) {
				if !strings.Contains(fs[0].Action, "now: Key Vault secret google-client-secret says it expired on 2026-11-21.") {
					t.Errorf("action: %q", fs[0].Action)
				}
			}},
		{name: "social lead time override", inv: inventory.Inventory{SocialIdentityProviders: []inventory.SocialIdentityProvider{google()}, Secrets: []inventory.Secret{googleSecret("v1", at(40*day))}},
			cfg:  cfg(config.Dependency{Ref: "social/google-oauth", LeadTime: dur(45 * day)}),
			want: []string{"social-secret-expiring:warning"}},
		{name: "social disabled", inv: inventory.Inventory{SocialIdentityProviders: []inventory.SocialIdentityProvider{google()}, Secrets: []inventory.Secret{func() inventory.Secret {
			s := googleSecret("v1", at(100*day))
			s.Enabled = boolp(false)
			return s
		}()}}, cfg: cfg(),
			want: []string{"social-secret-disabled:warning"}},
		{name: "social enabled version wins over newer disabled", inv: inventory.Inventory{SocialIdentityProviders: []inventory.SocialIdentityProvider{google()}, Secrets: []inventory.Secret{
			func() inventory.Secret {
				s := googleSecret("v2", nil)
				s.Enabled = boolp(false)
				s.Updated = at(-1 * day)
				return s
			}(),
			googleSecret("v1", at(5*day)),
		}}, cfg: cfg(),
			want: []string{"social-secret-expiring:critical"},
			check: func(t *testing.T, fs []Finding) {
				if fs[0].Detail["secretVersion"] != "v1" || fs[0].Detail["matchingSecrets"] != "2" {
					t.Errorf("detail: %v", fs[0].Detail)
				}
			}},
		{name: "social latest updated enabled secret wins", inv: inventory.Inventory{SocialIdentityProviders: []inventory.SocialIdentityProvider{google()}, Secrets: []inventory.Secret{
			googleSecret("old", at(5*day)),
			func() inventory.Secret { s := googleSecret("new", at(200*day)); s.Updated = at(-1 * day); return s }(),
		}}, cfg: cfg(),
			want: []string{}},
		{name: "social matched by config name without tag", inv: inventory.Inventory{SocialIdentityProviders: []inventory.SocialIdentityProvider{google()}, Secrets: []inventory.Secret{
			{Vault: "https://kv.vault.azure.net/", Name: "Google-Secret", Version: "v9", Created: at(-1 * day), Expires: at(-1 * day)},
		}}, cfg: cfg(config.Dependency{Ref: "social/Google-OAUTH", KeyVaultSecret: "https://kv.vault.azure.net/secrets/google-secret"}),
			want: []string{"social-secret-expired:expired"}},
		{name: "social secret too old", inv: inventory.Inventory{SocialIdentityProviders: []inventory.SocialIdentityProvider{google()}, Secrets: []inventory.Secret{
			func() inventory.Secret { s := googleSecret("v1", at(300*day)); s.Created = at(-181 * day); return s }(),
		}}, cfg: cfg(),
			want: []string{"social-secret-too-old:warning"},
			check: func(t *testing.T, fs []Finding) {
				if fs[0].Due == nil || !fs[0].Due.Equal(now.Add(-day)) {
					t.Errorf("too-old due should be created+maxAge: %v", fs[0].Due)
				}
			}},
		{name: "social secret too old and expiring keep separate details", inv: inventory.Inventory{SocialIdentityProviders: []inventory.SocialIdentityProvider{google()}, Secrets: []inventory.Secret{
			func() inventory.Secret { s := googleSecret("v1", at(3*day)); s.Created = at(-181 * day); return s }(),
		}}, cfg: cfg(),
			want: []string{"social-secret-expiring:critical", "social-secret-too-old:warning"},
			check: func(t *testing.T, fs []Finding) {
				if _, leaked := find(t, fs, KindSocialSecretExpiring).Detail["maxSecretAge"]; leaked {
					t.Error("the expiry finding's detail was changed by the age finding")
				}
				if find(t, fs, KindSocialSecretTooOld).Detail["maxSecretAge"] != "180d" {
					t.Error("age finding should say the limit")
				}
			}},
		{name: "social secret age check off", inv: inventory.Inventory{SocialIdentityProviders: []inventory.SocialIdentityProvider{google()}, Secrets: []inventory.Secret{
			func() inventory.Secret { s := googleSecret("v1", at(300*day)); s.Created = at(-900 * day); return s }(),
		}}, cfg: func() *config.Config { c := cfg(); c.Defaults.MaxSecretAge = 0; return c }(),
			want: []string{}},

		// --- federations
		{name: "federation configured, cert healthy", inv: inventory.Inventory{Federations: []inventory.Federation{fabrikam(now.Add(31*day), "BB22")}},
			cfg: cfg(fedConfigured("federation/" + fedID)), want: []string{}},
		{name: "federation configured by domain, cert expiring", inv: inventory.Inventory{Federations: []inventory.Federation{fabrikam(now.Add(20*day), "BB22")}},
			cfg: cfg(fedConfigured("federation/Fabrikam.example")), want: []string{"federation-cert-expiring:warning"},
			check: func(t *testing.T, fs []Finding) {
				f := fs[0]
				if f.Owner == nil || f.Owner.Name != "fabrikam-it" {
					t.Errorf("owner by domain not resolved: %+v", f.Owner)
				}
				if !reflect.DeepEqual(f.ImpactedDomains, []string{"fabrikam-partners.example", "fabrikam.example"}) {
					t.Errorf("domains: %v", f.ImpactedDomains)
				}
				if f.Dependency.Ref != "federation/"+fedID || f.Detail["thumbprintSha256"] != "BB22" {
					t.Errorf("dependency/detail: %+v", f)
				}
				if !strings.Contains(f.Action, "from its metadata") {
					t.Errorf("with a metadata URL the action should say so: %q", f.Action)
				}
			}},
		{name: "federation cert expired", inv: inventory.Inventory{Federations: []inventory.Federation{fabrikam(now.Add(-time.Second), "BB22")}},
			cfg: cfg(fedConfigured("federation/" + fedID)), want: []string{"federation-cert-expired:expired"},
			check: func(t *testing.T, fs []Finding) {
				if !strings.Contains(fs[0].Action, "guests from fabrikam-partners.example, fabrikam.example cannot sign in") {
					t.Errorf("action: %q", fs[0].Action)
				}
			}},
		{name: "federation unknown to config, cert healthy", inv: inventory.Inventory{Federations: []inventory.Federation{fabrikam(now.Add(200*day), "BB22")}}, cfg: cfg(),
			want: []string{"federation-no-metadata-url:info", "federation-no-owner:info"},
			check: func(t *testing.T, fs []Finding) {
				if fs[0].Due == nil || !fs[0].Due.Equal(now.Add(200*day)) {
					t.Errorf("no-owner/no-metadata should carry the certificate date: %v", fs[0].Due)
				}
			}},
		{name: "federation unknown to config, cert expiring", inv: inventory.Inventory{Federations: []inventory.Federation{fabrikam(now.Add(5*day), "BB22")}}, cfg: cfg(),
			want: []string{"federation-cert-expiring:critical", "federation-no-metadata-url:warning", "federation-no-owner:warning"},
			check: func(t *testing.T, fs []Finding) {
				if !strings.Contains(find(t, fs, KindFederationCertExpiring).Action, "Ask the partner") {
					t.Errorf("without metadata the partner must be asked")
				}
			}},
		{name: "federation owner but no metadata", inv: inventory.Inventory{Federations: []inventory.Federation{fabrikam(now.Add(200*day), "BB22")}},
			cfg: cfg(config.Dependency{Ref: "federation/" + fedID, Owner: "fabrikam-it"}), want: []string{"federation-no-metadata-url:info"}},
		{name: "federation certificate unreadable", inv: inventory.Inventory{Federations: []inventory.Federation{func() inventory.Federation {
			f := fabrikam(now, "")
			f.SigningCertificate, f.CertificateError = nil, "asn1: structure error"
			return f
		}()}}, cfg: cfg(fedConfigured("federation/" + fedID)),
			want: []string{"federation-cert-unreadable:warning"},
			check: func(t *testing.T, fs []Finding) {
				if fs[0].Detail["certificateError"] != "asn1: structure error" {
					t.Errorf("detail: %v", fs[0].Detail)
				}
			}},

		// --- API connectors, certificates
		{name: "connector active cert expiring", inv: inventory.Inventory{APIConnectors: []inventory.APIConnector{certConnector(cert("C1", -300*day, 12*day, true))}}, cfg: cfg(),
			want: []string{"connector-cert-expiring:warning"}},
		{name: "connector active cert expired", inv: inventory.Inventory{APIConnectors: []inventory.APIConnector{certConnector(cert("C1", -300*day, -day, true))}}, cfg: cfg(),
			want: []string{"connector-cert-expired:expired"}},
		{name: "connector active cert expiring with successor uploaded", inv: inventory.Inventory{APIConnectors: []inventory.APIConnector{certConnector(
			cert("C1", -300*day, 5*day, true), cert("C2", 4*day, 400*day, false))}}, cfg: cfg(),
			want: []string{"connector-cert-expiring:info"},
			check: func(t *testing.T, fs []Finding) {
				if fs[0].Detail["successorThumbprint"] != "C2" || !strings.HasPrefix(fs[0].Action, "No action needed") {
					t.Errorf("successor not recognised: %+v", fs[0])
				}
			}},
		{name: "connector successor with a gap is no successor", inv: inventory.Inventory{APIConnectors: []inventory.APIConnector{certConnector(
			cert("C1", -300*day, 5*day, true), cert("C2", 6*day, 400*day, false))}}, cfg: cfg(),
			want: []string{"connector-cert-expiring:critical"}},
		{name: "connector old non-active cert beside a healthy active one", inv: inventory.Inventory{APIConnectors: []inventory.APIConnector{certConnector(
			cert("OLD", -400*day, -10*day, false), cert("C1", -10*day, 300*day, true))}}, cfg: cfg(),
			want: []string{"connector-cert-expired:info"}},
		{name: "connector with no active flag uses the longest-lived", inv: inventory.Inventory{APIConnectors: []inventory.APIConnector{certConnector(
			cert("A", -400*day, 3*day, false), cert("B", -10*day, 20*day, false))}}, cfg: cfg(),
			want: []string{"connector-cert-expiring:info", "connector-cert-expiring:warning"},
			check: func(t *testing.T, fs []Finding) {
				for _, f := range fs {
					if f.Detail["thumbprint"] == "B" && f.Severity != Warning {
						t.Errorf("B is effective and should carry the severity")
					}
				}
			}},
		{name: "connector without certificates", inv: inventory.Inventory{APIConnectors: []inventory.APIConnector{certConnector()}}, cfg: cfg(),
			want: []string{"connector-cert-missing:warning"}},

		// --- API connectors, basic auth and target
		{name: "connector basic untracked", inv: inventory.Inventory{APIConnectors: []inventory.APIConnector{basicConnector("https://api.contoso.com/x")}}, cfg: cfg(),
			want: []string{"connector-basic-password-untracked:warning"}},
		{name: "connector basic tracked without expiry is untracked", inv: inventory.Inventory{APIConnectors: []inventory.APIConnector{basicConnector("https://api.contoso.com/x")}, Secrets: []inventory.Secret{
			{Vault: "https://kv.vault.azure.net/", Name: "connector-pw", Version: "1", Created: at(-day), Tags: map[string]string{inventory.TagDependency: "connector/" + connID}},
		}}, cfg: cfg(), want: []string{"connector-basic-password-untracked:warning"},
			check: func(t *testing.T, fs []Finding) {
				if fs[0].Detail["secretName"] != "connector-pw" {
					t.Errorf("the secret found should be named: %v", fs[0].Detail)
				}
			}},
		{name: "connector basic password expiring", inv: inventory.Inventory{APIConnectors: []inventory.APIConnector{basicConnector("https://api.contoso.com/x")}, Secrets: []inventory.Secret{
			{Vault: "https://kv.vault.azure.net/", Name: "connector-pw", Version: "1", Created: at(-day), Expires: at(7 * day), Tags: map[string]string{"IDPKEEPER-DEPENDENCY": "connector/" + strings.ToUpper(connID)}},
		}}, cfg: cfg(), want: []string{"connector-password-expiring:critical"}},
		{name: "connector basic password expired and disabled variants", inv: inventory.Inventory{APIConnectors: []inventory.APIConnector{basicConnector("https://api.contoso.com/x")}, Secrets: []inventory.Secret{
			{Vault: "https://kv.vault.azure.net/", Name: "connector-pw", Version: "1", Created: at(-day), Expires: at(-day)},
		}}, cfg: cfg(config.Dependency{Ref: "connector/" + connID, KeyVaultSecret: "connector-pw"}), want: []string{"connector-password-expired:expired"}},
		{name: "connector basic password disabled", inv: inventory.Inventory{APIConnectors: []inventory.APIConnector{basicConnector("https://api.contoso.com/x")}, Secrets: []inventory.Secret{
			{Vault: "https://kv.vault.azure.net/", Name: "connector-pw", Version: "1", Enabled: boolp(false), Expires: at(100 * day)},
		}}, cfg: cfg(config.Dependency{Ref: "connector/" + connID, KeyVaultSecret: "connector-pw"}), want: []string{"connector-password-disabled:warning"}},
		{name: "connector basic password too old", inv: inventory.Inventory{APIConnectors: []inventory.APIConnector{basicConnector("https://api.contoso.com/x")}, Secrets: []inventory.Secret{
			{Vault: "https://kv.vault.azure.net/", Name: "connector-pw", Version: "1", Created: at(-365 * day), Expires: at(100 * day)},
		}}, cfg: cfg(config.Dependency{Ref: "connector/" + connID, KeyVaultSecret: "connector-pw"}), want: []string{"connector-password-too-old:warning"}},
		{name: "connector http target with basic auth", inv: inventory.Inventory{APIConnectors: []inventory.APIConnector{basicConnector("http://api.contoso.com/x")}}, cfg: cfg(),
			want: []string{"connector-basic-password-untracked:warning", "connector-target-not-https:critical"}},
		{name: "connector http target with certificate", inv: inventory.Inventory{APIConnectors: []inventory.APIConnector{func() inventory.APIConnector {
			c := certConnector(cert("C1", -day, 300*day, true))
			c.TargetURL = "http://api.contoso.com/x"
			return c
		}()}}, cfg: cfg(), want: []string{"connector-target-not-https:warning"}},
		{name: "connector unknown auth", inv: inventory.Inventory{APIConnectors: []inventory.APIConnector{{ID: connID, TargetURL: "https://x.example/", AuthType: inventory.AuthUnknown}}}, cfg: cfg(),
			want: []string{"connector-auth-unknown:info"}},

		// --- user flows
		{name: "user flow at risk takes the worst and earliest", inv: inventory.Inventory{
			SocialIdentityProviders: []inventory.SocialIdentityProvider{google()},
			Secrets:                 []inventory.Secret{googleSecret("v1", at(-day))},
			Federations:             []inventory.Federation{fabrikam(now.Add(20*day), "BB22")},
			UserFlows: []inventory.UserFlow{
				{ID: "B2X_1_partners", IdentityProviders: []inventory.UserFlowIdentityProvider{{ID: "google-oauth"}, {ID: fedID}, {ID: inventory.EmailOTPProviderID}}},
				{ID: "B2X_1_healthy", IdentityProviders: []inventory.UserFlowIdentityProvider{{ID: inventory.EmailOTPProviderID}}},
			},
		}, cfg: cfg(fedConfigured("federation/" + fedID)),
			want: []string{"federation-cert-expiring:warning", "social-secret-expired:expired", "userflow-at-risk:expired"},
			check: func(t *testing.T, fs []Finding) {
				f := find(t, fs, KindUserFlowAtRisk)
				if f.Dependency.Ref != "userflow/B2X_1_partners" || f.Due == nil || !f.Due.Equal(now.Add(-day)) {
					t.Errorf("flow finding: %+v", f)
				}
				if f.Detail["atRisk"] != "federation/"+fedID+", social/Google-OAUTH" {
					t.Errorf("atRisk: %q", f.Detail["atRisk"])
				}
				if !reflect.DeepEqual(f.ImpactedDomains, []string{"fabrikam-partners.example", "fabrikam.example"}) {
					t.Errorf("domains: %v", f.ImpactedDomains)
				}
				if g := find(t, fs, KindSocialSecretExpired); !reflect.DeepEqual(g.ImpactedUserFlows, []string{"B2X_1_partners"}) {
					t.Errorf("social impact (case-insensitive IdP ID): %v", g.ImpactedUserFlows)
				}
			}},
		{name: "info findings do not put a flow at risk", inv: inventory.Inventory{
			APIConnectors: []inventory.APIConnector{certConnector(cert("OLD", -400*day, -10*day, false), cert("C1", -10*day, 300*day, true))},
			UserFlows:     []inventory.UserFlow{{ID: "B2X_1_x", PostAttributeCollection: connID}},
		}, cfg: cfg(), want: []string{"connector-cert-expired:info"}},
		{name: "connector impact covers both steps", inv: inventory.Inventory{
			APIConnectors: []inventory.APIConnector{certConnector(cert("C1", -300*day, 12*day, true))},
			UserFlows: []inventory.UserFlow{
				{ID: "B2X_1_b", PostAttributeCollection: connID},
				{ID: "B2X_1_a", PostFederationSignup: connID, PostAttributeCollection: connID},
				{ID: "B2X_1_c"},
			},
		}, cfg: cfg(), want: []string{"connector-cert-expiring:warning", "userflow-at-risk:warning", "userflow-at-risk:warning"},
			check: func(t *testing.T, fs []Finding) {
				if f := find(t, fs, KindConnectorCertExpiring); !reflect.DeepEqual(f.ImpactedUserFlows, []string{"B2X_1_a", "B2X_1_b"}) {
					t.Errorf("impacted flows: %v", f.ImpactedUserFlows)
				}
			}},

		// --- email OTP
		{name: "email otp enabled by default", inv: inventory.Inventory{EmailOTP: &inventory.EmailOTP{State: "enabled", AllowExternalIDToUseEmailOTP: "default"}}, cfg: cfg(), want: []string{}},
		{name: "email otp disabled", inv: inventory.Inventory{
			EmailOTP:   &inventory.EmailOTP{State: "disabled", AllowExternalIDToUseEmailOTP: "default"},
			Redemption: &inventory.Redemption{FallbackProvider: "defaultConfiguredIdp"},
			UserFlows:  []inventory.UserFlow{{ID: "B2X_1_mixed", IdentityProviders: []inventory.UserFlowIdentityProvider{{ID: "Google-OAUTH"}, {ID: "EmailOtpSignup-OAUTH"}}}},
		}, cfg: cfg(), want: []string{"email-otp-disabled:warning"},
			check: func(t *testing.T, fs []Finding) {
				if !reflect.DeepEqual(fs[0].ImpactedUserFlows, []string{"B2X_1_mixed"}) || fs[0].Detail["redemptionFallback"] != "defaultConfiguredIdp" {
					t.Errorf("email otp: %+v", fs[0])
				}
			}},
		{name: "email otp disabled for external users where a flow offers only it", inv: inventory.Inventory{
			EmailOTP:  &inventory.EmailOTP{State: "enabled", AllowExternalIDToUseEmailOTP: "disabled"},
			UserFlows: []inventory.UserFlow{{ID: "B2X_1_otp", IdentityProviders: []inventory.UserFlowIdentityProvider{{ID: "EmailOtpSignup-OAUTH"}}}},
		}, cfg: cfg(), want: []string{"email-otp-disabled:critical", "userflow-at-risk:critical"}},

		// --- completeness and drift
		{name: "inventory gaps", inv: inventory.Inventory{Gaps: []inventory.Gap{{Source: "graph:/identity/apiConnectors", Reason: "403 Forbidden"}, {Source: "keyvault:kv", Reason: "no access"}}}, cfg: cfg(),
			want: []string{"inventory-incomplete:warning"}},
		{name: "config entry matches nothing", inv: inventory.Inventory{}, cfg: cfg(config.Dependency{Ref: "federation/gone.example", Owner: "fabrikam-it"}, config.Dependency{Ref: "emailotp/email"}),
			want: []string{"config-dependency-unmatched:info"},
			check: func(t *testing.T, fs []Finding) {
				if fs[0].Owner == nil || fs[0].Owner.Name != "fabrikam-it" {
					t.Errorf("owner of the stale entry: %+v", fs[0].Owner)
				}
			}},
		{name: "secret tagged for nothing", inv: inventory.Inventory{Secrets: []inventory.Secret{{Vault: "https://kv.vault.azure.net/", Name: "orphan", Tags: map[string]string{inventory.TagDependency: "social/Twitter-OAUTH"}}}}, cfg: cfg(),
			want: []string{"secret-tag-unmatched:info"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := Assess(tt.inv, tt.cfg, now)
			if got := summary(fs); !slices.Equal(got, tt.want) {
				t.Fatalf("findings:\n got  %v\n want %v", got, tt.want)
			}
			for _, f := range fs {
				checkWellFormed(t, f)
			}
			if tt.check != nil {
				tt.check(t, fs)
			}
		})
	}
}

// checkWellFormed holds for every finding.
func checkWellFormed(t *testing.T, f Finding) {
	t.Helper()
	if !strings.HasPrefix(f.ID, "F-") || len(f.ID) != 14 {
		t.Errorf("%s: bad ID %q", f.Kind, f.ID)
	}
	if !slices.Contains(Kinds, f.Kind) {
		t.Errorf("kind %q is not listed in Kinds", f.Kind)
	}
	if f.Action == "" || !strings.HasSuffix(f.Action, ".") || strings.Count(f.Action, ". ") > 0 {
		t.Errorf("%s: action should be one sentence: %q", f.Kind, f.Action)
	}
	if f.Dependency.Ref == "" || f.Dependency.Kind == "" {
		t.Errorf("%s: dependency not set: %+v", f.Kind, f.Dependency)
	}
	if f.ImpactedUserFlows == nil || f.ImpactedDomains == nil || f.Detail == nil {
		t.Errorf("%s: nil slices/maps would render as null", f.Kind)
	}
	if f.Due != nil && f.Severity == Expired && f.Due.After(now) {
		t.Errorf("%s: expired but due in the future", f.Kind)
	}
}

func TestClassifyBoundaries(t *testing.T) {
	tests := []struct {
		lead  time.Duration
		left  time.Duration
		want  Severity
		want2 bool
	}{
		{30 * day, 30*day + time.Second, Info, false},
		{30 * day, 30 * day, Warning, true}, // exactly at lead time
		{30 * day, 10*day + time.Second, Warning, true},
		{30 * day, 10 * day, Critical, true}, // a third of 30d
		{30 * day, time.Second, Critical, true},
		{30 * day, 0, Expired, true}, // at the instant of expiry
		{30 * day, -time.Second, Expired, true},
		{9 * day, 7 * day, Critical, true}, // a third of 9d is 3d: the 7-day floor applies
		{9 * day, 7*day + time.Second, Warning, true},
		{3 * day, 3 * day, Critical, true}, // window capped at the lead time
		{90 * day, 30 * day, Critical, true},
		{90 * day, 31 * day, Warning, true},
	}
	for _, tt := range tests {
		got, ok := Classify(now.Add(tt.left), now, tt.lead)
		if got != tt.want || ok != tt.want2 {
			t.Errorf("Classify(left=%v, lead=%v) = %v,%v; want %v,%v", tt.left, tt.lead, got, ok, tt.want, tt.want2)
		}
	}
}

func TestSeverityText(t *testing.T) {
	for s := Info; s <= Expired; s++ {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back Severity
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("%v round trip: %s → %v (%v)", s, b, back, err)
		}
		if p, err := ParseSeverity(strings.ToUpper(s.String())); err != nil || p != s {
			t.Errorf("ParseSeverity(%q) = %v, %v", strings.ToUpper(s.String()), p, err)
		}
	}
	if b, _ := json.Marshal(Critical); string(b) != `"critical"` {
		t.Errorf("Critical marshals as %s", b)
	}
	if _, err := ParseSeverity("high"); err == nil {
		t.Error("ParseSeverity accepted high")
	}
	if _, err := json.Marshal(Severity(9)); err == nil {
		t.Error("invalid severity marshalled")
	}
	if !(Info < Warning && Warning < Critical && Critical < Expired) {
		t.Error("severity order")
	}
}

func TestNewID(t *testing.T) {
	a := NewID(KindFederationCertExpiring, "federation/x", "AB12")
	if a != NewID(KindFederationCertExpiring, "Federation/X", "ab12") {
		t.Error("IDs must not depend on case")
	}
	if a == NewID(KindFederationCertExpiring, "federation/x", "AB13") {
		t.Error("a new thumbprint must give a new ID")
	}
	if a == NewID(KindFederationCertExpired, "federation/x", "AB12") {
		t.Error("the kind must be part of the ID")
	}
	if NewID("k", "a/b", "c") == NewID("k", "a", "b/c") || NewID("k", "ab") == NewID("k", "a", "b") {
		t.Error("part boundaries must matter")
	}
	// Pinned, so an accidental change of the derivation (which would
	// re-notify every open finding) fails here.
	if got := NewID("social-secret-untracked", "social/Google-OAUTH"); got != pinnedID {
		t.Errorf("NewID derivation changed: %s", got)
	}
}

const pinnedID = "F-b308cf8f2847" // sha256("social-secret-untracked\x00social/google-oauth")

func TestIDsStableAcrossScans(t *testing.T) {
	inv := inventory.Inventory{Federations: []inventory.Federation{fabrikam(now.Add(20*day), "BB22")}}
	c := cfg(fedConfigured("federation/" + fedID))
	first := Assess(inv, c, now)[0]
	later := Assess(inv, c, now.Add(15*day))[0] // now critical
	if first.ID != later.ID || first.Severity == later.Severity {
		t.Errorf("same problem, different scan: %s/%v vs %s/%v", first.ID, first.Severity, later.ID, later.Severity)
	}
	inv.Federations[0].SigningCertificate.SHA256 = "CC33"
	if renewed := Assess(inv, c, now)[0]; renewed.ID == first.ID {
		t.Error("a different certificate must give a different ID")
	}
}

func TestDeterministicOrder(t *testing.T) {
	inv := inventory.Inventory{
		SocialIdentityProviders: []inventory.SocialIdentityProvider{google(), {ID: "Facebook-OAUTH", DisplayName: "Facebook", Type: "Facebook"}},
		Federations:             []inventory.Federation{fabrikam(now.Add(3*day), "BB22")},
		APIConnectors:           []inventory.APIConnector{certConnector(cert("C1", -300*day, 12*day, true)), basicConnector("http://x.example/")},
		Secrets:                 []inventory.Secret{googleSecret("v1", at(12*day))},
		UserFlows:               []inventory.UserFlow{{ID: "B2X_1_a", IdentityProviders: []inventory.UserFlowIdentityProvider{{ID: "Google-OAUTH"}, {ID: "Facebook-OAUTH"}}, PostFederationSignup: connID}},
		EmailOTP:                &inventory.EmailOTP{State: "disabled"},
	}
	c := cfg()
	a := Assess(inv, c, now)
	rev := inv
	rev.SocialIdentityProviders = []inventory.SocialIdentityProvider{inv.SocialIdentityProviders[1], inv.SocialIdentityProviders[0]}
	rev.APIConnectors = []inventory.APIConnector{inv.APIConnectors[1], inv.APIConnectors[0]}
	b := Assess(rev, c, now)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Errorf("order depends on inventory order:\n%s\n%s", ja, jb)
	}
	for i := 1; i < len(a); i++ {
		p, q := a[i-1], a[i]
		if p.Due == nil && q.Due != nil {
			t.Errorf("undated finding before a dated one at %d", i)
		}
		if p.Due != nil && q.Due != nil && p.Due.After(*q.Due) {
			t.Errorf("not sorted by due at %d", i)
		}
	}
}

func TestSortFindings(t *testing.T) {
	fs := []Finding{
		{ID: "F-3", Severity: Warning},
		{ID: "F-2", Severity: Critical, Due: at(5 * day)},
		{ID: "F-1", Severity: Info, Due: at(day)},
		{ID: "F-0", Severity: Warning, Due: at(5 * day)},
		{ID: "F-4", Severity: Warning},
		{ID: "F-5", Severity: Expired},
	}
	SortFindings(fs)
	var got []string
	for _, f := range fs {
		got = append(got, f.ID)
	}
	want := []string{"F-1", "F-2", "F-0", "F-5", "F-3", "F-4"}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestOwnerWithoutFallback(t *testing.T) {
	c := config.Default()
	fs := Assess(inventory.Inventory{SocialIdentityProviders: []inventory.SocialIdentityProvider{google()}}, c, now)
	if len(fs) != 1 || fs[0].Owner != nil {
		t.Fatalf("no owner and no fallback admin should leave Owner nil: %+v", fs)
	}
	if fs2 := Assess(inventory.Inventory{SocialIdentityProviders: []inventory.SocialIdentityProvider{google()}}, nil, now); len(fs2) != 1 {
		t.Fatalf("nil config should behave like Default(): %v", summary(fs2))
	}
}

// TestNothingLeaksIntoOutput plants values in places IdP Keeper reads but
// must never repeat: tags other than idpkeeper-dependency, the query string
// of a connector target (Azure Functions keys live there), the basic-auth
// username's neighbour fields.
func TestNothingLeaksIntoOutput(t *testing.T) {
	const canary = "CANARY-7f3e9b"
	inv := inventory.Inventory{
		SocialIdentityProviders: []inventory.SocialIdentityProvider{google()},
		APIConnectors: []inventory.APIConnector{
			basicConnector("http://api.contoso.com/validate?code=" + canary),
			{ID: "c2", DisplayName: "cert", TargetURL: "ftp://x.example/?code=" + canary, AuthType: inventory.AuthCertificate, Certificates: []inventory.ConnectorCertificate{{Thumbprint: "T", NotAfter: now, Active: true}}},
		},
		Secrets: []inventory.Secret{
			func() inventory.Secret {
				s := googleSecret("v1", at(-day))
				s.Tags["note"] = canary
				s.Tags["password"] = canary
				s.ContentType = canary
				return s
			}(),
			{Vault: "https://kv.vault.azure.net/", Name: "pw", Version: "1", Expires: at(-day), Tags: map[string]string{inventory.TagDependency: "connector/" + connID, "value": canary}},
			{Vault: "https://kv.vault.azure.net/", Name: "orphan", Tags: map[string]string{inventory.TagDependency: "social/Nope", "x": canary}},
		},
		UserFlows: []inventory.UserFlow{{ID: "B2X_1_a", IdentityProviders: []inventory.UserFlowIdentityProvider{{ID: "Google-OAUTH"}}, PostAttributeCollection: connID}},
	}
	fs := Assess(inv, cfg(), now)
	if len(fs) < 5 {
		t.Fatalf("test inventory should produce several findings: %v", summary(fs))
	}
	b, _ := json.Marshal(fs)
	if strings.Contains(string(b), canary) {
		t.Fatalf("planted value leaked into findings: %s", b)
	}
	if !strings.Contains(string(b), "social/Nope") {
		t.Error("the dependency tag value itself should be reported")
	}
}
