package watch

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/netip"
	"net/url"
	"sort"
	"strings"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/metadata"
	"github.com/idpkeeper/idpkeeper/shared/netguard"
	"github.com/idpkeeper/idpkeeper/shared/probe"
)

// Role says what an endpoint is to the dependency it belongs to. The words
// are the report's (report.EndpointAvailability.Role).
type Role string

// Roles.
const (
	// RoleSignIn is a SAML/WS-Fed partner's passiveSignInUri: guests' browsers
	// are sent there by Entra.
	RoleSignIn Role = "sign-in"
	// RoleMetadata is a partner's metadata URL (config): IdP Keeper reads it,
	// guests never do.
	RoleMetadata Role = "metadata"
	// RoleAuthorization and RoleToken are a social provider's OAuth
	// endpoints: the browser goes to the first, Entra calls the second.
	RoleAuthorization Role = "authorization"
	RoleToken         Role = "token"
	// RoleAPI is an API connector's target, checked with the contract probe.
	RoleAPI Role = "api"
)

// Endpoint is one URL the watch checks, with what depends on it.
type Endpoint struct {
	// Key identifies the endpoint across runs: the dependency, role, step
	// and URL (without query) hashed, "E-" and 12 hex digits. A changed URL
	// is a new endpoint with its own history.
	Key        string            `json:"key"`
	Dependency assess.Dependency `json:"dependency"`
	Role       Role              `json:"role"`
	// URL is what is requested. A connector's may carry a key in its
	// query (Azure Functions ?code=), so it is never shown: Display is.
	URL     string `json:"-"`
	Display string `json:"endpoint"`
	// Method is GET, or POST for a token endpoint (a token endpoint takes
	// POST; it is sent with an empty form, no client credentials).
	Method string `json:"method,omitempty"`
	// Step is the user flow step a connector is checked for.
	Step probe.Step `json:"step,omitempty"`
	// Domains and UserFlows are whom an outage hurts: the partner's guest
	// domains, the user flows that offer the provider or call the connector.
	Domains   []string `json:"domains"`
	UserFlows []string `json:"userFlows"`
	// SignInPath is true when guests' sign-in or sign-up passes through the
	// endpoint (everything but a metadata URL).
	SignInPath bool `json:"signInPath"`
	// Network is the dependency's allowNetworks: the non-public networks
	// the check may reach.
	Network netguard.Policy `json:"-"`
	// Source says where the URL comes from (Graph, the config, or the
	// provider's published document for social providers).
	Source string `json:"source,omitempty"`
	// Connector is the connector a RoleAPI endpoint belongs to.
	Connector *inventory.APIConnector `json:"-"`
}

// EndpointKey derives an endpoint's Key.
func EndpointKey(ref string, role Role, step probe.Step, display string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(ref) + "\x00" + string(role) + "\x00" + string(step) + "\x00" + strings.ToLower(display)))
	return "E-" + hex.EncodeToString(sum[:])[:12]
}

// DisplayURL is a URL without credentials, query or fragment: what the
// watch shows and stores. Azure Functions targets carry their key in the
// query, some metadata URLs a token.
func DisplayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	u.User, u.RawQuery, u.Fragment, u.ForceQuery = nil, "", "", false
	return u.String()
}

