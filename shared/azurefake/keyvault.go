package azurefake

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// serveVault answers the Key Vault secrets API (api-version 7.x):
// GET /secrets, GET /secrets/{name}/versions, GET /secrets/{name}[/{version}].
func (s *Server) serveVault(w http.ResponseWriter, r *http.Request, host string) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		// Key Vault's challenge: clients learn tenant and resource from it.
		tenant := s.tenant.TenantID
		if tenant == "" {
			tenant = "common"
		}
		authority, resource := "https://login.microsoftonline.com/", "https://vault.azure.net"
		switch {
		case strings.HasSuffix(host, ".vault.usgovcloudapi.net"):
			authority, resource = "https://login.microsoftonline.us/", "https://vault.usgovcloudapi.net"
		case strings.HasSuffix(host, ".vault.azure.cn"):
			authority, resource = "https://login.chinacloudapi.cn/", "https://vault.azure.cn"
		}
		w.Header().Set("WWW-Authenticate", `Bearer authorization="`+authority+tenant+`", resource="`+resource+`"`)
		writeVaultError(w, http.StatusUnauthorized, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		writeVaultError(w, http.StatusBadRequest, "BadParameter", "The api-version query parameter is missing.")
		return
	}
	vault := s.tenant.Vaults[host]
	if vault == nil {
		writeVaultError(w, http.StatusNotFound, "VaultNotFound", "Vault "+host+" not found.")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) == 0 || parts[0] != "secrets" {
		writeVaultError(w, http.StatusNotFound, "NotFound", "Unknown path.")
		return
	}
	base := "https://" + host
	if r.Method != http.MethodGet {
		if !s.serveVaultWrite(w, r, vault, base, parts) {
			writeVaultError(w, http.StatusMethodNotAllowed, "BadParameter", "The fake Key Vault does not serve this write.")
		}
		return
	}
	switch {
	case len(parts) == 1:
		listed := vault.listed()
		s.writeVaultPage(w, r, len(listed), func(i int) map[string]any {
			sec := vault.Secrets[listed[i]]
			return secretItem(base+"/secrets/"+sec.Name, sec, sec.Versions[len(sec.Versions)-1])
		})
	case len(parts) == 3 && parts[2] == "versions":
		sec := findSecret(vault, parts[1])
		if sec == nil {
			writeVaultError(w, http.StatusNotFound, "SecretNotFound", "A secret with (name/id) "+parts[1]+" was not found in this key vault.")
			return
		}
		s.writeVaultPage(w, r, len(sec.Versions), func(i int) map[string]any {
			v := sec.Versions[i]
			return secretItem(base+"/secrets/"+sec.Name+"/"+v.Version, *sec, v)
		})
	case len(parts) == 2 || len(parts) == 3:
		sec := findSecret(vault, parts[1])
		if sec == nil || len(sec.Versions) == 0 {
			writeVaultError(w, http.StatusNotFound, "SecretNotFound", "A secret with (name/id) "+parts[1]+" was not found in this key vault.")
			return
		}
		v := sec.Versions[len(sec.Versions)-1]
		if len(parts) == 3 && parts[2] != "" {
			found := false
			for _, cand := range sec.Versions {
				if cand.Version == parts[2] {
					v, found = cand, true
				}
			}
			if !found {
				writeVaultError(w, http.StatusNotFound, "SecretNotFound", "Version not found.")
				return
			}
		}
		s.valueReads++
		item := secretItem(base+"/secrets/"+sec.Name+"/"+v.Version, *sec, v)
		item["value"] = v.Value
		writeJSON(w, http.StatusOK, item)
	default:
		writeVaultError(w, http.StatusNotFound, "NotFound", "Unknown path.")
	}
}

// listed are the positions of the secrets a list shows (those with a
// version), kept like the name index: a benchmark vault is listed page by
// page, and each page would otherwise walk all of it.
func (v *Vault) listed() []int {
	versions := 0
	for i := range v.Secrets {
		versions += len(v.Secrets[i].Versions)
	}
	if v.list == nil || v.listedN != len(v.Secrets) || v.listedVersions != versions {
		v.list = v.list[:0]
		for i := range v.Secrets {
			if len(v.Secrets[i].Versions) > 0 {
				v.list = append(v.list, i)
			}
		}
		v.listedN, v.listedVersions = len(v.Secrets), versions
	}
	return v.list
}

func findSecret(v *Vault, name string) *Secret {
	// A benchmark vault holds thousands of secrets and a scan asks for the
	// versions of hundreds: keep a name index, rebuilt when a write added
	// a secret.
	if v.index == nil || v.indexed != len(v.Secrets) {
		v.index = make(map[string]int, len(v.Secrets))
		for i := range v.Secrets {
			v.index[strings.ToLower(v.Secrets[i].Name)] = i
		}
		v.indexed = len(v.Secrets)
	}
	if i, ok := v.index[strings.ToLower(name)]; ok {
		return &v.Secrets[i]
	}
	return nil
}

// secretItem is a SecretItem/SecretBundle without the value; Key Vault
// writes times as Unix seconds.
func secretItem(id string, sec Secret, v SecretVersion) map[string]any {
	attrs := map[string]any{
		"enabled":       v.Enabled,
		"created":       v.Created.Unix(),
		"updated":       v.Updated.Unix(),
		"recoveryLevel": "Recoverable+Purgeable",
	}
	if v.NotBefore != nil {
		attrs["nbf"] = v.NotBefore.Unix()
	}
	if v.Expires != nil {
		attrs["exp"] = v.Expires.Unix()
	}
	item := map[string]any{"id": id, "attributes": attrs}
	if len(v.Tags) > 0 {
		item["tags"] = v.Tags
	}
	if v.ContentType != "" {
		item["contentType"] = v.ContentType
	}
	if sec.Managed {
		item["managed"] = true
	}
	return item
}

// VaultPageSize is how many items a Key Vault list page holds: the Get
// Secrets and Get Secret Versions operations take maxresults, "If not
// specified the service will return up to 25 results" (Key Vault REST API,
// azure-rest-api-specs keyvault data-plane), and azsecrets sends none.
const VaultPageSize = 25

// writeVaultPage answers one page of n items: PageSize of them, at most
// VaultPageSize.
func (s *Server) writeVaultPage(w http.ResponseWriter, r *http.Request, n int, item func(i int) map[string]any) {
	size := s.PageSize
	if size <= 0 || size > VaultPageSize {
		size = VaultPageSize
	}
	start := 0
	if tok := r.URL.Query().Get("$skiptoken"); tok != "" {
		k, err := strconv.Atoi(tok)
		if err != nil || k < 0 || k > n {
			writeVaultError(w, http.StatusBadRequest, "BadParameter", "Invalid $skiptoken.")
			return
		}
		start = k
	}
	end := min(start+size, n)
	items := make([]map[string]any, 0, end-start)
	for i := start; i < end; i++ {
		items = append(items, item(i))
	}
	body := map[string]any{"value": items, "nextLink": nil}
	if end < n {
		q := r.URL.Query()
		q.Set("$skiptoken", strconv.Itoa(end))
		next := url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
		body["nextLink"] = next.String()
	}
	writeJSON(w, http.StatusOK, body)
}
