package tenant_test

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

func exampleTenant(t *testing.T) *azurefake.Tenant {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	tn, err := azurefake.LoadTenant(filepath.Join(filepath.Dir(file), "..", "..", "examples", "fixture", "tenant.json"))
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

const vaultURL = "https://contoso-idp-kv.vault.azure.net/"

func newReader(t *testing.T, srv *azurefake.Server) *tenant.Reader {
	t.Helper()
	clients, err := tenant.NewClients(tenant.StaticCredential{}, tenant.ClientOptions{
		Transport:    srv.Transport(),
		KeyVaultURLs: []string{vaultURL},
	})
	if err != nil {
		t.Fatal(err)
	}
	fixed := time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
	return &tenant.Reader{Clients: clients, Now: func() time.Time { return fixed }}
}

func TestReadFollowsPagesThroughTheSDKs(t *testing.T) {
	srv := azurefake.NewServer(exampleTenant(t))
	defer srv.Close()
	srv.PageSize = 1 // every collection with more than one item spans pages

	inv, err := newReader(t, srv).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tenant.SortInventory(&inv)

	if got := len(inv.SocialIdentityProviders); got != 2 {
		t.Fatalf("social IdPs = %d, want 2", got)
	}
	if inv.SocialIdentityProviders[1].ID != "Google-OAUTH" || inv.SocialIdentityProviders[1].Type != "Google" ||
		!strings.HasSuffix(inv.SocialIdentityProviders[1].ClientID, ".apps.googleusercontent.com") {
		t.Errorf("google = %+v", inv.SocialIdentityProviders[1])
	}
	if got := len(inv.Federations); got != 4 {
		t.Fatalf("federations = %d, want 4", got)
	}
	var northwind inventory.Federation
	for _, f := range inv.Federations {
		if f.DisplayName == "Northwind Traders" {
			northwind = f
		}
	}
	if strings.Join(northwind.Domains, ",") != "northwind.example,northwindtraders.example" {
		t.Errorf("northwind domains = %v (domains span two pages)", northwind.Domains)
	}
	if northwind.PreferredProtocol != "wsFed" || northwind.SigningCertificate == nil ||
		!northwind.SigningCertificate.NotAfter.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) ||
		len(northwind.SigningCertificate.SHA256) != 64 {
		t.Errorf("northwind = %+v cert %+v", northwind, northwind.SigningCertificate)
	}
	if got := len(inv.APIConnectors); got != 3 {
		t.Fatalf("connectors = %d, want 3", got)
	}
	registry := inv.APIConnectors[1]
	if registry.AuthType != inventory.AuthCertificate || len(registry.Certificates) != 2 || !registry.Certificates[0].Active ||
		!registry.Certificates[0].NotAfter.Equal(time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("registry connector = %+v", registry)
	}
	if inv.APIConnectors[0].AuthType != inventory.AuthBasic || inv.APIConnectors[0].Username != "entra-signup" {
		t.Errorf("loyalty connector = %+v", inv.APIConnectors[0])
	}
	if got := len(inv.UserFlows); got != 2 {
		t.Fatalf("user flows = %d, want 2", got)
	}
	partner := inv.UserFlows[0]
	if partner.ID != "B2X_1_PartnerSignUp" || partner.PostFederationSignup != registry.ID ||
		partner.PostAttributeCollection != inv.APIConnectors[0].ID || len(partner.IdentityProviders) != 4 {
		t.Errorf("partner flow = %+v", partner)
	}
	if partner.IdentityProviders[1].ID != inventory.EmailOTPProviderID || partner.IdentityProviders[1].Type != "builtInIdentityProvider" {
		t.Errorf("partner flow email OTP entry = %+v", partner.IdentityProviders[1])
	}
	if inv.EmailOTP == nil || inv.EmailOTP.State != "enabled" || inv.EmailOTP.AllowExternalIDToUseEmailOTP != "enabled" {
		t.Errorf("email OTP = %+v", inv.EmailOTP)
	}
	if inv.Redemption == nil || inv.Redemption.FallbackProvider != "emailOneTimePasscode" || len(inv.Redemption.PrimaryOrder) != 3 {
		t.Errorf("redemption = %+v", inv.Redemption)
	}
	// Five secrets carry the dependency tag; the two others are not read.
	if got := len(inv.Secrets); got != 5 {
		t.Fatalf("secrets = %d, want 5: %+v", got, inv.Secrets)
	}
	google := inv.Secrets[2]
	if google.Name != "google-client-secret" || google.Version != "9f2a4c6e8b0d1f3a5c7e9b1d3f5a7c9e" ||
		google.Expires == nil || !google.Expires.Equal(time.Date(2027, 1, 8, 9, 0, 0, 0, time.UTC)) ||
		google.Tags[inventory.TagDependency] != "social/Google-OAUTH" {
		t.Errorf("google secret = %+v", google)
	}
	if !inv.CapturedAt.Equal(time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)) {
		t.Errorf("capturedAt = %v", inv.CapturedAt)
	}
	if n := srv.SecretValueReads(); n != 0 {
		t.Errorf("a scan asked Key Vault for %d secret values, want none", n)
	}
	// Paging really happened: more than one request to the same collection.
	pages := 0
	for _, r := range srv.Requests() {
		if r.Path == "/v1.0/identity/identityProviders" {
			pages++
		}
	}
	if pages != 2 {
		t.Errorf("identityProviders requests = %d, want 2 pages", pages)
	}
}

