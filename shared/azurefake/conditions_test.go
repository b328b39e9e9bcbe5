package azurefake_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
)

type batchAnswer struct {
	Responses []struct {
		ID      string            `json:"id"`
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	} `json:"responses"`
}

func sendBatch(t *testing.T, srv *azurefake.Server, payload string) (int, batchAnswer, []byte) {
	t.Helper()
	status, body := do(t, srv, call{method: "POST", path: "/$batch", body: payload})
	var a batchAnswer
	if status == http.StatusOK {
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatalf("$batch answer is not JSON: %v: %s", err, body)
		}
	}
	return status, a, body
}

// The documented request example is accepted as an envelope (its requests
// name routes the fake does not serve, so each fails on its own), and the
// whole batch fails with 400 for what the page says makes it malformed.
func TestBatchEnvelopeFollowsTheDocs(t *testing.T) {
	srv := azurefake.NewServer(fixtureTenant(t))
	defer srv.Close()
	examples, err := azurefake.LoadCorpus(azurefake.CorpusDir())
	if err != nil {
		t.Fatal(err)
	}
	var documentedRequest string
	for _, ex := range examples {
		if ex.Route == "POST /$batch" && ex.Kind == "request-body" {
			documentedRequest = string(ex.Body)
		}
	}
	if documentedRequest == "" {
		t.Fatal("the corpus has no $batch request example")
	}
	status, a, body := sendBatch(t, srv, documentedRequest)
	if status != 200 || len(a.Responses) != 5 {
		t.Fatalf("documented request: %d %s", status, body)
	}
	for _, r := range a.Responses {
		if r.Status != 400 || !strings.Contains(string(r.Body), "Resource not found for the segment") {
			t.Errorf("request %s: %d %s, want its own 400 for a route the fake does not serve", r.ID, r.Status, r.Body)
		}
	}

	one := func(id string) string { return `{"id":"` + id + `","method":"GET","url":"/identity/apiConnectors"}` }
	var twentyOne []string
	for i := 0; i < 21; i++ {
		twentyOne = append(twentyOne, one(strconv.Itoa(i)))
	}
	for _, tc := range []struct{ name, payload, want string }{
		{"21 requests", `{"requests":[` + strings.Join(twentyOne, ",") + `]}`, "at most 20"},
		{"ids differ only in case", `{"requests":[` + one("a") + `,` + one("A") + `]}`, "used twice"},
		{"body without Content-Type", `{"requests":[{"id":"1","method":"POST","url":"/users/x/sendMail","body":{}}]}`, "Content-Type"},
		{"dependsOn", `{"requests":[` + one("1") + `,{"id":"2","method":"GET","url":"/identity/apiConnectors","dependsOn":["1"]}]}`, "dependsOn"},
		{"no id", `{"requests":[{"method":"GET","url":"/identity/apiConnectors"}]}`, "needs id"},
		{"not a batch", `{"value":[]}`, "Invalid batch payload"},
	} {
		status, _, body := sendBatch(t, srv, tc.payload)
		if status != 400 || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %s, want 400 with %q", tc.name, status, body, tc.want)
		}
	}
}

