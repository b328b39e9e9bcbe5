package tenant

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"

	"github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// Graph's documented examples do not always say which derived type an item
// is: items of a list at a cast path (graph.samlOrWsFedExternalDomainFederation)
// and single resources (Get identityProvider) carry no @odata.type. The SDK's
// discriminator then falls back to the base type and every derived property
// is lost. The factories here pick the type the route or the item's own
// properties name.

// identityProviderFactory parses an identityProviderBase: by @odata.type
// when present, otherwise a socialIdentityProvider when the item has a
// clientId (only social providers have one) and a builtInIdentityProvider
// when it has only an identityProviderType.
func identityProviderFactory(n serialization.ParseNode) (serialization.Parsable, error) {
	switch odataType(n) {
	case "#microsoft.graph.socialIdentityProvider":
		return models.NewSocialIdentityProvider(), nil
	case "#microsoft.graph.builtInIdentityProvider":
		return models.NewBuiltInIdentityProvider(), nil
	case "#microsoft.graph.samlOrWsFedExternalDomainFederation":
		return models.NewSamlOrWsFedExternalDomainFederation(), nil
	case "":
		switch {
		case child(n, "clientId"):
			return models.NewSocialIdentityProvider(), nil
		case child(n, "identityProviderType"):
			return models.NewBuiltInIdentityProvider(), nil
		case child(n, "issuerUri") || child(n, "signingCertificate"):
			return models.NewSamlOrWsFedExternalDomainFederation(), nil
		}
	}
	return models.CreateIdentityProviderBaseFromDiscriminatorValue(n)
}

// federationFactory parses a samlOrWsFedExternalDomainFederation whatever
// its @odata.type says: the cast segment of the URL names the type.
func federationFactory(serialization.ParseNode) (serialization.Parsable, error) {
	return models.NewSamlOrWsFedExternalDomainFederation(), nil
}

// emailConfigurationFactory parses the email method configuration: the
// route (authenticationMethodConfigurations/email) names the type.
func emailConfigurationFactory(serialization.ParseNode) (serialization.Parsable, error) {
	return models.NewEmailAuthenticationMethodConfiguration(), nil
}

func odataType(n serialization.ParseNode) string {
	c, err := n.GetChildNode("@odata.type")
	if err != nil || c == nil {
		return ""
	}
	s, err := c.GetStringValue()
	if err != nil || s == nil {
		return ""
	}
	if *s != "" && !strings.HasPrefix(*s, "#") {
		return "#" + *s
	}
	return *s
}

// child reports whether the object has the key. The JSON parse node
// returns a typed nil for a missing key, so the interface is not nil.
func child(n serialization.ParseNode, key string) bool {
	c, err := n.GetChildNode(key)
	if err != nil || c == nil {
		return false
	}
	v := reflect.ValueOf(c)
	return !(v.Kind() == reflect.Pointer && v.IsNil())
}

// socialOf maps a socialIdentityProvider. The beta user-flow example writes
// one entry with the legacy "type"/"name" keys instead of
// identityProviderType/displayName; those are read as a fallback.
func socialOf(s models.SocialIdentityProviderable) inventory.SocialIdentityProvider {
	out := inventory.SocialIdentityProvider{
		ID:          str(s.GetId()),
		DisplayName: str(s.GetDisplayName()),
		Type:        str(s.GetIdentityProviderType()),
		ClientID:    str(s.GetClientId()),
	}
	extra := s.GetAdditionalData()
	if out.Type == "" {
		out.Type = extraString(extra, "type")
	}
	if out.DisplayName == "" {
		out.DisplayName = extraString(extra, "name")
	}
	return out
}

func extraString(m map[string]any, key string) string {
	switch v := m[key].(type) {
	case string:
		return v
	case *string:
		return str(v)
	}
	return ""
}

// federationOf maps a samlOrWsFedExternalDomainFederation (without its
// domains: the caller knows whether the answer carried them).
func federationOf(f models.SamlOrWsFedExternalDomainFederationable) inventory.Federation {
	fed := inventory.Federation{
		ID:                       str(f.GetId()),
		DisplayName:              str(f.GetDisplayName()),
		IssuerURI:                str(f.GetIssuerUri()),
		MetadataExchangeURI:      str(f.GetMetadataExchangeUri()),
		PassiveSignInURI:         str(f.GetPassiveSignInUri()),
		SigningCertificateBase64: str(f.GetSigningCertificate()),
	}
	if p := f.GetPreferredAuthenticationProtocol(); p != nil {
		fed.PreferredProtocol = p.String()
	}
	if fed.SigningCertificateBase64 != "" {
		cert, err := inventory.ParseCertificateBase64(fed.SigningCertificateBase64)
		if err != nil {
			fed.CertificateError = err.Error()
		} else {
			fed.SigningCertificate = cert
		}
	}
	for _, d := range f.GetDomains() {
		if d != nil && str(d.GetId()) != "" {
			fed.Domains = append(fed.Domains, str(d.GetId()))
		}
	}
	return fed
}

