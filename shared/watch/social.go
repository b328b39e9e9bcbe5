package watch

import "strings"

// Provider is a social identity provider whose endpoints the watch knows.
type Provider struct {
	// Type is Graph's identityProviderType.
	Type string
	// Discovery is the provider's OpenID Connect discovery document, when it
	// publishes one that names the endpoints below ("" when not).
	Discovery string
	Endpoints []ProviderEndpoint
}

// ProviderEndpoint is one published endpoint of a provider.
type ProviderEndpoint struct {
	Role Role
	URL  string
	// Source is where the URL is published: the document and field.
	Source string
}

// Providers are the social providers Entra federates with for guests
// (identityProviderType Google and Facebook) and the endpoints a sign-in
// through them uses: the authorization endpoint the guest's browser is sent
// to, and the token endpoint Entra redeems the code at. The URLs are
// recorded here rather than fetched at each check, so that a check never
// depends on a third document and the list is reviewed when it changes.
//
//   - Google publishes an OpenID Connect discovery document,
//     https://accounts.google.com/.well-known/openid-configuration ("Google
//     OpenID Connect API Reference", Discovery Document,
//     https://developers.google.com/identity/openid-connect/reference#discovery-document);
//     its authorization_endpoint is https://accounts.google.com/o/oauth2/v2/auth
//     and its token_endpoint https://oauth2.googleapis.com/token.
//   - Facebook Login is OAuth 2.0 ("Manually Build a Login Flow",
//     https://developers.facebook.com/documentation/facebook-login/guides/advanced/manual-flow):
//     the login dialog at https://www.facebook.com/dialog/oauth (the guide
//     shows it under a version prefix, /v{version}/dialog/oauth; without one
//     the oldest supported version answers) and the code exchange at
//     https://graph.facebook.com/oauth/access_token. Facebook's OpenID
//     Connect discovery document (Limited Login, limited.facebook.com) names
//     no token endpoint and is not what Entra's Facebook sign-in uses, so the
//     guide is the source.
//
// repair.GoogleTokenURL and repair.FacebookTokenURL are the same token
// endpoints (the secret test posts there); a test keeps them in step.
var Providers = []Provider{
	{
		Type:      "Google",
		Discovery: "https://accounts.google.com/.well-known/openid-configuration",
		Endpoints: []ProviderEndpoint{
			{RoleAuthorization, "https://accounts.google.com/o/oauth2/v2/auth", "Google discovery document (authorization_endpoint)"},
			{RoleToken, "https://oauth2.googleapis.com/token", "Google discovery document (token_endpoint)"},
		},
	},
	{
		Type: "Facebook",
		Endpoints: []ProviderEndpoint{
			{RoleAuthorization, "https://www.facebook.com/dialog/oauth", "Facebook Login, Manually Build a Login Flow (login dialog)"},
			{RoleToken, "https://graph.facebook.com/oauth/access_token", "Facebook Login, Manually Build a Login Flow (code exchange)"},
		},
	},
}

// ProviderOf returns the provider of an identityProviderType (any case).
func ProviderOf(identityProviderType string) (Provider, bool) {
	for _, p := range Providers {
		if strings.EqualFold(p.Type, identityProviderType) {
			return p, true
		}
	}
	return Provider{}, false
}
