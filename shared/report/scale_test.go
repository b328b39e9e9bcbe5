package report

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// largeReport has n partners, every third with a finding (due one day
// apart, the first ones the most urgent), one user flow offering them
// all, and an owner each.
func largeReport(n int) Report {
	now := time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
	r := Report{EvaluatedAt: now, Map: &DependencyMap{}}
	flow := inventory.Ref(inventory.KindUserFlow, "B2X_1_All")
	r.Map.Nodes = append(r.Map.Nodes, MapNode{ID: flow, Kind: inventory.KindUserFlow, Name: "B2X_1_All"})
	for i := 0; i < n; i++ {
		ref := inventory.Ref(inventory.KindFederation, fmt.Sprintf("p%05d", i))
		node := MapNode{ID: ref, Kind: inventory.KindFederation, Name: fmt.Sprintf("Partner %05d", i)}
		owner := MapNode{ID: fmt.Sprintf("owner/p%05d", i), Kind: NodeOwner, Name: fmt.Sprintf("owner %d", i)}
		if i%3 == 0 {
			due := now.AddDate(0, 0, i/3+1)
			sev := assess.Warning
			if i < 30 {
				sev = assess.Expired
			}
			f := assess.Finding{ID: fmt.Sprintf("F-%05d", i), Kind: assess.KindFederationCertExpiring, Severity: sev, Due: &due,
				Dependency: assess.Dependency{Ref: ref, Kind: inventory.KindFederation, ID: fmt.Sprintf("p%05d", i), Name: node.Name}}
			r.Findings = append(r.Findings, f)
			node.Findings, node.WorstSeverity = []string{f.ID}, &sev
			owner.Findings, owner.WorstSeverity = []string{f.ID}, &sev
		}
		r.Map.Nodes = append(r.Map.Nodes, node, owner)
		r.Map.Edges = append(r.Map.Edges, MapEdge{From: flow, To: ref, Relation: RelOffers}, MapEdge{From: ref, To: owner.ID, Relation: RelOwnedBy})
	}
	return r
}

// A large tenant's map draws every user flow and, in each other column,
// MapMaxNodesPerColumn nodes, the most urgent first, with only the edges
// between drawn nodes; the findings table points at drawn nodes only; the
// timeline draws the TimelineMaxRows dependencies due soonest and says how
// many more there are. A smaller tenant is drawn whole.
func TestLargeTenantDrawingsAreBounded(t *testing.T) {
	small, hidden := drawnMap(largeReport(300).Map)
	if len(small.Nodes) != 1+600 || hidden != [4]int{} {
		t.Fatalf("a 300-partner map was cut: %d nodes, hidden %v", len(small.Nodes), hidden)
	}

	const n = 4500 // 1,500 with findings
	r := largeReport(n)
	drawn, hidden := drawnMap(r.Map)
	cols := [4]int{}
	kept := map[string]bool{}
	for _, nd := range drawn.Nodes {
		cols[nodeColumn(nd.Kind)]++
		kept[nd.ID] = true
	}
	if cols != [4]int{1, MapMaxNodesPerColumn, 0, MapMaxNodesPerColumn} || hidden[1] != n-MapMaxNodesPerColumn || hidden[3] != n-MapMaxNodesPerColumn {
		t.Fatalf("columns %v, hidden %v", cols, hidden)
	}
	// The 1,000 drawn partners are partners with findings, the expired
	// ones among them.
	for _, nd := range drawn.Nodes {
		if nd.Kind == inventory.KindFederation && nd.WorstSeverity == nil {
			t.Fatalf("%s drawn without findings while partners with findings were left out", nd.Name)
		}
	}
	if !kept[inventory.Ref(inventory.KindFederation, "p00000")] || !kept[inventory.Ref(inventory.KindFederation, "p00027")] {
		t.Error("an expired partner was left out")
	}
	for _, e := range drawn.Edges {
		if !kept[e.From] || !kept[e.To] {
			t.Fatalf("edge %v leaves the drawn map", e)
		}
	}

	p := buildPage(r)
	if p.Map == nil || !strings.Contains(p.Map.Hidden, strconv.Itoa(n-MapMaxNodesPerColumn)+" identity providers") {
		t.Errorf("map note: %+v", p.Map)
	}
	for _, row := range p.Findings {
		for _, idx := range strings.Fields(row.Nodes) {
			if i, _ := strconv.Atoi(idx); i >= len(p.Map.Nodes) {
				t.Fatalf("finding %s points at node %d of %d drawn", row.ID, i, len(p.Map.Nodes))
			}
		}
	}
	tl := p.Timeline
	if tl == nil || len(tl.Rows) != TimelineMaxRows || tl.Hidden != n/3-TimelineMaxRows {
		t.Fatalf("timeline rows %d, hidden %d", len(tl.Rows), tl.Hidden)
	}
	if !strings.HasPrefix(tl.Rows[0].Label, "Partner 00000") {
		t.Errorf("first row %q, want the partner due first", tl.Rows[0].Label)
	}
	var page strings.Builder
	if err := WriteHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "dependencies due soonest; 500 more, due later, are in the findings table") {
		t.Error("the page does not say the timeline leaves dependencies out")
	}
}
