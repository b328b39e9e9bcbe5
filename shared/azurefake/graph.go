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
	"strconv"
	"strings"
	"sync"
	"time"
)

const graphPrefix = "/v1.0"

func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		writeODataError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, graphPrefix)
	if r.Method == http.MethodPost && ok && strings.HasPrefix(path, "/users/") && strings.HasSuffix(path, "/sendMail") {
		// The one write the fake accepts: notices are mailed from a mailbox.
		s.serveSendMail(w, r, strings.TrimSuffix(strings.TrimPrefix(path, "/users/"), "/sendMail"))
		return
	}
	if r.Method != http.MethodGet {
		if ok && s.serveGraphWrite(w, r, path) {
			return
		}
		writeODataError(w, http.StatusMethodNotAllowed, "Request_BadRequest", "The fake Graph does not serve this write.")
		return
	}
	if !ok {
		writeODataError(w, http.StatusNotFound, "BadRequest", "Only v1.0 is served.")
		return
	}
	t := s.tenant
	const fedCast = "/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation"
	const fedDomains = "/directory/federationConfigurations/microsoft.graph.samlOrWsFedExternalDomainFederation/"
	switch {
	case path == "/identity/identityProviders":
		items := make([]map[string]any, 0, len(t.SocialIdentityProviders))
		for _, p := range t.SocialIdentityProviders {
			items = append(items, withType(p, "#microsoft.graph.socialIdentityProvider"))
		}
		s.writePage(w, r, items)
	case path == fedCast:
		items := make([]map[string]any, 0, len(t.Federations))
		for _, f := range t.Federations {
			items = append(items, withType(f.Object, "#microsoft.graph.samlOrWsFedExternalDomainFederation"))
		}
		s.writePage(w, r, items)
	case strings.HasPrefix(path, fedDomains) && strings.HasSuffix(path, "/domains"):
		id := strings.TrimSuffix(strings.TrimPrefix(path, fedDomains), "/domains")
		for _, f := range t.Federations {
			if f.Object["id"] == id {
				items := make([]map[string]any, 0, len(f.Domains))
				for _, d := range f.Domains {
					items = append(items, map[string]any{"id": d, "name": d})
				}
				s.writePage(w, r, items)
				return
			}
		}
		writeODataError(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+id+"' does not exist.")
	case path == "/identity/apiConnectors":
		s.writePage(w, r, t.APIConnectors)
	case strings.HasPrefix(path, "/identity/identityProviders/"):
		s.writeOne(w, findByID(t.SocialIdentityProviders, strings.TrimPrefix(path, "/identity/identityProviders/")), "#microsoft.graph.socialIdentityProvider")
	case strings.HasPrefix(path, "/identity/apiConnectors/"):
		s.writeOne(w, findByID(t.APIConnectors, strings.TrimPrefix(path, "/identity/apiConnectors/")), "#microsoft.graph.identityApiConnector")
	case strings.HasPrefix(path, "/directory/federationConfigurations/") && !strings.Contains(strings.TrimPrefix(path, "/directory/federationConfigurations/"), "/") && !strings.Contains(path, "samlOrWsFed"):
		id := strings.TrimPrefix(path, "/directory/federationConfigurations/")
		var obj map[string]any
		for _, f := range t.Federations {
			if f.Object["id"] == id {
				obj = f.Object
			}
		}
		s.writeOne(w, obj, "#microsoft.graph.samlOrWsFedExternalDomainFederation")
	case path == "/identity/b2xUserFlows":
		items := make([]map[string]any, 0, len(t.UserFlows))
		for _, f := range t.UserFlows {
			items = append(items, withType(f.Object, "#microsoft.graph.b2xIdentityUserFlow"))
		}
		s.writePage(w, r, items)
	case strings.HasPrefix(path, "/identity/b2xUserFlows/"):
		rest := strings.TrimPrefix(path, "/identity/b2xUserFlows/")
		id, sub, _ := strings.Cut(rest, "/")
		flow := s.userFlow(id)
		if flow == nil {
			writeODataError(w, http.StatusNotFound, "Request_ResourceNotFound", "User flow '"+id+"' does not exist.")
			return
		}
		switch sub {
		case "":
			obj := withType(flow.Object, "#microsoft.graph.b2xIdentityUserFlow")
			if strings.Contains(r.URL.Query().Get("$expand"), "apiConnectorConfiguration") {
				cfg := map[string]any{}
				if c := s.connector(flow.PostFederationSignup); c != nil {
					cfg["postFederationSignup"] = c
				}
				if c := s.connector(flow.PostAttributeCollection); c != nil {
					cfg["postAttributeCollection"] = c
				}
				obj["apiConnectorConfiguration"] = cfg
			}
			writeJSON(w, http.StatusOK, obj)
		case "userFlowIdentityProviders":
			s.writePage(w, r, flow.IdentityProviders)
		default:
			writeODataError(w, http.StatusNotFound, "Request_ResourceNotFound", "Unknown segment "+sub)
		}
	case path == "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/email":
		if t.EmailOTP == nil {
			writeODataError(w, http.StatusNotFound, "Request_ResourceNotFound", "Not found.")
			return
		}
		writeJSON(w, http.StatusOK, withType(t.EmailOTP, "#microsoft.graph.emailAuthenticationMethodConfiguration"))
	case path == "/policies/crossTenantAccessPolicy/default":
		if t.CrossTenantDefault == nil {
			writeODataError(w, http.StatusNotFound, "Request_ResourceNotFound", "Not found.")
			return
		}
		writeJSON(w, http.StatusOK, withType(t.CrossTenantDefault, "#microsoft.graph.crossTenantAccessPolicyConfigurationDefault"))
	default:
		writeODataError(w, http.StatusNotFound, "BadRequest", "Resource not found for the segment '"+path+"'.")
	}
}

