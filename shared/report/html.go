package report

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// The HTML report is one self-contained page: inline CSS, inline SVG and a
// little vanilla JavaScript, nothing fetched (no fonts, scripts or images),
// so it works offline and as a mail attachment. Its Content-Security-Policy
// allows only its own style sheet and script (by hash) and data: images, so
// a browser refuses anything else even if a value in the report tried.
// Everything shown comes from the Report value (the same model as the JSON);
// the template only renders the view built here.

//go:embed html/report.tmpl
var htmlTemplateText string

//go:embed html/report.css
var htmlCSSSource string

//go:embed html/report.js
var htmlJSSource string

// The style sheet and script go into every page (a 500-partner page is
// close to 1 MB): without indentation and comment lines. Both are written
// so that this is safe (no multi-line strings).
var (
	htmlCSS = compact(htmlCSSSource, "")
	htmlJS  = compact(htmlJSSource, "//")
)

func compact(src, comment string) string {
	var b strings.Builder
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || comment != "" && strings.HasPrefix(line, comment) {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct": pct,
}).Parse(htmlTemplateText))

// contentSecurityPolicy is the page's policy: its own CSS and JS by hash.
var contentSecurityPolicy = fmt.Sprintf("default-src 'none'; style-src '%s'; script-src '%s'; img-src data:; base-uri 'none'; form-action 'none'",
	cspHash(htmlCSS), cspHash(htmlJS))

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// WriteHTML renders r as one self-contained HTML page.
func WriteHTML(w io.Writer, r Report) error {
	return htmlTemplate.Execute(w, buildPage(r))
}

type page struct {
	Title, TenantID, Source               string
	Evaluated, Captured, Generated        string
	SchemaVersion                         string
	Tiles                                 []tile
	Checked                               string
	Upcoming                              string
	FallbackNote                          string
	Gaps                                  []inventory.Gap
	Timeline                              *timelineView
	Map                                   *mapView
	MapMissing, PartnersMissing           bool
	Partners                              []partnerRow
	Availability                          bool
	Endpoints                             []endpointRow
	Findings                              []findingRow
	Kinds                                 []option
	Owners                                []option
	Severities                            []option
	CSS                                   template.CSS
	JS                                    template.JS
	CSP                                   string
	NoticeDays                            string
	TimelineDays                          int
	DatedFindings, UndatedFindings, Total int
}

type tile struct {
	Severity, Label string
	Count           int
}

type option struct {
	Value, Label string
	Count        int
}

type findingRow struct {
	ID, Severity, Kind           string
	Due, DueRel                  string
	Overdue                      bool
	Dependency, DependencyKind   string
	Ref                          string
	Impact                       string
	Owner, OwnerDetail, OwnerKey string
	Action                       string
	Nodes                        string
}

type partnerRow struct {
	Ref, Name, Domains, Protocol         string
	Status, StatusLabel, Host, LastGood  string
	Reason                               string
	Cert, CertRel, CertThumb, CertTitle  string
	CertSeverity                         string
	NextFrom, NextUntil                  string
	Next, NextThumb, NextTitle, NextNote string
	Owner                                string
	OwnerLines                           []string
	Ask, AskParty, AskFinding, AskKind   string
	Severity                             string
	Availability                         []endpointRow
	NoWatchData                          bool
}

type endpointRow struct {
	Endpoint, Role, Dependency, Name string
	Day1, Day7, Day30                string
	Outage, LastChecked              string
	Down                             bool
}

var severityOrder = []assess.Severity{assess.Expired, assess.Critical, assess.Warning, assess.Info}

