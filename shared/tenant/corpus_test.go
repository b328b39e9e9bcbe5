package tenant_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

func corpusReader(t *testing.T, replay *azurefake.CorpusReplay) *tenant.Reader {
	t.Helper()
	clients, err := tenant.NewClients(tenant.StaticCredential{}, tenant.ClientOptions{Transport: replay})
	if err != nil {
		t.Fatal(err)
	}
	return &tenant.Reader{Clients: clients}
}

func loadCorpus(t *testing.T) []azurefake.Example {
	t.Helper()
	examples, err := azurefake.LoadCorpus(azurefake.CorpusDir())
	if err != nil {
		t.Fatal(err)
	}
	return examples
}

// The real reader, over Graph's own documented example answers (replayed
// under the SDK), builds the inventory those answers describe: federation
// items without @odata.type, domains inline, built-in providers whose
// @odata.type lacks its "#", API connectors from the per-flow configuration,
// a user-flow provider written with the legacy type/name keys.
func TestReaderOverDocumentedExamples(t *testing.T) {
	replay := &azurefake.CorpusReplay{Examples: loadCorpus(t)}
	inv, err := corpusReader(t, replay).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if u := replay.Unanswered(); len(u) > 0 {
		t.Fatalf("the reader made requests Graph documents no example for: %v", u)
	}
	tenant.SortInventory(&inv)

	wantSocial := []inventory.SocialIdentityProvider{{ID: "Facebook-OAUTH", DisplayName: "Facebook", Type: "Facebook", ClientID: "test"}}
	if !reflect.DeepEqual(inv.SocialIdentityProviders, wantSocial) {
		t.Errorf("social = %+v", inv.SocialIdentityProviders)
	}
	wantBuiltIn := []inventory.BuiltInIdentityProvider{{ID: "MSASignup-OAUTH", DisplayName: "MicrosoftAccount", Type: "MicrosoftAccount"}}
	if !reflect.DeepEqual(inv.BuiltInIdentityProviders, wantBuiltIn) {
		t.Errorf("built-in = %+v", inv.BuiltInIdentityProviders)
	}

	if len(inv.Federations) != 2 {
		t.Fatalf("federations = %+v, want Contoso and Fabrikam", inv.Federations)
	}
	contoso, fabrikam := inv.Federations[0], inv.Federations[1]
	if contoso.DisplayName != "Contoso" || strings.Join(contoso.Domains, ",") != "contoso.com" ||
		contoso.IssuerURI != "http://contoso.com/adfs/services/trust" || contoso.PassiveSignInURI != "https://contoso.com/adfs/ls/" ||
		contoso.PreferredProtocol != "saml" || contoso.MetadataExchangeURI != "" {
		t.Errorf("contoso = %+v", contoso)
	}
	// The documented certificate is shortened: it is reported as
	// undecodable, not dropped.
	if contoso.SigningCertificateBase64 != "MIIC6DCCAdCgAwIBAgIQQ6vYJIVKQ" || contoso.SigningCertificate != nil || contoso.CertificateError == "" {
		t.Errorf("contoso certificate = %q / %v / %q", contoso.SigningCertificateBase64, contoso.SigningCertificate, contoso.CertificateError)
	}
	if fabrikam.DisplayName != "Fabrikam" || strings.Join(fabrikam.Domains, ",") != "fabrikam.com" || fabrikam.PreferredProtocol != "wsFed" {
		t.Errorf("fabrikam = %+v", fabrikam)
	}

	wantConn := []inventory.APIConnector{{ID: "be1f769b-9b13-437e-b540-79a905c4932c", DisplayName: "Test API", TargetURL: "https://someapi.com/api/endpoint", AuthType: inventory.AuthBasic, Username: "<USERNAME>"}}
	if !reflect.DeepEqual(inv.APIConnectors, wantConn) {
		t.Errorf("connectors = %+v", inv.APIConnectors)
	}

	wantIdPs := []inventory.UserFlowIdentityProvider{
		{ID: "AADSignup-OAUTH", DisplayName: "Azure Active Directory Sign up", Type: "AADSignup"},
		{ID: "MSASignup-OAUTH", DisplayName: "Microsoft Account (Preview)", Type: "MicrosoftAccount"},
		{ID: "EmailOtpSignup-OAUTH", DisplayName: "Email one-time passcode (Preview)", Type: "EmailOTP"},
		{ID: "Facebook-OAUTH", DisplayName: "Facebook", Type: "Facebook"},
		{ID: "Google-OAuth", DisplayName: "Google", Type: "Google"},
	}
	if len(inv.UserFlows) != 2 {
		t.Fatalf("user flows = %+v", inv.UserFlows)
	}
	for i, id := range []string{"B2X_1_ContosoSignUp", "B2X_1_PartnerSignUp"} {
		f := inv.UserFlows[i]
		if f.ID != id || f.UserFlowType != "signUpOrSignIn" ||
			f.PostFederationSignup != "74d13179-2c02-4ae7-bff3-82842d4e2f1f" || f.PostAttributeCollection != "900bc92c-bcbf-4093-af8e-450a4a77635f" ||
			f.IdentityProvidersSource != inventory.SourceUserFlowIdentityProviders || !reflect.DeepEqual(f.IdentityProviders, wantIdPs) {
			t.Errorf("user flow %d = %+v", i, f)
		}
		// List userAttributeAssignments, example 2: PascalCase input
		// types and Microsoft.Graph.*UserFlowAttribute type names read as
		// the resource pages name them.
		wantAttrs := []inventory.UserFlowAttribute{
			{ID: "City", DisplayName: "City", InputType: "radioSingleSelect", DataType: "string", AttributeType: "builtIn",
				Values: []inventory.UserFlowAttributeValue{{Name: "S", Value: "1", IsDefault: true}}},
			{ID: "extension_guid_shoeSize", DisplayName: "Shoe size", InputType: "textBox", DataType: "string", AttributeType: "custom"},
		}
		if !f.UserAttributesRead || !reflect.DeepEqual(f.UserAttributes, wantAttrs) {
			t.Errorf("user flow %d attributes (read %v) = %+v", i, f.UserAttributesRead, f.UserAttributes)
		}
	}
	if inv.EmailOTP == nil || inv.EmailOTP.State != "enabled" || inv.EmailOTP.AllowExternalIDToUseEmailOTP != "default" {
		t.Errorf("email OTP = %+v", inv.EmailOTP)
	}
	if inv.Redemption != nil {
		t.Errorf("redemption = %+v; the documented default policy has no invitation redemption configuration", inv.Redemption)
	}
	if len(inv.Gaps) != 0 {
		t.Errorf("gaps = %+v", inv.Gaps)
	}
	// One request per documented route, the per-flow ones once per flow.
	if got := len(replay.Answered()); got != 12 {
		t.Errorf("%d requests: %v", got, replay.Answered())
	}
}

