package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/metadata"
)

func renderPage(t *testing.T, r Report) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, r, "html"); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func parsePage(t *testing.T, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func find(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	walk(n, func(x *html.Node) {
		if x.Type == html.ElementNode && match(x) {
			out = append(out, x)
		}
	})
	return out
}

func byID(doc *html.Node, id string) *html.Node {
	hits := find(doc, func(n *html.Node) bool { v, _ := attr(n, "id"); return v == id })
	if len(hits) != 1 {
		return nil
	}
	return hits[0]
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(x *html.Node) {
		if x.Type == html.TextNode {
			b.WriteString(x.Data)
		}
	})
	return b.String()
}

func hasClass(n *html.Node, c string) bool {
	v, _ := attr(n, "class")
	return slices.Contains(strings.Fields(v), c)
}

// findingRows are the rows of the findings table.
func findingRows(t *testing.T, doc *html.Node) []*html.Node {
	t.Helper()
	table := byID(doc, "findings-table")
	if table == nil {
		t.Fatal("no findings table")
	}
	return find(table, func(n *html.Node) bool { return n.Data == "tr" && n.Parent.Data == "tbody" })
}

// richReport is the test tenant with partner metadata plans and endpoint
// availability, so that every part of the page is drawn.
func richReport(t *testing.T) Report {
	t.Helper()
	inv := tenant()
	cfg := testConfig()
	cfg.Owners = append(cfg.Owners, config.Owner{Name: "fabrikam-it", Email: "sso@fabrikam.example", Organisation: "Fabrikam"})
	cfg.Dependencies = append(cfg.Dependencies, config.Dependency{Ref: "federation/fabrikam.example", Owner: "fabrikam-it",
		Metadata: &config.Metadata{URL: "https://sts.fabrikam.example/FederationMetadata/2007-06/FederationMetadata.xml?key=SECRET"}})
	fed := inv.Federations[0]
	successor := &inventory.Certificate{SHA1: "CC", SHA256: "DD", NotBefore: now.Add(-day), NotAfter: now.Add(365 * day)}
	lastGood := now.Add(-3 * time.Hour)
	checks := []MetadataCheck{{
		Plan:     metadata.ChangePlan{ID: "P-1", PartnerID: fed.ID, Outcome: metadata.OutcomeRolloverPending, Reason: "rolling over", CurrentCertificate: fed.SigningCertificate, Successor: successor},
		LastGood: &lastGood,
	}}
	f := func(v float64) *float64 { return &v }
	since := now.Add(-90 * time.Minute)
	eps := []EndpointAvailability{
		{Endpoint: "https://sts.fabrikam.example/adfs/ls/", Role: "sign-in", Dependency: "federation/" + fed.ID,
			Availability: Availability{Day1: f(0.5), Day7: f(0.9312), Day30: f(1.2)}, OutageSince: &since},
		{Endpoint: "https://accounts.google.com/o/oauth2/v2/auth", Role: "authorization", Dependency: "social/Google-OAUTH",
			Availability: Availability{Day1: f(1), Day7: f(0.99991)}},
	}
	return Build(inv, assess.Assess(inv, cfg, now), now, "snapshot:examples/tenant", WithConfig(cfg), WithMetadata(checks), WithEndpoints(eps))
}

