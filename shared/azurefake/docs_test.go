package azurefake_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
)

// call is one request the shape test makes to the fake.
type call struct {
	method, path, query string
	body                string
}

func fixtureTenant(t *testing.T) *azurefake.Tenant {
	t.Helper()
	tn, err := azurefake.LoadTenant(filepath.Join("..", "..", "examples", "fixture", "tenant.json"))
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

const (
	registryID = "b4c2d3e5-0002-4f6a-9b0c-1d2e3f4a5b6c" // client certificate
	loyaltyID  = "a3b1c2d4-0001-4e5f-8a9b-0c1d2e3f4a5b" // basic
	fabrikamID = "5a1d0c3e-2f4b-4e6a-8b7c-9d0e1f2a3b4c"
)

func do(t *testing.T, srv *azurefake.Server, c call) (int, []byte) {
	t.Helper()
	u := url.URL{Scheme: "https", Host: "graph.microsoft.com", Path: "/v1.0" + c.path, RawQuery: c.query}
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, _ := http.NewRequest(c.method, u.String(), body)
	req.Header.Set("Authorization", "Bearer test")
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Transport: srv.Transport()}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// Every route the fake serves answers with the status its reference page
// documents, and every property of its answer exists in the page's example
// (or a documented example of the same resource the corpus names) with the
// same JSON type and the same presence of @odata.type. A fake that answers
// the way our code expects rather than the way Graph documents fails here.
func TestFakeMatchesDocs(t *testing.T) {
	examples, err := azurefake.LoadCorpus(azurefake.CorpusDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := azurefake.NewServer(fixtureTenant(t))
	defer srv.Close()
	srv.PageSize = 0
	pfx, _ := azurefake.PFXBase64(azurefake.PFXOptions{CommonName: "shape test", NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0), WithChain: true})

	calls := []call{
		{method: "GET", path: "/identity/identityProviders"},
		{method: "GET", path: "/identity/identityProviders/Google-OAUTH"},
		{method: "GET", path: "/identity/identityProviders/EmailOtpSignup-OAUTH"},
		{method: "PATCH", path: "/identity/identityProviders/Google-OAUTH", body: `{"@odata.type":"#microsoft.graph.socialIdentityProvider","clientSecret":"x"}`},
		{method: "GET", path: "/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation"},
		{method: "GET", path: "/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation", query: url.Values{"$filter": {"domains/any(x: x/id eq 'northwind.example')"}}.Encode()},
		{method: "PATCH", path: "/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation/" + fabrikamID, body: `{"displayName":"Fabrikam"}`},
		{method: "GET", path: "/directory/federationConfigurations/microsoft.graph.samlOrWsFedExternalDomainFederation/" + fabrikamID + "/domains"},
		{method: "GET", path: "/identity/apiConnectors"},
		{method: "GET", path: "/identity/apiConnectors/" + registryID},
		{method: "GET", path: "/identity/apiConnectors/" + loyaltyID},
		{method: "PATCH", path: "/identity/apiConnectors/" + loyaltyID, body: `{"displayName":"Loyalty check"}`},
		{method: "POST", path: "/identity/apiConnectors/" + registryID + "/uploadClientCertificate", body: `{"pkcs12Value":"` + pfx + `","password":""}`},
		{method: "GET", path: "/identity/b2xUserFlows"},
		{method: "GET", path: "/identity/b2xUserFlows", query: "$expand=identityProviders"},
		{method: "GET", path: "/identity/b2xUserFlows/B2X_1_PartnerSignUp"},
		{method: "GET", path: "/identity/b2xUserFlows/B2X_1_PartnerSignUp/apiConnectorConfiguration", query: "$expand=postFederationSignup,postAttributeCollection"},
		{method: "GET", path: "/identity/b2xUserFlows/B2X_1_PartnerSignUp/userFlowIdentityProviders"},
		{method: "GET", path: "/identity/b2xUserFlows/B2X_1_PartnerSignUp/userAttributeAssignments"},
		{method: "GET", path: "/identity/b2xUserFlows/B2X_1_PartnerSignUp/userAttributeAssignments", query: "$expand=userAttribute"},
		{method: "GET", path: "/identity/b2xUserFlows/B2X_1_SupplierPortal/userAttributeAssignments", query: "$expand=userAttribute"},
		{method: "GET", path: "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/email"},
		{method: "GET", path: "/policies/crossTenantAccessPolicy/default"},
		{method: "POST", path: "/users/idpkeeper@contoso.example/sendMail", body: `{"message":{"subject":"s","body":{"contentType":"Text","content":"c"},"toRecipients":[{"emailAddress":{"address":"a@contoso.example"}}]}}`},
	}

	exercised := map[string]bool{}
	for _, c := range calls {
		route := azurefake.RouteOf(c.method, c.path, examples)
		if route == "" {
			t.Errorf("%s %s: no documented example in the corpus", c.method, c.path)
			continue
		}
		exercised[route] = true
		status, body := do(t, srv, c)
		statuses, docs := documented(examples, route)
		if !statuses[status] {
			t.Errorf("%s %s?%s: status %d, documented %v: %s", c.method, c.path, c.query, status, keys(statuses), body)
			continue
		}
		if len(bytes.TrimSpace(body)) == 0 {
			if len(docs) > 0 && status != http.StatusNoContent && status != http.StatusAccepted {
				t.Errorf("%s %s: empty answer, documented with a body", c.method, c.path)
			}
			continue
		}
		var got any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Errorf("%s %s: %v", c.method, c.path, err)
			continue
		}
		for _, p := range conforms(route, got, docs) {
			t.Errorf("%s?%s: %s", route, c.query, p)
		}
	}
	// The $batch envelope, carrying reads of several routes: the envelope
	// against json-batching.md's example, each answer inside it against
	// its own route's examples.
	checkBatch(t, srv, examples, []call{
		{method: "GET", path: "/identity/identityProviders"},
		{method: "GET", path: "/identity/apiConnectors"},
		{method: "GET", path: "/identity/b2xUserFlows", query: "$expand=identityProviders"},
		{method: "GET", path: "/identity/b2xUserFlows/B2X_1_PartnerSignUp/apiConnectorConfiguration", query: "$expand=postFederationSignup,postAttributeCollection"},
		{method: "GET", path: "/policies/crossTenantAccessPolicy/default"},
		{method: "GET", path: "/identity/b2xUserFlows/B2X_1_Missing/userFlowIdentityProviders"},
		{method: "GET", path: "/identity/b2xUserFlows/B2X_1_SupplierPortal/userAttributeAssignments", query: "$expand=userAttribute"},
	})
	exercised["POST /$batch"] = true
	for _, r := range azurefake.GraphRoutes {
		if !exercised[r.Method+" "+r.Path] {
			t.Errorf("route %s %s (%s) is served but not checked against its example", r.Method, r.Path, r.Page)
		}
	}
}