// connectorOf maps an identityApiConnector.
func connectorOf(c models.IdentityApiConnectorable) inventory.APIConnector {
	conn := inventory.APIConnector{
		ID:          str(c.GetId()),
		DisplayName: str(c.GetDisplayName()),
		TargetURL:   str(c.GetTargetUrl()),
		AuthType:    inventory.AuthUnknown,
	}
	switch auth := c.GetAuthenticationConfiguration().(type) {
	case models.BasicAuthenticationable:
		conn.AuthType = inventory.AuthBasic
		conn.Username = str(auth.GetUsername())
	case models.ClientCertificateAuthenticationable:
		conn.AuthType = inventory.AuthCertificate
		for _, ci := range auth.GetCertificateList() {
			if ci == nil {
				continue
			}
			conn.Certificates = append(conn.Certificates, inventory.ConnectorCertificate{
				Thumbprint: strings.ToUpper(str(ci.GetThumbprint())),
				NotBefore:  unixTime(ci.GetNotBefore()),
				NotAfter:   unixTime(ci.GetNotAfter()),
				Active:     ci.GetIsActive() != nil && *ci.GetIsActive(),
			})
		}
	case models.Pkcs12Certificateable:
		// Graph documents pkcs12Certificate as upload-only; a read that
		// returns it anyway still means certificate authentication.
		conn.AuthType = inventory.AuthCertificate
	}
	return conn
}

// userFlowProviderOf maps one entry of userFlowIdentityProviders; ok is
// false for an entry that names no provider.
func userFlowProviderOf(p models.IdentityProviderBaseable) (inventory.UserFlowIdentityProvider, bool) {
	out := inventory.UserFlowIdentityProvider{ID: str(p.GetId()), DisplayName: str(p.GetDisplayName())}
	switch t := p.(type) {
	case models.SocialIdentityProviderable:
		s := socialOf(t)
		out.Type, out.DisplayName = s.Type, s.DisplayName
	case models.BuiltInIdentityProviderable:
		out.Type = str(t.GetIdentityProviderType())
	case models.SamlOrWsFedExternalDomainFederationable:
		out.Type = inventory.TypeFederation
	default:
		if ot := p.GetOdataType(); ot != nil {
			out.Type = strings.TrimPrefix(*ot, "#microsoft.graph.")
		}
	}
	return out, out.ID != ""
}

// legacyProviderOf maps one entry of the v1.0 $expand=identityProviders
// list (the identityProvider type: id, type, name).
func legacyProviderOf(p models.IdentityProviderable) (inventory.UserFlowIdentityProvider, bool) {
	out := inventory.UserFlowIdentityProvider{ID: str(p.GetId()), DisplayName: str(p.GetName()), Type: str(p.GetTypeEscaped())}
	return out, out.ID != ""
}

// parseAssignment maps one identityUserFlowAttributeAssignment
// (identityuserflowattributeassignment.md) with its expanded userAttribute
// (identityuserflowattribute.md). Enumerations are compared without case:
// the list page's examples write "RadioSingleSelect" and "TextBox" where
// the resource page lists radioSingleSelect and textBox.
func parseAssignment(raw []byte) (inventory.UserFlowAttribute, error) {
	if kind := jsonKind(raw); kind != "an object" {
		return inventory.UserFlowAttribute{}, errors.New("the item is " + kind + ", not an object")
	}
	var a struct {
		ID                   string  `json:"id"`
		DisplayName          *string `json:"displayName"`
		IsOptional           *bool   `json:"isOptional"`
		RequiresVerification *bool   `json:"requiresVerification"`
		UserInputType        *string `json:"userInputType"`
		UserAttributeValues  []struct {
			Name      *string `json:"name"`
			Value     *string `json:"value"`
			IsDefault *bool   `json:"isDefault"`
		} `json:"userAttributeValues"`
		UserAttribute *struct {
			ID                    string  `json:"id"`
			DisplayName           *string `json:"displayName"`
			UserFlowAttributeType *string `json:"userFlowAttributeType"`
			DataType              *string `json:"dataType"`
		} `json:"userAttribute"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return inventory.UserFlowAttribute{}, err
	}
	out := inventory.UserFlowAttribute{
		ID:                   a.ID,
		DisplayName:          str(a.DisplayName),
		Optional:             a.IsOptional != nil && *a.IsOptional,
		RequiresVerification: a.RequiresVerification != nil && *a.RequiresVerification,
		InputType:            enumValue(str(a.UserInputType), "textBox", "dateTimeDropdown", "radioSingleSelect", "dropdownSingleSelect", "emailBox", "checkboxMultiSelect"),
	}
	if u := a.UserAttribute; u != nil {
		// The assignment's id is the attribute's in both examples; the
		// attribute's own id is the one its page defines.
		if u.ID != "" {
			out.ID = u.ID
		}
		if out.DisplayName == "" {
			out.DisplayName = str(u.DisplayName)
		}
		out.AttributeType = enumValue(str(u.UserFlowAttributeType), "builtIn", "custom", "required")
		out.DataType = enumValue(str(u.DataType), "string", "boolean", "int64", "stringCollection", "dateTime")
	}
	if out.ID == "" {
		return inventory.UserFlowAttribute{}, errors.New("it has no id")
	}
	for _, v := range a.UserAttributeValues {
		out.Values = append(out.Values, inventory.UserFlowAttributeValue{Name: str(v.Name), Value: str(v.Value), IsDefault: v.IsDefault != nil && *v.IsDefault})
	}
	return out, nil
}

// enumValue is the documented member v names, ignoring case; a value the
// page does not list (unknownFutureValue, a new one) is kept as Graph
// wrote it.
func enumValue(v string, members ...string) string {
	for _, m := range members {
		if strings.EqualFold(v, m) {
			return m
		}
	}
	return v
}
