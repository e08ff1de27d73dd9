package devoexporter // import "github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter"

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// router picks the Devo tag (destination table) of each record.
type router struct {
	attr     string // tag_attribute; empty disables per-record tags
	fallback string // tag, validated by Config.Validate
}

// tag returns the record's tag: the record attribute, else the resource attribute, else the
// configured tag. An attribute that is present but unusable is an error, not a silent fallback:
// its records were meant for another table, and sending them to the default one would mix data.
func (r router) tag(resource pcommon.Map, rec plog.LogRecord) (string, error) {
	if r.attr != "" {
		if v, ok := rec.Attributes().Get(r.attr); ok {
			return attrTag("record", r.attr, v)
		}
		if v, ok := resource.Get(r.attr); ok {
			return attrTag("resource", r.attr, v)
		}
	}
	return r.fallback, nil
}

func attrTag(scope, name string, v pcommon.Value) (string, error) {
	if v.Type() != pcommon.ValueTypeStr {
		return "", fmt.Errorf("%s attribute %q is a %s, not a string tag", scope, name, v.Type())
	}
	t := v.Str()
	if err := validateTag(t); err != nil {
		return "", fmt.Errorf("%s attribute %q holds tag %q: %w", scope, name, clip(t, 64), err)
	}
	return t, nil
}

// validateTag accepts dot-separated segments of letters, digits, '_' and '-' (the shape of every
// Devo table name, e.g. cloud.office365.messagetracing, my.app.otel.logs), at most 1024 bytes.
func validateTag(t string) error {
	if t == "" {
		return errors.New("tag is empty")
	}
	if len(t) > maxTagLen {
		return fmt.Errorf("tag is longer than %d bytes", maxTagLen)
	}
	segStart := 0
	for i := 0; i <= len(t); i++ {
		if i == len(t) || t[i] == '.' {
			if i == segStart {
				return errors.New("tag has an empty segment (leading, trailing or double dot)")
			}
			segStart = i + 1
			continue
		}
		switch c := t[i]; {
		case c <= ' ' || c == 0x7f:
			return fmt.Errorf("tag contains a space or control character at byte %d", i)
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return fmt.Errorf("tag contains %q at byte %d: use letters, digits, '_' and '-' between dots", rune(c), i)
		}
	}
	return nil
}

// clip keeps error messages short when a tag attribute holds a whole payload by mistake.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
