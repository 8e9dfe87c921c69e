package events

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"

	mobyevents "github.com/moby/moby/api/types/events"

	"github.com/whalewatch/whalewatch/event"
)

// ReadJSONL reads messages as `docker events --format '{{json .}}'`
// writes them, one per line.
func ReadJSONL(r io.Reader) ([]mobyevents.Message, error) {
	var msgs []mobyevents.Message
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var m mobyevents.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		msgs = append(msgs, m)
	}
	return msgs, sc.Err()
}

// Replay turns recorded messages into Events the way a live Source does:
// duplicates dropped, dies annotated as intentional or OOM.
func Replay(host string, msgs []mobyevents.Message) []event.Event {
	st := newStreamState()
	var out []event.Event
	for _, m := range msgs {
		if ev, ok := st.accept(host, m, defaultIntentWindow); ok {
			out = append(out, ev)
		}
	}
	return out
}

// defaultIntentWindow: see Source.IntentWindow.
const defaultIntentWindow = 15 * time.Second