func TestHTMLShowsEveryFindingOnce(t *testing.T) {
	r := richReport(t)
	doc := parsePage(t, renderPage(t, r))
	rows := findingRows(t, doc)
	seen := map[string]int{}
	for _, row := range rows {
		id, _ := attr(row, "id")
		seen[id]++
	}
	dated := 0
	for _, f := range r.Findings {
		if seen[f.ID] != 1 {
			t.Errorf("finding %s has %d rows", f.ID, seen[f.ID])
		}
		if f.Due != nil {
			dated++
		}
	}
	if len(rows) != len(r.Findings) {
		t.Errorf("%d rows for %d findings", len(rows), len(r.Findings))
	}
	// One timeline mark per dated finding, each naming its finding once.
	marks := find(byID(doc, "timeline"), func(n *html.Node) bool { _, ok := attr(n, "data-f"); return n.Data == "use" && ok })
	markOf := map[string]int{}
	for _, m := range marks {
		id, _ := attr(m, "data-f")
		markOf[id]++
	}
	for _, f := range r.Findings {
		want := 0
		if f.Due != nil {
			want = 1
		}
		if markOf[f.ID] != want {
			t.Errorf("finding %s (due %v) has %d timeline marks", f.ID, f.Due, markOf[f.ID])
		}
	}
	if len(marks) != dated || dated == 0 {
		t.Errorf("%d marks for %d dated findings", len(marks), dated)
	}
	// One map node per model node, in the model's order (the script
	// counts on it).
	nodes := find(byID(doc, "map"), func(n *html.Node) bool { return hasClass(n, "node") })
	if len(nodes) != len(r.Map.Nodes) {
		t.Fatalf("%d map nodes for %d model nodes", len(nodes), len(r.Map.Nodes))
	}
	for i, n := range nodes {
		if k, _ := attr(n, "data-k"); k != shortKind(r.Map.Nodes[i].Kind) {
			t.Errorf("node %d is drawn as %q, model says %s", i, k, r.Map.Nodes[i].Kind)
		}
	}
	// A row lists exactly the nodes whose findings include it.
	for _, row := range rows {
		id, _ := attr(row, "id")
		list, _ := attr(row, "data-n")
		var want []string
		for i, n := range r.Map.Nodes {
			if slices.Contains(n.Findings, id) {
				want = append(want, fmt.Sprint(i))
			}
		}
		if list != strings.Join(want, " ") {
			t.Errorf("row %s names nodes %q, want %q", id, list, strings.Join(want, " "))
		}
	}
	// Every partner has a row, and the endpoint watch's figures show.
	partners := find(doc, func(n *html.Node) bool { return n.Data == "table" && hasClass(n, "partners") })
	if len(partners) != 1 || len(find(partners[0], func(n *html.Node) bool { return n.Data == "tr" && n.Parent.Data == "tbody" })) != len(r.Partners) {
		t.Error("the partner table does not have one row per federation")
	}
}

func TestHTMLEscapesEverythingFromTheModel(t *testing.T) {
	r := build(t)
	due := now.Add(3 * day)
	evil := assess.Finding{
		ID:         `F-"><img src=x onerror=alert(1)>`,
		Kind:       "federation-cert-expiring",
		Severity:   assess.Critical,
		Dependency: assess.Dependency{Ref: "federation/x", Kind: "federation", ID: "x", Name: `</text><script>alert("dep")</script>`},
		Due:        &due,
		Owner:      &assess.Owner{Name: `o"wner<b>`, Email: "a@b.example"},
		Action:     `<script>alert("action")</script> & 'quoted' "double" </td></tr></table>`,
		Detail:     map[string]string{},
	}
	r.Findings = append(r.Findings, evil)
	r.Map.Nodes = append(r.Map.Nodes, MapNode{ID: "federation/x", Kind: "federation", Name: `<svg onload=alert(2)>`, Findings: []string{evil.ID}})
	r.Gaps = append(r.Gaps, inventory.Gap{Source: `<iframe src="https://evil.example">`, Reason: "<b>no</b>"})
	page := renderPage(t, r)
	doc := parsePage(t, page)

	if n := find(doc, func(n *html.Node) bool { return n.Data == "script" }); len(n) != 1 {
		t.Errorf("%d script elements; only the page's own may exist", len(n))
	}
	for _, tag := range []string{"img", "iframe"} {
		if n := find(doc, func(n *html.Node) bool { return n.Data == tag }); len(n) != 0 {
			t.Errorf("a value became a <%s> element", tag)
		}
	}
	walk(doc, func(n *html.Node) {
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("<%s> got an event handler attribute %s=%q", n.Data, a.Key, a.Val)
			}
		}
	})
	// The values arrive intact, as text and as the row's id.
	row := byID(doc, evil.ID)
	if row == nil {
		t.Fatalf("no row with the id %q", evil.ID)
	}
	cells := find(row, func(n *html.Node) bool { return n.Data == "td" })
	if got := strings.TrimSpace(text(cells[len(cells)-1])); got != evil.Action {
		t.Errorf("action cell reads %q, want %q", got, evil.Action)
	}
	if len(find(cells[4], func(n *html.Node) bool { return n.Data == "b" })) > 0 {
		t.Error("the owner's name became markup")
	}
	if !strings.Contains(text(cells[3]), evil.Dependency.Name) || !strings.Contains(text(cells[4]), evil.Owner.Name) {
		t.Errorf("dependency or owner mangled: %q / %q", text(cells[3]), text(cells[4]))
	}
	if !strings.Contains(text(cells[2]), evil.ID) {
		t.Errorf("the finding ID is not shown: %q", text(cells[2]))
	}
	if !strings.Contains(text(doc), `<iframe src="https://evil.example">`) {
		t.Error("the gap's source is not shown as text")
	}
}

