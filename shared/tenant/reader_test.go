package tenant_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
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
	// Built-in providers keep their identityProviderType.
	if partner.IdentityProviders[1].ID != inventory.EmailOTPProviderID || partner.IdentityProviders[1].Type != inventory.EmailOTPProviderType ||
		partner.IdentityProvidersSource != inventory.SourceUserFlowIdentityProviders {
		t.Errorf("partner flow email OTP entry = %+v", partner.IdentityProviders[1])
	}
	if partner.IdentityProviders[2].Type != inventory.TypeFederation {
		t.Errorf("partner flow federation entry = %+v", partner.IdentityProviders[2])
	}
	wantBuiltIn := []inventory.BuiltInIdentityProvider{
		{ID: "EmailOtpSignup-OAUTH", DisplayName: "Email One Time Passcode", Type: "EmailOTP"},
		{ID: "MSASignup-OAUTH", DisplayName: "MicrosoftAccount", Type: "MicrosoftAccount"},
	}
	if !reflect.DeepEqual(inv.BuiltInIdentityProviders, wantBuiltIn) {
		t.Errorf("built-in providers = %+v", inv.BuiltInIdentityProviders)
	}
	if len(inv.Gaps) != 0 {
		t.Errorf("gaps = %+v", inv.Gaps)
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
	if pages != 4 {
		t.Errorf("identityProviders requests = %d, want 4 pages (2 social, 2 built-in providers)", pages)
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

// userFlowIdentityProviders documents (in beta) a ReadWrite permission; a
// 403 there leaves the flows, their API connectors and their social
// providers (from the v1.0 expansion) in the inventory, says which list each
// flow has, and adds one gap, rather than dropping every user flow.
func TestUserFlowIdentityProviderForbiddenFallsBackToTheExpansion(t *testing.T) {
	srv := azurefake.NewServer(exampleTenant(t))
	defer srv.Close()
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/identity/b2xUserFlows/", PathSuffix: "/userFlowIdentityProviders", Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."})
	inv, err := newReader(t, srv).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tenant.SortInventory(&inv)
	if len(inv.UserFlows) != 2 || inv.UserFlows[0].PostAttributeCollection == "" || inv.UserFlows[1].PostAttributeCollection == "" {
		t.Fatalf("user flows = %+v", inv.UserFlows)
	}
	for _, f := range inv.UserFlows {
		if f.IdentityProvidersSource != inventory.SourceExpandIdentityProviders || len(f.IdentityProviders) != 1 {
			t.Errorf("flow %s = %+v", f.ID, f)
		}
	}
	if p := inv.UserFlows[0].IdentityProviders[0]; p.ID != "Google-OAUTH" || p.Type != "Google" {
		t.Errorf("partner flow provider from the expansion = %+v", p)
	}
	if len(inv.Gaps) != 1 || !strings.Contains(inv.Gaps[0].Source, "userFlowIdentityProviders") || !strings.Contains(inv.Gaps[0].Reason, "email one-time passcode") {
		t.Errorf("gaps = %+v, want one for the identity provider lists", inv.Gaps)
	}
}

// A 403 on one user flow's API connector configuration is a gap for that
// flow; the other flow keeps its connectors.
func TestAPIConnectorConfigurationForbiddenIsAGapForThatFlow(t *testing.T) {
	srv := azurefake.NewServer(exampleTenant(t))
	defer srv.Close()
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/identity/b2xUserFlows/B2X_1_SupplierPortal/apiConnectorConfiguration", Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."})
	inv, err := newReader(t, srv).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tenant.SortInventory(&inv)
	partner, supplier := inv.UserFlows[0], inv.UserFlows[1]
	if partner.PostFederationSignup == "" || partner.PostAttributeCollection == "" || supplier.PostAttributeCollection != "" {
		t.Errorf("flows = %+v", inv.UserFlows)
	}
	if len(inv.Gaps) != 1 || inv.Gaps[0].Source != "graph:/identity/b2xUserFlows/B2X_1_SupplierPortal/apiConnectorConfiguration" ||
		!strings.Contains(inv.Gaps[0].Reason, "HTTP 403") {
		t.Errorf("gaps = %+v", inv.Gaps)
	}
}