// Where userFlowIdentityProviders (documented in beta only) is refused, the
// flows keep the identity providers of the documented v1.0 expansion, say so,
// and one gap tells the reader what the expansion may miss. A 403 on one
// flow's API connector configuration is a gap for that flow only.
func TestReaderFallsBackToTheDocumentedExpansion(t *testing.T) {
	forbidden := []byte(`{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`)
	replay := &azurefake.CorpusReplay{Examples: loadCorpus(t), Override: func(r *http.Request, route string) *http.Response {
		switch {
		case route == "GET /identity/b2xUserFlows/{id}/userFlowIdentityProviders":
			return azurefake.Respond(r, http.StatusForbidden, forbidden)
		case route == "GET /identity/b2xUserFlows/{id}/apiConnectorConfiguration" && strings.Contains(r.URL.Path, "B2X_1_ContosoSignUp"):
			return azurefake.Respond(r, http.StatusForbidden, forbidden)
		}
		return nil
	}}
	inv, err := corpusReader(t, replay).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tenant.SortInventory(&inv)
	want := []inventory.UserFlowIdentityProvider{{ID: "Facebook-OAuth", DisplayName: "Facebook", Type: "Facebook"}}
	for _, f := range inv.UserFlows {
		if f.IdentityProvidersSource != inventory.SourceExpandIdentityProviders || !reflect.DeepEqual(f.IdentityProviders, want) {
			t.Errorf("flow %s = %+v", f.ID, f)
		}
	}
	contoso, partner := inv.UserFlows[0], inv.UserFlows[1]
	if contoso.PostFederationSignup != "" || partner.PostFederationSignup != "74d13179-2c02-4ae7-bff3-82842d4e2f1f" {
		t.Errorf("connectors: contoso %q, partner %q", contoso.PostFederationSignup, partner.PostFederationSignup)
	}
	var sources []string
	for _, g := range inv.Gaps {
		sources = append(sources, g.Source)
	}
	wantGaps := []string{
		"graph:/identity/b2xUserFlows/B2X_1_ContosoSignUp/apiConnectorConfiguration",
		"graph:/identity/b2xUserFlows/{id}/userFlowIdentityProviders",
	}
	if !reflect.DeepEqual(sources, wantGaps) {
		t.Errorf("gaps = %+v", inv.Gaps)
	}
}