// No URL the browser would load or follow: every href is a fragment of the
// page itself, nothing has a src, the style sheet has no url() or @import,
// the script fetches nothing, and the Content-Security-Policy allows only
// the page's own style sheet and script (by their hashes, checked here
// against the page's actual text). URLs inside prose (an action that says
// "an https:// endpoint", the metadata URL a partner is asked to fix) are
// text, not links.
func TestHTMLReferencesNothingOutside(t *testing.T) {
	r := richReport(t)
	page := renderPage(t, r)
	doc := parsePage(t, page)

	linkAttrs := []string{"href", "xlink:href", "src", "srcset", "action", "formaction", "poster", "data", "background", "ping", "cite", "longdesc", "manifest", "codebase", "usemap"}
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch n.Data {
		case "link", "img", "iframe", "object", "embed", "base", "audio", "video", "source", "image", "foreignobject", "frame", "portal":
			t.Errorf("the page has a <%s> element", n.Data)
		}
		for _, a := range n.Attr {
			key := a.Key
			if a.Namespace != "" {
				key = a.Namespace + ":" + a.Key
			}
			if slices.Contains(linkAttrs, key) && !strings.HasPrefix(a.Val, "#") {
				t.Errorf("<%s %s=%q> points outside the page", n.Data, key, a.Val)
			}
			if key == "style" {
				t.Errorf("<%s> has a style attribute (the policy blocks it)", n.Data)
			}
			if key == "http-equiv" && strings.EqualFold(a.Val, "refresh") {
				t.Error("the page refreshes itself")
			}
		}
	})
	styles := find(doc, func(n *html.Node) bool { return n.Data == "style" })
	scripts := find(doc, func(n *html.Node) bool { return n.Data == "script" })
	if len(styles) != 1 || len(scripts) != 1 {
		t.Fatalf("%d style and %d script elements, want one each", len(styles), len(scripts))
	}
	css, js := text(styles[0]), text(scripts[0])
	if regexp.MustCompile(`(?i)url\s*\(|@import|https?:`).MatchString(css) {
		t.Error("the style sheet refers to something outside")
	}
	if regexp.MustCompile(`https?:|fetch\(|XMLHttpRequest|WebSocket|import\(|\.src\s*=|sendBeacon|innerHTML|eval\(`).MatchString(js) {
		t.Error("the script can load something, or write markup")
	}

	metas := find(doc, func(n *html.Node) bool {
		v, _ := attr(n, "http-equiv")
		return n.Data == "meta" && v == "Content-Security-Policy"
	})
	if len(metas) != 1 {
		t.Fatal("no Content-Security-Policy")
	}
	csp, _ := attr(metas[0], "content")
	hash := func(s string) string {
		h := sha256.Sum256([]byte(s))
		return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
	}
	for _, want := range []string{"default-src 'none'", "style-src " + hash(css), "script-src " + hash(js), "base-uri 'none'", "form-action 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("the policy %q lacks %s", csp, want)
		}
	}
	// The metadata URL's query string (which may carry a key) is not shown:
	// the partner table names the host.
	if strings.Contains(page, "SECRET") {
		t.Error("the metadata URL's query string reached the page")
	}
}

func TestHTMLEndpointAvailability(t *testing.T) {
	r := richReport(t)
	doc := parsePage(t, renderPage(t, r))
	section := find(doc, func(n *html.Node) bool {
		v, _ := attr(n, "aria-labelledby")
		return n.Data == "section" && v == "endpoints-h"
	})
	if len(section) != 1 {
		t.Fatal("no endpoint availability section although the watch has data")
	}
	got := text(section[0])
	for _, want := range []string{"https://sts.fabrikam.example/adfs/ls/", "50.0 %", "93.1 %", "100 %", "99.99 %", "down since 2026-11-24 10:30 UTC (for 1 h)", "–", "Google"} {
		if !strings.Contains(got, want) {
			t.Errorf("endpoint section lacks %q:\n%s", want, got)
		}
	}
	partners := text(find(doc, func(n *html.Node) bool { return n.Data == "table" && hasClass(n, "partners") })[0])
	if !strings.Contains(partners, "Endpoint availability") || !strings.Contains(partners, "93.1 %") || !strings.Contains(partners, "down since") {
		t.Errorf("the partner row does not show its endpoint:\n%s", partners)
	}

	// Without watch data: no section, no column.
	r.Endpoints = nil
	page := renderPage(t, r)
	if strings.Contains(page, `id="endpoints-h"`) || strings.Contains(page, "Endpoint availability") {
		t.Error("the availability section or column is drawn without watch data")
	}
}

