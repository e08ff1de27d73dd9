package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"errors"
	"fmt"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/quote"
)

// DetailsConfig is the opt-in enrichment with message trace details (Graph
// getDetailsByRecipient, legacy MessageTraceDetail): one request per row, out of the same
// tenant quota as the list, so it is off by default and limited to a share of request_budget.
type DetailsConfig struct {
	// Enabled turns the enrichment on.
	Enabled bool `mapstructure:"enabled"`
	// Statuses are the row statuses (Graph names) whose details are fetched.
	Statuses []string `mapstructure:"statuses"`
	// MaxRequestsPerWindow is the share of request_budget.requests (per request_budget.interval)
	// details may use, and only when the list leaves it free.
	MaxRequestsPerWindow int `mapstructure:"max_requests_per_window"`
	// MaxPerPoll caps the detail requests of one poll.
	MaxPerPoll int `mapstructure:"max_per_poll"`
	// MaxWait bounds how long a row waits for its details; older ones are counted as not
	// fetched (metric receiver_message_trace_details_not_fetched, reason expired) and logged.
	MaxWait time.Duration `mapstructure:"max_wait"`
	// MaxAttempts bounds the failed requests spent on one row before it counts as not fetched.
	MaxAttempts int `mapstructure:"max_attempts"`
	// MaxPending and MaxPendingBytes bound the rows waiting for details (kept in storage with
	// the checkpoint); rows over the bound are counted as not fetched (reason overflow).
	MaxPending      int `mapstructure:"max_pending"`
	MaxPendingBytes int `mapstructure:"max_pending_bytes"`
	// Tag is put in the devo.tag attribute of detail records so the Devo exporter can route
	// them to their own table; "" leaves the attribute out.
	Tag string `mapstructure:"tag"`

	_ struct{}
}

// defaultDetailsTag is our choice: Devo has no published table for message trace details, so
// the tag extends the message tracing one with a fourth level (see README).
const defaultDetailsTag = "cloud.office365.messagetracing.detail"

func defaultDetailsConfig() DetailsConfig {
	return DetailsConfig{
		Statuses:             []string{"failed", "quarantined", "filteredAsSpam"},
		MaxRequestsPerWindow: 20,
		MaxPerPoll:           20,
		MaxWait:              24 * time.Hour,
		MaxAttempts:          5,
		MaxPending:           10000,
		MaxPendingBytes:      4 << 20,
		Tag:                  defaultDetailsTag,
	}
}

// validate checks the block against the receiver's own request budget: details must leave the
// list at least one request per window.
func (d *DetailsConfig) validate(budgetRequests int) error {
	if !d.Enabled {
		return nil
	}
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(d.Statuses) == 0 {
		add("`details.statuses` is empty: list the statuses whose details to fetch, e.g. [failed, quarantined, filteredAsSpam], or set details.enabled: false")
	}
	for _, s := range d.Statuses {
		if status, ok := lookupStatus(normaliseStatus(s)); !ok || !status.detailed {
			add("`details.statuses` has %q: use failed, quarantined, filteredAsSpam, pending, gettingStatus, delivered, expanded or recalled", quote.Value(s))
		}
	}
	if d.MaxRequestsPerWindow < 1 || d.MaxRequestsPerWindow >= budgetRequests {
		add("`details.max_requests_per_window` %d is out of range: use 1 to %d (less than request_budget.requests, %d, so the list always keeps requests of its own)",
			d.MaxRequestsPerWindow, budgetRequests-1, budgetRequests)
	}
	if d.MaxPerPoll < 1 || d.MaxPerPoll > 1000 {
		add("`details.max_per_poll` %d is out of range: use 1 to 1000", d.MaxPerPoll)
	}
	if d.MaxWait < time.Minute || d.MaxWait > 10*24*time.Hour {
		add("`details.max_wait` %v is out of range: use 1m to 240h (Microsoft keeps details for 10 days on the legacy API)", d.MaxWait)
	}
	if d.MaxAttempts < 1 || d.MaxAttempts > 100 {
		add("`details.max_attempts` %d is out of range: use 1 to 100", d.MaxAttempts)
	}
	if d.MaxPending < 1 || d.MaxPending > 1_000_000 {
		add("`details.max_pending` %d is out of range: use 1 to 1000000", d.MaxPending)
	}
	if d.MaxPendingBytes < 64<<10 || d.MaxPendingBytes > 256<<20 {
		add("`details.max_pending_bytes` %d is out of range: use 65536 (64 KiB) to 268435456 (256 MiB)", d.MaxPendingBytes)
	}
	if d.Tag != "" && !printableTag(d.Tag) {
		add("`details.tag` %q must be printable ASCII without spaces, e.g. %s", quote.Value(d.Tag), defaultDetailsTag)
	}
	return errors.Join(errs...)
}

func printableTag(s string) bool {
	if len(s) > 256 {
		return false
	}
	for i := range len(s) {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// wants says whether rows of this (normalised) status get details.
func (d *DetailsConfig) wants(status string) bool {
	for _, s := range d.Statuses {
		if normaliseStatus(s) == status {
			return true
		}
	}
	return false
}
