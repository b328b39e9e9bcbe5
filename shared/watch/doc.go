// Package watch watches the availability of the endpoints external sign-in
// depends on, keeps a history of every check, and says when one is down,
// degraded, about to present an expired TLS certificate, or back.
//
// # What is watched
//
// Endpoints (pure) lists, from the inventory and the config: each
// SAML/WS-Fed partner's passiveSignInUri (role sign-in) and metadata URL
// (role metadata); the authorization and token endpoints Google and
// Facebook publish (Providers, with where each URL is published); and each
// API connector's target, once per user flow step that calls it (role api),
// checked with the API connector contract probe (shared/probe).
//
// # How a check is bounded
//
// Prober makes one request per endpoint: GET (POST with an empty form to a
// token endpoint), no cookies, no credentials to identity provider
// endpoints, a per-check timeout (config watch.timeout, default 10 s; API
// connectors get Entra's own 20 s) and at most watch.concurrency checks at
// once. Every connection goes through netguard with the dependency's policy:
// https only (plain http to loopback only), public addresses only unless the
// dependency's watch.allowNetworks (for the metadata URL also
// metadata.allowNetworks) lists the network — checked on the address
// dialled, after DNS resolution, and on every redirect, which also may never
// leave https. A check records DNS, TCP and TLS times, the HTTP status, the
// latency, and the server's certificate (also a refused one).
//
// API connectors are checked through the guard too. Their target URLs come
// from the tenant, and the check sends the connector's credential when
// IdP Keeper may read it (IDPKEEPER_PROBE_CREDENTIALS): a target pointed at
// the instance metadata service or an internal service must not receive a
// POST, let alone a password. Entra calls connectors from Microsoft's cloud,
// so a working target is public anyway; an API that really lives inside the
// network is allowed with its dependency's watch.allowNetworks. The
// operator's own `probe api URL` is not guarded: the operator typed the URL.
//
// # History
//
// Each result is appended to the endpoint's history (Store: one document
// per endpoint, watch/endpoints/<key>.json, in the state store — Blob
// Storage or a folder — written with ETag conditions). A history keeps the
// raw results of today and yesterday (UTC) and folds older ones into one
// summary per day (up, down, latency), compacting as it is written; 90 days
// of summaries and the last 20 outages are kept. Availability over 1 day is
// exact; over 7 and 30 days it adds whole UTC days.
//
// # Rules (the planner)
//
// StatusOf and Findings are pure. A run of failed checks opens at the
// first failure (the outage's start); it is an outage once it holds N
// consecutive failures spanning at least M (watch.failures, default 3;
// watch.downAfter, default 20 minutes); the next successful check closes it.
// A flapping endpoint never reaches N in a row: it shows as degraded
// (watch.degradedPercent of the last day's checks failed, default 10 %) —
// or when its answers take longer than watch.latencyBudget (default 10 s,
// half of Entra's 20-second API connector timeout) at the 95th percentile.
// Findings: endpoint-down, endpoint-degraded, endpoint-tls-expiring,
// endpoint-recovered (see Findings and docs/report-schema.md).
package watch
