package report

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// The drawings are laid out here, in Go, so that the same report always
// gives the same picture (no layout library, no randomness) and the layout
// is tested like any other function. Coordinates are in the SVG's viewBox
// units; the page scales the drawing to its width.

// TimelineDays is how far ahead the expiry timeline looks.
const TimelineDays = 180

// The drawings of a large tenant show its most urgent part; the partners
// and findings tables list everything. Far above the 500-partner tenant
// (its page stays as it was); at 5,000 partners the full map was an SVG
// 336,000 units tall holding half of an 11 MB page.
const (
	// TimelineMaxRows is how many dependencies the timeline draws, those
	// due soonest.
	TimelineMaxRows = 1000
	// MapMaxNodesPerColumn is how many identity providers and connectors,
	// Key Vault secrets, and owners the map draws each: those with the
	// most urgent findings first. User flows are always all drawn.
	MapMaxNodesPerColumn = 1000
)

// Timeline geometry (viewBox units).
const (
	tlWidth    = 1100.0
	tlLabelW   = 236.0 // dependency names
	tlPastX0   = 244.0 // overdue band
	tlPastX1   = 322.0
	tlMainX0   = 334.0 // now … now+TimelineDays
	tlMainX1   = 1006.0
	tlLaterX0  = 1018.0 // further than TimelineDays
	tlLaterX1  = 1092.0
	tlRowH     = 24.0
	tlTop      = 6.0
	tlMarkGap  = 9.0 // marks closer than this in a row are pushed apart
	tlAxisH    = 40.0
	tlLabelMax = 34 // runes of a row label
)

type timelineView struct {
	Width, Height, AxisHeight float64
	PastX0, PastX1            float64
	MainX0, MainX1            float64
	LaterX0, LaterX1          float64
	HasPast, HasLater         bool
	PastW, PastMid            float64
	ZebraY, ZebraH, ZebraRowH float64
	LaterW, LaterMid          float64
	Rows                      []timelineRow
	Months                    []timelineMonth
	Grid                      string // path of the month lines
	Marks                     int
	Later                     int // marks further than TimelineDays
	Desc                      string
	// Hidden is how many dependencies with dated findings are not drawn
	// (TimelineMaxRows).
	Hidden int
}

type timelineRow struct {
	Y, TextY   float64
	Label, Sub string
	Title      string // the full name when Label is cut
	Ticks      string // path: the notice stages of the row's due dates
	Marks      []timelineMark
}

type timelineMark struct {
	X, Y     float64
	Severity string
	Finding  string
	Label    string
}

type timelineMonth struct {
	X     float64
	Label string
}

func dayDiff(a, b time.Time) float64 { return a.Sub(b).Hours() / 24 }

// timelineX places a due date: linear over the next TimelineDays, and
// logarithmic in the two side bands (overdue, later), where exact
// distances matter less than order.
func timelineX(due, now time.Time, maxPast, maxLater float64) float64 {
	d := dayDiff(due, now)
	switch {
	case d < 0:
		pos := 1.0
		if maxPast > 0 {
			pos = math.Log1p(-d) / math.Log1p(maxPast)
		}
		return tlPastX1 - 4 - pos*(tlPastX1-tlPastX0-8)
	case d <= TimelineDays:
		return tlMainX0 + d/TimelineDays*(tlMainX1-tlMainX0)
	default:
		pos := 1.0
		if maxLater > 0 {
			pos = math.Log1p(d-TimelineDays) / math.Log1p(maxLater)
		}
		return tlLaterX0 + 4 + pos*(tlLaterX1-tlLaterX0-8)
	}
}