func buildPage(r Report) page {
	p := page{
		TenantID: r.TenantID, Source: r.Source, SchemaVersion: r.SchemaVersion,
		Evaluated: stampHTML(r.EvaluatedAt), Generated: stampHTML(r.GeneratedAt),
		Gaps: r.Gaps, CSS: template.CSS(htmlCSS), JS: template.JS(htmlJS), CSP: contentSecurityPolicy,
		NoticeDays: joinInts(r.NoticeDays), TimelineDays: TimelineDays, Total: len(r.Findings),
	}
	p.Title = "External sign-in report"
	if r.TenantID != "" {
		p.Title += " — tenant " + r.TenantID
	}
	if r.CapturedAt != nil {
		p.Captured = stampHTML(*r.CapturedAt)
	}
	counts := map[assess.Severity]int{
		assess.Expired: r.Summary.BySeverity.Expired, assess.Critical: r.Summary.BySeverity.Critical,
		assess.Warning: r.Summary.BySeverity.Warning, assess.Info: r.Summary.BySeverity.Info,
	}
	for _, s := range severityOrder {
		p.Tiles = append(p.Tiles, tile{Severity: s.String(), Label: s.String(), Count: counts[s]})
		p.Severities = append(p.Severities, option{Value: s.String(), Label: s.String(), Count: counts[s]})
	}
	d := r.Summary.Dependencies
	otp := "email one-time passcode not read"
	if d.EmailOTP > 0 {
		otp = "email one-time passcode read"
	}
	p.Checked = fmt.Sprintf("Checked %d social identity provider%s, %d federation%s, %d API connector%s, %d user flow%s and %d Key Vault secret%s; %s.",
		d.Social, plural(d.Social), d.Federation, plural(d.Federation), d.Connector, plural(d.Connector),
		d.UserFlow, plural(d.UserFlow), d.Secrets, plural(d.Secrets), otp)

	// What is coming: the findings still ahead within a week and a month.
	overdue, week, month := 0, 0, 0
	for _, f := range r.Findings {
		if f.Due == nil {
			p.UndatedFindings++
			continue
		}
		p.DatedFindings++
		if left := f.Due.Sub(r.EvaluatedAt); left <= 0 {
			overdue++
		} else {
			if left <= 7*day {
				week++
			}
			if left <= 30*day {
				month++
			}
		}
	}
	p.Upcoming = fmt.Sprintf("%d overdue, %d due in the next 7 days, %d in the next 30 days.", overdue, week, month)

	for _, f := range r.Findings {
		if f.Owner != nil && f.Owner.Fallback {
			p.FallbackNote = fmt.Sprintf("“fallback admin” is %s: nobody is named as the owner of those dependencies in the config, so the notices go there.", f.Owner.Email)
			break
		}
	}

	p.Timeline = buildTimeline(r)
	drawn, hidden := drawnMap(r.Map)
	p.Map = buildMapView(drawn, hidden)
	p.MapMissing = r.Map == nil
	p.PartnersMissing = r.Partners == nil && r.Map == nil

	// Rows of the findings table, with the drawn map nodes each one
	// belongs to.
	nodesOf := map[string][]string{}
	if drawn != nil {
		for i, n := range drawn.Nodes {
			for _, id := range n.Findings {
				nodesOf[id] = append(nodesOf[id], strconv.Itoa(i))
			}
		}
	}
	kinds := map[string]int{}
	owners := map[string]*option{}
	for _, f := range r.Findings {
		row := findingRow{
			ID: f.ID, Severity: f.Severity.String(), Kind: f.Kind, Action: f.Action,
			Dependency: dependencyName(f.Dependency), DependencyKind: shortKind(f.Dependency.Kind), Ref: f.Dependency.Ref,
			Impact: impact(f), Nodes: strings.Join(nodesOf[f.ID], " "),
		}
		if f.Due != nil {
			cell := dueCell(f.Due, r.EvaluatedAt)
			row.Due, row.DueRel, _ = strings.Cut(cell, " (")
			row.DueRel = strings.TrimSuffix(row.DueRel, ")")
			row.Overdue = !f.Due.After(r.EvaluatedAt)
		}
		row.Owner, row.OwnerDetail, row.OwnerKey = ownerShort(f.Owner)
		kinds[f.Kind]++
		// The owner filter matches the owner cell's text: owner names are
		// unique in the config, and the markup stays small.
		o := owners[row.Owner]
		if o == nil {
			o = &option{Value: row.Owner, Label: row.Owner}
			if f.Owner != nil && f.Owner.Organisation != "" {
				o.Label += " (" + f.Owner.Organisation + ")"
			}
			owners[row.Owner] = o
		}
		o.Count++
		p.Findings = append(p.Findings, row)
	}
	for k, n := range kinds {
		p.Kinds = append(p.Kinds, option{Value: k, Label: k, Count: n})
	}
	sort.Slice(p.Kinds, func(i, j int) bool { return p.Kinds[i].Value < p.Kinds[j].Value })
	for _, o := range owners {
		p.Owners = append(p.Owners, *o)
	}
	sort.Slice(p.Owners, func(i, j int) bool {
		return strings.ToLower(p.Owners[i].Label+p.Owners[i].Value) < strings.ToLower(p.Owners[j].Label+p.Owners[j].Value)
	})

	kindOf := make(map[string]string, len(r.Findings))
	for _, f := range r.Findings {
		kindOf[f.ID] = f.Kind
	}

	// Endpoint availability, by dependency for the partner rows.
	byDep := map[string][]endpointRow{}
	names := map[string]string{}
	for _, pr := range r.Partners {
		names[strings.ToLower(pr.Ref)] = pr.Name
	}
	if r.Map != nil {
		for _, n := range r.Map.Nodes {
			names[strings.ToLower(n.ID)] = n.Name
		}
	}
	for _, e := range r.Endpoints {
		row := endpointRow{
			Endpoint: e.Endpoint, Role: e.Role, Dependency: e.Dependency, Name: names[strings.ToLower(e.Dependency)],
			Day1: pct(e.Availability.Day1), Day7: pct(e.Availability.Day7), Day30: pct(e.Availability.Day30),
		}
		if row.Name == "" {
			row.Name = e.Dependency
		}
		if e.OutageSince != nil {
			row.Down = true
			row.Outage = stampHTML(*e.OutageSince) + " (" + since(*e.OutageSince, r.EvaluatedAt) + ")"
		}
		if e.LastChecked != nil {
			row.LastChecked = stampHTML(*e.LastChecked)
		}
		p.Endpoints = append(p.Endpoints, row)
		byDep[strings.ToLower(e.Dependency)] = append(byDep[strings.ToLower(e.Dependency)], row)
	}
	p.Availability = len(r.Endpoints) > 0

	for _, pr := range r.Partners {
		row := partnerRow{
			Ref: pr.Ref, Name: pr.Name, Domains: strings.Join(pr.Domains, ", "), Protocol: protocolLabel(pr.Protocol),
			Status: pr.Metadata.Status, StatusLabel: metadataLabel(pr.Metadata.Status), Host: pr.Metadata.Host,
			Reason: pr.Metadata.Reason, Severity: "none",
		}
		if pr.Metadata.LastGood != nil {
			row.LastGood = pr.Metadata.LastGood.UTC().Format("2006-01-02")
		}
		if c := pr.Certificate; c != nil {
			row.Cert = c.NotAfter.UTC().Format("2006-01-02")
			cell := dueCell(&c.NotAfter, r.EvaluatedAt)
			_, rel, _ := strings.Cut(cell, " (")
			row.CertRel = strings.TrimSuffix(rel, ")")
			row.CertThumb, row.CertTitle = shortThumb(c), certTitle(c)
			switch {
			case !c.NotAfter.After(r.EvaluatedAt):
				row.CertSeverity = "expired"
			case c.NotAfter.Sub(r.EvaluatedAt) <= 30*day:
				row.CertSeverity = "warning"
			}
		}
		if c := pr.NextCertificate; c != nil {
			row.Next = "valid " + c.NotBefore.UTC().Format("2006-01-02") + " to " + c.NotAfter.UTC().Format("2006-01-02")
			row.NextFrom, row.NextUntil = c.NotBefore.UTC().Format("2006-01-02"), c.NotAfter.UTC().Format("2006-01-02")
			row.NextThumb, row.NextTitle = shortThumb(c), certTitle(c)
			if pr.Metadata.Outcome == "certificate-replaced" {
				row.NextNote = "the partner already signs with it"
			} else {
				row.NextNote = "published next to the current one"
			}
		}
		row.Owner, row.OwnerLines = ownerLines(pr.Owner)
		if pr.Ask != nil {
			row.Ask, row.AskParty, row.AskFinding = pr.Ask.Text, pr.Ask.Party, pr.Ask.Finding
			row.AskKind = kindOf[pr.Ask.Finding]
		}
		if pr.WorstSeverity != nil {
			row.Severity = pr.WorstSeverity.String()
		}
		row.Availability = byDep[strings.ToLower(pr.Ref)]
		row.NoWatchData = len(row.Availability) == 0
		p.Partners = append(p.Partners, row)
	}
	return p
}

