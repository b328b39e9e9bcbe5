// Package inventory holds the value that describes a tenant's external sign-in
// dependencies as read at one moment: social identity providers, SAML/WS-Fed
// partners, API connectors, self-service sign-up user flows, email one-time
// passcode, and the Key Vault secret properties that back them.
//
// It is plain data with no behaviour that talks to Azure, so the assessment
// and planning steps can be table-tested. Secret values never appear here:
// a Key Vault secret is described by its properties only.
package inventory

import (
	"time"
)

// Inventory is everything a scan read from the tenant and its vaults.
type Inventory struct {
	// CapturedAt is when the tenant was read (for a snapshot: when it was recorded).
	CapturedAt time.Time `json:"capturedAt"`
	TenantID   string    `json:"tenantId,omitempty"`

	SocialIdentityProviders []SocialIdentityProvider `json:"socialIdentityProviders"`
	// BuiltInIdentityProviders are the providers Entra itself runs (email
	// one-time passcode, Microsoft account, Entra ID sign-up), as
	// /identity/identityProviders lists them. They hold no credential, but
	// which of them exist decides whether a guest has a fallback.
	BuiltInIdentityProviders []BuiltInIdentityProvider `json:"builtInIdentityProviders,omitempty"`
	Federations              []Federation              `json:"federations"`
	APIConnectors            []APIConnector            `json:"apiConnectors"`
	UserFlows                []UserFlow                `json:"userFlows"`
	EmailOTP                 *EmailOTP                 `json:"emailOtp,omitempty"`
	// Redemption is the B2B invitation redemption order and fallback; nil when
	// the tenant's default cross-tenant policy did not say.
	Redemption *Redemption `json:"redemption,omitempty"`
	Secrets    []Secret    `json:"secrets"`

	// Gaps lists what could not be read (for example a permission missing for
	// one endpoint), so a report can say its picture is incomplete instead of
	// silently reporting fewer dependencies.
	Gaps []Gap `json:"gaps,omitempty"`
}

// Gap records one part of the tenant that could not be read.
type Gap struct {
	Source string `json:"source"` // e.g. "graph:/identity/apiConnectors"
	Reason string `json:"reason"`
}

// SocialIdentityProvider is a Google, Facebook or other OAuth identity
// provider configured for the tenant. The client secret is write-only in
// Graph and is never read.
type SocialIdentityProvider struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	// Type is Graph's identityProviderType as-is (Google, Facebook, …).
	Type     string `json:"type"`
	ClientID string `json:"clientId"`
}

// BuiltInIdentityProvider is a builtInIdentityProvider: EmailOtpSignup-OAUTH
// (EmailOTP), MSASignup-OAUTH (MicrosoftAccount), AADSignup-OAUTH (AADSignup).
type BuiltInIdentityProvider struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName,omitempty"`
	// Type is Graph's identityProviderType as-is.
	Type string `json:"type"`
}

// Federation is one SAML/WS-Fed direct federation partner
// (samlOrWsFedExternalDomainFederation).
type Federation struct {
	ID                  string   `json:"id"`
	DisplayName         string   `json:"displayName"`
	IssuerURI           string   `json:"issuerUri"`
	MetadataExchangeURI string   `json:"metadataExchangeUri,omitempty"`
	PassiveSignInURI    string   `json:"passiveSignInUri,omitempty"`
	PreferredProtocol   string   `json:"preferredAuthenticationProtocol,omitempty"` // saml | wsFed
	Domains             []string `json:"domains"`
	// SigningCertificate is Entra's one current signing certificate for the
	// partner, decoded. Nil when Graph returned none or it could not be decoded
	// (CertificateError then says why).
	SigningCertificate *Certificate `json:"signingCertificate,omitempty"`
	CertificateError   string       `json:"certificateError,omitempty"`
	// SigningCertificateBase64 is the DER certificate as Graph returns it; kept
	// so that a metadata plan can compare it byte for byte with the partner's.
	SigningCertificateBase64 string `json:"signingCertificateBase64,omitempty"`
}

// Certificate is the part of an X.509 certificate IdP Keeper reasons about.
type Certificate struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer,omitempty"`
	SHA1      string    `json:"sha1"`   // hex, upper case, as Entra shows thumbprints
	SHA256    string    `json:"sha256"` // hex, upper case
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
}

// Authentication types of an API connector.
const (
	AuthBasic       = "basic"
	AuthCertificate = "certificate"
	AuthUnknown     = "unknown"
)

// APIConnector is an identityApiConnector called by user flows.
type APIConnector struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	TargetURL   string `json:"targetUrl"`
	// AuthType is AuthBasic, AuthCertificate or AuthUnknown.
	AuthType string `json:"authenticationType"`
	// Username of basic authentication; the password is write-only in Graph.
	Username     string                 `json:"username,omitempty"`
	Certificates []ConnectorCertificate `json:"certificates,omitempty"`
}

// ConnectorCertificate is one entry of a connector's certificateList.
type ConnectorCertificate struct {
	Thumbprint string    `json:"thumbprint"`
	NotBefore  time.Time `json:"notBefore"`
	NotAfter   time.Time `json:"notAfter"`
	Active     bool      `json:"isActive"`
}