// checkBatch sends calls in one $batch and checks the envelope and every
// answer inside it against the corpus.
func checkBatch(t *testing.T, srv *azurefake.Server, examples []azurefake.Example, calls []call) {
	t.Helper()
	var reqs []map[string]any
	for i, c := range calls {
		u := c.path
		if c.query != "" {
			u += "?" + c.query
		}
		reqs = append(reqs, map[string]any{"id": fmt.Sprint(i + 1), "method": c.method, "url": u})
	}
	payload, _ := json.Marshal(map[string]any{"requests": reqs})
	status, body := do(t, srv, call{method: "POST", path: "/$batch", body: string(payload)})
	const route = "POST /$batch"
	statuses, docs := documented(examples, route)
	if !statuses[status] {
		t.Fatalf("$batch: status %d, documented %v: %s", status, keys(statuses), body)
	}
	var got struct {
		Responses []map[string]any `json:"responses"`
	}
	if err := json.Unmarshal(body, &got); err != nil || len(got.Responses) != len(calls) {
		t.Fatalf("$batch answered %d responses (%v): %s", len(got.Responses), err, body)
	}
	// The envelope: every documented response without its body (the
	// example's bodies belong to other routes).
	var envelopes []any
	for _, d := range docs {
		m, _ := d.(map[string]any)
		items, _ := m["responses"].([]any)
		var stripped []any
		for _, it := range items {
			im, _ := it.(map[string]any)
			c := map[string]any{}
			for k, v := range im {
				if k != "body" {
					c[k] = v
				}
			}
			stripped = append(stripped, c)
		}
		envelopes = append(envelopes, map[string]any{"responses": stripped})
	}
	seen := map[string]bool{}
	for _, item := range got.Responses {
		id, _ := item["id"].(string)
		var n int
		if _, err := fmt.Sscan(id, &n); err != nil || n < 1 || n > len(calls) || seen[id] {
			t.Errorf("$batch: response id %q matches no request (or repeats)", id)
			continue
		}
		seen[id] = true
		c := calls[n-1]
		inner, hasBody := item["body"]
		delete(item, "body")
		for _, p := range conforms(route, map[string]any{"responses": []any{item}}, envelopes) {
			t.Errorf("$batch envelope: %s", p)
		}
		innerRoute := azurefake.RouteOf(c.method, c.path, examples)
		innerStatus, _ := item["status"].(float64)
		innerStatuses, innerDocs := documented(examples, innerRoute)
		if int(innerStatus) == http.StatusNotFound {
			// A documented error of any Graph route (concepts/errors.md).
			if e, ok := inner.(map[string]any)["error"].(map[string]any); !ok || e["code"] == nil || e["message"] == nil {
				t.Errorf("$batch %s %s: 404 without Graph's error body: %v", c.method, c.path, inner)
			}
			continue
		}
		if !innerStatuses[int(innerStatus)] || !hasBody {
			t.Errorf("$batch %s %s: status %v, documented %v", c.method, c.path, innerStatus, keys(innerStatuses))
			continue
		}
		for _, p := range conforms(innerRoute, inner, innerDocs) {
			t.Errorf("$batch %s?%s: %s", innerRoute, c.query, p)
		}
	}
}