func TestHTMLStatesGapsFirst(t *testing.T) {
	page := renderPage(t, build(t))
	gaps := strings.Index(page, "This report is incomplete")
	timeline := strings.Index(page, `id="timeline-h"`)
	if gaps < 0 || gaps > timeline || !strings.Contains(page, "keyvault:https://other.vault.azure.net/") || !strings.Contains(page, "caller lacks secrets/list") {
		t.Errorf("gaps are not stated before the timeline (at %d, timeline at %d)", gaps, timeline)
	}
	r := build(t)
	r.Gaps = nil
	if strings.Contains(renderPage(t, r), "This report is incomplete") {
		t.Error("a complete report says it is incomplete")
	}
}

// Accessibility in the markup: headings in order, table semantics, a text
// alternative for each drawing, and severity as text next to its colour.
func TestHTMLStructure(t *testing.T) {
	r := richReport(t)
	doc := parsePage(t, renderPage(t, r))
	var levels []int
	walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && len(n.Data) == 2 && n.Data[0] == 'h' && n.Data[1] >= '1' && n.Data[1] <= '6' {
			levels = append(levels, int(n.Data[1]-'0'))
		}
	})
	if len(levels) == 0 || levels[0] != 1 || slices.Index(levels[1:], 1) >= 0 {
		t.Errorf("heading levels %v: want one h1 first", levels)
	}
	for i := 1; i < len(levels); i++ {
		if levels[i] > levels[i-1]+1 {
			t.Errorf("heading levels skip: %v", levels)
		}
	}
	for _, id := range []string{"timeline", "map"} {
		svg := byID(doc, id)
		if svg == nil {
			t.Fatalf("no #%s", id)
		}
		labelled, _ := attr(svg, "aria-labelledby")
		described, _ := attr(svg, "aria-describedby")
		if byID(doc, labelled) == nil || byID(doc, described) == nil || len(text(byID(doc, described))) < 40 {
			t.Errorf("#%s has no title and description", id)
		}
	}
	for _, table := range find(doc, func(n *html.Node) bool { return n.Data == "table" }) {
		if len(find(table, func(n *html.Node) bool { return n.Data == "caption" })) != 1 ||
			len(find(table, func(n *html.Node) bool { v, _ := attr(n, "scope"); return n.Data == "th" && v == "col" })) < 4 {
			t.Errorf("table %v lacks a caption or column headers", table.Attr)
		}
	}
	for _, row := range findingRows(t, doc) {
		sev := find(row, func(n *html.Node) bool { return n.Data == "td" })[1]
		cls, _ := attr(sev, "class")
		if word := text(sev); cls != "sev-"+word || !slices.Contains([]string{"info", "warning", "critical", "expired"}, word) {
			t.Errorf("severity cell %q with class %q: colour without the word", word, cls)
		}
	}
}

