package events

import "github.com/whalewatch/whalewatch/event"

// FakeInterest is the Interest the tests declare (exported for the
// events_test package too). A nil func keeps (Keep), watches (Watch) or
// matches nothing (Match: nil judges no rule a match); Match true is
// rule 0 matching.
type FakeInterest struct {
	Keep  func(typ, action string) bool
	Watch func(labels map[string]string) bool
	Match func(ev event.Event) bool
	Stats bool
}

func (f FakeInterest) Keeps(typ, action string) bool { return f.Keep == nil || f.Keep(typ, action) }

func (f FakeInterest) Watches(labels map[string]string) bool {
	return f.Watch == nil || f.Watch(labels)
}

func (f FakeInterest) Judge(ev event.Event) event.Verdict {
	if f.Match != nil && f.Match(ev) {
		return event.Verdict{Judged: true, Rules: []int{0}}
	}
	return event.Verdict{Judged: true}
}

func (f FakeInterest) SamplesStats() bool { return f.Stats }
