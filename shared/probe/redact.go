package probe

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
)

// Redacted replaces a credential in text an endpoint sent back.
const Redacted = "[redacted]"

// secretForms lists every form in which the credential the probe sends can
// come back in an endpoint's answer: the password itself, "user:password",
// the base64 of either (the Authorization header's value is "Basic " and the
// base64 of user:password; padded, unpadded and URL-safe alphabets), and
// their JSON- and URL-escaped spellings (a body echoing the request
// escapes them). Longest first, so the widest match is replaced whole.
// A client certificate sends no secret (its key never leaves), so it has
// no forms.
func (a Auth) secretForms() []string {
	if a.BasicPassword == "" {
		return nil
	}
	seen := map[string]bool{}
	var forms []string
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			forms = append(forms, s)
		}
	}
	for _, raw := range []string{a.BasicUser + ":" + a.BasicPassword, a.BasicPassword} {
		add(raw)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			add(enc.EncodeToString([]byte(raw)))
		}
		add(jsonEscaped(raw, true))
		add(jsonEscaped(raw, false))
		add(url.QueryEscape(raw))
		add(url.PathEscape(raw))
	}
	sort.SliceStable(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	return forms
}

// jsonEscaped is s as it appears inside a JSON string.
func jsonEscaped(s string, escapeHTML bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	if enc.Encode(s) != nil {
		return ""
	}
	out := strings.TrimSuffix(b.String(), "\n")
	return strings.TrimSuffix(strings.TrimPrefix(out, `"`), `"`)
}

// Redact removes every form of the credential from text an endpoint
// returned (a user message, a body excerpt, an error). It is the one place
// both `probe api` / `probe connector` and the scheduled probe's stored
// results go through: Probe applies it to every text field of its Result.
func (a Auth) Redact(text string) string {
	for _, f := range a.secretForms() {
		text = strings.ReplaceAll(text, f, Redacted)
	}
	return text
}

// redactResult applies Redact to every field of r that carries text from
// the endpoint or the transport.
func (a Auth) redactResult(r Result) Result {
	r.UserMessage = a.Redact(r.UserMessage)
	r.Detail = a.Redact(r.Detail)
	r.TLSSubject = a.Redact(r.TLSSubject)
	for i := range r.Warnings {
		r.Warnings[i] = a.Redact(r.Warnings[i])
	}
	return r
}
