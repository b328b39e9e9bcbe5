package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// Reader reads one Inventory from Graph and Key Vault.
type Reader struct {
	Clients *Clients
	// Now gives the capture time; nil means time.Now.
	Now func() time.Time
	// Concurrency bounds the per-item reads under way at once, per service
	// (a partner's domains, a user flow's connectors and providers, a
	// secret's versions); 0 means 2×MaxBatchRequests for Graph (two full
	// $batch envelopes) and VaultMaxInFlight per vault. The limiters
	// (Clients) bound what is actually in flight.
	Concurrency int
	// NoBatch sends every Graph request on its own instead of in $batch
	// envelopes (to measure what batching saves).
	NoBatch bool
	// SecretNames are Key Vault secret names the configuration maps to a
	// dependency; secrets carrying the inventory.TagDependency tag are read
	// whether listed here or not.
	SecretNames map[string]bool
	// MaxPages caps every paged read, Graph and Key Vault; 0 means
	// DefaultMaxPages.
	MaxPages int
}

// ReadStats is what one Read cost: how long it took and what each service
// answered (429s included).
type ReadStats struct {
	Duration time.Duration
	Services []ServiceStats
}

// Throttled is the number of 429 answers, of all services.
func (s ReadStats) Throttled() int {
	n := 0
	for _, x := range s.Services {
		n += x.Throttled
	}
	return n
}

// Graph sources, as gaps and errors name them.
const (
	sourceIdentityProviders = "graph:/identity/identityProviders"
	sourceFederations       = "graph:" + federationsPath
	sourceConnectors        = "graph:/identity/apiConnectors"
	sourceUserFlows         = "graph:/identity/b2xUserFlows"
	sourceEmailOTP          = "graph:" + emailOTPPath
	sourceRedemption        = "graph:/policies/crossTenantAccessPolicy/default"

	federationsPath = "/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation"
	emailOTPPath    = "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/email"
)

// Read reads the whole inventory. An endpoint the app may not read (403) or
// that the tenant does not have (404) becomes a Gap, so the report can say
// what it could not see; an item of a list that cannot be read is a Gap too.
// Any other failure — a 400 above all, which means the request itself is
// wrong, or an answer that is not the documented shape — ends the read with
// an error naming the request, because a report built on a half-read tenant
// would under-report risk. A panic while reading is a bug; it fails the read
// the same way instead of ending the process.
//
// The Graph reads and the vaults are read at the same time: each service's
// Limiter paces its own requests, Graph's travel in $batch envelopes, and a
// vault's version reads start as its list pages arrive. What the report
// holds does not depend on that order: gaps and errors are taken in the
// order of the steps below, and the lists are sorted by SortInventory.
func (r *Reader) Read(ctx context.Context) (inventory.Inventory, error) {
	inv, _, err := r.ReadWithStats(ctx)
	return inv, err
}

// ReadWithStats is Read, with what it cost.
func (r *Reader) ReadWithStats(ctx context.Context) (inventory.Inventory, ReadStats, error) {
	start := time.Now()
	before := r.Clients.Stats()
	inv, err := r.read(ctx)
	stats := ReadStats{Duration: time.Since(start), Services: statsSince(r.Clients.Stats(), before)}
	return inv, stats, err
}

func statsSince(now, before []ServiceStats) []ServiceStats {
	out := make([]ServiceStats, len(now))
	for i, s := range now {
		if i < len(before) && before[i].Service == s.Service {
			b := before[i]
			s.HTTPRequests -= b.HTTPRequests
			s.Requests -= b.Requests
			s.Throttled -= b.Throttled
			s.Retries -= b.Retries
			s.Held -= b.Held
			s.HeldSeconds = s.Held.Seconds()
		}
		out[i] = s
	}
	return out
}

