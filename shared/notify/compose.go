package notify

import (
	"bytes"
	"fmt"
	"html/template"
	"net/url"
	"regexp"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/config"
)

// Recipient is a mail address and, when known, a display name.
type Recipient struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email"`
}

// Message is one composed notice, the same for every channel.
type Message struct {
	To []Recipient
	// Cc is the fallback admin when the owner is outside the organisation,
	// so the organisation knows what it asked of its partner.
	Cc        []Recipient
	Subject   string
	Text      string
	HTML      string
	FindingID string
	Kind      string
	Stage     string
	Severity  string
	// Dependency is the finding's dependency reference.
	Dependency string
	// Deadline is the finding's due date (nil when it has none).
	Deadline *time.Time
	// AckURL is the acknowledgement link ("" when not configured) and
	// AckUntil the end of the pause it grants.
	AckURL   string
	AckUntil *time.Time
}

// Recipients are To and Cc as "a@x, b@y", for the ledger and stdout.
func (m Message) Recipients() string {
	var out []string
	for _, r := range append(slices.Clone(m.To), m.Cc...) {
		out = append(out, r.Email)
	}
	return strings.Join(out, ", ")
}

// Links are the links a notice may carry.
type Links struct {
	// AckLink builds the acknowledgement link of a notice for f (an HTTP
	// endpoint that pauses reminders: the signed link of package acklink)
	// and the end of the pause it grants; nil, or "", means notices carry
	// no link and owners acknowledge with `idpkeeper ack FINDING --until
	// DATE`.
	AckLink func(f assess.Finding) (link string, until time.Time)
	// Report is the hosted HTML report (IDPKEEPER_REPORT_URL: the Report
	// function's URL with format=html and its key, or a portal page). A
	// notice links to the finding's row in it (#F-…). Only internal
	// recipients see it: a partner has no access and should not learn the
	// organisation's internal addresses.
	Report string
}

// ReportFor is the report link for one finding: Report with the finding's
// row as the fragment, or "" when there is no report link.
func (l Links) ReportFor(findingID string) string {
	if l.Report == "" {
		return ""
	}
	base, _, _ := strings.Cut(l.Report, "#")
	return base + "#" + findingID
}

// Ack returns the acknowledgement link for f and the end of its pause, or
// "" when there is none.
func (l Links) Ack(f assess.Finding) (string, *time.Time) {
	if l.AckLink == nil {
		return "", nil
	}
	link, until := l.AckLink(f)
	if link == "" {
		return "", nil
	}
	until = until.UTC()
	return link, &until
}

// Facts from Finding.Detail that a notice may quote: each key with the
// shape its value must have. Anything else in Detail is left out, and so is
// an allowed key whose value does not look as expected, because Detail is
// filled by several packages and a notice leaves the organisation; an
// allow-list fails closed where a deny-list of "secret-looking" keys would
// fail open.
var safeDetail = []struct {
	key, label string
	shape      *regexp.Regexp
}{
	{"thumbprint", "Certificate thumbprint", hexShape},
	{"thumbprintSha1", "Certificate thumbprint (SHA-1)", hexShape},
	{"thumbprintSha256", "Certificate thumbprint (SHA-256)", hexShape},
	{"activeThumbprint", "Active certificate thumbprint", hexShape},
	{"successorThumbprint", "Next certificate thumbprint", hexShape},
	{"notBefore", "Valid from", dateShape},
	{"notAfter", "Valid until", dateShape},
	{"vault", "Key Vault", regexp.MustCompile(`^https://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+/?$`)},
	{"secretName", "Key Vault secret", regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)},
	{"secretVersion", "Secret version", regexp.MustCompile(`^[0-9A-Za-z]{1,64}$`)},
	{"secretExpires", "Secret expires", dateShape},
	{"secretCreated", "Secret created", dateShape},
	{"secretUpdated", "Secret updated", dateShape},
	{"configuredSecret", "Configured secret", regexp.MustCompile(`^([0-9A-Za-z-]{1,127}|https://[A-Za-z0-9.-]+/secrets/[0-9A-Za-z-]{1,127}(/[0-9A-Za-z]{1,64})?)$`)},
	{"maxSecretAge", "Maximum secret age", regexp.MustCompile(`^[0-9]{1,5}d$|^[0-9hms.]{2,20}$`)},
	{"successorNotBefore", "Next certificate valid from", dateShape},
	// The endpoint watch (shared/watch): the URL without query (a query
	// may carry a key, so a URL with one is left out), when it failed, how.
	{"endpoint", "Endpoint", regexp.MustCompile(`^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$`)},
	{"outageSince", "Failing since", dateShape},
	{"lastFailure", "Last failed check", dateShape},
	{"consecutiveFailures", "Failed checks in a row", regexp.MustCompile(`^[0-9]{1,6}$`)},
	{"lastError", "Last error", regexp.MustCompile(`^[a-z0-9-]{1,40}$`)},
	{"lastHttpStatus", "Last HTTP status", regexp.MustCompile(`^[1-5][0-9]{2}$`)},
	{"observedFrom", "Checked from", regexp.MustCompile(`^[\pL\pN .,()/'-]{1,80}$`)},
	{"recoveredAt", "Answering again since", dateShape},
	{"host", "Host", regexp.MustCompile(`^[A-Za-z0-9.-]{1,253}$`)},
	{"tlsNotAfter", "TLS certificate valid until", dateShape},
	{"tlsSha256", "TLS certificate fingerprint (SHA-256)", hexShape},
}

