package inventory

import "strings"

// Built-in identity provider IDs as Graph lists them in a self-service
// sign-up user flow's identityProviders (builtInIdentityProvider objects).
const (
	// EmailOTPProviderID is the email one-time passcode provider
	// (identityProviderType "EmailOTP").
	EmailOTPProviderID = "EmailOtpSignup-OAUTH"
	// EmailOTPProviderType is its identityProviderType.
	EmailOTPProviderType = "EmailOTP"
	// EmailOTPRef is the dependency reference of the tenant's email one-time
	// passcode configuration ("email" is the Graph ID of the authentication
	// method configuration).
	EmailOTPRef = KindEmailOTP + "/email"
)

// ParseRef splits a dependency reference "kind/id" at its first slash. ok is
// false when either part is empty. The ID may itself contain slashes.
func ParseRef(ref string) (kind, id string, ok bool) {
	kind, id, found := strings.Cut(ref, "/")
	if !found || kind == "" || id == "" {
		return "", "", false
	}
	return kind, id, true
}

// SameRef reports whether two dependency references name the same
// dependency. Graph is not consistent about the case of IDs (the docs show
// both "Google-OAUTH" and "Google-OAuth"), GUIDs and domain names are
// case-insensitive, so references compare case-insensitively.
func SameRef(a, b string) bool { return strings.EqualFold(a, b) }

// SameID reports whether two Graph IDs (or domain names) are the same,
// case-insensitively, for the same reason as SameRef.
func SameID(a, b string) bool { return strings.EqualFold(a, b) }
