package metadata

import (
	"strings"
	"testing"
)

// Hand-built metadata fixtures for the hardening tests and the fuzz seeds.
// Each has sigMarker where the root signature goes.

const (
	adfsEntityID = "http://sts.example/adfs/services/trust"
	adfsPassive  = "https://sts.example/adfs/ls/"
)

// adfsShaped is shaped like AD FS / Entra metadata: default SAML metadata
// namespace, an ID on the root, and a WS-Fed STS RoleDescriptor whose
// xsi:type prefix is declared on the role itself, as AD FS writes it.
func adfsShaped(t testing.TB, cert *testKey) string {
	kd := `<KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>` + cert.b64() + `</X509Certificate></X509Data></KeyInfo></KeyDescriptor>`
	return `<?xml version="1.0" encoding="utf-8"?>` + "\n" +
		`<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" ID="_adfs" entityID="` + adfsEntityID + `">` + sigMarker + "\n" +
		`<RoleDescriptor xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706" xsi:type="fed:SecurityTokenServiceType" protocolSupportEnumeration="http://docs.oasis-open.org/wsfed/federation/200706">` +
		kd + `<fed:PassiveRequestorEndpoint><EndpointReference xmlns="http://www.w3.org/2005/08/addressing"><Address>` + adfsPassive + `</Address></EndpointReference></fed:PassiveRequestorEndpoint></RoleDescriptor>` + "\n" +
		`<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` + kd +
		`<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="` + adfsPassive + `"/></IDPSSODescriptor>` + "\n" +
		`</EntityDescriptor>` + "\n"
}

// aggregateShaped is an md:-prefixed aggregate with a nested group, a
// comment, processing instructions inside and outside the root, and
// attribute values with literal newlines and tabs, character references
// and a CDATA section.
func aggregateShaped(t testing.TB) string {
	partner, one := key(t, "rsa-partner"), key(t, "rsa-one")
	sts := idp{id: partnerID, certs: []*testKey{partner}, sso: "https://idp.partner.example/sso", passive: "https://idp.partner.example/wsfed"}.xml()
	sts = strings.Replace(sts, `protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"`,
		"protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\n\turn:oasis:names:tc:SAML:1.1:protocol&#10;\"", 1)
	other := idp{id: "https://idp.one.example/idp", certs: []*testKey{one}, sso: "https://idp.one.example/sso?a=1&amp;b=&quot;2&quot;"}.xml()
	other = strings.Replace(other, "<ds:X509Certificate>", "<ds:X509Certificate><![CDATA[", 1)
	other = strings.Replace(other, "</ds:X509Certificate>", "]]></ds:X509Certificate>", 1)
	return `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<?before root?>` + "\n" +
		`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="agg" Name="urn:test:federation" validUntil="2030-01-01T00:00:00Z">` + sigMarker + "\n" +
		`<!-- registered entities -->` + "\n" + `<?inside pi?>` + "\n" +
		`<md:EntitiesDescriptor Name="urn:test:group" cacheDuration="PT6H">` + "\n" + sts + "\n</md:EntitiesDescriptor>\n" +
		other + "\n</md:EntitiesDescriptor>\n<?after root?>\n"
}

// plainEntity is one md:-prefixed IdP entity with an ID.
func plainEntity(t testing.TB) string {
	e := idp{id: "urn:plain", certs: []*testKey{key(t, "rsa-partner")}, sso: "https://plain.example/sso"}.xml()
	e = strings.Replace(e, ` entityID="urn:plain">`, ` ID="_plain" entityID="urn:plain">`+sigMarker, 1)
	return e
}

// fuzzTemplates are the seeds of the fuzz targets that sign what they read.
func fuzzTemplates(t testing.TB) []string {
	return []string{adfsShaped(t, key(t, "rsa-partner")), aggregateShaped(t), plainEntity(t)}
}
