package metadata

import (
	"time"

	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// Namespaces of the elements this package reads.
const (
	nsMD   = "urn:oasis:names:tc:SAML:2.0:metadata"
	nsDS   = "http://www.w3.org/2000/09/xmldsig#"
	nsFed  = "http://docs.oasis-open.org/wsfed/federation/200706"
	nsWSA  = "http://www.w3.org/2005/08/addressing"
	nsXSI  = "http://www.w3.org/2001/XMLSchema-instance"
	nsExcC = "http://www.w3.org/2001/10/xml-exc-c14n#"
)

// SAML 2.0 front-channel bindings of SingleSignOnService.
const (
	BindingHTTPRedirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
	BindingHTTPPOST     = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
)

// Entity is what IdP Keeper knows about one partner's metadata entity: the
// parts Entra's federation configuration is made of, and the validity window.
type Entity struct {
	// EntityID is the entity's entityID: Entra's issuerUri.
	EntityID string `json:"entityId"`
	// ValidUntil is the earliest validUntil of the entity and every element
	// enclosing it; nil when none says.
	ValidUntil *time.Time `json:"validUntil,omitempty"`
	// CacheDuration is the shortest cacheDuration of the entity and its
	// enclosing elements, as written (ISO 8601 duration); "" when none.
	CacheDuration string `json:"cacheDuration,omitempty"`
	// SAML is the IDPSSODescriptor (merged when there are several); nil when
	// the entity has none.
	SAML *Role `json:"saml,omitempty"`
	// WSFed is the WS-Federation SecurityTokenServiceType RoleDescriptor;
	// nil when the entity has none.
	WSFed *Role `json:"wsFed,omitempty"`
	// Problems lists what was skipped while reading the entity (for example
	// a certificate that does not parse), so a report can show it.
	Problems []string `json:"problems,omitempty"`
}

// Role is one IdP role of an entity: SAML 2.0 IdP or WS-Fed STS.
type Role struct {
	// SigningCertificates are the certificates of KeyDescriptors with
	// use="signing" or no use, in document order, without duplicates.
	SigningCertificates []SigningCertificate `json:"signingCertificates"`
	// SingleSignOnServices are the SAML SSO endpoints (SAML role only).
	SingleSignOnServices []Endpoint `json:"singleSignOnServices,omitempty"`
	// PassiveRequestorEndpoints are the WS-Fed passive endpoints (WS-Fed
	// role only).
	PassiveRequestorEndpoints []string `json:"passiveRequestorEndpoints,omitempty"`
	// Protocols is protocolSupportEnumeration as written (SAML role).
	Protocols string `json:"protocols,omitempty"`
	// ValidUntil is the earliest validUntil of the role's own descriptors
	// (SAML metadata §2.4.1); nil when none says. A role already expired
	// when read is left out; Plan treats one that has expired since as
	// absent.
	ValidUntil *time.Time `json:"validUntil,omitempty"`
}

// Endpoint is one SingleSignOnService.
type Endpoint struct {
	Binding  string `json:"binding"`
	Location string `json:"location"`
}

// SigningCertificate is a decoded certificate plus its DER in base64, the
// form Entra's signingCertificate takes. A certificate is public: nothing
// here is secret.
type SigningCertificate struct {
	inventory.Certificate
	Base64 string `json:"base64"`
}

// IsIdP reports whether the entity has a role Entra can federate with.
func (e *Entity) IsIdP() bool { return e.SAML != nil || e.WSFed != nil }

// Role returns the role for an Entra preferredAuthenticationProtocol
// ("saml" or "wsFed"), or nil.
func (e *Entity) Role(protocol string) *Role {
	switch protocol {
	case ProtocolWSFed:
		return e.WSFed
	case ProtocolSAML:
		return e.SAML
	}
	return nil
}

// SSOEndpoint is the SAML sign-in URL Entra should use: HTTP-Redirect when
// published, else HTTP-POST, else "".
func (r *Role) SSOEndpoint() string {
	for _, b := range []string{BindingHTTPRedirect, BindingHTTPPOST} {
		for _, ep := range r.SingleSignOnServices {
			if ep.Binding == b {
				return ep.Location
			}
		}
	}
	return ""
}

// Entra's preferredAuthenticationProtocol values.
const (
	ProtocolSAML  = "saml"
	ProtocolWSFed = "wsFed"
)
