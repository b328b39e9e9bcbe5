package azurefake

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The Graph side of the fake is a transcription of Microsoft Graph v1.0's
// reference pages (microsoftgraph/microsoft-graph-docs-contrib,
// api-reference/v1.0/api/<page>.md): it serves the routes IdP Keeper calls,
// each with the shape its page's example shows — which @odata annotations an
// answer carries, which properties, null for a string without a value — and
// nothing else. testdata/graph holds those examples; TestFakeMatchesDocs
// checks every answer of every route against them.
//
// Errors follow concepts/errors.md: {"error":{"code","message","innerError"}}.
// A path the fake does not serve answers as Graph does for an unknown
// segment: 400 BadRequest "Resource not found for the segment '…'."

const graphPrefix = "/v1.0"

// graphHosts are the Graph service roots of the clouds (deployments.md).
var graphHosts = map[string]bool{
	"graph.microsoft.com": true, "graph.microsoft.us": true, "dod-graph.microsoft.us": true, "microsoftgraph.chinacloudapi.cn": true,
}

// Route is one Graph request the fake serves and the reference page it
// transcribes. Path segments in braces match any key.
type Route struct {
	Method string
	Path   string
	Page   string
}

// GraphRoutes lists every Graph route the fake serves.
var GraphRoutes = []Route{
	{"GET", "/identity/identityProviders", "identitycontainer-list-identityproviders.md"},
	{"GET", "/identity/identityProviders/{id}", "identityproviderbase-get.md"},
	{"PATCH", "/identity/identityProviders/{id}", "identityproviderbase-update.md"},
	{"GET", "/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation", "samlorwsfedexternaldomainfederation-list.md, samlorwsfedexternaldomainfederation-get.md ($filter)"},
	{"PATCH", "/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation/{id}", "samlorwsfedexternaldomainfederation-update.md"},
	{"GET", "/directory/federationConfigurations/microsoft.graph.samlOrWsFedExternalDomainFederation/{id}/domains", "samlorwsfedexternaldomainfederation-list-domains.md"},
	{"GET", "/identity/apiConnectors", "identityapiconnector-list.md"},
	{"GET", "/identity/apiConnectors/{id}", "identityapiconnector-get.md"},
	{"PATCH", "/identity/apiConnectors/{id}", "identityapiconnector-update.md"},
	{"POST", "/identity/apiConnectors/{id}/uploadClientCertificate", "identityapiconnector-uploadclientcertificate.md"},
	{"GET", "/identity/b2xUserFlows", "identitycontainer-list-b2xuserflows.md"},
	{"GET", "/identity/b2xUserFlows/{id}", "b2xidentityuserflow-get.md"},
	{"GET", "/identity/b2xUserFlows/{id}/apiConnectorConfiguration", "b2xidentityuserflow-get-apiconnectorconfiguration.md"},
	{"GET", "/identity/b2xUserFlows/{id}/userFlowIdentityProviders", "beta/api/b2xidentityuserflow-list-userflowidentityproviders.md"},
	{"GET", "/identity/b2xUserFlows/{id}/userAttributeAssignments", "b2xidentityuserflow-list-userattributeassignments.md"},
	{"GET", "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/email", "emailauthenticationmethodconfiguration-get.md"},
	{"GET", "/policies/crossTenantAccessPolicy/default", "crosstenantaccesspolicyconfigurationdefault-get.md"},
	{"POST", "/users/{id}/sendMail", "user-sendmail.md"},
	// The envelope of JSON batching (batch.go); the requests inside it are
	// the routes above.
	{"POST", "/$batch", "concepts/json-batching.md"},
}

