// servicebus.bicep — Service Bus namespace (Standard, Entra ID only) and the
// three job queues.
//
// Standard tier, not Basic: duplicate detection and scheduled messages (both
// used by shared/jobs) need Standard or Premium.
// disableLocalAuth: no SAS keys; the Functions trigger and the Go sender use
// the managed identity (ServiceBusConnection__fullyQualifiedNamespace).
//
// Queue properties (the same for the three queues; shared/consistency checks
// that infra/local/servicebus-emulator/Config.json matches, within the
// emulator's limits):
//   requiresDuplicateDetection true, window P1D — job MessageIDs are
//     deterministic per UTC day (shared/jobs MessageIDPeriod), so the window
//     must cover a whole day for "a scan that runs twice enqueues nothing
//     new" to hold at any hour (a window of PT1H forgot the 06:00 scan's IDs
//     by 07:00). shared/consistency checks window ≥ MessageIDPeriod.
//     NOTE: requiresDuplicateDetection cannot be changed on an existing
//     queue; the window can (an update, no data loss).
//   lockDuration PT5M (the Service Bus maximum) — a handler may take minutes
//     (metadata fetch up to 60 s, several Graph calls); the Functions extension
//     also renews the lock (host.json maxAutoLockRenewalDuration, default 5 min).
//   maxDeliveryCount 5 — a transient failure is retried 4 times, then the
//     message is dead-lettered (MaxDeliveryCountExceeded).
//   deadLetteringOnMessageExpiration true, defaultMessageTimeToLive P14D —
//     an unprocessed job is kept, not silently dropped.

param name string
param location string
param tags object = {}

@description('Names of the job queues (IDPKEEPER_QUEUE_METADATA, _ROTATION, _NOTICES).')
param queueNames array

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [
  for queueName in queueNames: {
    parent: namespace
    name: queueName
    properties: {
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: 'P1D'
      maxDeliveryCount: 5
      deadLetteringOnMessageExpiration: true
      lockDuration: 'PT5M'
      defaultMessageTimeToLive: 'P14D'
      requiresSession: false
      enablePartitioning: false
      maxSizeInMegabytes: 1024
    }
  }
]

output id string = namespace.id
output name string = namespace.name
output queueNames array = queueNames
// <name>.servicebus.windows.net (ServiceBusConnection__fullyQualifiedNamespace);
// serviceBusEndpoint is https://<name>.servicebus.windows.net:443/.
output fullyQualifiedNamespace string = split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
