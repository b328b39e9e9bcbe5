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

	pkcs12 "software.sslmate.com/src/go-pkcs12"
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

// ReplicationLag makes the next n reads of an object after each write to it
// show the object as it was before the write, as a Graph read served by a
// replica that has not caught up does. Zero (the default) reads are stale.
func (s *Server) ReplicationLag(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lag = n
}

// stale is an object's pre-write copy and how many reads still see it.
type stale struct {
	obj   map[string]any
	reads int
}

// beforeWrite keeps obj's current state for the configured number of reads.
// Called with the server lock held, before obj is changed.
func (s *Server) beforeWrite(key string, obj map[string]any) {
	if s.lag <= 0 {
		return
	}
	if s.stale == nil {
		s.stale = map[string]*stale{}
	}
	if st, ok := s.stale[key]; ok && st.reads > 0 {
		st.reads = s.lag // still the oldest state replicas may show
		return
	}
	s.stale[key] = &stale{obj: deepCopy(obj), reads: s.lag}
}

// view is what a read of key sees: the pre-write copy while reads remain,
// then the object itself. Called with the server lock held.
func (s *Server) view(key string, obj map[string]any) map[string]any {
	if st, ok := s.stale[key]; ok && st.reads > 0 {
		st.reads--
		return st.obj
	}
	return obj
}

func deepCopy(obj map[string]any) map[string]any {
	data, _ := json.Marshal(obj)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return out
}

func (s *Server) record(r *http.Request, raw []byte) {
	s.writes = append(s.writes, Write{Method: r.Method, Host: r.Host, Path: r.URL.Path, Body: raw, At: time.Now()})
}

// readPatch reads a JSON object body; ok is false after answering 400.
func readPatch(w http.ResponseWriter, r *http.Request) (map[string]any, []byte, bool) {
	raw, err := readBody(r)
	var patch map[string]any
	if err == nil {
		err = json.Unmarshal(raw, &patch)
	}
	if err != nil || patch == nil {
		writeODataError(w, http.StatusBadRequest, "BadRequest", "The request body is not a JSON object.")
		return nil, nil, false
	}
	return patch, raw, true
}

// patchSocial: identityproviderbase-update.md, 204 No Content. clientSecret
// is write-only: a read shows "******".
func (s *Server) patchSocial(w http.ResponseWriter, r *http.Request, id string) {
	target := findByID(s.tenant.SocialIdentityProviders, id)
	if target == nil {
		if findByID(s.tenant.BuiltInIdentityProviders, id) != nil {
			writeODataError(w, http.StatusBadRequest, "BadRequest", "Only a socialIdentityProvider can be updated in Microsoft Entra ID.")
			return
		}
		notFound(w, id)
		return
	}
	patch, raw, ok := readPatch(w, r)
	if !ok {
		return
	}
	s.beforeWrite("idp:"+id, target)
	for k, v := range patch {
		switch {
		case strings.HasPrefix(k, "@odata."):
		case k == "clientSecret":
			s.remember(id, v)
			target[k] = "******"
		case k == "clientId" || k == "displayName":
			target[k] = v
		default:
			writeODataError(w, http.StatusBadRequest, "BadRequest", "Property '"+k+"' cannot be updated (identityproviderbase-update.md lists clientId, clientSecret, displayName).")
			return
		}
	}
	s.record(r, raw)
	w.WriteHeader(http.StatusNoContent)
}

// patchFederation: samlorwsfedexternaldomainfederation-update.md, at the
// cast path; 200 OK with the updated object.
func (s *Server) patchFederation(w http.ResponseWriter, r *http.Request, id string) {
	f := s.federation(id)
	if f == nil {
		notFound(w, id)
		return
	}
	patch, raw, ok := readPatch(w, r)
	if !ok {
		return
	}
	updatable := map[string]bool{"displayName": true, "issuerUri": true, "metadataExchangeUri": true, "passiveSignInUri": true, "preferredAuthenticationProtocol": true, "signingCertificate": true}
	for k := range patch {
		if !strings.HasPrefix(k, "@odata.") && !updatable[k] {
			writeODataError(w, http.StatusBadRequest, "BadRequest", "Property '"+k+"' cannot be updated (samlorwsfedexternaldomainfederation-update.md).")
			return
		}
	}
	s.beforeWrite("fed:"+id, f.Object)
	for k, v := range patch {
		if !strings.HasPrefix(k, "@odata.") {
			f.Object[k] = v
		}
	}
	s.record(r, raw)
	// The answer is the object as written, not a replica's view of it.
	obj := untyped(f.Object)
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
	writeJSON(w, http.StatusOK, obj)
}