// buildTimeline draws one row per dependency with a dated finding, rows in
// order of their earliest due date, one mark per dated finding.
func buildTimeline(r Report) *timelineView {
	now := r.EvaluatedAt
	type group struct {
		ref, name, kind string
		first           time.Time
		findings        []assess.Finding
	}
	groups := map[string]*group{}
	var order []*group
	maxPast, maxLater := 0.0, 0.0
	for _, f := range r.Findings {
		if f.Due == nil {
			continue
		}
		key := strings.ToLower(f.Dependency.Ref)
		g := groups[key]
		if g == nil {
			g = &group{ref: f.Dependency.Ref, name: dependencyName(f.Dependency), kind: f.Dependency.Kind, first: *f.Due}
			groups[key] = g
			order = append(order, g)
		}
		if f.Due.Before(g.first) {
			g.first = *f.Due
		}
		g.findings = append(g.findings, f)
		d := dayDiff(*f.Due, now)
		if d < 0 {
			maxPast = math.Max(maxPast, -d)
		} else if d > TimelineDays {
			maxLater = math.Max(maxLater, d-TimelineDays)
		}
	}
	if len(order) == 0 {
		return nil
	}
	sort.SliceStable(order, func(i, j int) bool {
		if !order[i].first.Equal(order[j].first) {
			return order[i].first.Before(order[j].first)
		}
		return naturalLess(order[i].name, order[j].name)
	})

	hidden := 0
	if len(order) > TimelineMaxRows {
		hidden = len(order) - TimelineMaxRows
		order = order[:TimelineMaxRows]
	}
	tv := &timelineView{
		Hidden: hidden,
		Width:  tlWidth, AxisHeight: tlAxisH,
		PastX0: tlPastX0, PastX1: tlPastX1, MainX0: tlMainX0, MainX1: tlMainX1, LaterX0: tlLaterX0, LaterX1: tlLaterX1,
		HasPast: maxPast > 0, HasLater: maxLater > 0,
		PastW: tlPastX1 - tlPastX0, PastMid: (tlPastX0 + tlPastX1) / 2,
		ZebraY: tlTop, ZebraH: 2 * tlRowH, ZebraRowH: tlRowH,
		LaterW: tlLaterX1 - tlLaterX0, LaterMid: (tlLaterX0 + tlLaterX1) / 2,
	}
	for i, g := range order {
		y := tlTop + float64(i)*tlRowH + tlRowH/2
		row := timelineRow{
			Y: y, TextY: y + 4,
			Label: truncate(g.name, tlLabelMax-runeLen(shortKind(g.kind))), Sub: shortKind(g.kind),
		}
		if row.Label != g.name {
			row.Title = g.name // the label was cut
		}
		fs := append([]assess.Finding(nil), g.findings...)
		xs := make([]float64, len(fs))
		for k, f := range fs {
			xs[k] = timelineX(*f.Due, now, maxPast, maxLater)
		}
		idx := make([]int, len(fs))
		for k := range idx {
			idx[k] = k
		}
		// Left to right; at the same place the most urgent is drawn first.
		sort.SliceStable(idx, func(a, b int) bool {
			if xs[idx[a]] != xs[idx[b]] {
				return xs[idx[a]] < xs[idx[b]]
			}
			return fs[idx[a]].Severity > fs[idx[b]].Severity
		})
		prev := math.Inf(-1)
		var tickXs []float64
		seenDue := map[int64]bool{}
		for _, k := range idx {
			f := fs[k]
			x := math.Max(xs[k], prev+tlMarkGap)
			prev = x
			row.Marks = append(row.Marks, timelineMark{
				X: round1(x), Y: y, Severity: f.Severity.String(), Finding: f.ID,
				Label: fmt.Sprintf("%s: %s, %s, due %s", g.name, f.Kind, f.Severity, f.Due.UTC().Format("2006-01-02")),
			})
			if dayDiff(*f.Due, now) > TimelineDays {
				tv.Later++
			}
			if seenDue[f.Due.Unix()] || !f.Due.After(now) {
				continue
			}
			seenDue[f.Due.Unix()] = true
			for _, n := range r.NoticeDays {
				stage := f.Due.AddDate(0, 0, -n)
				if stage.Before(now) || dayDiff(stage, now) > TimelineDays {
					continue
				}
				tickXs = append(tickXs, round1(timelineX(stage, now, maxPast, maxLater)))
			}
		}
		row.Ticks = tickPath(tickXs)
		tv.Marks += len(row.Marks)
		tv.Rows = append(tv.Rows, row)
	}
	tv.Height = tlTop*2 + float64(len(order))*tlRowH

	// Month starts along the main span.
	var grid strings.Builder
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0)
	end := now.AddDate(0, 0, TimelineDays)
	for m := first; !m.After(end); m = m.AddDate(0, 1, 0) {
		x := round1(timelineX(m, now, maxPast, maxLater))
		label := m.Format("Jan")
		if m.Month() == time.January {
			label = m.Format("Jan 2006")
		}
		tv.Months = append(tv.Months, timelineMonth{X: x, Label: label})
		fmt.Fprintf(&grid, "M%s 0V%s", ftoa(x), ftoa(tv.Height))
	}
	tv.Grid = grid.String()
	tv.Desc = fmt.Sprintf("%d dated finding%s on %d dependenc%s, from %s. The notice stages (%s days before each due date) are drawn as ticks. The findings table below lists the same findings.",
		tv.Marks, plural(tv.Marks), len(order), pluralY(len(order)), now.Format("2006-01-02"), joinInts(r.NoticeDays))
	if hidden > 0 {
		tv.Desc += fmt.Sprintf(" %d more dependenc%s, due later, are not drawn; the findings table lists them.", hidden, pluralY(hidden))
	}
	return tv
}