func TestReadHonoursRetryAfter(t *testing.T) {
	srv := azurefake.NewServer(exampleTenant(t))
	defer srv.Close()
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/identity/apiConnectors", Status: 429, RetryAfter: "1", Code: "TooManyRequests", Message: "Too many requests", Times: 1})

	inv, err := newReader(t, srv).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.APIConnectors) != 3 {
		t.Fatalf("connectors = %d after a 429, want 3", len(inv.APIConnectors))
	}
	var at []time.Time
	var statuses []int
	for _, r := range srv.Requests() {
		if r.Path == "/v1.0/identity/apiConnectors" && r.Query == "" {
			at = append(at, r.At)
			statuses = append(statuses, r.Status)
		}
	}
	if len(at) != 2 || statuses[0] != 429 || statuses[1] != 200 {
		t.Fatalf("apiConnectors requests = %v, want a 429 then a 200", statuses)
	}
	if wait := at[1].Sub(at[0]); wait < 900*time.Millisecond {
		t.Errorf("retried after %v, want at least the 1 s Retry-After", wait)
	}
}

func TestReadTurnsForbiddenIntoAGapAndOtherErrorsIntoFailure(t *testing.T) {
	srv := azurefake.NewServer(exampleTenant(t))
	defer srv.Close()
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/policies/crossTenantAccessPolicy", Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."})

	inv, err := newReader(t, srv).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Gaps) != 1 || !strings.Contains(inv.Gaps[0].Source, "crossTenantAccessPolicy") ||
		!strings.Contains(inv.Gaps[0].Reason, "HTTP 403 Authorization_RequestDenied: Insufficient privileges") {
		t.Errorf("gaps = %+v", inv.Gaps)
	}
	if inv.Redemption != nil {
		t.Errorf("redemption read despite 403: %+v", inv.Redemption)
	}

	broken := azurefake.NewServer(exampleTenant(t))
	defer broken.Close()
	broken.AddFault(azurefake.Fault{PathPrefix: "/v1.0/identity/b2xUserFlows", Status: 500, Code: "InternalServerError", Message: "Something broke"})
	_, err = newReader(t, broken).Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "b2xUserFlows") || !strings.Contains(err.Error(), "HTTP 500 InternalServerError: Something broke") {
		t.Errorf("err = %v, want the OData error named with its endpoint", err)
	}
}

func TestKeyVaultPermissionGap(t *testing.T) {
	srv := azurefake.NewServer(exampleTenant(t))
	defer srv.Close()
	srv.AddFault(azurefake.Fault{PathPrefix: "/secrets", Status: 403, Code: "Forbidden", Message: "Caller is not authorized to perform action on resource."})
	inv, err := newReader(t, srv).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Secrets) != 0 || len(inv.Gaps) != 1 || !strings.HasPrefix(inv.Gaps[0].Source, "keyvault:https://contoso-idp-kv") {
		t.Errorf("secrets=%d gaps=%+v", len(inv.Secrets), inv.Gaps)
	}
}

// The identity provider list of a user flow documents a ReadWrite permission;
// a 403 there leaves the flows (and their API connectors) in the inventory
// with one gap, rather than dropping every user flow.
func TestUserFlowIdentityProviderForbiddenIsAGap(t *testing.T) {
	srv := azurefake.NewServer(exampleTenant(t))
	defer srv.Close()
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/identity/b2xUserFlows/", PathSuffix: "/userFlowIdentityProviders", Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."})
	inv, err := newReader(t, srv).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.UserFlows) != 2 || inv.UserFlows[0].PostAttributeCollection == "" && inv.UserFlows[1].PostAttributeCollection == "" {
		t.Fatalf("user flows = %+v", inv.UserFlows)
	}
	if len(inv.Gaps) != 1 || !strings.Contains(inv.Gaps[0].Source, "userFlowIdentityProviders") {
		t.Errorf("gaps = %+v, want one for the identity provider lists", inv.Gaps)
	}
}