// patchConnector: identityapiconnector-update.md, 204 No Content. The
// authentication configuration is basicAuthentication (its password is
// write-only) or a pkcs12Certificate, which the service turns into a
// clientCertificateAuthentication with the certificate's public details
// (example 2 of the page).
func (s *Server) patchConnector(w http.ResponseWriter, r *http.Request, id string) {
	target := findByID(s.tenant.APIConnectors, id)
	if target == nil {
		notFound(w, id)
		return
	}
	patch, raw, ok := readPatch(w, r)
	if !ok {
		return
	}
	for k := range patch {
		if !strings.HasPrefix(k, "@odata.") && k != "displayName" && k != "targetUrl" && k != "authenticationConfiguration" {
			writeODataError(w, http.StatusBadRequest, "BadRequest", "Property '"+k+"' cannot be updated (identityapiconnector-update.md).")
			return
		}
	}
	var newAuth map[string]any
	var password any
	if v, ok := patch["authenticationConfiguration"]; ok {
		auth, _ := v.(map[string]any)
		switch strings.TrimPrefix(str(auth["@odata.type"]), "#") {
		case "microsoft.graph.basicAuthentication":
			newAuth = map[string]any{"@odata.type": "#microsoft.graph.basicAuthentication", "username": auth["username"], "password": "******"}
			password = auth["password"]
		case "microsoft.graph.pkcs12Certificate":
			cert, err := decodePFX(str(auth["pkcs12Value"]), str(auth["password"]))
			if err != nil {
				writeODataError(w, http.StatusBadRequest, "InvalidCertificate", "The pkcs12Value is not a PKCS#12 file this password opens.")
				return
			}
			newAuth = map[string]any{"@odata.type": "#microsoft.graph.clientCertificateAuthentication", "certificateList": []any{cert.entry(true)}}
		default:
			writeODataError(w, http.StatusBadRequest, "BadRequest", "authenticationConfiguration must be a basicAuthentication or a pkcs12Certificate.")
			return
		}
	}
	s.beforeWrite("conn:"+id, target)
	for k, v := range patch {
		switch k {
		case "displayName", "targetUrl":
			target[k] = v
		}
	}
	if newAuth != nil {
		target["authenticationConfiguration"] = newAuth
		if password != nil {
			s.remember(id, password)
		}
	}
	s.record(r, raw)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) remember(id string, v any) {
	if s.credentials == nil {
		s.credentials = map[string]string{}
	}
	str, _ := v.(string)
	s.credentials[id] = str
}

// pfxCertificate is the public part of an uploaded PFX, as certificateList
// shows it.
type pfxCertificate struct {
	thumbprint          string
	notBefore, notAfter time.Time
}

func (c pfxCertificate) entry(active bool) map[string]any {
	return map[string]any{"thumbprint": c.thumbprint, "notAfter": c.notAfter.Unix(), "notBefore": c.notBefore.Unix(), "isActive": active}
}

// decodePFX opens a base64 PKCS#12 the way Entra accepts them: with or
// without the chain, 3DES or AES (PBES2) encrypted.
func decodePFX(b64, password string) (pfxCertificate, error) {
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return pfxCertificate{}, err
	}
	_, cert, _, err := pkcs12.DecodeChain(der, password)
	if err != nil {
		return pfxCertificate{}, err
	}
	sum := sha1.Sum(cert.Raw)
	return pfxCertificate{thumbprint: strings.ToUpper(hex.EncodeToString(sum[:])), notBefore: cert.NotBefore, notAfter: cert.NotAfter}, nil
}

// uploadClientCertificate adds the PKCS#12 certificate to the connector's
// certificate list, makes it the active one once valid, and answers 200 with
// the connector (identityapiconnector-uploadclientcertificate.md).
func (s *Server) uploadClientCertificate(w http.ResponseWriter, r *http.Request, id string) {
	conn := findByID(s.tenant.APIConnectors, id)
	if conn == nil {
		notFound(w, id)
		return
	}
	raw, err := readBody(r)
	var body struct {
		PKCS12Value string  `json:"pkcs12Value"`
		Password    *string `json:"password"`
	}
	if err == nil {
		err = json.Unmarshal(raw, &body)
	}
	if err != nil || body.PKCS12Value == "" || body.Password == nil {
		// The page: both are required; no password is "".
		writeODataError(w, http.StatusBadRequest, "BadRequest", "pkcs12Value and password are required.")
		return
	}
	cert, err := decodePFX(body.PKCS12Value, *body.Password)
	if err != nil {
		writeODataError(w, http.StatusBadRequest, "InvalidCertificate", "The pkcs12Value is not a PKCS#12 file this password opens.")
		return
	}
	s.beforeWrite("conn:"+id, conn)
	auth, _ := conn["authenticationConfiguration"].(map[string]any)
	if auth == nil || auth["@odata.type"] != "#microsoft.graph.clientCertificateAuthentication" {
		auth = map[string]any{"@odata.type": "#microsoft.graph.clientCertificateAuthentication"}
	}
	list, _ := auth["certificateList"].([]any)
	active := !cert.notBefore.After(time.Now())
	if active {
		for _, c := range list {
			if m, ok := c.(map[string]any); ok {
				m["isActive"] = false
			}
		}
	}
	list = append(list, cert.entry(active))
	auth["certificateList"] = list
	conn["authenticationConfiguration"] = auth
	s.record(r, raw)
	out := untyped(conn)
	out["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#identity/apiConnectors/$entity"
	writeJSON(w, http.StatusOK, out)
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
		s.record(r, raw)
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
			s.record(r, raw)
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