// Map geometry (viewBox units).
const (
	mapWidth = 1100.0
	mapNodeH = 38.0
	mapGap   = 10.0
	mapTop   = 34.0 // room for the column titles
)

// Column positions and node widths: user flow names are short, the other
// columns carry domains, vault names and addresses. The widths are in the
// style sheet too (.node rect).
var (
	mapColumnX = [4]float64{4, 226, 558, 834}
	mapNodeW   = [4]float64{190, 300, 244, 260}
	// What fits on a node's two lines (name 12.5px bold, second line
	// 10.5px), in characters.
	mapNameMax = [4]int{20, 35, 27, 29}
	mapSubMax  = [4]int{25, 43, 34, 36}
)

var mapColumnTitles = [4]string{
	"User flows",
	"Identity providers, connectors",
	"Key Vault",
	"Owners",
}

type mapView struct {
	Width, Height float64
	Columns       []mapColumn
	Nodes         []mapNodeView
	Edges         []mapEdgeView
	Desc          string
	// Hidden says what a large tenant's map leaves out ("" when nothing).
	Hidden string
}

type mapColumn struct {
	X, TextX float64
	Title    string
}

type mapNodeView struct {
	Index           int
	X, Y            float64
	Kind, KindShort string
	Name, Sub       string
	Full            string // name and second line in full, when either was cut
	Severity        string // "none" without findings
	Label           string // accessible name
	Findings        int
	Column          int
	Neighbours      string
	HasSeverityIcon bool
}

type mapEdgeView struct {
	D        string
	From, To int
	Relation string
}

func nodeColumn(kind string) int {
	switch kind {
	case inventory.KindUserFlow:
		return 0
	case NodeSecret, NodeCertificate:
		return 2
	case NodeOwner:
		return 3
	}
	return 1
}

var kindOrder = map[string]int{
	inventory.KindSocial: 0, inventory.KindFederation: 1, inventory.KindConnector: 2,
	inventory.KindEmailOTP: 3, NodeBuiltin: 4,
}

var kindLabels = map[string]string{
	inventory.KindUserFlow:   "user flow",
	inventory.KindSocial:     "social identity provider",
	inventory.KindFederation: "SAML/WS-Fed federation",
	inventory.KindConnector:  "API connector",
	inventory.KindEmailOTP:   "built-in fallback",
	NodeBuiltin:              "built-in identity provider",
	NodeSecret:               "Key Vault secret",
	NodeCertificate:          "Key Vault certificate",
	NodeOwner:                "owner",
}

func kindLabel(k string) string {
	if l, ok := kindLabels[k]; ok {
		return l
	}
	return k
}

