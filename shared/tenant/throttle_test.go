package tenant_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

// sends groups the fake's log by request (method, host, path, query): the
// same request sent again is a retry.
func sends(rs []azurefake.Request) map[string][]azurefake.Request {
	out := map[string][]azurefake.Request{}
	for _, r := range rs {
		if r.Path == "/v1.0/$batch" && !r.Inner {
			continue // the envelope: its requests are logged one by one
		}
		k := r.Method + " " + r.Host + r.Path + "?" + r.Query
		out[k] = append(out[k], r)
	}
	return out
}

// With every bucket tight — Graph's identity-provider family at 3 requests
// a second, the vault at 2 — the scan still completes and reads exactly
// what an unthrottled scan reads; every 429's Retry-After is waited before
// that request is sent again; and no request is sent more often than the
// SDKs' retry limit allows (kiota's 3 retries for Graph, which the $batch
// sender keeps to, and azcore's VaultMaxRetries).
func TestThrottlingIsHonoured(t *testing.T) {
	free := azurefake.NewServer(exampleTenant(t))
	defer free.Close()
	want, err := newReader(t, free).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	srv := azurefake.NewServer(exampleTenant(t))
	defer srv.Close()
	srv.SetConditions(azurefake.Conditions{Throttling: &azurefake.Throttling{
		IdentityProviders: azurefake.Limit{Capacity: 3, Window: time.Second},
		IdentityAccess:    azurefake.Limit{Capacity: 1, Window: time.Second},
		KeyVault:          azurefake.Limit{Capacity: 2, Window: time.Second},
		StartEmpty:        true,
	}})
	r := newReader(t, srv)
	got, stats, err := r.ReadWithStats(context.Background())
	if err != nil {
		// The vault's requests in order, to see who was throttled when.
		t0 := time.Time{}
		for _, q := range srv.Requests() {
			if strings.Contains(q.Host, "vault") {
				if t0.IsZero() {
					t0 = q.At
				}
				t.Logf("vault request at %6.3f s: %d %s?%s Retry-After %q", q.At.Sub(t0).Seconds(), q.Status, q.Path, q.Query, q.RetryAfter)
			}
		}
		t.Fatalf("the throttled scan failed: %v", err)
	}
	tenant.SortInventory(&want)
	tenant.SortInventory(&got)
	got.CapturedAt, want.CapturedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the throttled scan read another inventory:\n got %+v\nwant %+v", got, want)
	}

	st := srv.Stats()
	for _, family := range []string{azurefake.FamilyIdentityProviders, azurefake.FamilyKeyVaultPrefix + "contoso-idp-kv.vault.azure.net"} {
		if st.Families[family].Throttled == 0 {
			t.Errorf("%s: no request was throttled; the bucket is not tight enough to test anything", family)
		}
	}
	seen429 := 0
	for _, f := range st.Families {
		seen429 += f.Throttled
	}
	t.Logf("429s: %d; families %+v; read %+v", seen429, st.Families, stats.Services)
	if stats.Throttled() != seen429 {
		t.Errorf("the read counted %d 429s, the services sent %d", stats.Throttled(), seen429)
	}

	const graphLimit, vaultLimit = 3, tenant.VaultMaxRetries
	for req, rs := range sends(srv.Requests()) {
		limit := graphLimit
		if strings.Contains(req, ".vault.azure.net") {
			limit = vaultLimit
		}
		if len(rs) > 1+limit {
			t.Errorf("%s sent %d times, more than 1 + %d retries", req, len(rs), limit)
		}
		for i := 0; i+1 < len(rs); i++ {
			if rs[i].Status != http.StatusTooManyRequests {
				continue
			}
			wait, err := strconv.Atoi(rs[i].RetryAfter)
			if err != nil {
				t.Fatalf("%s: 429 without a Retry-After in seconds: %q", req, rs[i].RetryAfter)
			}
			// A little slack for the clocks of client and server.
			if gap := rs[i+1].At.Sub(rs[i].At); gap < time.Duration(wait)*time.Second-50*time.Millisecond {
				t.Errorf("%s sent again %v after a 429 with Retry-After %ds", req, gap, wait)
			}
		}
	}
}