func (r *Reader) read(ctx context.Context) (inventory.Inventory, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	inv := inventory.Inventory{CapturedAt: now().UTC()}
	steps := []struct {
		source string
		read   func(context.Context, *inventory.Inventory) error
	}{
		{sourceIdentityProviders, r.readIdentityProviders},
		{sourceFederations, r.readFederations},
		{sourceConnectors, r.readConnectors},
		{sourceUserFlows, r.readUserFlows},
		{sourceEmailOTP, r.readEmailOTP},
		{sourceRedemption, r.readRedemption},
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := func() {}
	if !r.NoBatch {
		ctx, stop = r.graph().startBatching(ctx)
	}
	defer func() {
		cancel()
		stop()
	}()

	type result struct {
		part    inventory.Inventory
		secrets []inventory.Secret
		err     error
	}
	graphResults := make([]result, len(steps))
	vaultResults := make([]result, len(r.Clients.Vaults))
	var wg sync.WaitGroup
	// Every step runs to its end even when another one failed, so that the
	// error reported is the same whatever finished first.
	settle := func(res *result, err error) { res.err = err }
	for i, step := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &graphResults[i]
			settle(res, safely(ctx, bindInventory(&res.part, step.read)))
		}()
	}
	for i, v := range r.Clients.Vaults {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &vaultResults[i]
			settle(res, safely(ctx, func(ctx context.Context) error {
				var err error
				res.secrets, err = r.readVault(ctx, v)
				return err
			}))
		}()
	}
	wg.Wait()

	// The first failure in step order, Graph before the vaults.
	for i, res := range graphResults {
		if res.err != nil && !IsGap(res.err) {
			return inventory.Inventory{}, fmt.Errorf("%s: %w", steps[i].source, res.err)
		}
	}
	for i, res := range vaultResults {
		if res.err != nil && !IsGap(res.err) {
			return inventory.Inventory{}, fmt.Errorf("%s: %w", "keyvault:"+r.Clients.Vaults[i].URL, describe(res.err))
		}
	}
	for i, res := range graphResults {
		if res.err != nil {
			inv.Gaps = append(inv.Gaps, inventory.Gap{Source: steps[i].source, Reason: gapReason(res.err)})
			continue
		}
		mergeInventory(&inv, res.part)
	}
	for i, res := range vaultResults {
		if res.err != nil {
			inv.Gaps = append(inv.Gaps, inventory.Gap{Source: "keyvault:" + r.Clients.Vaults[i].URL, Reason: describe(res.err).Error()})
			continue
		}
		inv.Secrets = append(inv.Secrets, res.secrets...)
	}
	return inv, nil
}

// mergeInventory adds what one step read to inv.
func mergeInventory(inv *inventory.Inventory, part inventory.Inventory) {
	inv.SocialIdentityProviders = append(inv.SocialIdentityProviders, part.SocialIdentityProviders...)
	inv.BuiltInIdentityProviders = append(inv.BuiltInIdentityProviders, part.BuiltInIdentityProviders...)
	inv.Federations = append(inv.Federations, part.Federations...)
	inv.APIConnectors = append(inv.APIConnectors, part.APIConnectors...)
	inv.UserFlows = append(inv.UserFlows, part.UserFlows...)
	if part.EmailOTP != nil {
		inv.EmailOTP = part.EmailOTP
	}
	if part.Redemption != nil {
		inv.Redemption = part.Redemption
	}
	inv.Gaps = append(inv.Gaps, part.Gaps...)
}

func bindInventory(inv *inventory.Inventory, read func(context.Context, *inventory.Inventory) error) func(context.Context) error {
	return func(ctx context.Context) error { return read(ctx, inv) }
}

// gapReason is err's text and, for a 403, the permission the call needs.
func gapReason(err error) string {
	reason := err.Error()
	var ge *GraphError
	if errors.As(err, &ge) && ge.Status == 403 {
		if p, ok := PermissionFor(ge.Method, ge.Path); ok {
			reason += " (the app needs the Graph application permission " + p.Permission
			if p.Documented != p.Permission {
				reason += "; the reference page documents " + p.Documented
			}
			reason += ")"
		}
	}
	return reason
}

// PanicError is a panic recovered inside a read.
type PanicError struct{ Value any }

func (e *PanicError) Error() string {
	return fmt.Sprintf("internal error while reading (a bug): %v", e.Value)
}

// safely runs fn and turns a panic into a PanicError.
func safely(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v}
		}
	}()
	return fn(ctx)
}