// drawnMap is the part of m the page draws: every user flow, and in each
// other column at most MapMaxNodesPerColumn nodes, those with the most
// urgent findings (then the most findings, then by name) first; the edges
// between drawn nodes. hidden counts what was left out, by column.
func drawnMap(m *DependencyMap) (drawn *DependencyMap, hidden [4]int) {
	if m == nil {
		return nil, hidden
	}
	var cols [4][]int
	for i, nd := range m.Nodes {
		c := nodeColumn(nd.Kind)
		cols[c] = append(cols[c], i)
	}
	over := false
	for c := 1; c < 4; c++ {
		over = over || len(cols[c]) > MapMaxNodesPerColumn
	}
	if !over {
		return m, hidden
	}
	urgency := func(i int) int {
		if s := m.Nodes[i].WorstSeverity; s != nil {
			return int(*s) + 1
		}
		return 0
	}
	keep := make([]bool, len(m.Nodes))
	for c := range cols {
		idx := cols[c]
		if c > 0 && len(idx) > MapMaxNodesPerColumn {
			sort.SliceStable(idx, func(a, b int) bool {
				ia, ib := idx[a], idx[b]
				if ua, ub := urgency(ia), urgency(ib); ua != ub {
					return ua > ub
				}
				if fa, fb := len(m.Nodes[ia].Findings), len(m.Nodes[ib].Findings); fa != fb {
					return fa > fb
				}
				return naturalLess(m.Nodes[ia].Name, m.Nodes[ib].Name)
			})
			hidden[c] = len(idx) - MapMaxNodesPerColumn
			idx = idx[:MapMaxNodesPerColumn]
		}
		for _, i := range idx {
			keep[i] = true
		}
	}
	out := &DependencyMap{Nodes: []MapNode{}, Edges: []MapEdge{}}
	kept := map[string]bool{}
	for i, nd := range m.Nodes {
		if keep[i] {
			out.Nodes = append(out.Nodes, nd)
			kept[strings.ToLower(nd.ID)] = true
		}
	}
	for _, e := range m.Edges {
		if kept[strings.ToLower(e.From)] && kept[strings.ToLower(e.To)] {
			out.Edges = append(out.Edges, e)
		}
	}
	return out, hidden
}

