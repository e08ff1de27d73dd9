package main

import (
	"encoding/json"
	"fmt"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/stack"
)

// showDetails prints, once, the first quarantined row whose detail events reached Devo, followed
// by those events: the answer to "why was it quarantined?" next to the row. It reports whether
// it has printed them.
func showDetails(s *devotest.Sink) bool {
	rows, details := stack.SplitDetails(s.Events())
	if len(details) == 0 {
		return false
	}
	byRow := map[string][]devotest.Event{}
	for _, e := range details {
		k, _ := stack.DetailKey(e.Message)
		byRow[k] = append(byRow[k], e)
	}
	for _, r := range rows {
		k, err := stack.RowKey(r.Message)
		if err != nil || len(byRow[k]) == 0 {
			continue
		}
		var body struct{ Status string }
		if json.Unmarshal([]byte(r.Message), &body) != nil || body.Status != "Quarantined" {
			continue
		}
		fmt.Println("\n== a quarantined message and why (its detail events, fetched within their share of the quota):")
		printLine(r)
		for _, e := range byRow[k] {
			printDetail(e)
		}
		fmt.Println()
		return true
	}
	return false
}

// printDetail shows a detail event's frame header and the fields that say why, which a cut
// line would lose behind the row's identity.
func printDetail(e devotest.Event) {
	var b struct{ Date, Event, Action, Detail string }
	_ = json.Unmarshal([]byte(e.Message), &b)
	line := fmt.Sprintf("<%d>%s %s %s: {...,\"Date\":%q,\"Event\":%q,\"Action\":%q,\"Detail\":%q,...}", e.PRI, e.Date, e.Host, e.Tag, b.Date, b.Event, b.Action, b.Detail)
	if len(line) > 300 {
		line = line[:300] + "..."
	}
	fmt.Printf("     devo> %s\n", line)
}