var (
	hexShape  = regexp.MustCompile(`^[0-9A-Fa-f]{2}(:?[0-9A-Fa-f]{2}){15,63}$`)
	dateShape = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))?$`)
)

// Fact is one quoted detail.
type Fact struct{ Label, Value string }

// SafeFacts returns the facts of d that a notice may quote, in a fixed order.
func SafeFacts(d map[string]string) []Fact {
	var out []Fact
	for _, s := range safeDetail {
		if v, ok := d[s.key]; ok && s.shape.MatchString(v) {
			out = append(out, Fact{s.label, v})
		}
	}
	return out
}

// consequence says what happens if nothing is done, by finding kind prefix.
var consequences = []struct{ prefix, text string }{
	{"social-secret-", "Entra can no longer complete sign-ins through %s: guests who sign in or sign up with it get an error and cannot get in."},
	{"federation-", "Entra rejects the sign-in tokens of %s: users from the partner's domains cannot sign in."},
	{"connector-", "the call to API connector %s fails, and sign-up through the user flows that use it stops."},
	{"userflow-", "sign-up through %s fails."},
	{"email-otp-", "guests whose own identity provider fails have no one-time passcode to fall back on (%s)."},
	{"inventory-", "IdP Keeper cannot watch %s, so its next expiry comes without warning."},
	{"config-", "IdP Keeper cannot watch %s, so its next expiry comes without warning."},
	{"secret-tag-", "IdP Keeper cannot tie %s to its secret, so its next expiry comes without warning."},
	{"endpoint-", "guests who depend on %s cannot sign in (or sign up) while it fails."},
}

func consequence(f assess.Finding, dep string) string {
	for _, c := range consequences {
		if strings.HasPrefix(f.Kind, c.prefix) {
			return fmt.Sprintf(c.text, dep)
		}
	}
	return fmt.Sprintf("external sign-in that depends on %s may stop working.", dep)
}

// Compose builds the notice of stage for f. The owner is the recipient; the
// fallback admin is when the finding has no owner or is marked Fallback,
// and is copied when the owner is outside the organisation. External owners
// get no internal link. Only f.Action, the dependency, dates, impact and
// the allow-listed facts of f.Detail (SafeFacts) are quoted: never anything
// that could be a secret value.
func Compose(f assess.Finding, stage string, cfg *config.Config, links Links) Message {
	fallback := ""
	if cfg != nil {
		fallback = strings.TrimSpace(cfg.FallbackAdmin)
	}
	m := Message{
		FindingID: f.ID, Kind: f.Kind, Stage: stage, Severity: f.Severity.String(),
		Dependency: f.Dependency.Ref,
	}
	m.AckURL, m.AckUntil = links.Ack(f)
	if f.Due != nil {
		d := f.Due.UTC()
		m.Deadline = &d
	}
	internal := true
	whyYou := "You are the configured owner of this dependency."
	switch o := f.Owner; {
	case o == nil || o.Email == "" || o.Fallback:
		if fallback != "" {
			m.To = []Recipient{{Email: fallback}}
		}
		whyYou = "Nobody is configured as the owner of this dependency, so this goes to the fallback administrator. Add an owner in the IdP Keeper config."
	case o.Internal:
		m.To = []Recipient{{Name: o.Name, Email: o.Email}}
	default:
		internal = false
		m.To = []Recipient{{Name: o.Name, Email: o.Email}}
		if fallback != "" && !strings.EqualFold(fallback, o.Email) {
			m.Cc = []Recipient{{Email: fallback}}
		}
		org := "your organisation"
		if o.Organisation != "" {
			org = o.Organisation
		}
		whyYou = fmt.Sprintf("You are listed as the contact at %s for this sign-in partnership.", org)
	}

	dep := f.Dependency.Ref
	if f.Dependency.Name != "" {
		dep = fmt.Sprintf("%s (%s)", f.Dependency.Name, f.Dependency.Ref)
	}
	overdue := strings.HasPrefix(stage, overduePrefix)
	var deadline, subject string
	subjectDep := f.Dependency.Name
	if subjectDep == "" {
		subjectDep = f.Dependency.Ref
	}
	switch {
	case m.Deadline != nil && overdue:
		deadline = fmt.Sprintf("It was due on %s (UTC) and is overdue: sign-in is likely failing now. Please act today.", m.Deadline.Format("2006-01-02 15:04"))
		subject = fmt.Sprintf("[IdP Keeper] Overdue since %s: %s", m.Deadline.Format("2006-01-02"), subjectDep)
	case m.Deadline != nil:
		deadline = fmt.Sprintf("Please complete this by %s (UTC).", m.Deadline.Format("2006-01-02 15:04"))
		subject = fmt.Sprintf("[IdP Keeper] Action needed by %s: %s", m.Deadline.Format("2006-01-02"), subjectDep)
	default:
		deadline = "There is no fixed date; please act as soon as you can."
		subject = "[IdP Keeper] Action needed: " + subjectDep
		if f.Severity == assess.Info {
			subject = "[IdP Keeper] For your information: " + subjectDep
		}
	}
	m.Subject = subject

	v := view{
		Name:        greetingName(m.To),
		Action:      strings.TrimSpace(f.Action),
		Deadline:    deadline,
		Dependency:  dep,
		Consequence: "If nothing is done, " + consequence(f, dep),
		Domains:     strings.Join(f.ImpactedDomains, ", "),
		Flows:       strings.Join(f.ImpactedUserFlows, ", "),
		Facts:       SafeFacts(f.Detail),
		AckURL:      m.AckURL,
		AckUntil:    formatUntil(m.AckUntil),
		WhyYou:      whyYou,
		FindingID:   f.ID,
		Stage:       stage,
		Severity:    m.Severity,
	}
	if !internal {
		ask, nothing := partnerAsk(f, cfg)
		switch {
		case ask != "":
			v.Action = ask
		case nothing != "":
			v.Action = nothing
		}
	}
	if v.Action == "" {
		v.Action = "Review this dependency of external sign-in."
	}
	if internal {
		v.Report = links.ReportFor(f.ID)
	}
	var text, html bytes.Buffer
	if err := textTemplate.Execute(&text, v); err != nil {
		// The templates are fixed and the view holds only strings.
		panic(err)
	}
	if err := htmlTemplate.Execute(&html, v); err != nil {
		panic(err)
	}
	m.Text, m.HTML = text.String(), html.String()
	return m
}

// PartnerAsk is the ask for a partner's own administrators. A finding's
// Action is written for the tenant's Entra administrator ("update the
// federation in Entra"); the partner can only act on its side: publish or
// send its signing certificate, fix its metadata, bring its sign-in
// endpoint back, renew its TLS certificate. What is asked follows what is
// known: when the metadata plan found the partner's next certificate
// already published (scan.AnnotateSuccessors puts it in the finding's
// detail), the ask is the switch date, not the certificate. "" when the
// partner has nothing to do (the Action is then the tenant's, and a notice
// to the partner says so, see Compose). The HTML report's partner table
// shows the same words.
func PartnerAsk(f assess.Finding, cfg *config.Config) string {
	ask, _ := partnerAsk(f, cfg)
	return ask
}

// partnerAsk is PartnerAsk and, when the partner has nothing to do for a
// finding about its side, the sentence that tells it so (nothing stays "").
func partnerAsk(f assess.Finding, cfg *config.Config) (ask, nothing string) {
	if f.Dependency.Kind != "federation" {
		return "", ""
	}
	where := "in your SAML/WS-Fed metadata"
	if u := partnerMetadataURL(f, cfg); u != "" {
		where = "in your metadata at " + u
	}
	by := ""
	if f.Due != nil {
		by = " by " + f.Due.UTC().Format("2006-01-02")
	}
	domains := strings.Join(f.ImpactedDomains, ", ")
	if domains == "" {
		domains = "your domains"
	}
	endpoint := "your sign-in endpoint"
	if u, err := url.Parse(f.Detail["endpoint"]); err == nil && u.Host != "" {
		// Never a query or credentials: they may carry a key.
		u.User, u.RawQuery, u.Fragment, u.ForceQuery = nil, "", "", false
		endpoint = u.String()
	}
	switch f.Kind {
	case assess.KindFederationCertExpiring:
		if next := f.Detail["successorThumbprint"]; next != "" {
			if f.Detail["autoApply"] == "true" {
				return "", fmt.Sprintf("Nothing is needed from you: we see your next token-signing certificate (SHA-256 %s) in your metadata and will trust it automatically when you start signing with it. Please keep signing with the current one until then%s.", next, strings.Replace(by, " by ", ", and switch before ", 1))
			}
			return fmt.Sprintf("Tell us the date you will switch to your next token-signing certificate (SHA-256 %s): we see it in your metadata and will trust it from that date%s.", next, strings.Replace(by, " by ", "; the current one expires on ", 1)), ""
		}
		return fmt.Sprintf("Publish your next token-signing certificate %s%s, next to the current one, and tell us the date you will switch to it, so we can trust it in time.", where, by), ""
	case assess.KindFederationMetadataNoSuccessor:
		return fmt.Sprintf("Publish your next token-signing certificate %s%s, next to the current one, and tell us the date you will switch to it, so we can trust it in time.", where, by), ""
	case assess.KindFederationCertExpired:
		return fmt.Sprintf("Send us the token-signing certificate you sign with now (or publish it %s) today: users from %s cannot sign in to our services until we trust it.", where, domains), ""
	case assess.KindFederationMetadataFailure:
		return fmt.Sprintf("Make your federation metadata reachable and valid again %s: we cannot see your certificate changes coming while it fails.", strings.TrimPrefix(where, "in ")), ""
	case assess.KindFederationMetadataChange, assess.KindFederationMetadataIssuerChanged:
		return "Confirm that the change we see in your federation metadata (certificate, sign-in endpoint or issuer) is intended, so that we can apply it.", ""
	case assess.KindFederationMetadataRollover:
		return "Tell us the date you will switch to your new token-signing certificate: we see it in your metadata and will keep trusting the current one until then.", ""
	case assess.KindEndpointDown:
		since := f.Detail["outageSince"]
		from := f.Detail["observedFrom"]
		if from != "" {
			from = " from " + from
		}
		if f.Detail["role"] == "metadata" {
			return fmt.Sprintf("Bring %s back: our checks%s have had no good answer from it since %s (last error: %s). Sign-in still works, but we cannot see your certificate changes while it fails.", endpoint, from, since, f.Detail["lastError"]), ""
		}
		return fmt.Sprintf("Bring %s back, or tell us its new address: our checks%s have had no good answer from it since %s (last error: %s), so users from %s cannot sign in to our services. Tell us when it works again.", endpoint, from, since, f.Detail["lastError"], domains), ""
	case assess.KindEndpointDegraded:
		return fmt.Sprintf("Look into %s: over the last day our checks saw failures or slow answers (%s of %s checks failed; 95th percentile %s ms). Users from %s may fail to sign in.", endpoint, f.Detail["failures24h"], f.Detail["checks24h"], f.Detail["p95LatencyMs"], domains), ""
	case assess.KindEndpointTLSExpiring:
		return fmt.Sprintf("Renew the TLS certificate of %s%s and install it with its full chain: once it expires, browsers refuse %s and users from %s cannot sign in.", f.Detail["host"], by, endpoint, domains), ""
	case assess.KindEndpointRecovered:
		return "", fmt.Sprintf("Nothing more is needed: %s answers our checks again since %s. Thank you.", endpoint, f.Detail["recoveredAt"])
	}
	return "", ""
}

// partnerMetadataURL is the metadata URL the config gives for the
// federation, found by its ID or one of its domains.
func partnerMetadataURL(f assess.Finding, cfg *config.Config) string {
	if cfg == nil {
		return ""
	}
	refs := []string{f.Dependency.Ref}
	for _, d := range f.ImpactedDomains {
		refs = append(refs, "federation/"+d)
	}
	for _, r := range refs {
		if d := cfg.Dependency(r); d != nil && d.Metadata != nil && d.Metadata.URL != "" {
			return d.Metadata.URL
		}
	}
	return ""
}

func greetingName(to []Recipient) string {
	if len(to) == 1 && to[0].Name != "" {
		return to[0].Name
	}
	return ""
}

type view struct {
	Name, Action, Deadline, Dependency, Consequence string
	Domains, Flows                                  string
	Facts                                           []Fact
	AckURL, AckUntil, Report, WhyYou                string
	FindingID, Stage, Severity                      string
}

// textTemplate is the plain-text part; it is never rendered as HTML, the
// HTML part has its own (escaping) template.
var textTemplate = texttemplate.Must(texttemplate.New("text").Parse(`Hello{{if .Name}} {{.Name}}{{end}},