// A user flow's attribute assignments (List userAttributeAssignments with
// $expand=userAttribute) are read page by page, in Graph's order, with
// their options and types; a 403 on one flow is a gap for that flow only,
// whose attributes are then marked unknown, and the other flow keeps its
// own.
func TestUserAttributeAssignmentsPagedAndForbiddenPerFlow(t *testing.T) {
	srv := azurefake.NewServer(exampleTenant(t))
	defer srv.Close()
	srv.PageSize = 2 // six assignments: three pages
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/identity/b2xUserFlows/B2X_1_SupplierPortal/userAttributeAssignments", Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."})
	inv, err := newReader(t, srv).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tenant.SortInventory(&inv)
	partner, supplier := inv.UserFlows[0], inv.UserFlows[1]
	var ids []string
	for _, a := range partner.UserAttributes {
		ids = append(ids, a.ID)
	}
	if !partner.UserAttributesRead || strings.Join(ids, ",") != "Email,GivenName,Surname,City,PostalCode,extension_3f2a9c1e7b6d4e0a8c5f1d2b3a4e5f60_PartnerNumber" {
		t.Errorf("partner flow attributes (read %v): %v", partner.UserAttributesRead, ids)
	}
	if city := partner.UserAttributes[3]; !city.Optional || city.InputType != "textBox" || city.DataType != "string" || city.AttributeType != "builtIn" {
		t.Errorf("City = %+v", city)
	}
	if custom := partner.UserAttributes[5]; custom.AttributeType != "custom" || custom.DisplayName != "Partner number" || custom.Optional {
		t.Errorf("custom attribute = %+v", custom)
	}
	if supplier.UserAttributesRead || len(supplier.UserAttributes) != 0 || supplier.PostAttributeCollection == "" {
		t.Errorf("supplier flow = %+v", supplier)
	}
	if len(inv.Gaps) != 1 || inv.Gaps[0].Source != "graph:/identity/b2xUserFlows/B2X_1_SupplierPortal/userAttributeAssignments" ||
		!strings.Contains(inv.Gaps[0].Reason, "HTTP 403") || !strings.Contains(inv.Gaps[0].Reason, "IdentityUserFlow.Read.All") ||
		!strings.Contains(inv.Gaps[0].Reason, "which attributes user flow B2X_1_SupplierPortal collects is unknown") {
		t.Errorf("gaps = %+v", inv.Gaps)
	}
	pages := 0
	for _, r := range srv.Requests() {
		if strings.HasSuffix(r.Path, "/B2X_1_PartnerSignUp/userAttributeAssignments") {
			pages++
		}
	}
	if pages != 3 {
		t.Errorf("%d requests for the partner flow's six assignments in pages of 2, want 3", pages)
	}
}

// A 400 on the assignments fails the read (the request is wrong), and so
// does an assignment without an id: a scaffold that silently lost an
// attribute would test less than the flow sends.
func TestUserAttributeAssignmentsBadRequestOrShapeFails(t *testing.T) {
	for _, tc := range []struct {
		fault azurefake.Fault
		want  string
	}{
		{azurefake.Fault{PathPrefix: "/v1.0/identity/b2xUserFlows/B2X_1_PartnerSignUp/userAttributeAssignments", Status: 400, Code: "BadRequest", Message: "Invalid $expand."}, "HTTP 400 BadRequest: Invalid $expand."},
		{azurefake.Fault{PathPrefix: "/v1.0/identity/b2xUserFlows/B2X_1_PartnerSignUp/userAttributeAssignments", Body: `{"value":[{"isOptional":true}]}`}, "item 1: it has no id"},
		{azurefake.Fault{PathPrefix: "/v1.0/identity/b2xUserFlows/B2X_1_PartnerSignUp/userAttributeAssignments", Body: `{"value":{}}`}, "value is an object, not an array"},
	} {
		srv := azurefake.NewServer(exampleTenant(t))
		srv.AddFault(tc.fault)
		_, err := newReader(t, srv).Read(context.Background())
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), "/identity/b2xUserFlows/B2X_1_PartnerSignUp/userAttributeAssignments") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want one naming the request and %q", err, tc.want)
		}
	}
}

// Only 403 and 404 mean "cannot see this part". A 400 means the request is
// wrong: the read fails, naming the request and Graph's message.
func TestBadRequestFailsTheReadWithPathAndMessage(t *testing.T) {
	srv := azurefake.NewServer(exampleTenant(t))
	defer srv.Close()
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/identity/apiConnectors", Status: 400, Code: "BadRequest", Message: "Parsing OData Select and Expand failed."})
	_, err := newReader(t, srv).Read(context.Background())
	want := "GET /identity/apiConnectors: HTTP 400 BadRequest: Parsing OData Select and Expand failed."
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	var ge *tenant.GraphError
	if !errors.As(err, &ge) || !ge.Permanent() || tenant.IsGap(err) {
		t.Errorf("err %T: not a permanent, non-gap Graph error", err)
	}
}

