// Package tenant reads a tenant's external sign-in dependencies from
// Microsoft Graph (through msgraph-sdk-go) and the properties of the Key Vault
// secrets that back them (through azsecrets), and returns one
// inventory.Inventory. The Reader only reads: it never asks Key Vault for a
// secret value and never writes to Graph. The repair step's single-resource
// reads and its partner write (PatchFederation) live here too, so that every
// Graph call uses the routes and shapes Microsoft Graph v1.0 documents
// (permissions.go lists them with their reference pages).
//
// Graph answers are read as the reference pages' examples show them, not as
// the SDK's discriminators expect: a list at a cast path and a single
// resource carry no @odata.type, so the route or the item's properties pick
// the derived type (parse.go). Every answer is checked for its documented
// shape before it is parsed, and every paged read has a page cap, stops on a
// repeated nextLink and on a cancelled context (graphread.go). Only 403 and
// 404 are gaps; anything else fails the read with the request and Graph's
// message.
//
// The SDK clients are built here, once, around an injectable
// http.RoundTripper. Production passes the default transport; a snapshot
// replay passes a transport that answers from recorded files; tests pass a
// transport that dials a local HTTPS server. The SDK code path is the same in
// all three. Under the SDKs every response body is capped
// (MaxResponseBytes) and every request paced by its service's Limiter —
// Graph, and each vault — which holds the service while a Retry-After runs
// and narrows its window after a 429 (limiter.go).
//
// A read of thousands of partners runs the Graph steps and the vaults side
// by side, sends Graph's GETs in JSON batches of up to 20 (batch.go), each
// request keeping its own paging, errors and throttling, and reads a
// secret's versions while the vault's list pages still arrive. docs/scale.md
// has the figures and the limits they are measured against.
package tenant

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	azauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
)

// Clients are the SDK clients a Reader uses.
type Clients struct {
	Graph  *Graph
	Vaults []Vault
}

// Vault is one Key Vault and its client.
type Vault struct {
	URL    string
	Client *azsecrets.Client
	// Limiter paces the requests to this vault (nil: none).
	Limiter *Limiter
}

// In-flight limits of the limiters NewClients makes. Graph's counts the
// requests inside $batch envelopes: three full batches of 20. A vault's
// bounds the version reads a scan runs beside a vault's list.
const (
	GraphMaxInFlight = 60
	VaultMaxInFlight = 16
)

// ClientOptions configure NewClients.
type ClientOptions struct {
	// Transport carries every Graph and Key Vault request. Nil means
	// http.DefaultTransport.
	Transport http.RoundTripper
	// KeyVaultURLs are the vaults whose secret properties are read.
	KeyVaultURLs []string
	// Cloud selects Graph's root, the token scope and the Key Vault host
	// suffix; the zero value is the public cloud. The credential passed to
	// NewClients must get its tokens from the same cloud (Cloud.AzCore).
	Cloud Cloud
	// MaxResponseBytes caps every response body (0: MaxResponseBytes).
	MaxResponseBytes int64
}

// NewClients builds the Graph and Key Vault clients around one transport.
func NewClients(cred azcore.TokenCredential, opts ClientOptions) (*Clients, error) {
	transport := opts.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	c := opts.Cloud
	if c.Name == "" {
		c = CloudPublic
	}
	// The scope names the cloud's Graph root, and the token is attached only
	// to requests for that host (national-clouds.md, "Permission scopes").
	auth, err := azauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{c.GraphScope()}, []string{c.GraphHost()})
	if err != nil {
		return nil, fmt.Errorf("graph authentication provider: %w", err)
	}
	// Under the SDKs, from the network up: a cap on every response body,
	// then the service's limiter (so the SDKs' own retries are paced too).
	limit := opts.MaxResponseBytes
	if limit <= 0 {
		limit = MaxResponseBytes
	}
	capped := &cappedTransport{next: transport, limit: limit}
	graphLimiter := NewLimiter("graph", GraphMaxInFlight)
	clientOptions := msgraphsdk.GetDefaultClientOptions()
	middleware := msgraphcore.GetDefaultMiddlewaresWithOptions(&clientOptions)
	httpClient := &http.Client{Transport: khttp.NewCustomTransportWithParentTransport(&limitedTransport{next: capped, limiter: graphLimiter, maxRetries: int((&khttp.RetryHandlerOptions{}).GetMaxRetries())}, middleware...)}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, httpClient)
	if err != nil {
		return nil, fmt.Errorf("graph request adapter: %w", err)
	}
	adapter.SetBaseUrl(c.GraphBaseURL())
	clients := &Clients{Graph: NewGraph(adapter)}
	clients.Graph.limiter = graphLimiter

	for _, u := range opts.KeyVaultURLs {
		host, err := hostOf(u)
		if err != nil {
			return nil, fmt.Errorf("key vault %s: %w", u, err)
		}
		if !c.IsKeyVaultHost(host) {
			return nil, fmt.Errorf("key vault %s is not a vault of the %s cloud (its hosts end with %s)", u, c.Name, c.KeyVaultSuffix)
		}
		limiter := NewLimiter("keyvault:"+strings.ToLower(host), VaultMaxInFlight)
		kv, err := azsecrets.NewClient(u, cred, &azsecrets.ClientOptions{
			ClientOptions: azcore.ClientOptions{
				Transport:       &http.Client{Transport: &limitedTransport{next: capped, limiter: limiter, maxRetries: VaultMaxRetries}},
				Retry:           policy.RetryOptions{MaxRetries: VaultMaxRetries},
				PerCallPolicies: []policy.Policy{countAttempts{}},
			},
		})
		if err != nil {
			return nil, fmt.Errorf("key vault %s: %w", u, err)
		}
		clients.Vaults = append(clients.Vaults, Vault{URL: u, Client: kv, Limiter: limiter})
	}
	return clients, nil
}

// VaultMaxRetries is how often azcore repeats a Key Vault request (after a
// 429 or a 5xx): 3, as kiota's retry handler does for Graph.
const VaultMaxRetries = 3

// Stats are what the limiters of these clients have seen so far: Graph's
// first, then each vault's.
func (c *Clients) Stats() []ServiceStats {
	var out []ServiceStats
	if c.Graph != nil && c.Graph.limiter != nil {
		out = append(out, c.Graph.limiter.Stats())
	}
	for _, v := range c.Vaults {
		if v.Limiter != nil {
			out = append(out, v.Limiter.Stats())
		}
	}
	return out
}

func hostOf(raw string) (string, error) {
	rest, ok := strings.CutPrefix(raw, "https://")
	if !ok {
		return "", fmt.Errorf("%q is not an https URL", raw)
	}
	host, _, _ := strings.Cut(rest, "/")
	if host == "" {
		return "", fmt.Errorf("%q has no host", raw)
	}
	return host, nil
}

// StaticCredential is a TokenCredential that hands out a fixed, meaningless
// token. Snapshot replays and tests use it: the requests it authorises never
// leave the process (replay) or the machine (tests).
type StaticCredential struct{}

// GetToken implements azcore.TokenCredential.
func (StaticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "offline-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}