// UserFlow is a self-service sign-up user flow (b2xIdentityUserFlow).
type UserFlow struct {
	ID           string `json:"id"`
	UserFlowType string `json:"userFlowType,omitempty"`
	// IdentityProviders are the IDs of the identity providers the flow offers
	// (social providers, federation partners and built-ins such as email OTP).
	IdentityProviders []UserFlowIdentityProvider `json:"identityProviders"`
	// IdentityProvidersSource says which Graph call listed IdentityProviders:
	// SourceUserFlowIdentityProviders (every kind of provider, documented in
	// beta only) or SourceExpandIdentityProviders (the v1.0-documented
	// $expand, used when the other is refused).
	IdentityProvidersSource string `json:"identityProvidersSource,omitempty"`
	// API connector IDs called at each step; empty when the step has none.
	PostFederationSignup    string `json:"postFederationSignup,omitempty"`
	PostAttributeCollection string `json:"postAttributeCollection,omitempty"`
	// UserAttributes are the attributes the flow's attribute page collects
	// (userAttributeAssignments), in the order Graph lists them. They are
	// what Entra sends an API connector before creating the user.
	UserAttributes []UserFlowAttribute `json:"userAttributes,omitempty"`
	// UserAttributesRead is false when the assignments could not be read
	// (a gap, or an inventory stored before they were read): then
	// UserAttributes says nothing about what the flow collects.
	UserAttributesRead bool `json:"userAttributesRead,omitempty"`
}

// UserFlowAttribute is one identityUserFlowAttributeAssignment of a user
// flow with its userAttribute (identityuserflowattributeassignment.md,
// identityuserflowattribute.md).
type UserFlowAttribute struct {
	// ID is the user flow attribute's id as Graph spells it: a built-in
	// one such as "City", a custom one "extension_<appId>_<Name>".
	ID          string `json:"id"`
	DisplayName string `json:"displayName,omitempty"`
	// Optional is isOptional: the user may leave it empty.
	Optional             bool `json:"isOptional,omitempty"`
	RequiresVerification bool `json:"requiresVerification,omitempty"`
	// InputType is userInputType (textBox, dateTimeDropdown,
	// radioSingleSelect, dropdownSingleSelect, emailBox,
	// checkboxMultiSelect), in lower camel case whatever Graph's casing.
	InputType string `json:"userInputType,omitempty"`
	// DataType is the attribute's dataType (string, boolean, int64,
	// stringCollection, dateTime); "" when Graph did not say.
	DataType string `json:"dataType,omitempty"`
	// AttributeType is userFlowAttributeType: builtIn, custom or required.
	AttributeType string `json:"userFlowAttributeType,omitempty"`
	// Values are the input options (userAttributeValues) of a choice.
	Values []UserFlowAttributeValue `json:"userAttributeValues,omitempty"`
}

// UserFlowAttributeValue is one input option of a choice attribute
// (userattributevaluesitem.md).
type UserFlowAttributeValue struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	IsDefault bool   `json:"isDefault,omitempty"`
}

// Where a user flow's identity providers were read from.
const (
	SourceUserFlowIdentityProviders = "userFlowIdentityProviders"
	SourceExpandIdentityProviders   = "b2xUserFlows?$expand=identityProviders"
)

// UserFlowIdentityProvider names one identity provider a user flow offers.
type UserFlowIdentityProvider struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName,omitempty"`
	// Type is the provider's identityProviderType (Google, Facebook,
	// EmailOTP, MicrosoftAccount, ...) or, for a SAML/WS-Fed partner,
	// TypeFederation.
	Type string `json:"type,omitempty"`
}

// TypeFederation is the UserFlowIdentityProvider.Type of a SAML/WS-Fed partner.
const TypeFederation = "samlOrWsFedExternalDomainFederation"

// EmailOTP is the email one-time passcode authentication method configuration.
type EmailOTP struct {
	State                        string `json:"state"`                        // enabled | disabled
	AllowExternalIDToUseEmailOTP string `json:"allowExternalIdToUseEmailOtp"` // default | enabled | disabled
}

// Redemption is the default B2B invitation redemption configuration.
type Redemption struct {
	PrimaryOrder     []string `json:"primaryIdentityProviderPrecedenceOrder,omitempty"`
	FallbackProvider string   `json:"fallbackIdentityProvider,omitempty"`
}

// Secret is the properties of the current version of a Key Vault secret.
// It never carries the value.
type Secret struct {
	Vault       string            `json:"vault"` // vault URL, e.g. https://kv.vault.azure.net/
	Name        string            `json:"name"`
	Version     string            `json:"version,omitempty"`
	Enabled     *bool             `json:"enabled,omitempty"`
	Created     *time.Time        `json:"created,omitempty"`
	Updated     *time.Time        `json:"updated,omitempty"`
	NotBefore   *time.Time        `json:"notBefore,omitempty"`
	Expires     *time.Time        `json:"expires,omitempty"`
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	// Managed is true for the secret behind a Key Vault certificate.
	Managed bool `json:"managed,omitempty"`
	// AppliedVersion is the newest version the repair step applied to
	// Entra (tagged idpkeeper-applied); "" when none was. A Version newer
	// than it is waiting to be applied.
	AppliedVersion string `json:"appliedVersion,omitempty"`
}

// TagApplied marks the secret version the repair step applied to Entra.
const TagApplied = "idpkeeper-applied"

// Dependency kinds, used in dependency references ("social/Google-OAUTH").
const (
	KindSocial     = "social"
	KindFederation = "federation"
	KindConnector  = "connector"
	KindUserFlow   = "userflow"
	KindEmailOTP   = "emailotp"
)

// TagDependency is the Key Vault secret tag that says which dependency a
// secret backs; its value is a dependency reference such as
// "social/Google-OAUTH" or "connector/<connector id>".
const TagDependency = "idpkeeper-dependency"

// Ref builds a dependency reference from a kind and an ID.
func Ref(kind, id string) string { return kind + "/" + id }
