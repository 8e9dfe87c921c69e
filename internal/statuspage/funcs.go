package statuspage

import (
	"html/template"
	"strconv"
	"time"
)

var funcs = template.FuncMap{
	"stamp": stamp,
	"hour":  func(t time.Time) string { return t.UTC().Format("Jan 2 15:04 UTC") },
	"ago":   ago,
	"lag":   func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"cw":    func() int { return ChartWidth },
	"ch":    func() int { return ChartHeight },
	"num":   func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
}

// stamp is a time for people (UTC), "" for none.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// ago is how long before now t was, coarsely.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min ago"
	case d < 48*time.Hour:
		return strconv.FormatFloat(d.Hours(), 'f', 1, 64) + " h ago"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days ago"
}
