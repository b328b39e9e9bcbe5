package tenant

import (
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoft/kiota-abstractions-go/store"
	formser "github.com/microsoft/kiota-serialization-form-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	multipartser "github.com/microsoft/kiota-serialization-multipart-go"
	textser "github.com/microsoft/kiota-serialization-text-go"
	"github.com/microsoftgraph/msgraph-sdk-go/directory"
	"github.com/microsoftgraph/msgraph-sdk-go/identity"
	"github.com/microsoftgraph/msgraph-sdk-go/policies"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// Graph hands out the msgraph-sdk-go request builders IdP Keeper uses, on
// the SDK's own request adapter. It stands in for
// msgraphsdk.GraphServiceClient, whose methods reach every request builder
// of the Graph API: linking that type alone made the binary 128 MB, which
// every Flex Consumption cold start has to load.
type Graph struct {
	adapter abstractions.RequestAdapter
	// limiter paces Graph requests (NewClients); nil: none.
	limiter *Limiter
}

// NewGraph wraps a request adapter (see NewClients), registering the
// serializers and the backing store exactly as msgraphsdk.NewGraphBaseServiceClient does.
func NewGraph(adapter abstractions.RequestAdapter) *Graph {
	abstractions.RegisterDefaultSerializer(func() serialization.SerializationWriterFactory { return jsonser.NewJsonSerializationWriterFactory() })
	abstractions.RegisterDefaultSerializer(func() serialization.SerializationWriterFactory { return textser.NewTextSerializationWriterFactory() })
	abstractions.RegisterDefaultSerializer(func() serialization.SerializationWriterFactory { return formser.NewFormSerializationWriterFactory() })
	abstractions.RegisterDefaultSerializer(func() serialization.SerializationWriterFactory {
		return multipartser.NewMultipartSerializationWriterFactory()
	})
	abstractions.RegisterDefaultDeserializer(func() serialization.ParseNodeFactory { return jsonser.NewJsonParseNodeFactory() })
	abstractions.RegisterDefaultDeserializer(func() serialization.ParseNodeFactory { return textser.NewTextParseNodeFactory() })
	abstractions.RegisterDefaultDeserializer(func() serialization.ParseNodeFactory { return formser.NewFormParseNodeFactory() })
	if adapter.GetBaseUrl() == "" {
		adapter.SetBaseUrl("https://graph.microsoft.com/v1.0")
	}
	adapter.EnableBackingStore(store.BackingStoreFactoryInstance)
	return &Graph{adapter: adapter}
}

// GetAdapter returns the request adapter, for page iterators and raw requests.
func (g *Graph) GetAdapter() abstractions.RequestAdapter { return g.adapter }

// The builders expand "{+baseurl}" from their path parameters; the adapter
// fills it with its base URL when it sends.
func (g *Graph) params() map[string]string {
	return map[string]string{"baseurl": g.adapter.GetBaseUrl()}
}

// Identity is /identity (identity providers, API connectors, user flows).
func (g *Graph) Identity() *identity.IdentityRequestBuilder {
	return identity.NewIdentityRequestBuilderInternal(g.params(), g.adapter)
}

// Directory is /directory (federation configurations).
func (g *Graph) Directory() *directory.DirectoryRequestBuilder {
	return directory.NewDirectoryRequestBuilderInternal(g.params(), g.adapter)
}

// Policies is /policies (email OTP, cross-tenant access defaults).
func (g *Graph) Policies() *policies.PoliciesRequestBuilder {
	return policies.NewPoliciesRequestBuilderInternal(g.params(), g.adapter)
}

// Users is /users (sendMail from the notice mailbox).
func (g *Graph) Users() *users.UsersRequestBuilder {
	return users.NewUsersRequestBuilderInternal(g.params(), g.adapter)
}