func (r *Reader) graph() *Graph { return r.Clients.Graph }

// itemGap records a list item that could not be read: the rest of the list
// is still reported, and the report says one dependency is missing.
func itemGap(source string, index int, raw []byte, err error) inventory.Gap {
	what := fmt.Sprintf("item %d", index+1)
	var probe struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(raw, &probe) == nil && probe.ID != nil {
		what += fmt.Sprintf(" (id %v)", probe.ID)
	}
	return inventory.Gap{Source: source, Reason: what + " could not be read: " + err.Error()}
}

// readIdentityProviders lists /identity/identityProviders
// (identitycontainer-list-identityproviders.md): social providers with their
// client IDs, and the built-in ones (email one-time passcode, Microsoft
// account) by their identityProviderType.
func (r *Reader) readIdentityProviders(ctx context.Context, inv *inventory.Inventory) error {
	var social []inventory.SocialIdentityProvider
	var builtIn []inventory.BuiltInIdentityProvider
	var gaps []inventory.Gap
	n := 0
	err := r.graph().eachPage(ctx, route{path: "/identity/identityProviders"}, r.MaxPages, func(items []json.RawMessage) error {
		for _, raw := range items {
			i := n
			n++
			p, err := parseItem(raw, identityProviderFactory)
			if err != nil {
				gaps = append(gaps, itemGap(sourceIdentityProviders, i, raw, err))
				continue
			}
			switch t := p.(type) {
			case models.SocialIdentityProviderable:
				s := socialOf(t)
				if s.ID == "" {
					gaps = append(gaps, itemGap(sourceIdentityProviders, i, raw, errors.New("it has no id")))
					continue
				}
				social = append(social, s)
			case models.BuiltInIdentityProviderable:
				builtIn = append(builtIn, inventory.BuiltInIdentityProvider{
					ID: str(t.GetId()), DisplayName: str(t.GetDisplayName()), Type: str(t.GetIdentityProviderType()),
				})
			case models.IdentityProviderBaseable:
				if t.GetOdataType() == nil || *t.GetOdataType() == "#microsoft.graph.identityProviderBase" {
					// Neither @odata.type nor a property says what it is:
					// it could be a social provider whose secret expires.
					gaps = append(gaps, itemGap(sourceIdentityProviders, i, raw, errors.New("neither @odata.type nor its properties say which kind of identity provider it is")))
				}
				// Other kinds (appleManagedIdentityProvider in Azure AD B2C)
				// hold nothing IdP Keeper keeps.
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	inv.SocialIdentityProviders = social
	inv.BuiltInIdentityProviders = builtIn
	inv.Gaps = append(inv.Gaps, gaps...)
	return nil
}

// readFederations lists the SAML/WS-Fed partners at the cast path
// (samlorwsfedexternaldomainfederation-list.md). The items carry no
// @odata.type (the cast names it) and, in the documented example, their
// domains inline; a partner whose answer lacks domains gets one more request
// (samlorwsfedexternaldomainfederation-list-domains.md).
func (r *Reader) readFederations(ctx context.Context, inv *inventory.Inventory) error {
	var feds []inventory.Federation
	var needDomains []bool
	var gaps []inventory.Gap
	n := 0
	err := r.graph().eachPage(ctx, route{path: federationsPath}, r.MaxPages, func(items []json.RawMessage) error {
		for _, raw := range items {
			i := n
			n++
			p, err := parseItem(raw, federationFactory)
			if err == nil && str(p.(models.SamlOrWsFedExternalDomainFederationable).GetId()) == "" {
				err = errors.New("it has no id")
			}
			if err != nil {
				gaps = append(gaps, itemGap(sourceFederations, i, raw, err))
				continue
			}
			feds = append(feds, federationOf(p.(models.SamlOrWsFedExternalDomainFederationable)))
			needDomains = append(needDomains, !has(raw, "domains"))
		}
		return nil
	})
	if err != nil {
		return err
	}
	var mu sync.Mutex
	err = r.parallel(ctx, len(feds), func(ctx context.Context, i int) error {
		if !needDomains[i] {
			return nil
		}
		domains, err := r.federationDomains(ctx, feds[i].ID)
		if IsGap(err) {
			mu.Lock()
			gaps = append(gaps, inventory.Gap{Source: "graph:" + domainsPath(feds[i].ID), Reason: gapReason(err)})
			mu.Unlock()
			return nil
		}
		feds[i].Domains = domains
		return err
	})
	if err != nil {
		return err
	}
	inv.Federations = feds
	inv.Gaps = append(inv.Gaps, gaps...)
	return nil
}

func domainsPath(id string) string {
	return "/directory/federationConfigurations/microsoft.graph.samlOrWsFedExternalDomainFederation/" + url.PathEscape(id) + "/domains"
}

func (r *Reader) federationDomains(ctx context.Context, id string) ([]string, error) {
	var domains []string
	err := r.graph().eachPage(ctx, route{path: domainsPath(id)}, r.MaxPages, func(items []json.RawMessage) error {
		for i, raw := range items {
			p, err := parseItem(raw, models.CreateExternalDomainNameFromDiscriminatorValue)
			if err != nil {
				return fmt.Errorf("GET %s: domain %d could not be read: %w", domainsPath(id), i+1, err)
			}
			if d := str(p.(models.ExternalDomainNameable).GetId()); d != "" {
				domains = append(domains, d)
			}
		}
		return nil
	})
	return domains, err
}

// readConnectors lists the API connectors (identityapiconnector-list.md).
func (r *Reader) readConnectors(ctx context.Context, inv *inventory.Inventory) error {
	var conns []inventory.APIConnector
	var gaps []inventory.Gap
	n := 0
	err := r.graph().eachPage(ctx, route{path: "/identity/apiConnectors"}, r.MaxPages, func(items []json.RawMessage) error {
		for _, raw := range items {
			i := n
			n++
			p, err := parseItem(raw, models.CreateIdentityApiConnectorFromDiscriminatorValue)
			if err == nil && str(p.(models.IdentityApiConnectorable).GetId()) == "" {
				err = errors.New("it has no id")
			}
			if err != nil {
				gaps = append(gaps, itemGap(sourceConnectors, i, raw, err))
				continue
			}
			conns = append(conns, connectorOf(p.(models.IdentityApiConnectorable)))
		}
		return nil
	})
	if err != nil {
		return err
	}
	inv.APIConnectors = conns
	inv.Gaps = append(inv.Gaps, gaps...)
	return nil
}

// readUserFlows lists the self-service sign-up user flows with their
// identity providers expanded, the v1.0-documented call
// (identitycontainer-list-b2xuserflows.md, example 2). Per flow it then reads
//
//   - the API connector configuration, the only way Graph documents to
//     obtain it (b2xidentityuserflow-get-apiconnectorconfiguration.md); a 403
//     or 404 there is a gap for that flow only;
//   - userFlowIdentityProviders (documented in beta only,
//     b2xidentityuserflow-list-userflowidentityproviders.md), which, unlike
//     the v1.0 expansion, lists built-in providers (email one-time passcode)
//     and SAML/WS-Fed partners. Where it is refused (403/404) the expanded
//     v1.0 list is kept, the flow records which list it has, and one gap says
//     that partners and built-in providers may be missing from it;
//   - userAttributeAssignments with their userAttribute expanded
//     (b2xidentityuserflow-list-userattributeassignments.md, example 2):
//     what the flow's attribute page collects, and so what Entra sends an
//     API connector before creating the user. A 403 or 404 there is a gap
//     for that flow only, and the flow says its attributes are unknown.
func (r *Reader) readUserFlows(ctx context.Context, inv *inventory.Inventory) error {
	var flows []inventory.UserFlow
	var gaps []inventory.Gap
	n := 0
	list := route{path: "/identity/b2xUserFlows", query: url.Values{"$expand": {"identityProviders"}}}
	err := r.graph().eachPage(ctx, list, r.MaxPages, func(items []json.RawMessage) error {
		for _, raw := range items {
			i := n
			n++
			p, err := parseItem(raw, models.CreateB2xIdentityUserFlowFromDiscriminatorValue)
			if err == nil && str(p.(models.B2xIdentityUserFlowable).GetId()) == "" {
				err = errors.New("it has no id")
			}
			if err != nil {
				gaps = append(gaps, itemGap(sourceUserFlows, i, raw, err))
				continue
			}
			f := p.(models.B2xIdentityUserFlowable)
			flow := inventory.UserFlow{ID: str(f.GetId()), IdentityProvidersSource: inventory.SourceExpandIdentityProviders}
			if t := f.GetUserFlowType(); t != nil {
				flow.UserFlowType = t.String()
			}
			for _, ip := range f.GetIdentityProviders() {
				if ip == nil {
					continue
				}
				if e, ok := legacyProviderOf(ip); ok {
					flow.IdentityProviders = append(flow.IdentityProviders, e)
				}
			}
			flows = append(flows, flow)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var fallback []string
	err = r.parallel(ctx, len(flows), func(ctx context.Context, i int) error {
		cfgRoute := route{
			path:  "/identity/b2xUserFlows/" + url.PathEscape(flows[i].ID) + "/apiConnectorConfiguration",
			query: url.Values{"$expand": {"postFederationSignup,postAttributeCollection"}},
		}
		pfs, pac, err := r.apiConnectorConfiguration(ctx, cfgRoute)
		switch {
		case IsGap(err):
			mu.Lock()
			gaps = append(gaps, inventory.Gap{Source: "graph:" + cfgRoute.path, Reason: gapReason(err) + "; which API connectors user flow " + flows[i].ID + " calls is unknown"})
			mu.Unlock()
		case err != nil:
			return err
		default:
			flows[i].PostFederationSignup, flows[i].PostAttributeCollection = pfs, pac
		}
		attrs, err := r.userAttributeAssignments(ctx, flows[i].ID)
		switch {
		case IsGap(err):
			mu.Lock()
			gaps = append(gaps, inventory.Gap{Source: "graph:" + assignmentsPath(flows[i].ID), Reason: gapReason(err) + "; which attributes user flow " + flows[i].ID + " collects is unknown"})
			mu.Unlock()
		case err != nil:
			return err
		default:
			flows[i].UserAttributes, flows[i].UserAttributesRead = attrs, true
		}
		idps, err := r.userFlowIdentityProviders(ctx, flows[i].ID)
		switch {
		case IsGap(err):
			mu.Lock()
			fallback = append(fallback, flows[i].ID+" ("+gapReason(err)+")")
			mu.Unlock()
			return nil
		case err != nil:
			return err
		}
		flows[i].IdentityProviders = idps
		flows[i].IdentityProvidersSource = inventory.SourceUserFlowIdentityProviders
		return nil
	})
	if err != nil {
		return err
	}
	if len(fallback) > 0 {
		sort.Strings(fallback)
		gaps = append(gaps, inventory.Gap{
			Source: "graph:/identity/b2xUserFlows/{id}/userFlowIdentityProviders",
			Reason: "refused for " + strings.Join(fallback, ", ") + "; their identity providers come from the v1.0 $expand=identityProviders list, " +
				"which may not name SAML/WS-Fed partners or built-in providers such as email one-time passcode",
		})
	}
	inv.UserFlows = flows
	inv.Gaps = append(inv.Gaps, gaps...)
	return nil
}

func (r *Reader) apiConnectorConfiguration(ctx context.Context, rt route) (postFederationSignup, postAttributeCollection string, err error) {
	body, err := r.graph().object(ctx, rt)
	if err != nil {
		return "", "", err
	}
	p, err := parseItem(body, models.CreateUserFlowApiConnectorConfigurationFromDiscriminatorValue)
	if err != nil {
		return "", "", &ShapeError{Method: "GET", Path: rt.String(), Reason: err.Error()}
	}
	cfg := p.(models.UserFlowApiConnectorConfigurationable)
	if c := cfg.GetPostFederationSignup(); c != nil {
		postFederationSignup = str(c.GetId())
	}
	if c := cfg.GetPostAttributeCollection(); c != nil {
		postAttributeCollection = str(c.GetId())
	}
	return postFederationSignup, postAttributeCollection, nil
}

func assignmentsPath(flowID string) string {
	return "/identity/b2xUserFlows/" + url.PathEscape(flowID) + "/userAttributeAssignments"
}

// userAttributeAssignments lists what a flow's attribute page collects.
// The items are read with encoding/json, not the SDK's models: the page's
// examples write userInputType in PascalCase ("TextBox"), which the SDK's
// enum parser drops without an error, and name the expanded attribute's
// type "#Microsoft.Graph.CustomUserFlowAttribute", which its discriminator
// does not know; userFlowAttributeType says built-in or custom instead.
func (r *Reader) userAttributeAssignments(ctx context.Context, flowID string) ([]inventory.UserFlowAttribute, error) {
	rt := route{path: assignmentsPath(flowID), query: url.Values{"$expand": {"userAttribute"}}}
	out := []inventory.UserFlowAttribute{}
	err := r.graph().eachPage(ctx, rt, r.MaxPages, func(items []json.RawMessage) error {
		for i, raw := range items {
			a, err := parseAssignment(raw)
			if err != nil {
				// An attribute that cannot be read would make the
				// scaffolded scenarios quietly leave it out: fail, as for
				// the flow's identity providers.
				return &ShapeError{Method: "GET", Path: rt.String(), Reason: fmt.Sprintf("item %d: %v", i+1, err)}
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

func (r *Reader) userFlowIdentityProviders(ctx context.Context, flowID string) ([]inventory.UserFlowIdentityProvider, error) {
	rt := route{path: "/identity/b2xUserFlows/" + url.PathEscape(flowID) + "/userFlowIdentityProviders"}
	var out []inventory.UserFlowIdentityProvider
	err := r.graph().eachPage(ctx, rt, r.MaxPages, func(items []json.RawMessage) error {
		for i, raw := range items {
			p, err := parseItem(raw, identityProviderFactory)
			if err != nil {
				// A provider of a flow that cannot be read would hide the
				// flow from that provider's findings: fail, not skip.
				return &ShapeError{Method: "GET", Path: rt.String(), Reason: fmt.Sprintf("item %d: %v", i+1, err)}
			}
			if e, ok := userFlowProviderOf(p.(models.IdentityProviderBaseable)); ok {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}

// readEmailOTP reads the email one-time passcode method configuration
// (emailauthenticationmethodconfiguration-get.md).
func (r *Reader) readEmailOTP(ctx context.Context, inv *inventory.Inventory) error {
	rt := route{path: emailOTPPath}
	body, err := r.graph().object(ctx, rt)
	if err != nil {
		return err
	}
	p, err := parseItem(body, emailConfigurationFactory)
	if err != nil {
		return &ShapeError{Method: "GET", Path: rt.String(), Reason: err.Error()}
	}
	cfg := p.(models.EmailAuthenticationMethodConfigurationable)
	otp := &inventory.EmailOTP{}
	if s := cfg.GetState(); s != nil {
		otp.State = s.String()
	}
	if a := cfg.GetAllowExternalIdToUseEmailOtp(); a != nil {
		otp.AllowExternalIDToUseEmailOTP = a.String()
	}
	inv.EmailOTP = otp
	return nil
}

// readRedemption reads the default cross-tenant access policy
// (crosstenantaccesspolicyconfigurationdefault-get.md) for the B2B
// invitation redemption order and fallback.
func (r *Reader) readRedemption(ctx context.Context, inv *inventory.Inventory) error {
	rt := route{path: "/policies/crossTenantAccessPolicy/default"}
	body, err := r.graph().object(ctx, rt)
	if err != nil {
		return err
	}
	p, err := parseItem(body, models.CreateCrossTenantAccessPolicyConfigurationDefaultFromDiscriminatorValue)
	if err != nil {
		return &ShapeError{Method: "GET", Path: rt.String(), Reason: err.Error()}
	}
	cfg := p.(models.CrossTenantAccessPolicyConfigurationDefaultable).GetInvitationRedemptionIdentityProviderConfiguration()
	if cfg == nil {
		return nil
	}
	red := &inventory.Redemption{}
	for _, p := range cfg.GetPrimaryIdentityProviderPrecedenceOrder() {
		red.PrimaryOrder = append(red.PrimaryOrder, p.String())
	}
	if f := cfg.GetFallbackIdentityProvider(); f != nil {
		red.FallbackProvider = f.String()
	}
	inv.Redemption = red
	return nil
}

// readVault lists secret properties (never values) and, for the secrets that
// back a dependency, the version that is current. The versions of a secret
// are read as soon as its list page arrives, beside the pages still to come:
// a vault's list is a chain of 25-item pages, the longest chain of a scan.
func (r *Reader) readVault(ctx context.Context, v Vault) ([]inventory.Secret, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		out      []*inventory.Secret
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	fail := func(err error) {
		once.Do(func() { firstErr = err; cancel() })
	}
	sem := make(chan struct{}, r.vaultParallelism())
	pages := VaultPages{Max: r.MaxPages, What: "list secrets"}
	pager := v.Client.NewListSecretPropertiesPager(nil)
list:
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			fail(err)
			break
		}
		if err := pages.Check(ctx, page.Value == nil, page.NextLink); err != nil {
			fail(err)
			break
		}
		for _, p := range page.Value {
			if p == nil || p.ID == nil {
				continue
			}
			tags := tagMap(p.Tags)
			name := p.ID.Name()
			if !r.SecretNames[strings.ToLower(name)] && tags[inventory.TagDependency] == "" {
				continue
			}
			if ctx.Err() != nil {
				break list
			}
			s := secretFromProperties(v.URL, name, p.Attributes, p.ContentType, tags, p.Managed)
			out = append(out, &s)
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				defer func() { <-sem }()
				err := safely(ctx, func(ctx context.Context) error {
					version, applied, err := currentVersion(ctx, v.Client, s.Name, r.MaxPages)
					s.Version, s.AppliedVersion = version, applied
					return err
				})
				if err != nil {
					fail(err)
				}
			}()
		}
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	secrets := make([]inventory.Secret, len(out))
	for i, s := range out {
		secrets[i] = *s
	}
	return secrets, nil
}

func (r *Reader) vaultParallelism() int {
	if r.Concurrency > 0 {
		return r.Concurrency
	}
	return VaultMaxInFlight
}

func (r *Reader) graphParallelism() int {
	switch {
	case r.Concurrency > 0:
		return r.Concurrency
	case r.NoBatch:
		return 8
	}
	return 2 * MaxBatchRequests
}

// VaultPages bounds a Key Vault pager the way eachPage bounds Graph's: a
// page without a value array fails the read (an empty vault answers
// "value": []), a nextLink seen before or a page past the cap ends it with
// an error, and a cancelled context stops it between pages. Call Check
// after each NextPage.
type VaultPages struct {
	// Max is the page cap (0: DefaultMaxPages); What names the read in
	// errors ("list versions of NAME").
	Max  int
	What string
	n    int
	seen map[string]bool
}

// Check accepts one page: noValue is page.Value == nil, next its NextLink.
func (p *VaultPages) Check(ctx context.Context, noValue bool, next *string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.n++
	if noValue {
		return &ShapeError{Method: "GET", Path: p.What, Reason: fmt.Sprintf("page %d has no value array", p.n)}
	}
	if next == nil || *next == "" {
		return nil
	}
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	limit := p.Max
	if limit <= 0 {
		limit = DefaultMaxPages
	}
	switch {
	case p.seen[*next]:
		return &PageLimitError{Path: p.What, Reason: fmt.Sprintf("page %d links back to an earlier page (%s)", p.n, clip(*next))}
	case p.n >= limit:
		return &PageLimitError{Path: p.What, Reason: fmt.Sprintf("more than %d pages", limit)}
	}
	p.seen[*next] = true
	return nil
}

// currentVersion is the newest version by creation time (the one a read
// without a version returns, and the one Entra should be using) and the
// newest one the repair step tagged as applied.
func currentVersion(ctx context.Context, c *azsecrets.Client, name string, maxPages int) (newest, applied string, err error) {
	var newestCreated, appliedCreated time.Time
	pages := VaultPages{Max: maxPages, What: "list versions of " + name}
	pager := c.NewListSecretPropertiesVersionsPager(name, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return "", "", err
		}
		if err := pages.Check(ctx, page.Value == nil, page.NextLink); err != nil {
			return "", "", err
		}
		for _, p := range page.Value {
			if p == nil || p.ID == nil || p.Attributes == nil || p.Attributes.Created == nil {
				continue
			}
			created := *p.Attributes.Created
			if newest == "" || created.After(newestCreated) {
				newest, newestCreated = p.ID.Version(), created
			}
			if p.Tags[inventory.TagApplied] != nil && (applied == "" || created.After(appliedCreated)) {
				applied, appliedCreated = p.ID.Version(), created
			}
		}
	}
	return newest, applied, nil
}

func secretFromProperties(vault, name string, a *azsecrets.SecretAttributes, contentType *string, tags map[string]string, managed *bool) inventory.Secret {
	s := inventory.Secret{Vault: vault, Name: name, ContentType: str(contentType), Tags: tags, Managed: managed != nil && *managed}
	if a != nil {
		s.Enabled = a.Enabled
		s.Created = utc(a.Created)
		s.Updated = utc(a.Updated)
		s.NotBefore = utc(a.NotBefore)
		s.Expires = utc(a.Expires)
	}
	return s
}

func tagMap(tags map[string]*string) map[string]string {
	if len(tags) == 0 {
		return nil
	}
	out := make(map[string]string, len(tags))
	for k, v := range tags {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// parallel runs fn for 0..n-1 with at most graphParallelism in flight and
// returns the first error.
func (r *Reader) parallel(ctx context.Context, n int, fn func(context.Context, int) error) error {
	limit := r.graphParallelism()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			// A panic here would end the process: safely turns it into
			// this read's error.
			if err := safely(ctx, func(ctx context.Context) error { return fn(ctx, i) }); err != nil {
				once.Do(func() { firstErr = err; cancel() })
			}
		}(i)
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// describe turns Key Vault SDK errors into one line with the request, the
// status and the service's error code; azcore's own text spans many lines
// and repeats the whole response.
func describe(err error) error {
	var resp *azcore.ResponseError
	if errors.As(err, &resp) {
		where := ""
		if resp.RawResponse != nil && resp.RawResponse.Request != nil {
			where = resp.RawResponse.Request.Method + " " + resp.RawResponse.Request.URL.Path + ": "
		}
		return &shortError{msg: fmt.Sprintf("%sHTTP %d %s", where, resp.StatusCode, resp.ErrorCode), err: err}
	}
	return err
}

type shortError struct {
	msg string
	err error
}

func (e *shortError) Error() string { return e.msg }
func (e *shortError) Unwrap() error { return e.err }

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func unixTime(p *int64) time.Time {
	if p == nil {
		return time.Time{}
	}
	return time.Unix(*p, 0).UTC()
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// SortInventory puts every list in a stable order so that two reads of the
// same tenant compare equal and reports do not reorder between runs.
func SortInventory(inv *inventory.Inventory) {
	sort.Slice(inv.SocialIdentityProviders, func(i, j int) bool {
		return inv.SocialIdentityProviders[i].ID < inv.SocialIdentityProviders[j].ID
	})
	sort.Slice(inv.Federations, func(i, j int) bool { return inv.Federations[i].ID < inv.Federations[j].ID })
	sort.Slice(inv.APIConnectors, func(i, j int) bool { return inv.APIConnectors[i].ID < inv.APIConnectors[j].ID })
	sort.Slice(inv.UserFlows, func(i, j int) bool { return inv.UserFlows[i].ID < inv.UserFlows[j].ID })
	sort.Slice(inv.Secrets, func(i, j int) bool {
		if inv.Secrets[i].Vault != inv.Secrets[j].Vault {
			return inv.Secrets[i].Vault < inv.Secrets[j].Vault
		}
		return inv.Secrets[i].Name < inv.Secrets[j].Name
	})
}