// The single-resource reads and the federation write the repair step uses,
// over the documented examples: Get identityProvider answers without
// @odata.type (social and built-in told apart by their properties), a
// partner is found through the list, the PATCH at the cast path answers
// 200 with the object.
func TestResourceCallsOverDocumentedExamples(t *testing.T) {
	examples := loadCorpus(t)
	var builtIn []byte
	for _, ex := range examples {
		if ex.File == "identityproviderbase-get-builtin.json" {
			builtIn = ex.Body
		}
	}
	replay := &azurefake.CorpusReplay{Examples: examples, Override: func(r *http.Request, route string) *http.Response {
		if strings.HasSuffix(r.URL.Path, "/MSASignup-OAUTH") {
			return azurefake.Respond(r, http.StatusOK, builtIn)
		}
		return nil
	}}
	g := corpusReader(t, replay).Clients.Graph
	ctx := context.Background()

	p, found, err := g.IdentityProvider(ctx, "Amazon-OAUTH")
	if s, ok := p.(models.SocialIdentityProviderable); err != nil || !found || !ok || *s.GetClientId() != "09876545678908765978678" || *s.GetIdentityProviderType() != "Amazon" {
		t.Errorf("social provider: %T %v %v", p, found, err)
	}
	p, found, err = g.IdentityProvider(ctx, "MSASignup-OAUTH")
	if b, ok := p.(models.BuiltInIdentityProviderable); err != nil || !found || !ok || *b.GetIdentityProviderType() != "MicrosoftAccount" {
		t.Errorf("built-in provider: %T %v %v", p, found, err)
	}
	c, found, err := g.APIConnector(ctx, "370eeb68-dfd3-4a47-8160-8824c2358321")
	if err != nil || !found || *c.GetTargetUrl() != "https://someapi.com/api" {
		t.Errorf("connector: %v %v", found, err)
	}
	f, found, err := g.FederationByID(ctx, "FA421032-5D40-5555-A428-A304B4BC18B6")
	if err != nil || !found || *f.GetDisplayName() != "Fabrikam" || len(f.GetDomains()) != 1 {
		t.Errorf("federation by ID: %v %v", found, err)
	}
	if _, found, err := g.FederationByID(ctx, "not-there"); err != nil || found {
		t.Errorf("a missing federation: %v %v", found, err)
	}
	patch := models.NewSamlOrWsFedExternalDomainFederation()
	name := "Contoso name change"
	patch.SetDisplayName(&name)
	back, err := g.PatchFederation(ctx, "d5a56845-6845-d5a5-4568-a5d54568a5d5", patch)
	if err != nil || back == nil || *back.GetIssuerUri() != "http://contoso-test.com/adfs/services/trust" {
		t.Errorf("patch: %v %v", back, err)
	}
	if u := replay.Unanswered(); len(u) > 0 {
		t.Errorf("requests without a documented example: %v", u)
	}
}