// match finds the route for method and path; params are the {id} values.
// known is false when the path leaves every route (segment names the first
// segment that does).
func match(method, path string) (rt Route, params []string, known bool, segment string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	deepest := 0
	pathKnown := false
	for _, r := range GraphRoutes {
		rsegs := strings.Split(strings.Trim(r.Path, "/"), "/")
		var ps []string
		i := 0
		for ; i < len(rsegs) && i < len(segs); i++ {
			if strings.HasPrefix(rsegs[i], "{") {
				ps = append(ps, segs[i])
				continue
			}
			if rsegs[i] != segs[i] {
				break
			}
		}
		if i > deepest {
			deepest = i
		}
		if i == len(rsegs) && i == len(segs) {
			pathKnown = true
			if r.Method == method {
				return r, ps, true, ""
			}
		}
	}
	if pathKnown {
		return Route{}, nil, true, ""
	}
	if deepest < len(segs) {
		segment = segs[deepest]
	}
	return Route{}, nil, false, segment
}

func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		writeODataError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, graphPrefix)
	if !ok {
		writeODataError(w, http.StatusBadRequest, "BadRequest", "Invalid version: the fake serves v1.0 only.")
		return
	}
	rt, params, known, segment := match(r.Method, path)
	switch {
	case !known:
		writeODataError(w, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+segment+"'.")
		return
	case rt.Path == "":
		// A documented path, but not with this method.
		writeODataError(w, http.StatusMethodNotAllowed, "Request_BadRequest", r.Method+" "+path+" is not documented; the fake does not serve it.")
		return
	}
	t := s.tenant
	q := r.URL.Query()
	// None of the reference pages of the routes served documents $select,
	// $top or the other query options below (they document $expand and, for
	// the partner list, one $filter): a client must not come to rely on
	// what Graph may ignore or refuse. (List userAttributeAssignments
	// documents $select too; IdP Keeper reads whole assignments, so the
	// fake still refuses it rather than transcribe a projection.)
	for _, opt := range []string{"$select", "$top", "$skip", "$orderby", "$count", "$search"} {
		if q.Has(opt) {
			writeODataError(w, http.StatusBadRequest, "BadRequest", "Query option '"+opt+"' is not documented for "+rt.Method+" "+rt.Path+" ("+rt.Page+").")
			return
		}
	}
	switch rt.Method + " " + rt.Path {
	case "GET /identity/identityProviders":
		social := len(t.SocialIdentityProviders)
		s.writePage(w, r, social+len(t.BuiltInIdentityProviders), func(i int) map[string]any {
			if i < social {
				p := t.SocialIdentityProviders[i]
				return typed(s.view("idp:"+str(p["id"]), p), "#microsoft.graph.socialIdentityProvider")
			}
			return typed(t.BuiltInIdentityProviders[i-social], "#microsoft.graph.builtInIdentityProvider")
		}, "https://graph.microsoft.com/v1.0/$metadata#identity/identityProviders")

	case "GET /identity/identityProviders/{id}":
		// Example 1 and 2 of the page: no @odata.type, no @odata.context.
		obj := findByID(t.SocialIdentityProviders, params[0])
		if obj != nil {
			obj = s.view("idp:"+params[0], obj)
		} else {
			obj = findByID(t.BuiltInIdentityProviders, params[0])
		}
		writeOne(w, untyped(obj), "")

	case "PATCH /identity/identityProviders/{id}":
		s.patchSocial(w, r, params[0])

	case "GET /directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation":
		s.listFederations(w, r)

	case "PATCH /directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation/{id}":
		s.patchFederation(w, r, params[0])

	case "GET /directory/federationConfigurations/microsoft.graph.samlOrWsFedExternalDomainFederation/{id}/domains":
		f := s.federation(params[0])
		if f == nil {
			notFound(w, params[0])
			return
		}
		// externalDomainName: id only.
		s.writePage(w, r, len(f.Domains), func(i int) map[string]any { return map[string]any{"id": f.Domains[i]} }, "https://graph.microsoft.com/v1.0/$metadata#directory/federationConfigurations/microsoft.graph.samlOrWsFedExternalDomainFederation('"+params[0]+"')/domains")

	case "GET /identity/apiConnectors":
		s.writePage(w, r, len(t.APIConnectors), func(i int) map[string]any {
			c := t.APIConnectors[i]
			return untyped(s.view("conn:"+str(c["id"]), c))
		}, "https://graph.microsoft.com/v1.0/$metadata#identity/apiConnectors")

	case "GET /identity/apiConnectors/{id}":
		c := findByID(t.APIConnectors, params[0])
		if c != nil {
			c = untyped(s.view("conn:"+params[0], c))
		}
		writeOne(w, c, "https://graph.microsoft.com/v1.0/$metadata#identity/apiConnectors/$entity")

	case "PATCH /identity/apiConnectors/{id}":
		s.patchConnector(w, r, params[0])

	case "POST /identity/apiConnectors/{id}/uploadClientCertificate":
		s.uploadClientCertificate(w, r, params[0])

	case "GET /identity/b2xUserFlows":
		expand, ok := s.expandOf(w, q, "identityProviders")
		if !ok {
			return
		}
		ctx := "https://graph.microsoft.com/v1.0/$metadata#identity/b2xUserFlows"
		if expand["identityProviders"] {
			ctx += "(identityProviders)"
		}
		s.writePage(w, r, len(t.UserFlows), func(i int) map[string]any {
			return s.flowObject(&t.UserFlows[i], expand["identityProviders"])
		}, ctx)

	case "GET /identity/b2xUserFlows/{id}":
		// b2xidentityuserflow.md: apiConnectorConfiguration "can only be
		// obtained using Get userFlowApiConnectorConfiguration"; an $expand
		// of it (nested or not) is refused.
		expand, ok := s.expandOf(w, q, "identityProviders")
		if !ok {
			return
		}
		f := s.userFlow(params[0])
		if f == nil {
			notFound(w, params[0])
			return
		}
		writeJSON(w, http.StatusOK, s.flowObject(f, expand["identityProviders"]))

	case "GET /identity/b2xUserFlows/{id}/apiConnectorConfiguration":
		expand, ok := s.expandOf(w, q, "postFederationSignup", "postAttributeCollection")
		if !ok {
			return
		}
		f := s.userFlow(params[0])
		if f == nil {
			notFound(w, params[0])
			return
		}
		base := "https://graph.microsoft.com/v1.0/$metadata#identity/b2xUserFlows('" + params[0] + "')/apiConnectorConfiguration"
		body := map[string]any{"@odata.context": base}
		for _, step := range []struct {
			name, id string
		}{{"postFederationSignup", f.PostFederationSignup}, {"postAttributeCollection", f.PostAttributeCollection}} {
			if !expand[step.name] {
				continue // a navigation property is returned only when expanded
			}
			if c := s.connector(step.id); c != nil {
				body[step.name] = untyped(s.view("conn:"+step.id, c))
			} else {
				body[step.name] = nil
			}
		}
		writeJSON(w, http.StatusOK, body)

	case "GET /identity/b2xUserFlows/{id}/userFlowIdentityProviders":
		f := s.userFlow(params[0])
		if f == nil {
			notFound(w, params[0])
			return
		}
		n, item := listOf(f.IdentityProviders)
		s.writePage(w, r, n, item, "https://graph.microsoft.com/beta/$metadata#Collection(microsoft.graph.identityProviderBase)")

	case "GET /identity/b2xUserFlows/{id}/userAttributeAssignments":
		// The page documents $select and $expand=userAttribute (example
		// 2). Both examples carry the collection's @odata.type at the top
		// and no @odata.context; the items carry no @odata.type, the
		// expanded userAttribute the one the example spells
		// (#Microsoft.Graph.BuiltInUserFlowAttribute, …), kept as the
		// fixture holds it.
		expand, ok := s.expandOf(w, q, "userAttribute")
		if !ok {
			return
		}
		f := s.userFlow(params[0])
		if f == nil {
			notFound(w, params[0])
			return
		}
		s.writePageWith(w, r, len(f.UserAttributeAssignments), func(i int) map[string]any {
			a := untyped(f.UserAttributeAssignments[i])
			if !expand["userAttribute"] {
				delete(a, "userAttribute")
			}
			return a
		}, map[string]any{"@odata.type": "#microsoft.graph.identityUserFlowAttributeAssignment"})

	case "GET /policies/authenticationMethodsPolicy/authenticationMethodConfigurations/email":
		obj := t.EmailOTP
		if obj != nil {
			obj = typed(obj, "#microsoft.graph.emailAuthenticationMethodConfiguration")
		}
		writeOne(w, obj, "https://graph.microsoft.com/v1.0/$metadata#authenticationMethodConfigurations/$entity")

	case "GET /policies/crossTenantAccessPolicy/default":
		writeOne(w, untyped(t.CrossTenantDefault), "")

	case "POST /users/{id}/sendMail":
		s.serveSendMail(w, r, params[0])
	}
}

