package tenant

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// Every Graph read goes through getRaw: one place sends a GET (alone, or in
// a $batch while Reader.Read runs: batch.go), checks that the answer has
// the shape the reference page documents, and follows @odata.nextLink with
// a page cap.

// DefaultMaxPages caps how many pages one collection read follows. Graph
// pages hold 100 items by default (Key Vault: 25), so the cap is far above
// any tenant's identity providers, partners, connectors or secrets; it exists
// so that a @odata.nextLink that never ends cannot run forever.
const DefaultMaxPages = 10000

// GraphError is a Graph answer outside 2xx, named with the request it
// answered and Graph's own code and message.
type GraphError struct {
	Method string
	// Path is relative to the version root ("/identity/apiConnectors").
	Path    string
	Status  int
	Code    string
	Message string
}

func (e *GraphError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.Code != "" || e.Message != "" {
		msg += fmt.Sprintf(" %s: %s", e.Code, e.Message)
	}
	return msg
}

// Permanent reports whether repeating the request cannot help: a 400 means
// the request is wrong (our bug, or a route Graph does not serve), so a job
// that made it is parked with this error instead of being redelivered.
func (e *GraphError) Permanent() bool { return e.Status == http.StatusBadRequest }

// ShapeError is a 2xx answer whose body is not what the reference page
// documents for the route: a collection that is not an object with a value
// array, a single resource that is not an object. Reading it as empty would
// make dependencies disappear from the report, so the read fails instead.
type ShapeError struct {
	Method string
	Path   string
	Reason string
}

func (e *ShapeError) Error() string {
	return fmt.Sprintf("%s %s: unexpected answer: %s", e.Method, e.Path, e.Reason)
}

// PageLimitError ends a paged read that did not end by itself.
type PageLimitError struct {
	Path   string
	Reason string
}

func (e *PageLimitError) Error() string {
	return fmt.Sprintf("GET %s: paging stopped: %s", e.Path, e.Reason)
}

// IsGap reports whether err means "this part of the tenant cannot be seen by
// this app": 403 (a permission is missing) or 404 (the tenant has no such
// resource). Everything else, a 400 above all, is a failure.
func IsGap(err error) bool {
	switch statusOf(err) {
	case http.StatusForbidden, http.StatusNotFound:
		return true
	}
	return false
}

// IsNotFound reports a Graph 404.
func IsNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

func statusOf(err error) int {
	var ge *GraphError
	if errors.As(err, &ge) {
		return ge.Status
	}
	var odata *odataerrors.ODataError
	if errors.As(err, &odata) {
		return odata.ResponseStatusCode
	}
	var api *abstractions.ApiError
	if errors.As(err, &api) {
		return api.ResponseStatusCode
	}
	var resp *azcore.ResponseError
	if errors.As(err, &resp) {
		return resp.StatusCode
	}
	return 0
}

// AsGraphError names an SDK error with the request that caused it, so an
// operator reads "PATCH /identity/apiConnectors/ID: HTTP 400 BadRequest:
// ..." instead of the SDK's "error status code received from the API".
// Errors without a status (network, context) are returned as they are.
func AsGraphError(method, path string, err error) error {
	if err == nil {
		return nil
	}
	var ge *GraphError
	if errors.As(err, &ge) {
		return err
	}
	var odata *odataerrors.ODataError
	if errors.As(err, &odata) {
		out := &GraphError{Method: method, Path: path, Status: odata.ResponseStatusCode}
		if main := odata.GetErrorEscaped(); main != nil {
			out.Code, out.Message = str(main.GetCode()), str(main.GetMessage())
		}
		return out
	}
	var api *abstractions.ApiError
	if errors.As(err, &api) && api.ResponseStatusCode != 0 {
		return &GraphError{Method: method, Path: path, Status: api.ResponseStatusCode, Message: api.Message}
	}
	return fmt.Errorf("%s %s: %w", method, path, err)
}

func errorMapping() abstractions.ErrorMappings {
	return abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}
}

// route is a request relative to the Graph version root.
type route struct {
	path  string
	query url.Values
}

func (r route) String() string {
	if len(r.query) == 0 {
		return r.path
	}
	q, _ := url.QueryUnescape(r.query.Encode())
	return r.path + "?" + q
}

// getRaw GETs absoluteURL and returns the body (nil for an empty answer):
// inside a $batch while Reader.Read batches (batch.go), else on its own.
func (g *Graph) getRaw(ctx context.Context, absoluteURL, shown string) ([]byte, error) {
	if b := batcherFrom(ctx); b != nil {
		return b.get(ctx, absoluteURL, shown)
	}
	return g.send(ctx, absoluteURL, shown)
}

// send sends GET absoluteURL through the SDK's adapter (authentication,
// retry and Retry-After handling, compression: the SDK's middleware).
func (g *Graph) send(ctx context.Context, absoluteURL, shown string) ([]byte, error) {
	u, err := url.Parse(absoluteURL)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", shown, err)
	}
	info := abstractions.NewRequestInformation()
	info.Method = abstractions.GET
	info.SetUri(*u)
	info.Headers.TryAdd("Accept", "application/json")
	res, err := g.adapter.SendPrimitive(ctx, info, "[]byte", errorMapping())
	if err != nil {
		return nil, AsGraphError("GET", shown, err)
	}
	body, _ := res.([]byte)
	return body, nil
}

func (g *Graph) absolute(r route) string {
	u := strings.TrimRight(g.adapter.GetBaseUrl(), "/") + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	return u
}