// The same report gives the same page, whatever order the inventory came
// in; only the generation time differs between two scans.
func TestHTMLIsDeterministic(t *testing.T) {
	a := richReport(t)
	b := richReport(t)
	b.GeneratedAt = a.GeneratedAt
	if renderPage(t, a) != renderPage(t, b) {
		t.Fatal("two renderings of the same report differ")
	}

	inv := tenant()
	inv.Federations = append(inv.Federations, inventory.Federation{ID: "11111111-2222-4333-8444-555555555555", DisplayName: "Adatum", Domains: []string{"adatum.example"},
		SigningCertificate: &inventory.Certificate{SHA256: "EE", NotAfter: now.Add(40 * day)}})
	inv.UserFlows = append(inv.UserFlows, inventory.UserFlow{ID: "B2X_1_second", IdentityProviders: []inventory.UserFlowIdentityProvider{{ID: "Facebook-OAUTH"}, {ID: "11111111-2222-4333-8444-555555555555"}}})
	cfg := testConfig()
	first := Build(inv, assess.Assess(inv, cfg, now), now, "x", WithConfig(cfg))
	rng := rand.New(rand.NewSource(1))
	rng.Shuffle(len(inv.Federations), func(i, j int) { inv.Federations[i], inv.Federations[j] = inv.Federations[j], inv.Federations[i] })
	rng.Shuffle(len(inv.UserFlows), func(i, j int) { inv.UserFlows[i], inv.UserFlows[j] = inv.UserFlows[j], inv.UserFlows[i] })
	rng.Shuffle(len(inv.SocialIdentityProviders), func(i, j int) {
		inv.SocialIdentityProviders[i], inv.SocialIdentityProviders[j] = inv.SocialIdentityProviders[j], inv.SocialIdentityProviders[i]
	})
	second := Build(inv, assess.Assess(inv, cfg, now), now, "x", WithConfig(cfg))
	second.GeneratedAt = first.GeneratedAt
	// Node order follows the inventory, so compare the drawings by what
	// they show, not by index.
	if got, want := mapPicture(second), mapPicture(first); got != want {
		t.Errorf("the map depends on the inventory order:\n%s\nvs\n%s", got, want)
	}
}

