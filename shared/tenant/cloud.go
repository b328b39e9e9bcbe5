package tenant

import (
	"fmt"
	"sort"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
)

// Cloud is one Microsoft cloud: where Graph answers, which token scope it
// accepts, where credentials get tokens, and how its Key Vault hosts end.
// concepts/sdks/national-clouds.md: the .default scope "MUST use the domain
// of the Microsoft Graph service root endpoint for the national cloud
// deployment", and the credential must use that cloud's authority host.
type Cloud struct {
	// Name is the config value: public, usgov or china.
	Name string
	// GraphRoot is the Graph service root, without the version.
	GraphRoot string
	// AuthorityHost is the Entra token service (azcore's cloud settings).
	AuthorityHost string
	// KeyVaultSuffix is what every vault host of the cloud ends with.
	KeyVaultSuffix string
}

// The clouds IdP Keeper knows. Graph roots: deployments.md ("Microsoft Graph
// and Graph Explorer service root endpoints"); authority hosts: azcore/cloud;
// Key Vault DNS suffixes: Key Vault's "About keys, secrets and certificates"
// (vault.azure.net, vault.usgovcloudapi.net, vault.azure.cn).
var (
	CloudPublic = Cloud{Name: "public", GraphRoot: "https://graph.microsoft.com", AuthorityHost: cloud.AzurePublic.ActiveDirectoryAuthorityHost, KeyVaultSuffix: ".vault.azure.net"}
	CloudUSGov  = Cloud{Name: "usgov", GraphRoot: "https://graph.microsoft.us", AuthorityHost: cloud.AzureGovernment.ActiveDirectoryAuthorityHost, KeyVaultSuffix: ".vault.usgovcloudapi.net"}
	CloudChina  = Cloud{Name: "china", GraphRoot: "https://microsoftgraph.chinacloudapi.cn", AuthorityHost: cloud.AzureChina.ActiveDirectoryAuthorityHost, KeyVaultSuffix: ".vault.azure.cn"}
)

var clouds = map[string]Cloud{CloudPublic.Name: CloudPublic, CloudUSGov.Name: CloudUSGov, CloudChina.Name: CloudChina}

// CloudNames lists the accepted config values.
func CloudNames() []string {
	out := make([]string, 0, len(clouds))
	for n := range clouds {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// CloudByName returns the cloud a config names; "" is the public cloud.
func CloudByName(name string) (Cloud, error) {
	if name == "" {
		return CloudPublic, nil
	}
	c, ok := clouds[strings.ToLower(name)]
	if !ok {
		return Cloud{}, fmt.Errorf("unknown cloud %q (one of %s)", name, strings.Join(CloudNames(), ", "))
	}
	return c, nil
}

// GraphBaseURL is the v1.0 root requests are sent to.
func (c Cloud) GraphBaseURL() string { return c.GraphRoot + "/v1.0" }

// GraphScope is the application (.default) scope of the cloud's Graph.
func (c Cloud) GraphScope() string { return c.GraphRoot + "/.default" }

// GraphHost is the host name of the cloud's Graph.
func (c Cloud) GraphHost() string { return strings.TrimPrefix(c.GraphRoot, "https://") }

// AzCore is the azcore cloud configuration credentials take
// (azcore.ClientOptions.Cloud).
func (c Cloud) AzCore() cloud.Configuration {
	switch c.Name {
	case CloudUSGov.Name:
		return cloud.AzureGovernment
	case CloudChina.Name:
		return cloud.AzureChina
	}
	return cloud.AzurePublic
}

// IsKeyVaultHost reports whether host is a vault of this cloud.
func (c Cloud) IsKeyVaultHost(host string) bool {
	return strings.HasSuffix(strings.ToLower(host), c.KeyVaultSuffix)
}

// IsAnyKeyVaultHost reports whether host is a vault of any known cloud: the
// snapshot recorder refuses secret value reads from all of them.
func IsAnyKeyVaultHost(host string) bool {
	for _, c := range clouds {
		if c.IsKeyVaultHost(host) {
			return true
		}
	}
	return false
}