// expandOf parses $expand and refuses anything the route's page does not
// document, as Graph refuses an expansion it cannot make.
func (s *Server) expandOf(w http.ResponseWriter, q url.Values, allowed ...string) (map[string]bool, bool) {
	out := map[string]bool{}
	raw := q.Get("$expand")
	if raw == "" {
		return out, true
	}
	for _, e := range strings.Split(raw, ",") {
		e = strings.TrimSpace(e)
		ok := false
		for _, a := range allowed {
			ok = ok || e == a
		}
		if !ok {
			writeODataError(w, http.StatusBadRequest, "BadRequest", "Expanding '"+e+"' is not supported here (documented: "+strings.Join(allowed, ", ")+").")
			return nil, false
		}
		out[e] = true
	}
	return out, true
}

// flowObject is a b2xIdentityUserFlow as listed: no @odata.type; with
// identityProviders expanded in the v1.0 identityProvider shape (id, type,
// name, clientId, clientSecret) of the list page's example 2. That shape
// exists only for social providers, so built-in providers and SAML/WS-Fed
// partners are not in the expansion.
func (s *Server) flowObject(f *UserFlow, withIdPs bool) map[string]any {
	obj := untyped(f.Object)
	if !withIdPs {
		return obj
	}
	idps := []map[string]any{}
	for _, p := range f.IdentityProviders {
		if str(p["@odata.type"]) != "#microsoft.graph.socialIdentityProvider" {
			continue
		}
		legacy := map[string]any{"id": p["id"], "type": p["identityProviderType"], "name": p["displayName"], "clientSecret": "******"}
		if social := findByID(s.tenant.SocialIdentityProviders, str(p["id"])); social != nil {
			legacy["clientId"] = social["clientId"]
		}
		idps = append(idps, legacy)
	}
	obj["identityProviders"] = idps
	return obj
}