const day = 24 * time.Hour

func stampHTML(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// since is "3 h", "2 days" from t to now.
func since(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return "starting later"
	case d < time.Hour:
		return fmt.Sprintf("for %d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("for %d h", int(d.Hours()))
	}
	return fmt.Sprintf("for %d days", int(d.Hours()/24))
}

func pct(p *float64) string {
	if p == nil {
		return "–"
	}
	v := *p * 100
	switch {
	case v >= 99.995:
		return "100 %"
	case v >= 99:
		return strconv.FormatFloat(v, 'f', 2, 64) + " %"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " %"
}

// impact says who notices when the finding's dependency breaks. A
// federation's domains are in the partner table, so its rows name only the
// user flows.
func impact(f assess.Finding) string {
	var parts []string
	if len(f.ImpactedUserFlows) > 0 && !(f.Dependency.Kind == inventory.KindUserFlow && len(f.ImpactedUserFlows) == 1) {
		parts = append(parts, "user flows "+strings.Join(f.ImpactedUserFlows, ", "))
	}
	if len(f.ImpactedDomains) > 0 && f.Dependency.Kind != inventory.KindFederation {
		parts = append(parts, "domains "+strings.Join(f.ImpactedDomains, ", "))
	}
	if len(parts) == 0 {
		return ""
	}
	return "breaks " + strings.Join(parts, "; ")
}

// ownerShort is the owner in the findings table: the name and the
// organisation (the partner table and the map carry the addresses).
func ownerShort(o *assess.Owner) (name, detail, key string) {
	switch {
	case o == nil:
		return "no owner", "", "none"
	case o.Fallback:
		return "fallback admin", o.Email, ownerNodeID(o)
	}
	name = o.Name
	if name == "" {
		name = o.Email
	}
	detail = o.Organisation
	if detail == "" {
		detail = o.Email
	}
	return name, detail, ownerNodeID(o)
}

// ownerLines is the owner in the partner table: the name, then the
// organisation (marked external when it is) and the address.
func ownerLines(o *assess.Owner) (name string, lines []string) {
	switch {
	case o == nil:
		return "no owner", nil
	case o.Fallback:
		return "fallback admin", []string{o.Email}
	}
	name = o.Name
	if name == "" {
		name = o.Email
	}
	org := o.Organisation
	if !o.Internal {
		org = strings.TrimSpace(org + " (external)")
	}
	if org != "" {
		lines = append(lines, org)
	}
	if o.Email != name {
		lines = append(lines, o.Email)
	}
	return name, lines
}

func metadataLabel(status string) string {
	switch status {
	case MetadataVerified:
		return "verified"
	case MetadataStale:
		return "stale"
	case MetadataFailing:
		return "failing"
	case MetadataNotChecked:
		return "not checked yet"
	case MetadataNone:
		return "no metadata URL"
	}
	return status
}

func protocolLabel(p string) string {
	switch strings.ToLower(p) {
	case "saml":
		return "SAML"
	case "wsfed":
		return "WS-Fed"
	}
	return p
}

func shortThumb(c *inventory.Certificate) string {
	t := c.SHA256
	if t == "" {
		t = c.SHA1
	}
	if len(t) > 16 {
		return t[:8] + "…" + t[len(t)-8:]
	}
	return t
}

func certTitle(c *inventory.Certificate) string {
	if c.SHA256 != "" {
		return "SHA-256 " + c.SHA256
	}
	return "SHA-1 " + c.SHA1
}