// Endpoints lists the endpoints of inv the watch checks, in a stable order:
// each SAML/WS-Fed partner's passiveSignInUri and metadata URL (config),
// each Google or Facebook provider's authorization and token endpoints (the
// published ones, see Providers), and each API connector once per user flow
// step that calls it. Dependencies whose config says watch.disabled are
// left out. It is pure.
func Endpoints(inv inventory.Inventory, cfg *config.Config) []Endpoint {
	if cfg == nil {
		cfg = config.Default()
	}
	flowsByIdP := map[string][]string{}
	flowsByConnector := map[string][]string{}
	stepsByConnector := map[string][]probe.Step{}
	for _, uf := range inv.UserFlows {
		for _, p := range uf.IdentityProviders {
			k := strings.ToLower(p.ID)
			flowsByIdP[k] = appendUnique(flowsByIdP[k], uf.ID)
		}
		for _, s := range []struct {
			id   string
			step probe.Step
		}{{uf.PostFederationSignup, probe.StepPostFederationSignup}, {uf.PostAttributeCollection, probe.StepPostAttributeCollection}} {
			if s.id == "" {
				continue
			}
			k := strings.ToLower(s.id)
			flowsByConnector[k] = appendUnique(flowsByConnector[k], uf.ID)
			if !containsStep(stepsByConnector[k], s.step) {
				stepsByConnector[k] = append(stepsByConnector[k], s.step)
			}
		}
	}
	var out []Endpoint
	add := func(e Endpoint) {
		e.Display = DisplayURL(e.URL)
		e.Key = EndpointKey(e.Dependency.Ref, e.Role, e.Step, e.Display)
		e.Domains = sortedCopy(e.Domains)
		e.UserFlows = sortedCopy(e.UserFlows)
		if e.Method == "" {
			e.Method = "GET"
		}
		out = append(out, e)
	}

	for _, f := range inv.Federations {
		ref := inventory.Ref(inventory.KindFederation, f.ID)
		dep := assess.DependencyConfig(inv, cfg, ref)
		if dep != nil && dep.Watch != nil && dep.Watch.Disabled {
			continue
		}
		d := assess.Dependency{Ref: ref, Kind: inventory.KindFederation, ID: f.ID, Name: orID(f.DisplayName, f.ID)}
		flows := flowsByIdP[strings.ToLower(f.ID)]
		policy := watchPolicy(dep)
		if f.PassiveSignInURI != "" {
			add(Endpoint{Dependency: d, Role: RoleSignIn, URL: f.PassiveSignInURI, Domains: f.Domains, UserFlows: flows,
				SignInPath: true, Network: policy, Source: "Entra (passiveSignInUri)"})
		}
		if dep != nil && dep.Metadata != nil {
			m := dep.Metadata
			src := metadata.Source{URL: m.URL, MDQBase: m.MDQBase, EntityID: m.EntityID, AllowHTTP: m.AllowHTTP}
			if u, err := src.RequestURL(); err == nil {
				p := policy
				p.Allow = append(append([]netip.Prefix(nil), p.Allow...), m.Policy().Allow...)
				add(Endpoint{Dependency: d, Role: RoleMetadata, URL: u, Domains: f.Domains, UserFlows: flows,
					Network: p, Source: "config (metadata)"})
			}
		}
	}
	for _, s := range inv.SocialIdentityProviders {
		prov, ok := ProviderOf(s.Type)
		if !ok {
			continue
		}
		ref := inventory.Ref(inventory.KindSocial, s.ID)
		dep := cfg.Dependency(ref)
		if dep != nil && dep.Watch != nil && dep.Watch.Disabled {
			continue
		}
		d := assess.Dependency{Ref: ref, Kind: inventory.KindSocial, ID: s.ID, Name: orID(s.DisplayName, s.ID)}
		flows := flowsByIdP[strings.ToLower(s.ID)]
		for _, pe := range prov.Endpoints {
			method := "GET"
			if pe.Role == RoleToken {
				method = "POST"
			}
			add(Endpoint{Dependency: d, Role: pe.Role, URL: pe.URL, Method: method, UserFlows: flows,
				SignInPath: true, Network: watchPolicy(dep), Source: pe.Source})
		}
	}
	for i := range inv.APIConnectors {
		c := inv.APIConnectors[i]
		ref := inventory.Ref(inventory.KindConnector, c.ID)
		dep := cfg.Dependency(ref)
		if dep != nil && dep.Watch != nil && dep.Watch.Disabled {
			continue
		}
		d := assess.Dependency{Ref: ref, Kind: inventory.KindConnector, ID: c.ID, Name: orID(c.DisplayName, c.ID)}
		k := strings.ToLower(c.ID)
		steps := stepsByConnector[k]
		if len(steps) == 0 {
			// A connector no flow calls yet is checked as Entra would call it
			// first: after federation (the probe's default step).
			steps = []probe.Step{probe.StepPostFederationSignup}
		}
		for _, step := range steps {
			cc := c
			add(Endpoint{Dependency: d, Role: RoleAPI, URL: c.TargetURL, Method: "POST", Step: step, UserFlows: flowsByConnector[k],
				SignInPath: len(flowsByConnector[k]) > 0, Network: watchPolicy(dep), Source: "Entra (API connector targetUrl)", Connector: &cc})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Dependency.Ref != b.Dependency.Ref {
			return strings.ToLower(a.Dependency.Ref) < strings.ToLower(b.Dependency.Ref)
		}
		if a.Role != b.Role {
			return a.Role < b.Role
		}
		if a.Step != b.Step {
			return a.Step < b.Step
		}
		return a.Display < b.Display
	})
	return out
}

func watchPolicy(dep *config.Dependency) netguard.Policy {
	if dep == nil {
		return netguard.Policy{}
	}
	return dep.Watch.Policy()
}

// Guests says whether guests are known to sign in through the endpoint: it
// is on the sign-in path and some guest domain or user flow depends on it.
func (e Endpoint) Guests() bool {
	return e.SignInPath && (len(e.Domains) > 0 || len(e.UserFlows) > 0)
}

// Host is the endpoint's host name.
func (e Endpoint) Host() string {
	u, err := url.Parse(e.URL)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// allowedScheme says whether the watch may check the URL: https, or plain
// http on a loopback address (a local test service; Entra itself calls only
// https). Anything else is not dialled at all.
func allowedScheme(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return true
	case "http":
		h := u.Hostname()
		if strings.EqualFold(h, "localhost") {
			return true
		}
		ip := net.ParseIP(h)
		return ip != nil && ip.IsLoopback()
	}
	return false
}

func orID(name, id string) string {
	if strings.TrimSpace(name) == "" {
		return id
	}
	return name
}

func appendUnique(list []string, s string) []string {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return list
		}
	}
	return append(list, s)
}

func containsStep(list []probe.Step, s probe.Step) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func sortedCopy(list []string) []string {
	out := append([]string{}, list...)
	sort.Strings(out)
	return out
}