// documented returns the statuses the route's examples show and every
// documented body that describes its answer, placed where the answer holds
// it (AlsoDocuments).
func documented(examples []azurefake.Example, route string) (map[int]bool, []any) {
	statuses := map[int]bool{}
	var docs []any
	for _, ex := range examples {
		if ex.Route == route && ex.Kind == "" {
			statuses[ex.Status] = true
			if len(ex.Body) > 0 {
				var v any
				_ = json.Unmarshal(ex.Body, &v)
				docs = append(docs, v)
			}
		}
		for _, also := range ex.AlsoDocuments {
			if also.Route != route {
				continue
			}
			var v any
			_ = json.Unmarshal(ex.Body, &v)
			docs = append(docs, placeAt(also.At, v))
		}
	}
	return statuses, docs
}

// placeAt wraps v so that it sits at path in a body: "" the body itself,
// "value[]" an item of value, "name" a property.
func placeAt(path string, v any) any {
	if path == "" {
		return v
	}
	name, rest, _ := strings.Cut(path, ".")
	if strings.HasSuffix(name, "[]") {
		return map[string]any{strings.TrimSuffix(name, "[]"): []any{placeAt(rest, v)}}
	}
	return map[string]any{name: placeAt(rest, v)}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}

func odataType(m map[string]any) (string, bool) {
	v, ok := m["@odata.type"]
	s, _ := v.(string)
	return strings.TrimPrefix(s, "#"), ok
}

// conforms lists where got departs from the documented values docs (every
// one a candidate for the same place in the answer).
func conforms(path string, got any, docs []any) []string {
	switch g := got.(type) {
	case map[string]any:
		var objs []map[string]any
		for _, d := range docs {
			if m, ok := d.(map[string]any); ok {
				objs = append(objs, m)
			}
		}
		if len(objs) == 0 {
			return []string{path + ": an object where the documented example has none"}
		}
		// Candidates: examples of the same derived type when the answer
		// names one, else those with the same @odata.type presence.
		gt, typed := odataType(g)
		var cands []map[string]any
		for _, o := range objs {
			if ot, ok := odataType(o); ok == typed && (!typed || ot == gt) {
				cands = append(cands, o)
			}
		}
		if len(cands) == 0 && typed {
			for _, o := range objs {
				if _, ok := odataType(o); ok {
					cands = append(cands, o)
				}
			}
		}
		if len(cands) == 0 {
			if typed {
				return []string{path + ": has @odata.type, the documented example has none"}
			}
			return []string{path + ": has no @odata.type, the documented example has one"}
		}
		var problems []string
		names := make([]string, 0, len(g))
		for k := range g {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if k == "@odata.type" || k == "@odata.nextLink" {
				// nextLink: concepts/paging.md; examples are single pages.
				continue
			}
			var vals []any
			for _, c := range cands {
				if v, ok := c[k]; ok {
					vals = append(vals, v)
				}
			}
			where := path + "." + k
			if len(vals) == 0 {
				problems = append(problems, where+": not in the documented example")
				continue
			}
			gk := jsonKind(g[k])
			var same []any
			nullable := false
			for _, v := range vals {
				switch jsonKind(v) {
				case gk:
					same = append(same, v)
				case "null":
					nullable = true
				}
			}
			switch {
			case gk == "null":
			case len(same) == 0 && nullable:
				// Documented as null: the type is not shown, only that the
				// property exists and may be empty.
			case len(same) == 0:
				problems = append(problems, fmt.Sprintf("%s: %s, documented as %s", where, gk, jsonKind(vals[0])))
			case gk == "object" || gk == "array":
				problems = append(problems, conforms(where, g[k], same)...)
			}
		}
		return problems
	case []any:
		var elems []any
		for _, d := range docs {
			if a, ok := d.([]any); ok {
				elems = append(elems, a...)
			}
		}
		if len(g) > 0 && len(elems) == 0 {
			return []string{path + ": items where the documented example shows an empty array"}
		}
		var problems []string
		for i, e := range g {
			problems = append(problems, conforms(fmt.Sprintf("%s[%d]", path, i), e, elems)...)
		}
		return problems
	}
	return nil
}