// writeOne answers a single object, or Graph's 404.
func (s *Server) writeOne(w http.ResponseWriter, obj map[string]any, odataType string) {
	if obj == nil {
		writeODataError(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource does not exist or one of its queried reference-property objects are not present.")
		return
	}
	writeJSON(w, http.StatusOK, withType(obj, odataType))
}

// writePage answers one page of a collection; $skiptoken is the offset of the
// page, and @odata.nextLink is an absolute URL on the host the client used,
// as Graph writes it.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, items []map[string]any) {
	size := s.PageSize
	if size <= 0 {
		size = len(items) + 1
	}
	start := 0
	if tok := r.URL.Query().Get("$skiptoken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || n > len(items) {
			writeODataError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid $skiptoken.")
			return
		}
		start = n
	}
	end := min(start+size, len(items))
	body := map[string]any{
		"@odata.context": "https://graph.microsoft.com/v1.0/$metadata",
		"value":          items[start:end],
	}
	if end < len(items) {
		q := r.URL.Query()
		q.Set("$skiptoken", strconv.Itoa(end))
		next := url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
		body["@odata.nextLink"] = next.String()
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) userFlow(id string) *UserFlow {
	for i := range s.tenant.UserFlows {
		if s.tenant.UserFlows[i].Object["id"] == id {
			return &s.tenant.UserFlows[i]
		}
	}
	return nil
}

func (s *Server) connector(id string) map[string]any {
	if id == "" {
		return nil
	}
	for _, c := range s.tenant.APIConnectors {
		if c["id"] == id {
			return c
		}
	}
	return nil
}

// withType copies obj and sets @odata.type when the fixture left it out, so
// the SDK's discriminator picks the derived type as it does against Graph.
func withType(obj map[string]any, odataType string) map[string]any {
	out := make(map[string]any, len(obj)+1)
	for k, v := range obj {
		out[k] = v
	}
	if _, ok := out["@odata.type"]; !ok {
		out["@odata.type"] = odataType
	}
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
