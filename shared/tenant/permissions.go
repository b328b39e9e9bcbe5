package tenant

import "strings"

// Permission is one Microsoft Graph call IdP Keeper makes and the
// application permission it needs. The table is the single source for
// README.md and the infra grant (shared/consistency checks both against it,
// and a test in this package checks that every route the code calls is
// listed).
type Permission struct {
	Method   string
	Endpoint string
	// Page is the v1.0 reference page that documents the call (beta only
	// where noted).
	Page string
	// Documented is the least privileged application permission the page
	// lists.
	Documented string
	// Permission is what IdP Keeper is granted for the call. It differs
	// from Documented only where Note says why a narrower permission is
	// relied on.
	Permission string
	// Phase says when the grant is made: "read" (every deployment), "mail"
	// (enableMailSend), "repair" (enableRepair).
	Phase string
	// Why says what breaks without it.
	Why string
	// Note explains a difference between Permission and Documented, or
	// between the docs and this table's history.
	Note string
}

// Grant phases.
const (
	PhaseRead   = "read"
	PhaseMail   = "mail"
	PhaseRepair = "repair"
)

// GraphPermissions lists every Graph call IdP Keeper makes: the scan's
// reads, the repair step's reads and writes, and the notice mail.
var GraphPermissions = []Permission{
	{
		Method: "GET", Endpoint: "/identity/identityProviders", Page: "identitycontainer-list-identityproviders.md",
		Documented: "IdentityProvider.Read.All", Permission: "IdentityProvider.Read.All", Phase: "read",
		Why: "social identity providers (and the built-in ones) are not reported",
	},
	{
		Method: "GET", Endpoint: "/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation", Page: "samlorwsfedexternaldomainfederation-list.md",
		Documented: "IdentityProvider.Read.All", Permission: "IdentityProvider.Read.All", Phase: "read",
		Why:  "SAML/WS-Fed partners are not reported",
		Note: "earlier versions of this table asked for Domain.Read.All, which the list page does not name (only the generated table of the Get-by-domain page shows it, as a higher privilege)",
	},
	{
		Method: "GET", Endpoint: "/directory/federationConfigurations/microsoft.graph.samlOrWsFedExternalDomainFederation/{id}/domains", Page: "samlorwsfedexternaldomainfederation-list-domains.md",
		Documented: "IdentityProvider.Read.All", Permission: "IdentityProvider.Read.All", Phase: "read",
		Why: "a partner's domains are unknown (only read when the list does not carry them inline)",
	},
	{
		Method: "GET", Endpoint: "/identity/apiConnectors", Page: "identityapiconnector-list.md",
		Documented: "APIConnectors.ReadWrite.All", Permission: "APIConnectors.Read.All", Phase: "read",
		Why:  "API connectors are not reported",
		Note: "the page lists only the write permission; a scanner that never writes asks for Graph's read permission for API connectors, and a 403 becomes a gap in the report (grant the documented permission if your tenant answers so)",
	},
	{
		Method: "GET", Endpoint: "/identity/b2xUserFlows?$expand=identityProviders", Page: "identitycontainer-list-b2xuserflows.md",
		Documented: "IdentityUserFlow.Read.All", Permission: "IdentityUserFlow.Read.All", Phase: "read",
		Why: "user flows, and so the impact of each finding, are unknown",
	},
	{
		Method: "GET", Endpoint: "/identity/b2xUserFlows/{id}/apiConnectorConfiguration?$expand=postFederationSignup,postAttributeCollection", Page: "b2xidentityuserflow-get-apiconnectorconfiguration.md",
		Documented: "IdentityUserFlow.ReadWrite.All", Permission: "IdentityUserFlow.Read.All", Phase: "read",
		Why:  "which API connectors a user flow calls is unknown",
		Note: "the page lists only the write permission; IdP Keeper relies on the read permission, and a 403 is a gap for that one flow",
	},
	{
		Method: "GET", Endpoint: "/identity/b2xUserFlows/{id}/userFlowIdentityProviders", Page: "beta: b2xidentityuserflow-list-userflowidentityproviders.md",
		Documented: "IdentityUserFlow.ReadWrite.All", Permission: "IdentityUserFlow.Read.All", Phase: "read",
		Why:  "which SAML/WS-Fed partners and built-in providers a user flow offers may be missing",
		Note: "documented in beta only, with the write permission; where it is refused the v1.0 $expand=identityProviders list is used instead and the inventory says so",
	},
	{
		Method: "GET", Endpoint: "/identity/b2xUserFlows/{id}/userAttributeAssignments?$expand=userAttribute", Page: "b2xidentityuserflow-list-userattributeassignments.md",
		Documented: "IdentityUserFlow.Read.All", Permission: "IdentityUserFlow.Read.All", Phase: "read",
		Why: "which attributes a user flow collects is unknown (scaffolded contract scenarios then start from the claims Entra documents)",
	},
	{
		Method: "GET", Endpoint: "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/email", Page: "emailauthenticationmethodconfiguration-get.md",
		Documented: "Policy.Read.All", Permission: "Policy.Read.All", Phase: "read",
		Why: "email one-time passcode state is unknown",
	},
	{
		Method: "GET", Endpoint: "/policies/crossTenantAccessPolicy/default", Page: "crosstenantaccesspolicyconfigurationdefault-get.md",
		Documented: "Policy.Read.All", Permission: "Policy.Read.All", Phase: "read",
		Why: "the B2B redemption fallback is unknown",
	},
	{
		Method: "POST", Endpoint: "/users/{mailbox}/sendMail", Page: "user-sendmail.md",
		Documented: "Mail.Send", Permission: "Mail.Send", Phase: "mail",
		Why: "owner notices cannot be mailed (webhook and outbox still work)",
	},
	{
		Method: "GET", Endpoint: "/identity/identityProviders/{id}", Page: "identityproviderbase-get.md",
		Documented: "IdentityProvider.Read.All", Permission: "IdentityProvider.ReadWrite.All", Phase: "repair",
		Why:  "a client secret rotation cannot check or read back the provider",
		Note: "covered by the repair grant, which includes reading",
	},
	{
		Method: "PATCH", Endpoint: "/identity/identityProviders/{id}", Page: "identityproviderbase-update.md",
		Documented: "IdentityProvider.ReadWrite.All", Permission: "IdentityProvider.ReadWrite.All", Phase: "repair",
		Why: "a new Google/Facebook client secret cannot be applied",
	},
	{
		Method: "PATCH", Endpoint: "/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation/{id}", Page: "samlorwsfedexternaldomainfederation-update.md",
		Documented: "IdentityProvider.ReadWrite.All", Permission: "IdentityProvider.ReadWrite.All", Phase: "repair",
		Why:  "a partner's new certificate or endpoint cannot be applied (it is read back through the list above)",
		Note: "earlier versions PATCHed /directory/federationConfigurations/{id}, a path Graph does not document for this type",
	},
	{
		Method: "GET", Endpoint: "/identity/apiConnectors/{id}", Page: "identityapiconnector-get.md",
		Documented: "APIConnectors.ReadWrite.All", Permission: "APIConnectors.ReadWrite.All", Phase: "repair",
		Why: "a connector repair cannot check or read back the connector",
	},
	{
		Method: "PATCH", Endpoint: "/identity/apiConnectors/{id}", Page: "identityapiconnector-update.md",
		Documented: "APIConnectors.ReadWrite.All", Permission: "APIConnectors.ReadWrite.All", Phase: "repair",
		Why: "a basic-auth connector password cannot be rotated",
	},
	{
		Method: "POST", Endpoint: "/identity/apiConnectors/{id}/uploadClientCertificate", Page: "identityapiconnector-uploadclientcertificate.md",
		Documented: "APIConnectors.ReadWrite.All", Permission: "APIConnectors.ReadWrite.All", Phase: "repair",
		Why: "a connector's new client certificate cannot be uploaded",
	},
}

// PermissionFor finds the entry of GraphPermissions for a request: method
// and path relative to the version root ("/identity/apiConnectors/ID").
// Segments in braces match any key; the query is not compared.
func PermissionFor(method, path string) (Permission, bool) {
	path, _, _ = strings.Cut(path, "?")
	path, _, _ = strings.Cut(path, " ") // " (page 2)"
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for _, p := range GraphPermissions {
		if p.Method != method {
			continue
		}
		ep, _, _ := strings.Cut(p.Endpoint, "?")
		esegs := strings.Split(strings.Trim(ep, "/"), "/")
		if len(esegs) != len(segs) {
			continue
		}
		ok := true
		for i := range esegs {
			if !strings.HasPrefix(esegs[i], "{") && esegs[i] != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			return p, true
		}
	}
	return Permission{}, false
}