// federationStrings are the string properties of a
// samlOrWsFedExternalDomainFederation; one without a value is null.
var federationStrings = []string{"displayName", "issuerUri", "metadataExchangeUri", "signingCertificate", "passiveSignInUri", "preferredAuthenticationProtocol"}

// federationObject is a partner as the list and the update answer show it:
// no @odata.type (the cast segment names the type), domains inline with
// their id only, null for a string without a value.
func (s *Server) federationObject(f *Federation) map[string]any {
	obj := untyped(s.view("fed:"+str(f.Object["id"]), f.Object))
	for _, k := range federationStrings {
		if v, ok := obj[k]; !ok || v == "" {
			obj[k] = nil
		}
	}
	domains := make([]map[string]any, 0, len(f.Domains))
	for _, d := range f.Domains {
		domains = append(domains, map[string]any{"id": d})
	}
	obj["domains"] = domains
	return obj
}

// filterDomain matches the one $filter the Get page documents:
// domains/any(x: x/id eq 'contoso.com').
var filterDomain = regexp.MustCompile(`^domains/any\(x:\s*x/id eq '([^']+)'\)$`)

func (s *Server) listFederations(w http.ResponseWriter, r *http.Request) {
	domain := ""
	if f := r.URL.Query().Get("$filter"); f != "" {
		m := filterDomain.FindStringSubmatch(f)
		if m == nil {
			writeODataError(w, http.StatusBadRequest, "BadRequest", "Invalid filter clause: the documented filter is domains/any(x: x/id eq 'domain').")
			return
		}
		domain = m[1]
	}
	var picked []int
	for i := range s.tenant.Federations {
		if domain == "" || containsFold(s.tenant.Federations[i].Domains, domain) {
			picked = append(picked, i)
		}
	}
	// The list example carries no @odata.context.
	s.writePage(w, r, len(picked), func(i int) map[string]any { return s.federationObject(&s.tenant.Federations[picked[i]]) }, "")
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// writeOne answers a single object, or Graph's 404.
func writeOne(w http.ResponseWriter, obj map[string]any, context string) {
	if obj == nil {
		writeODataError(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource does not exist or one of its queried reference-property objects are not present.")
		return
	}
	if context != "" {
		obj = copyMap(obj)
		obj["@odata.context"] = context
	}
	writeJSON(w, http.StatusOK, obj)
}

func notFound(w http.ResponseWriter, id string) {
	writeODataError(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
}

// writePage answers one page of a collection of n items (item(i) builds
// the i-th, only for the page's items); $skiptoken is the offset of the
// page, and @odata.nextLink is an absolute URL on the host the client used,
// as Graph writes it (concepts/paging.md). context is the page's
// @odata.context, "" where the route's example shows none.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, n int, item func(i int) map[string]any, context string) {
	var top map[string]any
	if context != "" {
		top = map[string]any{"@odata.context": context}
	}
	s.writePageWith(w, r, n, item, top)
}

// writePageWith is writePage with the page's own annotations in top.
func (s *Server) writePageWith(w http.ResponseWriter, r *http.Request, n int, item func(i int) map[string]any, top map[string]any) {
	size := s.PageSize
	if size <= 0 {
		size = n + 1
	}
	start := 0
	if tok := r.URL.Query().Get("$skiptoken"); tok != "" {
		k, err := strconv.Atoi(tok)
		if err != nil || k < 0 || k > n {
			writeODataError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid $skiptoken.")
			return
		}
		start = k
	}
	end := min(start+size, n)
	items := make([]map[string]any, 0, end-start)
	for i := start; i < end; i++ {
		items = append(items, item(i))
	}
	body := map[string]any{"value": items}
	for k, v := range top {
		body[k] = v
	}
	if end < n {
		q := r.URL.Query()
		q.Set("$skiptoken", strconv.Itoa(end))
		next := url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
		body["@odata.nextLink"] = next.String()
	}
	writeJSON(w, http.StatusOK, body)
}

// listOf is writePage's item function for a built list.
func listOf(items []map[string]any) (int, func(int) map[string]any) {
	return len(items), func(i int) map[string]any { return items[i] }
}

func (s *Server) userFlow(id string) *UserFlow {
	for i := range s.tenant.UserFlows {
		if strings.EqualFold(str(s.tenant.UserFlows[i].Object["id"]), id) {
			return &s.tenant.UserFlows[i]
		}
	}
	return nil
}

func (s *Server) federation(id string) *Federation {
	for i := range s.tenant.Federations {
		if strings.EqualFold(str(s.tenant.Federations[i].Object["id"]), id) {
			return &s.tenant.Federations[i]
		}
	}
	return nil
}

func (s *Server) connector(id string) map[string]any {
	if id == "" {
		return nil
	}
	return findByID(s.tenant.APIConnectors, id)
}

func findByID(list []map[string]any, id string) map[string]any {
	for _, o := range list {
		if strings.EqualFold(str(o["id"]), id) {
			return o
		}
	}
	return nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func copyMap(obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj)+1)
	for k, v := range obj {
		out[k] = v
	}
	return out
}

// typed copies obj and sets @odata.type when the fixture left it out: the
// list of a base type (identityProviderBase) names each item's derived type.
func typed(obj map[string]any, odataType string) map[string]any {
	out := copyMap(obj)
	if _, ok := out["@odata.type"]; !ok {
		out["@odata.type"] = odataType
	}
	return out
}

// untyped copies obj without its @odata.type: the routes whose examples
// carry none (a list at a cast path, a single resource).
func untyped(obj map[string]any) map[string]any {
	if obj == nil {
		return nil
	}
	out := copyMap(obj)
	delete(out, "@odata.type")
	return out
}

// SentMail is one POST /v1.0/users/{id}/sendMail the fake accepted.
type SentMail struct {
	// User is the {id} segment: the sending mailbox (UPN or object ID).
	User string
	// Body is the decoded request body. Keys keep the client's case:
	// msgraph-sdk-go sends "Message" and "SaveToSentItems", which Graph
	// accepts (it matches action parameters case-insensitively).
	Body map[string]any
	// Raw is the request body as sent (after undoing gzip); for the MIME
	// form, the decoded RFC 5322 message.
	Raw []byte
	// MIME is true when the message came in sendMail's MIME form.
	MIME bool
	At   time.Time
}

// sentMail holds each Server's accepted messages. It lives beside Server
// rather than in it so the mail route stays self-contained in this file;
// entries are guarded by the Server's own lock and live as long as the
// process (test servers are few and small).
var sentMail sync.Map // *Server → *[]SentMail

// SentMail returns a copy of every message sent through sendMail so far.
func (s *Server) SentMail() []SentMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := sentMail.Load(s); ok {
		return append([]SentMail(nil), *v.(*[]SentMail)...)
	}
	return nil
}

