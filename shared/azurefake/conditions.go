package azurefake

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Latency and throttling, for benchmarks that want to see a scan the way a
// real tenant answers it: every request waits a latency drawn from
// [Min, Max), and every request of a throttled route family takes its cost
// from that family's token bucket or is answered 429 with Retry-After. Both
// are off by default (zero Conditions), so tests stay fast and exact.
//
// The limits are Graph's and Key Vault's published ones (DocumentedLimits);
// how the fake applies them (a token bucket that starts full and refills
// evenly) is the model the Graph page describes for identity and access
// ("Throttling is based on a token bucket algorithm, which works by adding
// individual costs of requests") applied to every family.

// Conditions are the network conditions the fake simulates.
type Conditions struct {
	// Latency is added to every request before it is answered.
	Latency Latency
	// Throttling, when set, answers requests over a family's limit with
	// 429 and Retry-After.
	Throttling *Throttling
	// Seed makes the latency draws repeatable (0 is a valid seed).
	Seed uint64
}

// Latency is a uniform distribution of per-request delays.
type Latency struct {
	Min, Max time.Duration
}

// Mean is the distribution's mean.
func (l Latency) Mean() time.Duration {
	if l.Max <= l.Min {
		return l.Min
	}
	return (l.Min + l.Max) / 2
}

// Limit is a token bucket: Capacity tokens, refilled evenly over Window
// (Capacity/Window per second). A request takes its cost in tokens.
type Limit struct {
	Capacity float64
	Window   time.Duration
}

// Rate is the refill rate in tokens per second.
func (l Limit) Rate() float64 {
	if l.Window <= 0 {
		return math.Inf(1)
	}
	return l.Capacity / l.Window.Seconds()
}

// Route families a bucket applies to.
const (
	// FamilyIdentityProviders is Graph's "Identity providers service
	// limits" (concepts/throttling-limits.md, which includes
	// includes/throttling-cpim.md): identityProvider, socialIdentityProvider,
	// builtInIdentityProvider, identityApiConnector, b2xIdentityUserFlow and
	// the other CPIM resources, counted in requests. The resource list does
	// not name samlOrWsFedExternalDomainFederation; it derives from
	// identityProviderBase like the identity providers it does name, so the
	// fake counts /directory/federationConfigurations here too — the
	// tighter of the two Graph buckets, so that estimates err on the slow
	// side.
	FamilyIdentityProviders = "graph:identity-providers"
	// FamilyIdentityAccess is Graph's "Identity and access service limits"
	// (directory resources, policyBase among them), counted in resource
	// units: /policies here.
	FamilyIdentityAccess = "graph:identity-and-access"
	// FamilyKeyVaultPrefix + vault host is one vault's bucket.
	FamilyKeyVaultPrefix = "keyvault:"
	// FamilyNone is a request no bucket applies to (the $batch envelope,
	// sendMail, partner metadata).
	FamilyNone = ""
)

// Throttling is the limit of each family.
type Throttling struct {
	IdentityProviders Limit
	// IdentityAccess is in resource units (see ResourceUnits).
	IdentityAccess Limit
	// KeyVault applies to each vault separately.
	KeyVault Limit
	// StartEmpty starts every bucket empty instead of full: a scan that
	// runs right after another app (or another scan) used the budget.
	StartEmpty bool
}

// Tenant sizes of Graph's identity and access limits: S under 50 users, M
// 50 to 500, L above 500.
const (
	TenantSmall  = "S"
	TenantMedium = "M"
	TenantLarge  = "L"
)

// DocumentedLimits are the published limits for one application reading
// one tenant of the given size (TenantSmall, TenantMedium, TenantLarge):
//
//   - Identity providers (microsoft-graph-docs-contrib
//     includes/throttling-cpim.md, included by concepts/throttling-limits.md
//     "Identity providers service limits"): 200 requests per minute per app
//     per tenant (300 per tenant for all apps; one app meets its own limit
//     first).
//   - Identity and access (concepts/throttling-limits.md "Identity and
//     access service limits", application+tenant pair): S 3,500, M 5,000,
//     L 8,000 resource units per 10 seconds.
//   - Key Vault (MicrosoftDocs/azure-docs includes/key-vault-limits.md,
//     shown on learn.microsoft.com "Azure Key Vault service limits"):
//     "Secrets, managed storage account keys, and vault transactions — All
//     transactions: 2,000 per 10 seconds, per vault per region".
func DocumentedLimits(tenantSize string) Throttling {
	ru := 8000.0
	switch tenantSize {
	case TenantSmall:
		ru = 3500
	case TenantMedium:
		ru = 5000
	}
	return Throttling{
		IdentityProviders: Limit{Capacity: 200, Window: time.Minute},
		IdentityAccess:    Limit{Capacity: ru, Window: 10 * time.Second},
		KeyVault:          Limit{Capacity: 2000, Window: 10 * time.Second},
	}
}

// ResourceUnits is the cost of an identity and access request
// (concepts/throttling-limits.md): base 1 for any identity path the table
// does not list (none of the routes the fake serves is listed), +1 with
// $expand, -1 with $select, -1 with $top below 20, never below 1.
func ResourceUnits(method string, q url.Values) float64 {
	cost := 1
	if q.Get("$expand") != "" {
		cost++
	}
	if q.Get("$select") != "" {
		cost--
	}
	if t, err := strconv.Atoi(q.Get("$top")); err == nil && t < 20 {
		cost--
	}
	return float64(max(cost, 1))
}

// graphFamily is the bucket of a Graph path (relative to /v1.0).
func graphFamily(path string) string {
	switch {
	case strings.HasPrefix(path, "/identity/"), strings.HasPrefix(path, "/directory/federationConfigurations"):
		return FamilyIdentityProviders
	case strings.HasPrefix(path, "/policies/"):
		return FamilyIdentityAccess
	}
	return FamilyNone
}

