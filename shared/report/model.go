package report

import (
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/metadata"
	"github.com/idpkeeper/idpkeeper/shared/notify"
)

// Option adds facts to a report that the inventory and findings alone do
// not hold.
type Option func(*options)

type options struct {
	config    *config.Config
	metadata  []MetadataCheck
	endpoints []EndpointAvailability
}

// WithConfig names the config the findings were assessed with: owners of
// dependencies without findings, secrets the config names, notice days.
func WithConfig(cfg *config.Config) Option { return func(o *options) { o.config = cfg } }

// WithMetadata adds the partners' metadata checks (the scan's plans).
func WithMetadata(checks []MetadataCheck) Option {
	return func(o *options) { o.metadata = checks }
}

// WithEndpoints adds the endpoint watch's availability figures.
func WithEndpoints(eps []EndpointAvailability) Option {
	return func(o *options) { o.endpoints = eps }
}

// MetadataCheck is what the last check of one partner's metadata found.
type MetadataCheck struct {
	Plan metadata.ChangePlan
	// LastGood is when the metadata the plan rests on was fetched and
	// passed every check; nil when no fetch ever succeeded.
	LastGood *time.Time
}

// StaleAfter is how old the last good metadata of a partner may be before
// the report calls it stale: the timer scan queues a refresh every day, so
// older means refreshes fail or do not run.
const StaleAfter = 48 * time.Hour

// ---------------------------------------------------------------- model

// Map node kinds (besides the dependency kinds social, federation,
// connector, userflow and emailotp).
const (
	NodeBuiltin     = "builtin"     // a built-in identity provider a user flow offers (Microsoft account, Entra ID)
	NodeSecret      = "secret"      // a Key Vault secret
	NodeCertificate = "certificate" // the secret behind a Key Vault certificate
	NodeOwner       = "owner"
)

// Map edge relations.
const (
	RelOffers   = "offers"   // user flow → identity provider
	RelCalls    = "calls"    // user flow → API connector (Step says when)
	RelBackedBy = "backedBy" // dependency → Key Vault secret or certificate
	RelOwnedBy  = "ownedBy"  // dependency → owner
)

// DependencyMap is the tenant's external sign-in as a graph.
type DependencyMap struct {
	Nodes []MapNode `json:"nodes"`
	Edges []MapEdge `json:"edges"`
}

// MapNode is one user flow, dependency, Key Vault secret or owner.
type MapNode struct {
	// ID is the dependency reference for dependencies ("federation/<id>"),
	// "keyvault/<vault host>/<name>" for secrets, "owner/<name>" (or
	// "owner/fallback") for owners, "builtin/<id>" for built-in providers.
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Domains are a federation's guest domains.
	Domains []string `json:"domains,omitempty"`
	// Vault is the host name of a secret's vault.
	Vault string `json:"vault,omitempty"`
	// Owner describes an owner node.
	Owner *assess.Owner `json:"owner,omitempty"`
	// WorstSeverity is the most urgent severity of Findings; nil without.
	WorstSeverity *assess.Severity `json:"worstSeverity"`
	// Findings are the IDs of the findings about the node: a dependency's
	// own; for a user flow also those of everything it offers or calls
	// (the findings that name it in impactedUserFlows); for a secret those
	// whose detail names it; for an owner those it is told about.
	Findings []string `json:"findings"`
}

// MapEdge connects two nodes by ID.
type MapEdge struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Relation string `json:"relation"`
	// Step is the user flow step that calls a connector:
	// postFederationSignup or postAttributeCollection.
	Step string `json:"step,omitempty"`
}

// Partner metadata statuses.
const (
	MetadataVerified   = "verified"    // fetched within StaleAfter and passed every check
	MetadataStale      = "stale"       // the last good copy is older than StaleAfter
	MetadataFailing    = "failing"     // the last fetch failed; the last good copy is kept
	MetadataNotChecked = "not-checked" // a source is configured but was not fetched yet
	MetadataNone       = "none"        // no metadata URL or MDQ service in the config
)