// buildMapView lays the map out in four columns. Column 2 (identity
// providers and connectors) is packed top to bottom, ordered by the first
// user flow that uses each; the other columns sit next to what they connect
// to (the mean height of their neighbours), pushed apart where they would
// overlap. Every tie is broken by name, so the layout is a function of the
// report.
func buildMapView(m *DependencyMap, hidden [4]int) *mapView {
	if m == nil || len(m.Nodes) == 0 {
		return nil
	}
	n := len(m.Nodes)
	idx := make(map[string]int, n)
	for i, nd := range m.Nodes {
		idx[strings.ToLower(nd.ID)] = i
	}
	adj := make([][]int, n)
	type edge struct {
		a, b int
		rel  string
	}
	var edges []edge
	for _, e := range m.Edges {
		a, okA := idx[strings.ToLower(e.From)]
		b, okB := idx[strings.ToLower(e.To)]
		if !okA || !okB {
			continue
		}
		adj[a] = append(adj[a], b)
		adj[b] = append(adj[b], a)
		edges = append(edges, edge{a, b, e.Relation})
	}
	cols := [4][]int{}
	for i, nd := range m.Nodes {
		c := nodeColumn(nd.Kind)
		cols[c] = append(cols[c], i)
	}
	nameLess := func(i, j int) bool {
		a, b := m.Nodes[i], m.Nodes[j]
		if !strings.EqualFold(a.Name, b.Name) {
			return naturalLess(a.Name, b.Name)
		}
		return strings.ToLower(a.ID) < strings.ToLower(b.ID)
	}
	step := mapNodeH + mapGap
	y := make([]float64, n)

	// Column 1: user flows by name.
	sort.SliceStable(cols[0], func(a, b int) bool { return nameLess(cols[0][a], cols[0][b]) })
	rank := make([]float64, n)
	for r, i := range cols[0] {
		rank[i] = float64(r)
	}
	// Column 2: by the first user flow using it (unused last), kind, name.
	firstFlow := func(i int) float64 {
		best := math.Inf(1)
		for _, j := range adj[i] {
			if nodeColumn(m.Nodes[j].Kind) == 0 {
				best = math.Min(best, rank[j])
			}
		}
		return best
	}
	sort.SliceStable(cols[1], func(a, b int) bool {
		ia, ib := cols[1][a], cols[1][b]
		fa, fb := firstFlow(ia), firstFlow(ib)
		if fa != fb {
			return fa < fb
		}
		ka, kb := kindOrder[m.Nodes[ia].Kind], kindOrder[m.Nodes[ib].Kind]
		if ka != kb {
			return ka < kb
		}
		return nameLess(ia, ib)
	})
	for r, i := range cols[1] {
		y[i] = mapTop + float64(r)*step
	}
	// The others: next to their neighbours in column 2.
	place := func(col int) {
		want := make(map[int]float64, len(cols[col]))
		for _, i := range cols[col] {
			sum, cnt := 0.0, 0
			for _, j := range adj[i] {
				if nodeColumn(m.Nodes[j].Kind) == 1 {
					sum += y[j]
					cnt++
				}
			}
			if cnt == 0 {
				want[i] = math.Inf(1) // unconnected: at the end
			} else {
				want[i] = sum / float64(cnt)
			}
		}
		sort.SliceStable(cols[col], func(a, b int) bool {
			ia, ib := cols[col][a], cols[col][b]
			if want[ia] != want[ib] {
				return want[ia] < want[ib]
			}
			return nameLess(ia, ib)
		})
		next := mapTop
		for _, i := range cols[col] {
			w := want[i]
			if math.IsInf(w, 1) || w < next {
				w = next
			}
			y[i] = w
			next = w + step
		}
	}
	place(2)
	place(3)
	// Column 1 last: a flow sits at the mean of what it offers and calls.
	place(0)

	v := &mapView{Width: mapWidth}
	for c, t := range mapColumnTitles {
		v.Columns = append(v.Columns, mapColumn{X: mapColumnX[c], TextX: mapColumnX[c] + 2, Title: t})
	}
	bottom := mapTop
	for i, nd := range m.Nodes {
		c := nodeColumn(nd.Kind)
		x := mapColumnX[c]
		sev := "none"
		if nd.WorstSeverity != nil {
			sev = nd.WorstSeverity.String()
		}
		sub := kindLabel(nd.Kind)
		switch {
		case len(nd.Domains) > 0:
			sub = strings.Join(nd.Domains, ", ")
		case nd.Vault != "":
			sub = strings.TrimSuffix(nd.Vault, ".vault.azure.net")
			sub = map[string]string{NodeSecret: "secret", NodeCertificate: "certificate"}[nd.Kind] + " · " + sub
		case nd.Owner != nil:
			sub = nd.Owner.Email
			if nd.Owner.Organisation != "" {
				sub = nd.Owner.Organisation + " · " + sub
			}
		}
		// The accessible name; the domains and address are the node's
		// visible second line, read with it.
		label := fmt.Sprintf("%s (%s)", nd.Name, shortKind(nd.Kind))
		if nd.Owner != nil {
			label += ", " + sub
		}
		if nd.WorstSeverity != nil {
			label += fmt.Sprintf(": %d finding%s, worst %s", len(nd.Findings), plural(len(nd.Findings)), sev)
		} else {
			label += ": no findings"
		}
		var nb []string
		for _, j := range adj[i] {
			nb = append(nb, strconv.Itoa(j))
		}
		nv := mapNodeView{
			Index: i, X: x, Y: round1(y[i]),
			Kind: nd.Kind, KindShort: shortKind(nd.Kind), Name: truncate(nd.Name, mapNameMax[c]), Sub: truncate(sub, mapSubMax[c]),
			Full:     fullIfCut(nd.Name, mapNameMax[c], sub, mapSubMax[c]),
			Severity: sev, Label: label, Findings: len(nd.Findings), Column: c,
			Neighbours: strings.Join(nb, " "), HasSeverityIcon: nd.WorstSeverity != nil,
		}
		v.Nodes = append(v.Nodes, nv)
		bottom = math.Max(bottom, y[i]+mapNodeH)
	}
	for _, e := range edges {
		a, b := e.a, e.b
		if nodeColumn(m.Nodes[a].Kind) > nodeColumn(m.Nodes[b].Kind) {
			a, b = b, a
		}
		ca := nodeColumn(m.Nodes[a].Kind)
		x1, y1 := mapColumnX[ca]+mapNodeW[ca], y[a]+mapNodeH/2
		x2, y2 := mapColumnX[nodeColumn(m.Nodes[b].Kind)], y[b]+mapNodeH/2
		mid := (x1 + x2) / 2
		d := fmt.Sprintf("M%s %sC%s %s %s %s %s %s", ftoa(x1), ftoa(y1), ftoa(mid), ftoa(y1), ftoa(mid), ftoa(y2), ftoa(x2), ftoa(y2))
		v.Edges = append(v.Edges, mapEdgeView{D: d, From: a, To: b, Relation: e.rel})
	}
	v.Height = bottom + 6
	counts := map[int]int{}
	for _, nd := range v.Nodes {
		counts[nd.Column]++
	}
	v.Desc = fmt.Sprintf("%d user flow%s, %d identity provider%s and API connector%s, %d Key Vault secret%s and certificate%s, %d owner%s, %d connection%s. Each node is coloured and marked by its most urgent finding; select one to show only its findings in the table below.",
		counts[0], plural(counts[0]), counts[1], plural(counts[1]), plural(counts[1]), counts[2], plural(counts[2]), plural(counts[2]), counts[3], plural(counts[3]), len(v.Edges), plural(len(v.Edges)))
	if n := hidden[1] + hidden[2] + hidden[3]; n > 0 {
		v.Hidden = fmt.Sprintf("The map draws the %d most urgent of each column; %d identity provider%s and connector%s, %d Key Vault secret%s and %d owner%s are left out. The partners and findings tables list them all.",
			MapMaxNodesPerColumn, hidden[1], plural(hidden[1]), plural(hidden[1]), hidden[2], plural(hidden[2]), hidden[3], plural(hidden[3]))
		v.Desc += " " + v.Hidden
	}
	return v
}

