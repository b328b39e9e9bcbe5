package azurefake

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const graphPrefix = "/v1.0"

func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		writeODataError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return
	}
	if r.Method != http.MethodGet {
		writeODataError(w, http.StatusMethodNotAllowed, "Request_BadRequest", "The fake Graph only serves reads.")
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, graphPrefix)
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
