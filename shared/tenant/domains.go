package tenant

import (
	"github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// domainCollection is the page type of
// GET /directory/federationConfigurations/microsoft.graph.samlOrWsFedExternalDomainFederation/{id}/domains.
// msgraph-sdk-go has no request builder (and so no collection type) for that
// cast segment, so this one is written the way the SDK writes its own:
// the pagination base plus a typed value list.
type domainCollection struct {
	models.BaseCollectionPaginationCountResponse
	value []models.ExternalDomainNameable
}

func newDomainCollection(serialization.ParseNode) (serialization.Parsable, error) {
	return &domainCollection{BaseCollectionPaginationCountResponse: *models.NewBaseCollectionPaginationCountResponse()}, nil
}

// GetValue is found by the page iterator through reflection.
func (m *domainCollection) GetValue() []models.ExternalDomainNameable { return m.value }

func (m *domainCollection) GetFieldDeserializers() map[string]func(serialization.ParseNode) error {
	res := m.BaseCollectionPaginationCountResponse.GetFieldDeserializers()
	res["value"] = func(n serialization.ParseNode) error {
		items, err := n.GetCollectionOfObjectValues(models.CreateExternalDomainNameFromDiscriminatorValue)
		if err != nil {
			return err
		}
		m.value = make([]models.ExternalDomainNameable, 0, len(items))
		for _, it := range items {
			if d, ok := it.(models.ExternalDomainNameable); ok {
				m.value = append(m.value, d)
			}
		}
		return nil
	}
	return res
}