// naturalLess orders names as people do: case-insensitively, and runs of
// digits by their value ("Partner 9" before "Partner 10").
func naturalLess(a, b string) bool {
	a, b = strings.ToLower(a), strings.ToLower(b)
	for a != "" && b != "" {
		da, db := digitsPrefix(a), digitsPrefix(b)
		if da != "" && db != "" {
			na, nb := strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		ra, sa := utf8.DecodeRuneInString(a)
		rb, sb := utf8.DecodeRuneInString(b)
		if ra != rb {
			return ra < rb
		}
		a, b = a[sa:], b[sb:]
	}
	return len(a) < len(b)
}

func digitsPrefix(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// tickPath draws 10-unit vertical ticks centred on the row at xs, with
// relative moves (the timeline of a large tenant has thousands).
func tickPath(xs []float64) string {
	sort.Float64s(xs)
	var b strings.Builder
	prev := math.NaN()
	for _, x := range xs {
		switch {
		case x == prev:
			continue
		case math.IsNaN(prev):
			fmt.Fprintf(&b, "M%s-5v10", ftoa(x))
		default:
			fmt.Fprintf(&b, "m%s-10v10", ftoa(x-prev))
		}
		prev = x
	}
	return b.String()
}

// shortKind names a dependency kind in a few letters, for row labels.
func shortKind(kind string) string {
	switch kind {
	case inventory.KindUserFlow:
		return "user flow"
	case inventory.KindEmailOTP:
		return "email OTP"
	case inventory.KindSocial:
		return "social IdP"
	}
	return kind
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }

func dependencyName(d assess.Dependency) string {
	if d.Name != "" {
		return d.Name
	}
	if d.ID != "" {
		return d.ID
	}
	return d.Ref
}

// fullIfCut is "name — sub" when either does not fit its line, for the
// node's tooltip and accessible name; "" when both fit.
func fullIfCut(name string, nameMax int, sub string, subMax int) string {
	if runeLen(name) <= nameMax && runeLen(sub) <= subMax {
		return ""
	}
	return name + " — " + sub
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

func ftoa(f float64) string { return strconv.FormatFloat(round1(f), 'f', -1, 64) }

func pluralY(n int) string {
	if n == 1 {
		return "y"
	}
	return "ies"
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, "/")
}