// serveSendMail answers sendMail as Graph does: 202 Accepted with an empty
// body, or 400 when the body is not JSON or names no recipient (Graph's
// ErrorInvalidRecipients). Called with the server lock held.
func (s *Server) serveSendMail(w http.ResponseWriter, r *http.Request, user string) {
	var src io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		// kiota's compression middleware gzips request bodies; Graph accepts that.
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			writeODataError(w, http.StatusBadRequest, "ErrorInvalidRequest", "The gzip request body does not decode.")
			return
		}
		defer zr.Close()
		src = zr
	}
	raw, err := io.ReadAll(io.LimitReader(src, 4<<20))
	if err != nil {
		writeODataError(w, http.StatusBadRequest, "ErrorInvalidRequest", "Cannot read the request body.")
		return
	}
	if strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "text/plain") {
		// The MIME form: a base64 RFC 5322 message.
		mimeBytes, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil {
			writeODataError(w, http.StatusBadRequest, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
			return
		}
		msg, err := mail.ReadMessage(bytes.NewReader(mimeBytes))
		if err != nil || msg.Header.Get("To") == "" {
			writeODataError(w, http.StatusBadRequest, "ErrorInvalidRecipients", "A message can't be sent because it contains no recipients.")
			return
		}
		v, _ := sentMail.LoadOrStore(s, new([]SentMail))
		list := v.(*[]SentMail)
		*list = append(*list, SentMail{User: user, MIME: true, Raw: mimeBytes, At: time.Now()})
		w.WriteHeader(http.StatusAccepted)
		return
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		writeODataError(w, http.StatusBadRequest, "ErrorInvalidRequest", "The request body is not JSON.")
		return
	}
	// Graph matches action parameter names case-insensitively, and
	// msgraph-sdk-go sends "Message" and "SaveToSentItems".
	msg, _ := lookupFold(body, "message").(map[string]any)
	if to, _ := lookupFold(msg, "toRecipients").([]any); len(to) == 0 {
		writeODataError(w, http.StatusBadRequest, "ErrorInvalidRecipients", "A message can't be sent because it contains no recipients.")
		return
	}
	v, _ := sentMail.LoadOrStore(s, new([]SentMail))
	list := v.(*[]SentMail)
	*list = append(*list, SentMail{User: user, Body: body, Raw: raw, At: time.Now()})
	w.WriteHeader(http.StatusAccepted)
}

// lookupFold returns m's value for key, matching the key case-insensitively.
func lookupFold(m map[string]any, key string) any {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}
