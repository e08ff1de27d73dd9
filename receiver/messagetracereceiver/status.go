package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import "strings"

// deliveryStatus is one value of a row's status, in every form the receiver needs it.
type deliveryStatus struct {
	name   string // Graph's lower camel case: attributes, Graph-named bodies, configuration
	legacy string // the Reporting Web Service's PascalCase, for legacy-named bodies
	// code is the byte remembered rows store for it: never reuse or renumber one, stored
	// state would read as another status.
	code uint8
	warn bool // the record's severity is WARN: something a person may have to look at
	// detailed says a user may ask message trace details for rows of this status.
	detailed bool
}

// deliveryStatuses is the one table of statuses both APIs send. A value Microsoft adds later
// is passed on as sent (lower camel case) and remembered as statusOther.
var deliveryStatuses = [...]deliveryStatus{
	{name: "gettingStatus", legacy: "GettingStatus", code: 1, detailed: true},
	{name: "pending", legacy: "Pending", code: 2, detailed: true},
	{name: "failed", legacy: "Failed", code: 3, warn: true, detailed: true},
	{name: "delivered", legacy: "Delivered", code: 4, detailed: true},
	{name: "expanded", legacy: "Expanded", code: 5, detailed: true},
	{name: "quarantined", legacy: "Quarantined", code: 6, warn: true, detailed: true},
	{name: "filteredAsSpam", legacy: "FilteredAsSpam", code: 7, warn: true, detailed: true},
	{name: "recalled", legacy: "Recalled", code: 8, detailed: true},
	{name: "none", legacy: "None", code: 9},
	{name: "unknownFutureValue", legacy: "UnknownFutureValue", code: 10},
}

const (
	// statusUnknown is the code of a row never emitted; statusOther of a status not in the table.
	statusUnknown = 0
	statusOther   = 255
)

// lookupStatus finds a status by its Graph name.
func lookupStatus(name string) (deliveryStatus, bool) {
	for _, s := range deliveryStatuses {
		if s.name == name {
			return s, true
		}
	}
	return deliveryStatus{}, false
}

// normaliseStatus returns the status in Graph's lower camel case whatever casing the API used.
func normaliseStatus(s string) string {
	// The forms the APIs actually send, without a scan of the table per row.
	switch s {
	case "delivered", "Delivered":
		return "delivered"
	case "expanded", "Expanded":
		return "expanded"
	case "failed", "Failed":
		return "failed"
	case "pending", "Pending":
		return "pending"
	}
	for _, known := range deliveryStatuses {
		if strings.EqualFold(known.name, s) {
			return known.name
		}
	}
	if s == "" {
		return ""
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// legacyStatus is the Reporting Web Service form of a status in Graph's form.
func legacyStatus(name string) string {
	switch name { // the common ones without a scan of the table per row
	case "delivered":
		return "Delivered"
	case "expanded":
		return "Expanded"
	case "failed":
		return "Failed"
	case "pending":
		return "Pending"
	}
	if s, ok := lookupStatus(name); ok {
		return s.legacy
	}
	if name == "" {
		return ""
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

// statusCode is the byte remembered rows store for a status in Graph's form.
func statusCode(name string) uint8 {
	if s, ok := lookupStatus(name); ok {
		return s.code
	}
	return statusOther
}

// statusName is the status a stored code stands for ("" for statusUnknown and statusOther).
func statusName(code uint8) string {
	// Codes are the table's positions from 1 (TestStatusCodesArePinned holds the table to it).
	if code == statusUnknown || int(code) > len(deliveryStatuses) {
		return ""
	}
	return deliveryStatuses[code-1].name
}

// isWarning says whether a status in Graph's form makes a WARN record: its table entry's warn
// flag, read from the table itself so that no second list can drift from it. Only the entries
// that warn are compared, which keeps it as cheap per record as a switch (BenchmarkIsWarning).
func isWarning(name string) bool {
	for i := range deliveryStatuses {
		if s := &deliveryStatuses[i]; s.warn && s.name == name {
			return true
		}
	}
	return false
}