// A list item that cannot be read is a gap naming the item; the rest of the
// list is still read. Never silence.
func TestUnreadableListItemIsAGap(t *testing.T) {
	srv := azurefake.NewServer(exampleTenant(t))
	defer srv.Close()
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation",
		Body: `{"value":[{"id":"ok-1","displayName":"Readable","issuerUri":"https://idp.example/","domains":[{"id":"readable.example"}]},` +
			`{"id":"bad-2","displayName":{"not":"a string"}},"not an object"]}`})
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/identity/identityProviders",
		Body: `{"value":[{"id":"Mystery-OAUTH","displayName":"Mystery"}]}`})
	inv, err := newReader(t, srv).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Federations) != 1 || inv.Federations[0].ID != "ok-1" || strings.Join(inv.Federations[0].Domains, ",") != "readable.example" {
		t.Errorf("federations = %+v", inv.Federations)
	}
	var reasons []string
	for _, g := range inv.Gaps {
		reasons = append(reasons, g.Source+": "+g.Reason)
	}
	all := strings.Join(reasons, "\n")
	for _, want := range []string{
		"graph:/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation: item 2 (id bad-2) could not be read",
		"graph:/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation: item 3 could not be read: the item is a string, not an object",
		"graph:/identity/identityProviders: item 1 (id Mystery-OAUTH) could not be read: neither @odata.type nor its properties say",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("gaps:\n%s\nwant one with %q", all, want)
		}
	}
}

// Issue 12 (4): a collection answer that is not an object with a value
// array fails that read with the path and the reason; it never reads as an
// empty list (which made an expired Facebook secret disappear).
func TestMalformedCollectionFailsTheRead(t *testing.T) {
	for _, tc := range []struct{ body, reason string }{
		{`{}`, "the object has no value array"},
		{`[]`, "the body is an array, not a JSON object"},
		{`42`, "the body is a number, not a JSON object"},
		{`"value"`, "the body is a string, not a JSON object"},
		{`{"value": null}`, "value is null, not an array"},
		{`{"value": {}}`, "value is an object, not an array"},
		{`null`, "the body is null, not a JSON object"},
		{`{"value": [], "@odata.nextLink": 7}`, "@odata.nextLink is a number, not a URL"},
	} {
		srv := azurefake.NewServer(exampleTenant(t))
		srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/identity/identityProviders", Body: tc.body})
		_, err := newReader(t, srv).Read(context.Background())
		srv.Close()
		want := "GET /identity/identityProviders: unexpected answer: " + tc.reason
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", tc.body, err, want)
		}
	}
	// Key Vault list pages too.
	for _, tc := range []struct{ body, reason string }{
		{`{}`, "page 1 has no value array"},
		{`{"value": null, "nextLink": null}`, "page 1 has no value array"},
		{`[]`, "unmarshalling"},
		{`"x"`, "unmarshalling"},
	} {
		srv := azurefake.NewServer(exampleTenant(t))
		srv.AddFault(azurefake.Fault{PathPrefix: "/secrets", Body: tc.body})
		_, err := newReader(t, srv).Read(context.Background())
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), "keyvault:"+vaultURL) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("key vault %s: err = %v, want the vault and %q", tc.body, err, tc.reason)
		}
	}
}

// Issue 12 (2): a nextLink that loops back, or paging past the cap, ends
// the read with an error instead of running forever (Graph and Key Vault).
func TestPagingStopsOnALoopOrTheCap(t *testing.T) {
	srv := azurefake.NewServer(exampleTenant(t))
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/identity/apiConnectors",
		Body: `{"value":[],"@odata.nextLink":"https://graph.microsoft.com/v1.0/identity/apiConnectors?$skiptoken=1"}`})
	_, err := newReader(t, srv).Read(context.Background())
	srv.Close()
	if err == nil || !strings.Contains(err.Error(), "GET /identity/apiConnectors: paging stopped: page 2 links back to an earlier page") {
		t.Errorf("graph loop: %v", err)
	}

	srv = azurefake.NewServer(exampleTenant(t))
	srv.PageSize = 1
	r := newReader(t, srv)
	r.MaxPages = 3
	_, err = r.Read(context.Background())
	srv.Close()
	if err == nil || !strings.Contains(err.Error(), "GET /identity/identityProviders: paging stopped: more than 3 pages") {
		t.Errorf("graph cap: %v", err)
	}

	srv = azurefake.NewServer(exampleTenant(t))
	srv.AddFault(azurefake.Fault{PathPrefix: "/secrets",
		Body: `{"value":[],"nextLink":"https://contoso-idp-kv.vault.azure.net/secrets?api-version=7.5&$skiptoken=loop"}`})
	_, err = newReader(t, srv).Read(context.Background())
	srv.Close()
	if err == nil || !strings.Contains(err.Error(), "list secrets: paging stopped: page 2 links back to an earlier page") {
		t.Errorf("key vault loop: %v", err)
	}

	srv = azurefake.NewServer(exampleTenant(t))
	srv.PageSize = 1
	r = newReader(t, srv)
	r.MaxPages = 100
	_, err = r.Read(context.Background())
	srv.Close()
	if err != nil {
		t.Errorf("a tenant within the cap: %v", err)
	}
}

