package azurefake

import (
	"compress/gzip"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/pkcs12"
)

// Write is one request that changed the fake's state. Tests use Writes to
// prove that a dry run wrote nothing and that a repair wrote once. Body holds
// what the client sent, secret values included: assert on it, never print it.
type Write struct {
	Method string
	Host   string
	Path   string
	Body   []byte
	At     time.Time
}

// Writes returns every accepted write so far (sendMail excluded: see SentMail).
func (s *Server) Writes() []Write {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Write(nil), s.writes...)
}

// CredentialOf returns the write-only credential last set on a social
// identity provider (clientSecret) or a basic-auth API connector (password),
// which Graph never returns on read. Tests compare it with the value they
// expect; it is never logged.
func (s *Server) CredentialOf(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.credentials[id]
}

func readBody(r *http.Request) ([]byte, error) {
	var src io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		src = zr
	}
	return io.ReadAll(io.LimitReader(src, 8<<20))
}

// serveGraphWrite answers the Graph writes IdP Keeper's repair step makes;
// handled is false for anything else. Called with the server lock held.
func (s *Server) serveGraphWrite(w http.ResponseWriter, r *http.Request, path string) (handled bool) {
	var target map[string]any
	var id string
	switch {
	case r.Method == http.MethodPatch && strings.HasPrefix(path, "/identity/identityProviders/"):
		id = strings.TrimPrefix(path, "/identity/identityProviders/")
		target = findByID(s.tenant.SocialIdentityProviders, id)
	case r.Method == http.MethodPatch && strings.HasPrefix(path, "/directory/federationConfigurations/"):
		id = strings.TrimPrefix(path, "/directory/federationConfigurations/")
		for _, f := range s.tenant.Federations {
			if f.Object["id"] == id {
				target = f.Object
			}
		}
	case r.Method == http.MethodPatch && strings.HasPrefix(path, "/identity/apiConnectors/") && !strings.Contains(strings.TrimPrefix(path, "/identity/apiConnectors/"), "/"):
		id = strings.TrimPrefix(path, "/identity/apiConnectors/")
		target = findByID(s.tenant.APIConnectors, id)
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/identity/apiConnectors/") && strings.HasSuffix(path, "/uploadClientCertificate"):
		id = strings.TrimSuffix(strings.TrimPrefix(path, "/identity/apiConnectors/"), "/uploadClientCertificate")
		s.uploadClientCertificate(w, r, id)
		return true
	default:
		return false
	}
	if target == nil {
		writeODataError(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+id+"' does not exist.")
		return true
	}
	raw, err := readBody(r)
	var patch map[string]any
	if err == nil {
		err = json.Unmarshal(raw, &patch)
	}
	if err != nil {
		writeODataError(w, http.StatusBadRequest, "BadRequest", "The request body is not JSON.")
		return true
	}
	for k, v := range patch {
		if strings.HasPrefix(k, "@odata.") {
			continue
		}
		switch k {
		case "clientSecret":
			s.remember(id, v)
			target[k] = "******" // write-only: Graph masks it on read
		case "authenticationConfiguration":
			auth, _ := v.(map[string]any)
			if pw, ok := auth["password"]; ok {
				s.remember(id, pw)
				auth["password"] = "******"
			}
			target[k] = auth
		default:
			target[k] = v
		}
	}
	s.writes = append(s.writes, Write{Method: r.Method, Host: r.Host, Path: r.URL.Path, Body: raw, At: time.Now()})
	w.WriteHeader(http.StatusNoContent)
	return true
}

func (s *Server) remember(id string, v any) {
	if s.credentials == nil {
		s.credentials = map[string]string{}
	}
	str, _ := v.(string)
	s.credentials[id] = str
}

func findByID(list []map[string]any, id string) map[string]any {
	for _, o := range list {
		if o["id"] == id {
			return o
		}
	}
	return nil
}

// uploadClientCertificate adds the PKCS#12 certificate to the connector's
// certificate list, makes it the active one once valid, and answers with the
// connector, as Graph does.
func (s *Server) uploadClientCertificate(w http.ResponseWriter, r *http.Request, id string) {
	conn := findByID(s.tenant.APIConnectors, id)
	if conn == nil {
		writeODataError(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+id+"' does not exist.")
		return
	}
	raw, err := readBody(r)
	var body struct {
		PKCS12Value string `json:"pkcs12Value"`
		Password    string `json:"password"`
	}
	if err == nil {
		err = json.Unmarshal(raw, &body)
	}
	if err != nil || body.PKCS12Value == "" {
		writeODataError(w, http.StatusBadRequest, "BadRequest", "pkcs12Value is required.")
		return
	}
	der, err := base64.StdEncoding.DecodeString(body.PKCS12Value)
	var certDER []byte
	var notBefore, notAfter time.Time
	if err == nil {
		_, cert, perr := pkcs12.Decode(der, body.Password)
		err = perr
		if perr == nil {
			certDER, notBefore, notAfter = cert.Raw, cert.NotBefore, cert.NotAfter
		}
	}
	if err != nil {
		writeODataError(w, http.StatusBadRequest, "InvalidCertificate", "The pkcs12Value is not a PKCS#12 file this password opens.")
		return
	}
	sum := sha1.Sum(certDER)
	thumb := strings.ToUpper(hex.EncodeToString(sum[:]))
	auth, _ := conn["authenticationConfiguration"].(map[string]any)
	if auth == nil || auth["@odata.type"] != "#microsoft.graph.clientCertificateAuthentication" {
		auth = map[string]any{"@odata.type": "#microsoft.graph.clientCertificateAuthentication"}
	}
	list, _ := auth["certificateList"].([]any)
	active := !notBefore.After(time.Now())
	if active {
		for _, c := range list {
			if m, ok := c.(map[string]any); ok {
				m["isActive"] = false
			}
		}
	}
	list = append(list, map[string]any{
		"thumbprint": thumb, "notBefore": notBefore.Unix(), "notAfter": notAfter.Unix(), "isActive": active,
	})
	auth["certificateList"] = list
	conn["authenticationConfiguration"] = auth
	s.writes = append(s.writes, Write{Method: r.Method, Host: r.Host, Path: r.URL.Path, Body: raw, At: time.Now()})
	writeJSON(w, http.StatusOK, withType(conn, "#microsoft.graph.identityApiConnector"))
}