// One request inside a $batch refused with 403 is one gap, for that user
// flow only; one throttled (429) is sent again after its Retry-After and
// read; the requests around them in the same batches are read as usual.
func TestBatchKeepsPerRequestErrors(t *testing.T) {
	srv := azurefake.NewServer(exampleTenant(t))
	defer srv.Close()
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/identity/b2xUserFlows/B2X_1_SupplierPortal/apiConnectorConfiguration",
		Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."})
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/identity/b2xUserFlows/B2X_1_PartnerSignUp/userFlowIdentityProviders",
		Status: 429, RetryAfter: "1", Code: "TooManyRequests", Message: "Too many requests", Times: 1})

	inv, stats, err := newReader(t, srv).ReadWithStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var gaps []string
	for _, g := range inv.Gaps {
		gaps = append(gaps, g.Source+": "+g.Reason)
	}
	if len(inv.Gaps) != 1 || !strings.Contains(gaps[0], "B2X_1_SupplierPortal/apiConnectorConfiguration") || !strings.Contains(gaps[0], "HTTP 403 Authorization_RequestDenied") {
		t.Fatalf("gaps = %q, want the one refused flow", gaps)
	}
	for _, f := range inv.UserFlows {
		switch f.ID {
		case "B2X_1_PartnerSignUp":
			if f.PostFederationSignup == "" || len(f.IdentityProviders) != 4 || f.IdentityProvidersSource != "userFlowIdentityProviders" {
				t.Errorf("the throttled flow was not read in full: %+v", f)
			}
		case "B2X_1_SupplierPortal":
			if f.PostFederationSignup != "" || f.PostAttributeCollection != "" {
				t.Errorf("the refused flow has connectors: %+v", f)
			}
		}
	}
	byReq := sends(srv.Requests())
	throttled := byReq["GET graph.microsoft.com/v1.0/identity/b2xUserFlows/B2X_1_PartnerSignUp/userFlowIdentityProviders?"]
	if len(throttled) != 2 || throttled[0].Status != 429 || throttled[1].Status != 200 || !throttled[0].Inner || !throttled[1].Inner {
		t.Fatalf("throttled request: %+v, want a 429 then a 200, both inside a $batch", throttled)
	}
	if gap := throttled[1].At.Sub(throttled[0].At); gap < 950*time.Millisecond {
		t.Errorf("sent again %v after Retry-After: 1", gap)
	}
	refused := byReq["GET graph.microsoft.com/v1.0/identity/b2xUserFlows/B2X_1_SupplierPortal/apiConnectorConfiguration?%24expand=postFederationSignup%2CpostAttributeCollection"]
	if len(refused) != 1 || refused[0].Status != 403 || !refused[0].Inner {
		t.Fatalf("refused request: %+v, want one 403 inside a $batch", refused)
	}
	// Its batch carried other requests, which were answered.
	others := 0
	for _, r := range srv.Requests() {
		if r.Inner && r.Batch == refused[0].Batch && r.Status == 200 {
			others++
		}
	}
	if others == 0 {
		t.Error("the 403 travelled alone; the test wants it beside other requests")
	}
	if stats.Throttled() != 1 || stats.Services[0].Retries != 1 {
		t.Errorf("stats %+v, want one 429 and one retry", stats.Services)
	}
}

// endless is a body that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// endlessOn answers requests whose path ends with suffix with a body that
// never ends (declared length: none, or huge).
type endlessOn struct {
	next     http.RoundTripper
	suffix   string
	declared int64
	hits     int
}

func (e *endlessOn) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(r.URL.Path, e.suffix) {
		return e.next.RoundTrip(r)
	}
	e.hits++
	resp := azurefake.Respond(r, http.StatusOK, nil)
	resp.Header.Set("Content-Type", "application/json")
	resp.Body = io.NopCloser(io.MultiReader(strings.NewReader(`{"value":[`), endless{}))
	resp.ContentLength = e.declared
	return resp, nil
}

// A response body past the cap ends the read with an error that says so —
// from Graph (alone or inside a $batch) and from Key Vault, with or without
// a declared length — and is not asked for again.
func TestResponseBodiesAreCapped(t *testing.T) {
	srv := azurefake.NewServer(exampleTenant(t))
	defer srv.Close()
	for _, tc := range []struct {
		name, suffix, want string
		declared           int64
		batch              bool
	}{
		{"graph, alone", "/identity/apiConnectors", "GET https://graph.microsoft.com/v1.0/identity/apiConnectors: the response body is larger than 1 MB", -1, false},
		{"graph, in a batch", "/$batch", "POST https://graph.microsoft.com/v1.0/$batch: the response body is larger than 1 MB", -1, true},
		{"key vault, declared", "/secrets", "https://contoso-idp-kv.vault.azure.net/secrets: the response body is larger than 1 MB", 1 << 40, false},
		{"key vault, endless", "/secrets", "https://contoso-idp-kv.vault.azure.net/secrets: the response body is larger than 1 MB", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &endlessOn{next: srv.Transport(), suffix: tc.suffix, declared: tc.declared}
			clients, err := tenant.NewClients(tenant.StaticCredential{}, tenant.ClientOptions{Transport: tr, KeyVaultURLs: []string{vaultURL}, MaxResponseBytes: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			_, err = (&tenant.Reader{Clients: clients, NoBatch: !tc.batch}).Read(context.Background())
			var tooLarge *tenant.BodyTooLargeError
			if !errors.As(err, &tooLarge) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a BodyTooLargeError with %q", err, tc.want)
			}
			if tr.hits != 1 {
				t.Errorf("the oversized answer was asked for %d times, want once", tr.hits)
			}
		})
	}
}

// A request inside a batch that Graph keeps throttling is sent once and
// retried three times — kiota's limit for a request of its own — and then
// fails the read with its 429, naming the request.
func TestBatchStopsAtTheRetryLimit(t *testing.T) {
	srv := azurefake.NewServer(exampleTenant(t))
	defer srv.Close()
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/identity/apiConnectors", Status: 429, RetryAfter: "1", Code: "TooManyRequests", Message: "Too many requests"})
	_, err := newReader(t, srv).Read(context.Background())
	var ge *tenant.GraphError
	if !errors.As(err, &ge) || ge.Status != 429 || !strings.Contains(err.Error(), "GET /identity/apiConnectors: HTTP 429 TooManyRequests") {
		t.Fatalf("err = %v, want the request's 429", err)
	}
	if n := len(sends(srv.Requests())["GET graph.microsoft.com/v1.0/identity/apiConnectors?"]); n != 4 {
		t.Errorf("sent %d times, want 1 + 3 retries", n)
	}
}