// Each request of a batch is answered on its own: a fault on one route is
// that request's status only, the answers come back in another order than
// asked (matched by id), and a collection's nextLink is absolute.
func TestBatchAnswersEachRequestOnItsOwn(t *testing.T) {
	srv := azurefake.NewServer(fixtureTenant(t))
	defer srv.Close()
	srv.AddFault(azurefake.Fault{PathPrefix: "/v1.0/policies/crossTenantAccessPolicy", Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."})
	status, a, body := sendBatch(t, srv, `{"requests":[
		{"id":"idps","method":"GET","url":"/identity/identityProviders"},
		{"id":"xtap","method":"GET","url":"policies/crossTenantAccessPolicy/default"},
		{"id":"flows","method":"GET","url":"/identity/b2xUserFlows?$expand=identityProviders"}]}`)
	if status != 200 || len(a.Responses) != 3 {
		t.Fatalf("%d %s", status, body)
	}
	if a.Responses[0].ID == "idps" {
		t.Error("answers came back in request order; the fake answers out of order so clients match by id")
	}
	byID := map[string]int{}
	for i, r := range a.Responses {
		byID[r.ID] = i
	}
	if r := a.Responses[byID["xtap"]]; r.Status != 403 || !strings.Contains(string(r.Body), "Authorization_RequestDenied") {
		t.Errorf("faulted request: %d %s", r.Status, r.Body)
	}
	idps := a.Responses[byID["idps"]]
	var page struct {
		Next string `json:"@odata.nextLink"`
	}
	_ = json.Unmarshal(idps.Body, &page)
	if idps.Status != 200 || !strings.HasPrefix(page.Next, "https://graph.microsoft.com/v1.0/identity/identityProviders?") {
		t.Errorf("paged request: %d nextLink %q", idps.Status, page.Next)
	}
	// The server log has the envelope and each request in it.
	var inner, envelopes int
	for _, r := range srv.Requests() {
		switch {
		case r.Inner && r.Batch == 1:
			inner++
		case r.Path == "/v1.0/$batch" && !r.Inner:
			envelopes++
		}
	}
	if inner != 3 || envelopes != 1 {
		t.Errorf("logged %d inner requests and %d envelopes", inner, envelopes)
	}
}

// A tight bucket answers 429 with a whole-second Retry-After once its
// capacity is used; requests inside a batch take their own tokens and are
// throttled one by one, with Retry-After in their own headers; each vault
// has its own bucket.
func TestThrottlingPerFamily(t *testing.T) {
	srv := azurefake.NewServer(fixtureTenant(t))
	defer srv.Close()
	srv.SetConditions(azurefake.Conditions{Throttling: &azurefake.Throttling{
		IdentityProviders: azurefake.Limit{Capacity: 3, Window: time.Minute},
		IdentityAccess:    azurefake.Limit{Capacity: 100, Window: 10 * time.Second},
		KeyVault:          azurefake.Limit{Capacity: 1, Window: time.Minute},
	}})
	for i := 0; i < 3; i++ {
		if status, body := do(t, srv, call{method: "GET", path: "/identity/apiConnectors"}); status != 200 {
			t.Fatalf("request %d within the bucket: %d %s", i+1, status, body)
		}
	}
	// The bucket is empty: a batch of three CPIM reads and one
	// identity-and-access read.
	status, a, body := sendBatch(t, srv, `{"requests":[
		{"id":"1","method":"GET","url":"/identity/apiConnectors"},
		{"id":"2","method":"GET","url":"/identity/b2xUserFlows"},
		{"id":"3","method":"GET","url":"/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation"},
		{"id":"4","method":"GET","url":"/policies/crossTenantAccessPolicy/default"}]}`)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	for _, r := range a.Responses {
		want := 429
		if r.ID == "4" {
			want = 200
		}
		if r.Status != want {
			t.Errorf("request %s: %d, want %d", r.ID, r.Status, want)
			continue
		}
		if want == 429 {
			ra, err := strconv.Atoi(r.Headers["Retry-After"])
			// 1 token per 20 s: the next one is at most 20 s away.
			if err != nil || ra < 1 || ra > 20 || !strings.Contains(string(r.Body), "TooManyRequests") {
				t.Errorf("throttled request %s: Retry-After %q, body %s", r.ID, r.Headers["Retry-After"], r.Body)
			}
		}
	}
	vault := func(host string) int {
		req, _ := http.NewRequest("GET", "https://"+host+"/secrets?api-version=7.5", nil)
		req.Header.Set("Authorization", "Bearer test")
		resp, err := (&http.Client{Transport: srv.Transport()}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			t.Errorf("vault 429 without Retry-After")
		}
		return resp.StatusCode
	}
	if a, b := vault("contoso-idp-kv.vault.azure.net"), vault("contoso-idp-kv.vault.azure.net"); a != 200 || b != 429 {
		t.Errorf("one vault: %d then %d, want 200 then 429", a, b)
	}
	if c := vault("other-kv.vault.azure.net"); c == 429 {
		t.Error("a second vault shares the first one's bucket")
	}
	st := srv.Stats()
	if f := st.Families[azurefake.FamilyIdentityProviders]; f.Requests != 6 || f.Throttled != 3 {
		t.Errorf("identity providers: %+v", f)
	}
	if f := st.Families[azurefake.FamilyIdentityAccess]; f.Requests != 1 || f.Throttled != 0 || f.Cost != 1 {
		t.Errorf("identity and access: %+v", f)
	}
	if st.Batches != 1 || st.BatchedRequests != 4 || st.HTTPRequests[azurefake.ServiceGraph] != 3+1 || st.HTTPRequests[azurefake.ServiceKeyVault] != 3 {
		t.Errorf("stats %+v", st)
	}
}

// Resource units follow the published cost rules.
func TestResourceUnits(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  float64
	}{
		{"", 1}, {"$expand=a", 2}, {"$select=id", 1}, {"$expand=a&$select=id", 1}, {"$top=5", 1}, {"$expand=a&$top=5", 1}, {"$expand=a&$top=50", 2},
	} {
		q, _ := url.ParseQuery(tc.query)
		if got := azurefake.ResourceUnits("GET", q); got != tc.want {
			t.Errorf("%q: %v RU, want %v", tc.query, got, tc.want)
		}
	}
}

// Every request waits at least the latency's minimum.
func TestLatencyIsAdded(t *testing.T) {
	srv := azurefake.NewServer(fixtureTenant(t))
	defer srv.Close()
	srv.SetConditions(azurefake.Conditions{Latency: azurefake.Latency{Min: 40 * time.Millisecond, Max: 60 * time.Millisecond}})
	start := time.Now()
	do(t, srv, call{method: "GET", path: "/identity/apiConnectors"})
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("answered after %v, before the 40 ms minimum latency", d)
	}
	if m := (azurefake.Latency{Min: 40 * time.Millisecond, Max: 120 * time.Millisecond}).Mean(); m != 80*time.Millisecond {
		t.Errorf("mean %v", m)
	}
}