// object reads one resource and checks that the answer is a JSON object.
func (g *Graph) object(ctx context.Context, r route) ([]byte, error) {
	body, err := g.getRaw(ctx, g.absolute(r), r.String())
	if err != nil {
		return nil, err
	}
	if reason := notAnObject(body); reason != "" {
		return nil, &ShapeError{Method: "GET", Path: r.String(), Reason: reason}
	}
	return body, nil
}

// eachPage reads a collection page by page and hands each page's items to
// fn. The answer must be an object whose value is an array (an empty array
// is an empty collection; {}, [], null, a number, a string or
// {"value": null} are not). Paging stops with an error after maxPages pages
// or when a nextLink repeats, and a nextLink must stay on the Graph host.
func (g *Graph) eachPage(ctx context.Context, r route, maxPages int, fn func(items []json.RawMessage) error) error {
	if maxPages <= 0 {
		maxPages = DefaultMaxPages
	}
	next := g.absolute(r)
	base, err := url.Parse(g.adapter.GetBaseUrl())
	if err != nil {
		return fmt.Errorf("graph base URL: %w", err)
	}
	seen := map[string]bool{next: true}
	for page := 1; ; page++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("GET %s: %w", r, err)
		}
		shown := r.String()
		if page > 1 {
			shown += fmt.Sprintf(" (page %d)", page)
		}
		body, err := g.getRaw(ctx, next, shown)
		if err != nil {
			return err
		}
		items, nextLink, reason := collectionPage(body, "@odata.nextLink")
		if reason != "" {
			return &ShapeError{Method: "GET", Path: shown, Reason: reason}
		}
		if err := fn(items); err != nil {
			return err
		}
		if nextLink == "" {
			return nil
		}
		u, err := url.Parse(nextLink)
		switch {
		case err != nil || u.Scheme != "https" || !strings.EqualFold(u.Host, base.Host):
			return &PageLimitError{Path: r.String(), Reason: fmt.Sprintf("@odata.nextLink %q does not point at %s", clip(nextLink), base.Host)}
		case seen[nextLink]:
			return &PageLimitError{Path: r.String(), Reason: fmt.Sprintf("page %d links back to an earlier page (%s)", page, clip(nextLink))}
		case page >= maxPages:
			return &PageLimitError{Path: r.String(), Reason: fmt.Sprintf("more than %d pages", maxPages)}
		}
		seen[nextLink] = true
		next = nextLink
	}
}

// collectionPage splits a collection page into its items and next link, or
// says why the body is not one.
func collectionPage(body []byte, nextKey string) (items []json.RawMessage, next, reason string) {
	if reason := notAnObject(body); reason != "" {
		return nil, "", reason + "; a collection is an object with a value array"
	}
	var page map[string]json.RawMessage
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, "", "the body is not JSON: " + err.Error()
	}
	raw, ok := page["value"]
	if !ok {
		return nil, "", "the object has no value array"
	}
	if kind := jsonKind(raw); kind != "an array" {
		return nil, "", "value is " + kind + ", not an array"
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, "", "value is not a JSON array: " + err.Error()
	}
	if n, ok := page[nextKey]; ok {
		switch jsonKind(n) {
		case "null":
		case "a string":
			_ = json.Unmarshal(n, &next)
		default:
			return nil, "", nextKey + " is " + jsonKind(n) + ", not a URL"
		}
	}
	return items, next, ""
}

// notAnObject says why body is not a JSON object ("" when it is one).
func notAnObject(body []byte) string {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return "the body is empty"
	}
	if kind := jsonKind(trimmed); kind != "an object" {
		return "the body is " + kind + ", not a JSON object"
	}
	if !json.Valid(trimmed) {
		return "the body is not valid JSON"
	}
	return ""
}

// jsonKind names the JSON type a value starts with.
func jsonKind(raw []byte) string {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return "empty"
	}
	switch c := trimmed[0]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 'n':
		return "null"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return "not JSON"
}

// parseItem reads one JSON object into an SDK model with factory, after
// adding the "#" that some documented examples leave off @odata.type values.
// A panic in the SDK's parser is returned as an error: it concerns this item
// only.
func parseItem(raw []byte, factory serialization.ParsableFactory) (p serialization.Parsable, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("the SDK could not parse the item: %v", r)
		}
	}()
	if kind := jsonKind(raw); kind != "an object" {
		return nil, fmt.Errorf("the item is %s, not an object", kind)
	}
	node, err := jsonser.NewJsonParseNode(normaliseODataTypes(raw))
	if err != nil {
		return nil, err
	}
	v, err := node.GetObjectValue(factory)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, errors.New("the item is empty")
	}
	return v, nil
}

// normaliseODataTypes prefixes "#" to @odata.type values written without it
// ("microsoft.graph.builtInIdentityProvider", as in the List identityProviders
// example), which the SDK's discriminators would otherwise not recognise.
func normaliseODataTypes(raw []byte) []byte {
	if !bytes.Contains(raw, []byte(`"@odata.type"`)) {
		return raw
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return raw
	}
	changed := false
	var walk func(any)
	walk = func(x any) {
		switch t := x.(type) {
		case map[string]any:
			if s, ok := t["@odata.type"].(string); ok && s != "" && !strings.HasPrefix(s, "#") {
				t["@odata.type"] = "#" + s
				changed = true
			}
			for _, c := range t {
				walk(c)
			}
		case []any:
			for _, c := range t {
				walk(c)
			}
		}
	}
	walk(v)
	if !changed {
		return raw
	}
	out, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return out
}

// has reports whether the JSON object raw has the top-level key.
func has(raw []byte, key string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	_, ok := m[key]
	return ok
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
