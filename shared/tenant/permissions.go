package tenant

// Permission is a Microsoft Graph application permission the app needs for
// one endpoint. The table is the single source for README.md and the infra
// grant (a consistency test checks both against it).
type Permission struct {
	Method     string
	Endpoint   string
	Permission string
	// Why says what breaks without it.
	Why string
}

// GraphPermissions lists every Graph call IdP Keeper makes, with the least
// privileged application permission that allows it.
var GraphPermissions = []Permission{
	{"GET", "/identity/identityProviders", "IdentityProvider.Read.All", "social identity providers are not reported"},
	{"GET", "/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation", "Domain.Read.All", "SAML/WS-Fed partners are not reported"},
	{"GET", "/directory/federationConfigurations/microsoft.graph.samlOrWsFedExternalDomainFederation/{id}/domains", "IdentityProvider.Read.All", "partners' domains are unknown"},
	{"GET", "/identity/apiConnectors", "APIConnectors.Read.All", "API connectors are not reported"},
	{"GET", "/identity/b2xUserFlows", "IdentityUserFlow.Read.All", "user flows, and so the impact of each finding, are unknown"},
	// The reference page of this call lists only IdentityUserFlow.ReadWrite.All.
	// IdP Keeper asks for Read.All; where the tenant answers 403 the report
	// shows a gap (which identity providers each flow offers is unknown) and
	// an administrator may decide to grant ReadWrite.All.
	{"GET", "/identity/b2xUserFlows/{id}/userFlowIdentityProviders", "IdentityUserFlow.Read.All", "which identity providers each user flow offers is unknown"},
	{"GET", "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/email", "Policy.Read.All", "email one-time passcode state is unknown"},
	{"GET", "/policies/crossTenantAccessPolicy/default", "Policy.Read.All", "the B2B redemption fallback is unknown"},
	{"POST", "/users/{mailbox}/sendMail", "Mail.Send", "owner notices cannot be mailed (webhook and outbox still work)"},
}