What we need from you:
  {{.Action}}

Deadline: {{.Deadline}}

Dependency: {{.Dependency}}
Impact: {{.Consequence}}
{{- if .Domains}}
Affected domains: {{.Domains}}{{end}}
{{- if .Flows}}
Affected user flows: {{.Flows}}{{end}}
{{- if .Facts}}

Facts:
{{- range .Facts}}
  {{.Label}}: {{.Value}}{{end}}{{end}}
{{- if .AckURL}}

Already on it? Acknowledge to pause the reminders until {{.AckUntil}}:
  {{.AckURL}}{{end}}
{{- if .Report}}

This finding in the full report: {{.Report}}{{end}}

{{.WhyYou}}
Finding {{.FindingID}}, severity {{.Severity}}, notice {{.Stage}}. Sent by IdP Keeper; no secret values are ever included.
`))

var htmlTemplate = template.Must(template.New("html").Parse(`<!DOCTYPE html>
<html><body>
<p>Hello{{if .Name}} {{.Name}}{{end}},</p>
<p><strong>What we need from you:</strong><br>{{.Action}}</p>
<p><strong>Deadline:</strong> {{.Deadline}}</p>
<p><strong>Dependency:</strong> {{.Dependency}}<br>
<strong>Impact:</strong> {{.Consequence}}
{{- if .Domains}}<br><strong>Affected domains:</strong> {{.Domains}}{{end}}
{{- if .Flows}}<br><strong>Affected user flows:</strong> {{.Flows}}{{end}}</p>
{{- if .Facts}}
<table>{{range .Facts}}<tr><td>{{.Label}}</td><td><code>{{.Value}}</code></td></tr>{{end}}</table>
{{- end}}
{{- if .AckURL}}
<p>Already on it? <a href="{{.AckURL}}">Acknowledge to pause the reminders</a> until {{.AckUntil}}.<br>{{.AckURL}}</p>
{{- end}}
{{- if .Report}}
<p><a href="{{.Report}}">This finding in the full report</a></p>
{{- end}}
<p>{{.WhyYou}}<br>
<small>Finding {{.FindingID}}, severity {{.Severity}}, notice {{.Stage}}. Sent by IdP Keeper; no secret values are ever included.</small></p>
</body></html>
`))

func formatUntil(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format("2006-01-02 15:04") + " (UTC)"
}