// mapPicture is where each node is drawn and what connects, by node ID.
func mapPicture(r Report) string {
	v := buildMapView(r.Map, [4]int{})
	var lines []string
	for _, n := range v.Nodes {
		lines = append(lines, fmt.Sprintf("%s@%v,%v", r.Map.Nodes[n.Index].ID, n.X, n.Y))
	}
	for _, e := range v.Edges {
		lines = append(lines, fmt.Sprintf("%s-%s->%s:%s", r.Map.Nodes[e.From].ID, e.Relation, r.Map.Nodes[e.To].ID, e.D))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func TestHTMLRendersAReportFromAnEarlierRelease(t *testing.T) {
	r := build(t)
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var old map[string]any
	json.Unmarshal(data, &old)
	for _, k := range []string{"map", "partners", "noticeDays", "endpoints"} {
		delete(old, k)
	}
	data, _ = json.Marshal(old)
	var back Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	page := renderPage(t, back)
	doc := parsePage(t, page)
	if len(findingRows(t, doc)) != len(r.Findings) || !strings.Contains(page, "without the dependency map") || !strings.Contains(page, "without the partner table") {
		t.Errorf("an earlier report does not render with its findings and a word on what is missing")
	}
}

func TestMapModel(t *testing.T) {
	r := richReport(t)
	nodes := map[string]MapNode{}
	for _, n := range r.Map.Nodes {
		if _, dup := nodes[n.ID]; dup {
			t.Errorf("node %s twice", n.ID)
		}
		nodes[n.ID] = n
	}
	edges := map[string]bool{}
	for _, e := range r.Map.Edges {
		edges[e.From+" "+e.Relation+" "+e.To+" "+e.Step] = true
		if _, ok := nodes[e.From]; !ok {
			t.Errorf("edge from unknown node %s", e.From)
		}
		if _, ok := nodes[e.To]; !ok {
			t.Errorf("edge to unknown node %s", e.To)
		}
	}
	fed := "federation/0f8fad5b-d9cb-469f-a165-70867728950e"
	for _, want := range []string{
		"userflow/B2X_1_partners offers social/Google-OAUTH ",
		"userflow/B2X_1_partners offers emailotp/email ",
		"userflow/B2X_1_partners calls connector/" + connID + " postAttributeCollection",
		"social/Google-OAUTH backedBy keyvault/kv.vault.azure.net/google-client-secret ",
		"social/Google-OAUTH ownedBy owner/identity-team ",
		fed + " ownedBy owner/fabrikam-it ",
		"social/Facebook-OAUTH ownedBy owner/fallback ",
	} {
		if !edges[want] {
			t.Errorf("no edge %q", want)
		}
	}
	if n := nodes[fed]; !slices.Equal(n.Domains, []string{"fabrikam.example"}) || n.WorstSeverity == nil || *n.WorstSeverity != assess.Critical {
		t.Errorf("federation node %+v", n)
	}
	// Every finding hangs on its dependency's node; a user flow's node
	// holds the findings that break it; a secret's node those about it.
	for _, f := range r.Findings {
		if n, ok := nodes[f.Dependency.Ref]; ok && !slices.Contains(n.Findings, f.ID) {
			t.Errorf("%s is not on node %s", f.ID, f.Dependency.Ref)
		}
		for _, uf := range f.ImpactedUserFlows {
			if !slices.Contains(nodes["userflow/"+uf].Findings, f.ID) {
				t.Errorf("%s breaks %s but is not on its node", f.ID, uf)
			}
		}
		if f.Detail["secretName"] == "google-client-secret" && !slices.Contains(nodes["keyvault/kv.vault.azure.net/google-client-secret"].Findings, f.ID) {
			t.Errorf("%s is about the secret but not on its node", f.ID)
		}
	}
	// The JSON validates, endpoints included.
	var buf bytes.Buffer
	if err := Write(&buf, r, "json"); err != nil {
		t.Fatal(err)
	}
	validate(t, buf.Bytes())
	if !strings.Contains(buf.String(), `"1d": 0.5`) || !strings.Contains(buf.String(), `"30d": 1`) {
		t.Error("availability shares are not written (or not clamped to 1)")
	}
}

func TestPartnerMetadataStatus(t *testing.T) {
	inv := tenant()
	fed := inv.Federations[0]
	cfg := testConfig()
	withURL := func() *config.Config {
		c := *cfg
		c.Dependencies = append(slices.Clone(cfg.Dependencies), config.Dependency{Ref: "federation/" + fed.ID, Metadata: &config.Metadata{URL: "https://idp.example/md?x=1"}})
		return &c
	}
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	cases := []struct {
		name   string
		cfg    *config.Config
		checks []MetadataCheck
		want   string
	}{
		{"no URL", cfg, nil, MetadataNone},
		{"URL, never fetched", withURL(), nil, MetadataNotChecked},
		{"fetched an hour ago", withURL(), []MetadataCheck{{Plan: metadata.ChangePlan{PartnerID: fed.ID, Outcome: metadata.OutcomeInSync}, LastGood: ago(time.Hour)}}, MetadataVerified},
		{"last good three days ago", withURL(), []MetadataCheck{{Plan: metadata.ChangePlan{PartnerID: fed.ID, Outcome: metadata.OutcomeInSync}, LastGood: ago(72 * time.Hour)}}, MetadataStale},
		{"failing", withURL(), []MetadataCheck{{Plan: metadata.ChangePlan{PartnerID: strings.ToUpper(fed.ID), Outcome: metadata.OutcomeMetadataFailure, Reason: "unreachable"}, LastGood: ago(time.Hour)}}, MetadataFailing},
	}
	for _, c := range cases {
		r := Build(inv, assess.Assess(inv, c.cfg, now), now, "x", WithConfig(c.cfg), WithMetadata(c.checks))
		p := r.Partners[0]
		if p.Metadata.Status != c.want {
			t.Errorf("%s: status %q, want %q", c.name, p.Metadata.Status, c.want)
		}
		if c.cfg != cfg && p.Metadata.Host != "idp.example" {
			t.Errorf("%s: host %q", c.name, p.Metadata.Host)
		}
	}
}

func TestPartnerAsk(t *testing.T) {
	inv := tenant()
	fed := inv.Federations[0] // certificate expires in 5 days: critical
	ref := "federation/" + fed.ID
	cases := []struct {
		name  string
		owner *config.Owner
		party string
		kind  string
	}{
		{"external owner: the partner moves", &config.Owner{Name: "fab", Email: "sso@fabrikam.example", Organisation: "Fabrikam"}, PartyPartner, assess.KindFederationCertExpiring},
		{"internal owner: we move", &config.Owner{Name: "us", Email: "us@contoso.example", Internal: true}, PartyTenant, assess.KindFederationCertExpiring},
		{"nobody named: naming comes first", nil, PartyTenant, assess.KindFederationNoOwner},
	}
	for _, c := range cases {
		cfg := testConfig()
		if c.owner != nil {
			cfg.Owners = append(cfg.Owners, *c.owner)
			cfg.Dependencies = append(cfg.Dependencies, config.Dependency{Ref: ref, Owner: c.owner.Name})
		}
		findings := assess.Assess(inv, cfg, now)
		r := Build(inv, findings, now, "x", WithConfig(cfg))
		ask := r.Partners[0].Ask
		if ask == nil || ask.Party != c.party {
			t.Fatalf("%s: ask %+v", c.name, ask)
		}
		var kind string
		for _, f := range findings {
			if f.ID == ask.Finding {
				kind = f.Kind
			}
		}
		if kind != c.kind {
			t.Errorf("%s: the ask is about %s, want %s", c.name, kind, c.kind)
		}
		if c.party == PartyPartner && !strings.Contains(ask.Text, "Publish your next token-signing certificate") {
			t.Errorf("%s: the partner is asked %q", c.name, ask.Text)
		}
	}
}

func TestTimelineLayout(t *testing.T) {
	r := richReport(t)
	// Spread findings over the whole range: long overdue, now, soon, the
	// edge of the window, and far away.
	due := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	dues := []*time.Time{due(-700 * day), due(-1 * day), due(0), due(time.Hour), due(90 * day), due(180 * day), due(181 * day), due(900 * day)}
	for i := range r.Findings {
		r.Findings[i].Due = dues[i%len(dues)]
	}
	tv := buildTimeline(r)
	if tv == nil || tv.Marks != len(r.Findings) {
		t.Fatalf("timeline has %v marks for %d dated findings", tv, len(r.Findings))
	}
	for _, row := range tv.Rows {
		for i, m := range row.Marks {
			if m.X < tlPastX0 || m.X > tlLaterX1 {
				t.Errorf("mark of %s at x=%v is outside the drawing", m.Finding, m.X)
			}
			if i > 0 && m.X-row.Marks[i-1].X < tlMarkGap-0.11 {
				t.Errorf("marks %s and %s overlap (%v, %v)", row.Marks[i-1].Finding, m.Finding, row.Marks[i-1].X, m.X)
			}
		}
	}
	// Placement keeps the order of dates across the three bands.
	xs := []float64{}
	for _, d := range dues {
		xs = append(xs, timelineX(*d, now, 700, 720))
	}
	if !slices.IsSorted(xs) || xs[0] > tlPastX1 || xs[2] != tlMainX0 || xs[5] != tlMainX1 || xs[6] < tlLaterX0 {
		t.Errorf("timeline positions %v", xs)
	}
}

func TestMapLayout(t *testing.T) {
	r := richReport(t)
	v := buildMapView(r.Map, [4]int{})
	byCol := map[int][]mapNodeView{}
	for _, n := range v.Nodes {
		byCol[n.Column] = append(byCol[n.Column], n)
		if n.Column != nodeColumn(r.Map.Nodes[n.Index].Kind) || n.X != mapColumnX[n.Column] {
			t.Errorf("node %s in column %d at x=%v", r.Map.Nodes[n.Index].ID, n.Column, n.X)
		}
		if n.Y+mapNodeH > v.Height {
			t.Errorf("node %s below the drawing", r.Map.Nodes[n.Index].ID)
		}
	}
	for c, ns := range byCol {
		slices.SortFunc(ns, func(a, b mapNodeView) int { return int(a.Y - b.Y) })
		for i := 1; i < len(ns); i++ {
			if ns[i].Y-ns[i-1].Y < mapNodeH {
				t.Errorf("column %d: %s and %s overlap", c, ns[i-1].Name, ns[i].Name)
			}
		}
	}
	if len(byCol[0]) != 1 || len(byCol[3]) < 2 || len(v.Edges) != len(r.Map.Edges) {
		t.Errorf("columns %d/%d/%d/%d, %d edges", len(byCol[0]), len(byCol[1]), len(byCol[2]), len(byCol[3]), len(v.Edges))
	}
}

func TestNaturalOrder(t *testing.T) {
	names := []string{"Partner 10", "partner 9", "Partner 100", "Partner 09a", "Adatum", "Partner 1", "partner"}
	slices.SortFunc(names, func(a, b string) int {
		if naturalLess(a, b) {
			return -1
		}
		if naturalLess(b, a) {
			return 1
		}
		return 0
	})
	want := []string{"Adatum", "partner", "Partner 1", "partner 9", "Partner 09a", "Partner 10", "Partner 100"}
	if !slices.Equal(names, want) {
		t.Errorf("natural order %q, want %q", names, want)
	}
}
