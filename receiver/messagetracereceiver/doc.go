// Package messagetracereceiver implements the office365_message_trace receiver: it polls
// Exchange Online message trace data and emits one log record per message and recipient.
package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

//go:generate ../../.tools/mdatagen metadata.yaml
