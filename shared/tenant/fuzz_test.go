package tenant

import (
	"encoding/json"
	"testing"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// Every collection body either splits into items and a next link, or is
// refused with a reason; nothing panics, and nothing that is not an object
// with a value array is accepted (issue 12: such bodies read as empty lists).
//
//	go test -run='^$' -fuzz=FuzzCollectionPage -fuzztime=60s ./shared/tenant/
func FuzzCollectionPage(f *testing.F) {
	for _, s := range []string{
		`{"value":[]}`, `{"value":[{"id":"a"}],"@odata.nextLink":"https://graph.microsoft.com/v1.0/x?$skiptoken=1"}`,
		`{}`, `[]`, `42`, `"s"`, `null`, `{"value":null}`, `{"value":{}}`, `{"value":[],"@odata.nextLink":7}`, ``, `{"value":[1,"x",null]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		items, next, reason := collectionPage(body, "@odata.nextLink")
		if reason != "" {
			if items != nil || next != "" {
				t.Fatalf("refused with %q but returned items or a link", reason)
			}
			return
		}
		var page map[string]json.RawMessage
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("accepted a body that is not a JSON object: %v", err)
		}
		var arr []json.RawMessage
		if err := json.Unmarshal(page["value"], &arr); err != nil || arr == nil || len(arr) != len(items) {
			t.Fatalf("accepted value %s as %d items", page["value"], len(items))
		}
	})
}

// Parsing one list item with the SDK's models never panics and never
// returns a nil model without an error.
//
//	go test -run='^$' -fuzz=FuzzParseItem -fuzztime=60s ./shared/tenant/
func FuzzParseItem(f *testing.F) {
	for _, s := range []string{
		`{"@odata.type":"microsoft.graph.builtInIdentityProvider","id":"MSASignup-OAUTH","identityProviderType":"MicrosoftAccount"}`,
		`{"id":"Amazon-OAUTH","clientId":"x","clientSecret":"******"}`,
		`{"id":"x","domains":[{"id":"contoso.com"}],"preferredAuthenticationProtocol":"wsFed"}`,
		`{"id":"c","authenticationConfiguration":{"@odata.type":"#microsoft.graph.clientCertificateAuthentication","certificateList":[{"notAfter":1,"isActive":true}]}}`,
		`{"id":5}`, `[]`, `{"displayName":{"a":1}}`, `{"@odata.type":7}`,
		`{"id":"City","isOptional":true,"userInputType":"TextBox","userAttribute":{"id":"City","userFlowAttributeType":"builtIn","dataType":"string"}}`,
		`{"id":"x","userAttributeValues":[{"name":"a","value":"b","isDefault":true}],"userAttribute":{"id":""}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, factory := range []func() (any, error){
			func() (any, error) { return parseItem(raw, identityProviderFactory) },
			func() (any, error) { return parseItem(raw, federationFactory) },
			func() (any, error) { return parseItem(raw, models.CreateIdentityApiConnectorFromDiscriminatorValue) },
			func() (any, error) { return parseItem(raw, models.CreateB2xIdentityUserFlowFromDiscriminatorValue) },
		} {
			v, err := factory()
			if err == nil && v == nil {
				t.Fatal("nil model without an error")
			}
		}
		// A user flow's attribute assignment (parsed without the SDK):
		// accepted only with an id, which the scaffold's claim needs.
		if a, err := parseAssignment(raw); err == nil && a.ID == "" {
			t.Fatalf("accepted an assignment without an id: %+v", a)
		}
	})
}