// endlessPages answers every identityProviders page with a new nextLink and
// cancels the context after a few pages, as SIGINT does.
type endlessPages struct {
	next   http.RoundTripper
	cancel context.CancelFunc
	pages  atomic.Int32
}

func (e *endlessPages) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(r.URL.Path, "/identity/identityProviders") {
		return e.next.RoundTrip(r)
	}
	n := e.pages.Add(1)
	if n == 5 {
		e.cancel()
	}
	body := fmt.Sprintf(`{"value":[],"@odata.nextLink":"https://graph.microsoft.com/v1.0/identity/identityProviders?$skiptoken=%d"}`, n)
	return azurefake.Respond(r, http.StatusOK, []byte(body)), nil
}

// A cancelled context (SIGINT) stops a read that pages without end.
func TestPagingStopsWhenTheContextIsCancelled(t *testing.T) {
	srv := azurefake.NewServer(exampleTenant(t))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := &endlessPages{next: srv.Transport(), cancel: cancel}
	clients, err := tenant.NewClients(tenant.StaticCredential{}, tenant.ClientOptions{Transport: unbatch{tr}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&tenant.Reader{Clients: clients}).Read(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := tr.pages.Load(); n > 6 {
		t.Errorf("%d pages read after the cancel", n)
	}
}

// panicky panics inside the SDK's call on one route.
type panicky struct{ next http.RoundTripper }

func (p panicky) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "/apiConnectorConfiguration") {
		panic("boom in a read")
	}
	return p.next.RoundTrip(r)
}

// Issue 12 (3): a panic inside a read (here in a per-flow goroutine, or in
// the goroutine sending the $batch that carries its request) is a bug; it
// fails the read with an error instead of ending the process.
func TestPanicInAReadIsAFailedRead(t *testing.T) {
	srv := azurefake.NewServer(exampleTenant(t))
	defer srv.Close()
	for _, batched := range []bool{false, true} {
		clients, err := tenant.NewClients(tenant.StaticCredential{}, tenant.ClientOptions{Transport: unbatch{panicky{srv.Transport()}}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = (&tenant.Reader{Clients: clients, NoBatch: !batched}).Read(context.Background())
		var pe *tenant.PanicError
		want := "internal error while reading (a bug): boom in a read"
		if !batched {
			// On its own, the flow's request panics in the flow's read.
			want = "graph:/identity/b2xUserFlows: " + want
		}
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), want) {
			t.Errorf("batched %v: err = %v", batched, err)
		}
	}
}

// Every request the reader sends is a call listed in GraphPermissions (the
// table README and infra follow), in the read phase; a 403 gap names the
// permission to grant.
func TestEveryReadCallIsInThePermissionTable(t *testing.T) {
	srv := azurefake.NewServer(exampleTenant(t))
	defer srv.Close()
	// A partner list without inline domains makes the reader call the
	// domains route too.
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation",
		Body: `{"value":[{"id":"5a1d0c3e-2f4b-4e6a-8b7c-9d0e1f2a3b4c","displayName":"Fabrikam","issuerUri":"https://sts.fabrikam.example/adfs/services/trust"}]}`})
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/policies/crossTenantAccessPolicy", Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."})
	inv, err := newReader(t, srv).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Federations) != 1 || strings.Join(inv.Federations[0].Domains, ",") != "fabrikam.example" {
		t.Fatalf("federations = %+v", inv.Federations)
	}
	routes := map[string]bool{}
	for _, r := range srv.Requests() {
		if !strings.HasPrefix(r.Path, "/v1.0/") || (r.Path == "/v1.0/$batch" && !r.Inner) {
			// The $batch envelope needs no permission of its own: each
			// request in it is checked as itself (json-batching.md).
			continue
		}
		p, ok := tenant.PermissionFor(r.Method, strings.TrimPrefix(r.Path, "/v1.0"))
		if !ok || p.Phase != tenant.PhaseRead {
			t.Errorf("%s %s is not a read call of tenant.GraphPermissions", r.Method, r.Path)
			continue
		}
		routes[p.Method+" "+p.Endpoint] = true
	}
	if len(routes) != 10 {
		t.Errorf("%d distinct calls: %v", len(routes), routes)
	}
	if len(inv.Gaps) != 1 || !strings.Contains(inv.Gaps[0].Reason, "(the app needs the Graph application permission Policy.Read.All)") {
		t.Errorf("gaps = %+v", inv.Gaps)
	}
}