// FamilyStats counts what one family received.
type FamilyStats struct {
	Requests  int
	Throttled int
	// Cost is the tokens taken by the requests that were served.
	Cost float64
}

// Stats is what the server received, by family.
type Stats struct {
	// HTTPRequests are HTTP requests (a $batch envelope is one), by
	// service: "graph", "keyvault" (the authentication challenge
	// included) and "other" (partner metadata).
	HTTPRequests map[string]int
	// Batches are $batch envelopes; BatchedRequests the requests in them.
	Batches, BatchedRequests int
	Families                 map[string]FamilyStats
}

type bucket struct {
	limit  Limit
	tokens float64
	last   time.Time
}

// take takes cost tokens, or says how long until they are there.
func (b *bucket) take(now time.Time, cost float64) (ok bool, wait time.Duration) {
	rate := b.limit.Rate()
	b.tokens = math.Min(b.limit.Capacity, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens >= cost {
		b.tokens -= cost
		return true, 0
	}
	return false, time.Duration((cost - b.tokens) / rate * float64(time.Second))
}

// conditions is the server's simulation state; its own lock, so that
// latency draws never wait for a request being answered.
type conditions struct {
	mu      sync.Mutex
	c       Conditions
	rng     *rand.Rand
	buckets map[string]*bucket
	stats   Stats
}

// SetConditions turns latency and throttling on (or, with the zero value,
// off) and resets the buckets and the statistics.
func (s *Server) SetConditions(c Conditions) {
	s.cond.mu.Lock()
	defer s.cond.mu.Unlock()
	s.cond.c = c
	s.cond.rng = rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
	s.cond.buckets = map[string]*bucket{}
	s.cond.stats = Stats{Families: map[string]FamilyStats{}, HTTPRequests: map[string]int{}}
}

// Stats returns the requests received since the last SetConditions (or
// since the start), by family.
func (s *Server) Stats() Stats {
	s.cond.mu.Lock()
	defer s.cond.mu.Unlock()
	out := s.cond.stats
	out.Families = make(map[string]FamilyStats, len(s.cond.stats.Families))
	for k, v := range s.cond.stats.Families {
		out.Families[k] = v
	}
	out.HTTPRequests = make(map[string]int, len(s.cond.stats.HTTPRequests))
	for k, v := range s.cond.stats.HTTPRequests {
		out.HTTPRequests[k] = v
	}
	return out
}

// delay draws one request's latency.
func (c *conditions) delay() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.c.Latency
	if l.Max <= l.Min {
		return l.Min
	}
	if c.rng == nil {
		c.rng = rand.New(rand.NewPCG(c.c.Seed, c.c.Seed^0x9e3779b97f4a7c15))
	}
	return l.Min + time.Duration(c.rng.Int64N(int64(l.Max-l.Min)))
}

// wait sleeps one latency draw (or until ctx ends).
func (c *conditions) wait(ctx context.Context) {
	d := c.delay()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Services of Stats.HTTPRequests.
const (
	ServiceGraph    = "graph"
	ServiceKeyVault = "keyvault"
	ServiceOther    = "other"
)

func serviceOf(host string) string {
	switch {
	case graphHosts[hostOnly(host)]:
		return ServiceGraph
	case isVaultHost(hostOnly(host)):
		return ServiceKeyVault
	}
	return ServiceOther
}

// countHTTP notes one HTTP request (a $batch envelope included).
func (c *conditions) countHTTP(host string, batch bool, inner int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stats.HTTPRequests == nil {
		c.stats.HTTPRequests = map[string]int{}
	}
	c.stats.HTTPRequests[serviceOf(host)]++
	if batch {
		c.stats.Batches++
		c.stats.BatchedRequests += inner
	}
}

// admit takes a request's cost from its family's bucket. When the bucket
// is short it returns the Retry-After to answer with: whole seconds (the
// header's form, RFC 9110 10.2.3), at least 1.
func (c *conditions) admit(family string, cost float64) (ok bool, retryAfter int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stats.Families == nil {
		c.stats.Families = map[string]FamilyStats{}
	}
	st := c.stats.Families[family]
	st.Requests++
	defer func() { c.stats.Families[family] = st }()
	th := c.c.Throttling
	if th == nil || family == FamilyNone {
		st.Cost += cost
		return true, 0
	}
	var limit Limit
	switch {
	case family == FamilyIdentityProviders:
		limit = th.IdentityProviders
	case family == FamilyIdentityAccess:
		limit = th.IdentityAccess
	case strings.HasPrefix(family, FamilyKeyVaultPrefix):
		limit = th.KeyVault
	}
	if limit.Capacity <= 0 {
		st.Cost += cost
		return true, 0
	}
	now := time.Now()
	b := c.buckets[family]
	if b == nil {
		b = &bucket{limit: limit, tokens: limit.Capacity, last: now}
		if th.StartEmpty {
			b.tokens = 0
		}
		c.buckets[family] = b
	}
	ok, wait := b.take(now, cost)
	if ok {
		st.Cost += cost
		return true, 0
	}
	st.Throttled++
	return false, max(1, int(math.Ceil(wait.Seconds())))
}

// writeThrottled answers 429 the way each service does: Graph's error body
// (concepts/errors.md, code TooManyRequests) and Key Vault's ("Throttled",
// key-vault throttling guidance), with Retry-After in seconds.
func writeThrottled(w http.ResponseWriter, vault bool, retryAfter int) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	if vault {
		writeVaultError(w, http.StatusTooManyRequests, "Throttled", "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached")
		return
	}
	writeODataError(w, http.StatusTooManyRequests, "TooManyRequests", "Too many requests. Please retry again later.")
}