// serveVaultWrite answers PUT /secrets/{name} (a new version) and
// PATCH /secrets/{name}/{version} (attributes and tags). Called with the
// server lock held.
func (s *Server) serveVaultWrite(w http.ResponseWriter, r *http.Request, vault *Vault, base string, parts []string) (handled bool) {
	raw, err := readBody(r)
	var body struct {
		Value       *string           `json:"value"`
		ContentType *string           `json:"contentType"`
		Tags        map[string]string `json:"tags"`
		Attributes  *struct {
			Enabled *bool  `json:"enabled"`
			NBF     *int64 `json:"nbf"`
			Exp     *int64 `json:"exp"`
		} `json:"attributes"`
	}
	switch {
	case r.Method == http.MethodPut && len(parts) == 2:
		if err == nil {
			err = json.Unmarshal(raw, &body)
		}
		if err != nil || body.Value == nil {
			writeVaultError(w, http.StatusBadRequest, "BadParameter", "The request body must carry a value.")
			return true
		}
		sec := findSecret(vault, parts[1])
		if sec == nil {
			vault.Secrets = append(vault.Secrets, Secret{Name: parts[1]})
			sec = &vault.Secrets[len(vault.Secrets)-1]
		}
		now := time.Now().UTC().Truncate(time.Second)
		v := SecretVersion{Version: newVersion(), Value: *body.Value, Enabled: true, Created: now, Updated: now, Tags: body.Tags}
		if body.ContentType != nil {
			v.ContentType = *body.ContentType
		}
		applyAttributes(&v, body.Attributes)
		sec.Versions = append(sec.Versions, v)
		s.writes = append(s.writes, Write{Method: r.Method, Host: r.Host, Path: r.URL.Path, Body: raw, At: time.Now()})
		item := secretItem(base+"/secrets/"+sec.Name+"/"+v.Version, *sec, v)
		item["value"] = v.Value
		writeJSON(w, http.StatusOK, item)
		return true
	case r.Method == http.MethodPatch && len(parts) == 3:
		if err == nil {
			err = json.Unmarshal(raw, &body)
		}
		if err != nil {
			writeVaultError(w, http.StatusBadRequest, "BadParameter", "The request body is not JSON.")
			return true
		}
		sec := findSecret(vault, parts[1])
		if sec == nil {
			writeVaultError(w, http.StatusNotFound, "SecretNotFound", "A secret with (name/id) "+parts[1]+" was not found in this key vault.")
			return true
		}
		for i := range sec.Versions {
			v := &sec.Versions[i]
			if v.Version != parts[2] {
				continue
			}
			if body.Tags != nil {
				v.Tags = body.Tags
			}
			if body.ContentType != nil {
				v.ContentType = *body.ContentType
			}
			applyAttributes(v, body.Attributes)
			v.Updated = time.Now().UTC().Truncate(time.Second)
			s.writes = append(s.writes, Write{Method: r.Method, Host: r.Host, Path: r.URL.Path, Body: raw, At: time.Now()})
			writeJSON(w, http.StatusOK, secretItem(base+"/secrets/"+sec.Name+"/"+v.Version, *sec, *v))
			return true
		}
		writeVaultError(w, http.StatusNotFound, "SecretNotFound", "Version not found.")
		return true
	}
	return false
}

func applyAttributes(v *SecretVersion, a *struct {
	Enabled *bool  `json:"enabled"`
	NBF     *int64 `json:"nbf"`
	Exp     *int64 `json:"exp"`
}) {
	if a == nil {
		return
	}
	if a.Enabled != nil {
		v.Enabled = *a.Enabled
	}
	if a.NBF != nil {
		t := time.Unix(*a.NBF, 0).UTC()
		v.NotBefore = &t
	}
	if a.Exp != nil {
		t := time.Unix(*a.Exp, 0).UTC()
		v.Expires = &t
	}
}

func newVersion() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
