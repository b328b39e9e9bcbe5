// Package jobs is IdP Keeper's event-driven job pipeline: the job messages
// that the scan and the Key Vault event handler enqueue, the queues they go
// to, a Service Bus implementation (azservicebus, used by the Functions app)
// and an in-process one (Memory, used by the command line to run the whole
// pipeline in one process), and the dispatch of a received job to its
// handler.
//
// # Queues
//
// Three queues, named by app settings (defaults in brackets):
//
//	IDPKEEPER_QUEUE_METADATA [idpkeeper-metadata]  refresh-metadata jobs  → function RefreshMetadata
//	IDPKEEPER_QUEUE_ROTATION [idpkeeper-rotation]  rotate-credential jobs → function RotateCredential
//	IDPKEEPER_QUEUE_NOTICES  [idpkeeper-notices]   notify-owner jobs      → function NotifyOwner
//
// The connection is the app setting ServiceBusConnection (a connection
// string, including the emulator's "…;UseDevelopmentEmulator=true;") or
// ServiceBusConnection__fullyQualifiedNamespace with a managed identity: the
// names the Functions Service Bus extension itself reads for the trigger.
//
// # Message identity
//
// Every job has a deterministic MessageID (see Job.MessageID), so a scan that
// runs twice on the same day enqueues nothing new when the queue has
// duplicate detection on, while a follow-up scheduled for another day is a
// different message.
//
// # Failure policy
//
// A custom handler can settle a Service Bus message only through its HTTP
// status: 2xx completes it, anything else abandons it. Handlers therefore
// return one of two kinds of error:
//
//   - Permanent errors (Permanent(err), and every error Decode returns:
//     ErrMalformed, ErrUnsupportedVersion, ErrUnknownKind, ErrInvalid; a job
//     kind with no handler): retrying cannot help. The Functions handler
//     records the job as "parked" with its reason (Park: the state store
//     document parked/<messageID>.json, one create-if-absent write; the
//     rejected events of one delivery are parked by ParkAll as a few batch
//     documents parked/batches/<hash>.json; no index — ListParked lists the
//     folder, and retention, PruneParked, deletes what is older than its
//     age limit) and answers 200, so Service Bus completes the message.
//   - Transient errors (every other error): the Functions handler answers
//     500, Service Bus abandons the message and redelivers it, up to the
//     queue's MaxDeliveryCount (5, set by infra); after that Service Bus
//     dead-letters it with reason MaxDeliveryCountExceeded.
//
// `idpkeeper jobs dead-letters` lists both: parked jobs (ListParked) and the
// dead-letter sub-queues (DeadLetters). Resubmit moves a dead-lettered
// message back to its queue.
//
// Memory follows the same rules in one process, except that a permanent
// error returned to Drain dead-letters the message at once (reason
// PermanentError) instead of parking it; the command line can wrap its
// handler with the same park-and-succeed policy as the Functions handler.
package jobs