func keys(m map[int]bool) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

// The fake refuses what Graph refuses: an unknown segment (400 BadRequest
// "Resource not found for the segment"), the nested $expand of a user flow's
// API connector configuration, a PATCH of a partner at the path without the
// cast, a $filter the Get page does not document.
func TestFakeRefusesUndocumentedRequests(t *testing.T) {
	srv := azurefake.NewServer(fixtureTenant(t))
	defer srv.Close()
	for _, tc := range []struct {
		c       call
		status  int
		message string
	}{
		{call{method: "GET", path: "/identity/unknownThings"}, 400, "Resource not found for the segment 'unknownThings'."},
		{call{method: "GET", path: "/identity/b2xUserFlows/B2X_1_PartnerSignUp", query: "$expand=apiConnectorConfiguration/postFederationSignup,apiConnectorConfiguration/postAttributeCollection"}, 400, "apiConnectorConfiguration/postFederationSignup"},
		{call{method: "GET", path: "/identity/b2xUserFlows", query: "$expand=apiConnectorConfiguration"}, 400, "apiConnectorConfiguration"},
		{call{method: "PATCH", path: "/directory/federationConfigurations/" + fabrikamID, body: `{"displayName":"x"}`}, 400, "Resource not found for the segment '" + fabrikamID + "'."},
		{call{method: "GET", path: "/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation", query: url.Values{"$filter": {"displayName eq 'x'"}}.Encode()}, 400, "filter"},
		{call{method: "GET", path: "/identity/b2xUserFlows/B2X_1_PartnerSignUp/userFlowIdentityProviders/extra"}, 400, "Resource not found for the segment 'extra'."},
		{call{method: "GET", path: "/identity/apiConnectors", query: "$select=id,displayName"}, 400, "Query option '$select' is not documented"},
		{call{method: "GET", path: "/identity/b2xUserFlows/B2X_1_PartnerSignUp/userAttributeAssignments", query: "$expand=userFlow"}, 400, "Expanding 'userFlow' is not supported"},
		{call{method: "GET", path: "/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation", query: "$top=999"}, 400, "Query option '$top' is not documented"},
	} {
		status, body := do(t, srv, tc.c)
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(body, &e)
		if status != tc.status || !strings.Contains(e.Error.Message, tc.message) {
			t.Errorf("%s %s?%s = %d %s, want %d with %q", tc.c.method, tc.c.path, tc.c.query, status, body, tc.status, tc.message)
		}
	}
	if n := len(srv.Writes()); n != 0 {
		t.Errorf("%d writes accepted", n)
	}
}

// The comparison itself catches the drifts issue 9 found: an item with
// @odata.type where the example has none, a property the example lacks
// (externalDomainName.name), "" where the example has an object.
func TestConformsCatchesDrift(t *testing.T) {
	doc := map[string]any{"value": []any{map[string]any{"id": "a", "metadataExchangeUri": nil, "domains": []any{map[string]any{"id": "x"}}}}}
	for _, tc := range []struct {
		got  string
		want string
	}{
		{`{"value":[{"@odata.type":"#microsoft.graph.samlOrWsFedExternalDomainFederation","id":"a"}]}`, "has @odata.type"},
		{`{"value":[{"id":"a","domains":[{"id":"x","name":"x"}]}]}`, "domains[0].name: not in the documented example"},
		{`{"value":[{"id":1}]}`, "id: number, documented as string"},
		{`{"value":{}}`, "value: object, documented as array"},
	} {
		var got any
		_ = json.Unmarshal([]byte(tc.got), &got)
		problems := conforms("r", got, []any{doc})
		if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
			t.Errorf("%s: problems %v, want one with %q", tc.got, problems, tc.want)
		}
	}
	var ok any
	_ = json.Unmarshal([]byte(`{"value":[{"id":"a","metadataExchangeUri":"https://x","domains":[{"id":"y"}]}]}`), &ok)
	if p := conforms("r", ok, []any{doc}); len(p) > 0 {
		t.Errorf("a conforming answer: %v", p)
	}
}