// Partner is one SAML/WS-Fed federation as a partner manager sees it.
type Partner struct {
	// Ref is the dependency reference, "federation/<Graph ID>".
	Ref      string          `json:"ref"`
	Name     string          `json:"name"`
	Domains  []string        `json:"domains"`
	Protocol string          `json:"protocol,omitempty"`
	Metadata PartnerMetadata `json:"metadata"`
	// Certificate is the signing certificate Entra holds now; nil when
	// there is none or it could not be read.
	Certificate *inventory.Certificate `json:"certificate"`
	// NextCertificate is the successor the partner's metadata publishes
	// (rollover pending) or has switched to (certificate replaced).
	NextCertificate *inventory.Certificate `json:"nextCertificate"`
	Owner           *assess.Owner          `json:"owner"`
	// Ask is the open ask: the next move on the partner's most urgent
	// finding; nil when it has none.
	Ask           *Ask             `json:"ask"`
	WorstSeverity *assess.Severity `json:"worstSeverity"`
	Findings      []string         `json:"findings"`
}

// PartnerMetadata is the state of a partner's federation metadata.
type PartnerMetadata struct {
	Status string `json:"status"`
	// Host is the host the metadata comes from (the URL's host only: a
	// query string may carry a key).
	Host string `json:"host,omitempty"`
	// LastGood is when the metadata last passed every check.
	LastGood *time.Time `json:"lastGood"`
	// Outcome, Reason and Plan are the metadata plan's (see
	// `idpkeeper metadata plan`).
	Outcome string `json:"outcome,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Plan    string `json:"plan,omitempty"`
}

// Parties an Ask is for.
const (
	PartyPartner = "partner" // the partner's administrators act on their side
	PartyTenant  = "tenant"  // the tenant's administrators act in Entra or the config
)

// Ask is whose move it is and what it is.
type Ask struct {
	Party   string `json:"party"`
	Text    string `json:"text"`
	Finding string `json:"finding"`
}

// EndpointAvailability is what the endpoint watch measured for one
// endpoint a dependency relies on.
type EndpointAvailability struct {
	// Endpoint is the URL probed, without query or fragment.
	Endpoint string `json:"endpoint"`
	// Role says what the endpoint is: sign-in, metadata, authorization,
	// token or api.
	Role string `json:"role,omitempty"`
	// Dependency is the dependency reference it belongs to.
	Dependency   string       `json:"dependency"`
	Availability Availability `json:"availability"`
	// OutageSince is when the current outage began; nil while it is up.
	OutageSince *time.Time `json:"outageSince"`
	// LastChecked is when it was last probed.
	LastChecked *time.Time `json:"lastChecked,omitempty"`
}

// Availability is the share of successful probes (0 to 1) over the last
// day, week and 30 days; nil when there was no probe in the window.
type Availability struct {
	Day1  *float64 `json:"1d"`
	Day7  *float64 `json:"7d"`
	Day30 *float64 `json:"30d"`
}

// ---------------------------------------------------------------- building

func noticeDays(cfg *config.Config) []int {
	var days []int
	if cfg != nil {
		days = append(days, cfg.Defaults.EscalationDays...)
	}
	if len(days) == 0 {
		days = config.DefaultEscalationDays()
	}
	out := days[:0:0]
	for _, d := range days {
		if d > 0 {
			out = append(out, d)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(out)))
	return out
}

// mapBuilder collects nodes once each, in insertion order.
type mapBuilder struct {
	m        DependencyMap
	index    map[string]int // lower-case node ID → position
	edges    map[string]bool
	attached map[[2]string]bool // node ID, finding ID
}

func (b *mapBuilder) node(n MapNode) {
	key := strings.ToLower(n.ID)
	if _, ok := b.index[key]; ok {
		return
	}
	b.index[key] = len(b.m.Nodes)
	n.Findings = []string{}
	b.m.Nodes = append(b.m.Nodes, n)
}

func (b *mapBuilder) has(id string) bool { _, ok := b.index[strings.ToLower(id)]; return ok }

func (b *mapBuilder) edge(e MapEdge) {
	key := strings.ToLower(e.From + "\x00" + e.To + "\x00" + e.Relation + "\x00" + e.Step)
	if b.edges[key] || !b.has(e.From) || !b.has(e.To) {
		return
	}
	b.edges[key] = true
	b.m.Edges = append(b.m.Edges, e)
}

func (b *mapBuilder) attach(id string, f assess.Finding) {
	i, ok := b.index[strings.ToLower(id)]
	if !ok {
		return
	}
	n := &b.m.Nodes[i]
	key := [2]string{n.ID, f.ID}
	if b.attached[key] {
		return
	}
	b.attached[key] = true
	n.Findings = append(n.Findings, f.ID)
	if n.WorstSeverity == nil || f.Severity > *n.WorstSeverity {
		s := f.Severity
		n.WorstSeverity = &s
	}
}

// ownerNodeID names an owner's node: by its configured name, the fallback
// admin as one node, else by address.
func ownerNodeID(o *assess.Owner) string {
	switch {
	case o == nil:
		return ""
	case o.Fallback:
		return "owner/fallback"
	case o.Name != "":
		return "owner/" + o.Name
	}
	return "owner/" + strings.ToLower(o.Email)
}

func ownerNode(o *assess.Owner) MapNode {
	name := o.Name
	if o.Fallback {
		name = "fallback admin"
	}
	if name == "" {
		name = o.Email
	}
	oc := *o
	return MapNode{ID: ownerNodeID(o), Kind: NodeOwner, Name: name, Owner: &oc}
}

func vaultHost(vault string) string {
	if u, err := url.Parse(vault); err == nil && u.Host != "" {
		return strings.ToLower(u.Hostname())
	}
	return strings.ToLower(strings.TrimSuffix(vault, "/"))
}

func secretNodeID(vault, name string) string { return "keyvault/" + assess.SecretKey(vault, name) }

// buildMap lays the inventory out as a graph and hangs each finding on the
// nodes it is about. The order of nodes is the inventory's (sorted by the
// reader); the HTML layout orders them again for drawing.
func buildMap(inv inventory.Inventory, cfg *config.Config, findings []assess.Finding, links *assess.Links) *DependencyMap {
	b := &mapBuilder{index: map[string]int{}, edges: map[string]bool{}, attached: map[[2]string]bool{}, m: DependencyMap{Nodes: []MapNode{}, Edges: []MapEdge{}}}
	fedByDomain := map[string]string{}
	for _, f := range inv.Federations {
		for _, d := range f.Domains {
			fedByDomain[strings.ToLower(d)] = inventory.Ref(inventory.KindFederation, f.ID)
		}
	}
	flows := append([]inventory.UserFlow(nil), inv.UserFlows...)
	sort.Slice(flows, func(i, j int) bool { return strings.ToLower(flows[i].ID) < strings.ToLower(flows[j].ID) })
	for _, uf := range flows {
		b.node(MapNode{ID: inventory.Ref(inventory.KindUserFlow, uf.ID), Kind: inventory.KindUserFlow, Name: uf.ID})
	}

	var deps []string
	for _, s := range inv.SocialIdentityProviders {
		ref := inventory.Ref(inventory.KindSocial, s.ID)
		b.node(MapNode{ID: ref, Kind: inventory.KindSocial, Name: orID(s.DisplayName, s.ID)})
		deps = append(deps, ref)
	}
	for _, f := range inv.Federations {
		ref := inventory.Ref(inventory.KindFederation, f.ID)
		doms := append([]string{}, f.Domains...)
		sort.Strings(doms)
		b.node(MapNode{ID: ref, Kind: inventory.KindFederation, Name: orID(f.DisplayName, f.ID), Domains: doms})
		deps = append(deps, ref)
	}
	for _, c := range inv.APIConnectors {
		ref := inventory.Ref(inventory.KindConnector, c.ID)
		b.node(MapNode{ID: ref, Kind: inventory.KindConnector, Name: orID(c.DisplayName, c.ID)})
		deps = append(deps, ref)
	}
	offersOTP := false
	for _, uf := range flows {
		for _, p := range uf.IdentityProviders {
			offersOTP = offersOTP || inventory.SameID(p.ID, inventory.EmailOTPProviderID)
		}
	}
	if inv.EmailOTP != nil || offersOTP {
		b.node(MapNode{ID: inventory.EmailOTPRef, Kind: inventory.KindEmailOTP, Name: "Email one-time passcode"})
		deps = append(deps, inventory.EmailOTPRef)
	}

	// What each user flow offers and calls.
	for _, uf := range flows {
		from := inventory.Ref(inventory.KindUserFlow, uf.ID)
		for _, p := range uf.IdentityProviders {
			to := ""
			for _, kind := range []string{inventory.KindSocial, inventory.KindFederation} {
				if ref := inventory.Ref(kind, p.ID); b.has(ref) {
					to = ref
				}
			}
			switch {
			case to != "":
			case inventory.SameID(p.ID, inventory.EmailOTPProviderID):
				to = inventory.EmailOTPRef
			default:
				to = "builtin/" + p.ID
				b.node(MapNode{ID: to, Kind: NodeBuiltin, Name: orID(p.DisplayName, p.ID)})
			}
			b.edge(MapEdge{From: from, To: to, Relation: RelOffers})
		}
		for _, step := range []struct{ name, id string }{
			{"postFederationSignup", uf.PostFederationSignup}, {"postAttributeCollection", uf.PostAttributeCollection},
		} {
			if step.id != "" {
				b.edge(MapEdge{From: from, To: inventory.Ref(inventory.KindConnector, step.id), Relation: RelCalls, Step: step.name})
			}
		}
	}

	// Key Vault secrets: every one read, with what it backs.
	for _, s := range inv.Secrets {
		kind := NodeSecret
		if s.Managed {
			kind = NodeCertificate
		}
		b.node(MapNode{ID: secretNodeID(s.Vault, s.Name), Kind: kind, Name: s.Name, Vault: vaultHost(s.Vault)})
	}
	for _, ref := range deps {
		for _, s := range links.SecretsBacking(ref) {
			b.edge(MapEdge{From: ref, To: secretNodeID(s.Vault, s.Name), Relation: RelBackedBy})
		}
	}

	// Owners: of every dependency (also those without findings), and of
	// every finding.
	for _, ref := range deps {
		if o := links.OwnerOf(ref); o != nil {
			b.node(ownerNode(o))
			b.edge(MapEdge{From: ref, To: ownerNodeID(o), Relation: RelOwnedBy})
		}
	}
	for _, f := range findings {
		if f.Owner != nil {
			b.node(ownerNode(f.Owner))
		}
	}

	for _, f := range findings {
		b.attach(f.Dependency.Ref, f)
		// A finding named by a domain ("federation/fabrikam.example") still
		// belongs to its federation.
		if ref, ok := fedByDomain[strings.ToLower(f.Dependency.ID)]; ok && f.Dependency.Kind == inventory.KindFederation {
			b.attach(ref, f)
		}
		for _, uf := range f.ImpactedUserFlows {
			b.attach(inventory.Ref(inventory.KindUserFlow, uf), f)
		}
		if v, n := f.Detail["vault"], f.Detail["secretName"]; v != "" && n != "" {
			b.attach(secretNodeID(v, n), f)
		}
		if id := ownerNodeID(f.Owner); id != "" {
			b.attach(id, f)
		}
	}
	return &b.m
}

func orID(name, id string) string {
	if strings.TrimSpace(name) == "" {
		return id
	}
	return name
}

// buildPartners describes every federation for the partner table.
func buildPartners(inv inventory.Inventory, cfg *config.Config, checks []MetadataCheck, findings []assess.Finding, now time.Time, links *assess.Links) []Partner {
	byPartner := map[string]MetadataCheck{}
	for _, c := range checks {
		byPartner[strings.ToLower(c.Plan.PartnerID)] = c
	}
	// Each partner's findings, in the findings' (due) order: found by
	// reference once, not by a pass over every finding per partner.
	findingsOf := map[string][]int{}
	for i := range findings {
		k := strings.ToLower(findings[i].Dependency.Ref)
		findingsOf[k] = append(findingsOf[k], i)
	}
	out := make([]Partner, 0, len(inv.Federations))
	for _, f := range inv.Federations {
		ref := inventory.Ref(inventory.KindFederation, f.ID)
		p := Partner{
			Ref: ref, Name: orID(f.DisplayName, f.ID), Domains: append([]string{}, f.Domains...),
			Protocol: f.PreferredProtocol, Findings: []string{},
		}
		sort.Strings(p.Domains)
		if c := f.SigningCertificate; c != nil {
			cc := *c
			cc.NotBefore, cc.NotAfter = utc(cc.NotBefore), utc(cc.NotAfter)
			p.Certificate = &cc
		}
		p.Owner = links.OwnerOf(ref)

		var dep *config.Dependency
		if cfg != nil {
			dep = links.DependencyConfig(ref)
		}
		source := ""
		if dep != nil && dep.Metadata != nil {
			source = dep.Metadata.URL
			if source == "" {
				source = dep.Metadata.MDQBase
			}
		}
		p.Metadata.Status = MetadataNone
		if source != "" {
			p.Metadata.Status = MetadataNotChecked
			if u, err := url.Parse(source); err == nil {
				p.Metadata.Host = u.Hostname()
			}
		}
		if c, ok := byPartner[strings.ToLower(f.ID)]; ok {
			pl := c.Plan
			p.Metadata.Outcome, p.Metadata.Reason, p.Metadata.Plan = string(pl.Outcome), pl.Reason, pl.ID
			if c.LastGood != nil {
				t := utc(*c.LastGood)
				p.Metadata.LastGood = &t
			}
			switch {
			case pl.Outcome == metadata.OutcomeMetadataFailure:
				p.Metadata.Status = MetadataFailing
			case p.Metadata.LastGood == nil:
				p.Metadata.Status = MetadataNotChecked
			case now.Sub(*p.Metadata.LastGood) > StaleAfter:
				p.Metadata.Status = MetadataStale
			default:
				p.Metadata.Status = MetadataVerified
			}
			if s := pl.Successor; s != nil && (pl.Outcome == metadata.OutcomeRolloverPending || pl.Outcome == metadata.OutcomeCertificateReplaced) {
				sc := *s
				sc.NotBefore, sc.NotAfter = utc(sc.NotBefore), utc(sc.NotAfter)
				p.NextCertificate = &sc
			}
		}

		var worst, noOwner *assess.Finding
		for _, i := range findingsOf[strings.ToLower(ref)] {
			fd := &findings[i]
			if !inventory.SameRef(fd.Dependency.Ref, ref) {
				continue
			}
			p.Findings = append(p.Findings, fd.ID)
			// Findings are in due order: the first of the worst severity is
			// the most urgent.
			if worst == nil || fd.Severity > worst.Severity {
				worst = fd
			}
			if fd.Kind == assess.KindFederationNoOwner && noOwner == nil {
				noOwner = fd
			}
		}
		if worst != nil {
			s := worst.Severity
			p.WorstSeverity = &s
			p.Ask = partnerAsk(p.Owner, worst, noOwner, cfg)
			if source != "" && p.Ask.Party == PartyPartner {
				// The ask quotes the metadata URL; its query string may carry
				// a key, and the partner table names the host anyway.
				p.Ask.Text = strings.ReplaceAll(p.Ask.Text, source, withoutQuery(source))
			}
		}
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool { return naturalLess(out[i].Name, out[j].Name) })
	return out
}

// partnerAsk is whose move it is on a partner. The partner moves only when
// someone there is named to be asked (an external owner) and the most
// urgent finding needs something from its side; otherwise it is the
// tenant's move, and naming an owner comes first when nobody is named.
func partnerAsk(owner *assess.Owner, worst, noOwner *assess.Finding, cfg *config.Config) *Ask {
	external := owner != nil && !owner.Internal && !owner.Fallback
	if external {
		if ask := notify.PartnerAsk(*worst, cfg); ask != "" {
			return &Ask{Party: PartyPartner, Text: ask, Finding: worst.ID}
		}
	}
	if noOwner != nil && (owner == nil || owner.Fallback) {
		return &Ask{Party: PartyTenant, Text: noOwner.Action, Finding: noOwner.ID}
	}
	return &Ask{Party: PartyTenant, Text: worst.Action, Finding: worst.ID}
}

// withoutQuery is a URL without its query string and fragment.
func withoutQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// normaliseEndpoints copies the watch's figures with UTC times to the
// second and clamped shares, in a stable order.
func normaliseEndpoints(eps []EndpointAvailability) []EndpointAvailability {
	if len(eps) == 0 {
		return nil
	}
	out := make([]EndpointAvailability, 0, len(eps))
	clamp := func(p *float64) *float64 {
		if p == nil {
			return nil
		}
		v := min(max(*p, 0), 1)
		return &v
	}
	for _, e := range eps {
		e.Availability = Availability{Day1: clamp(e.Availability.Day1), Day7: clamp(e.Availability.Day7), Day30: clamp(e.Availability.Day30)}
		if e.OutageSince != nil {
			t := utc(*e.OutageSince)
			e.OutageSince = &t
		}
		if e.LastChecked != nil {
			t := utc(*e.LastChecked)
			e.LastChecked = &t
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Dependency != out[j].Dependency {
			return out[i].Dependency < out[j].Dependency
		}
		return out[i].Endpoint < out[j].Endpoint
	})
	return out
}
